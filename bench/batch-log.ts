// The insert benchmarks' baselines write the rows the engine wrote, in the
// engine's batches. Keeping every batch's objects during the engine run grew
// the heap and cost the engine about a sixth of its rate, so the run logs
// only where each batch starts, and the rows are read back from the store
// afterwards.
import type { Engine } from '../src/engine/index.js';
import type { BlockWrite, MerkleNode, RevisionWrite } from '../src/storage/store.js';

/** One `appendBlocks` call: its first block and how many blocks it carried. */
export interface LoggedBatch {
  firstSeq: number;
  firstTxId: string;
  count: number;
}

/** Log the shape of every batch the engine appends from now on. */
export function logBatches(engine: Engine): LoggedBatch[] {
  const log: LoggedBatch[] = [];
  const store = engine.store;
  const original = store.appendBlocks.bind(store);
  store.appendBlocks = async (ledgerId, blocks) => {
    log.push({ firstSeq: blocks[0]!.seq, firstTxId: blocks[0]!.txId, count: blocks.length });
    return original(ledgerId, blocks);
  };
  return log;
}

/** Return the seq range that the logged batches cover, for the queries that read the rows back. */
export function loggedRange(log: LoggedBatch[]): { first: number; last: number } {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const batch of log) {
    first = Math.min(first, batch.firstSeq);
    last = Math.max(last, batch.firstSeq + batch.count - 1);
  }
  return { first, last };
}

/** Rows read back from the engine's store, in the store's column names. */
export interface StoredRows {
  blocks: Array<{
    seq: number;
    tx_id: string;
    time: number;
    block_hash: Uint8Array;
    entries_hash: Uint8Array;
    previous_hash: Uint8Array;
    body: Uint8Array;
  }>;
  /** Ordered by block and position within the block. */
  revisions: Array<{
    doc_id: string;
    version: number;
    table_id: string;
    block_seq: number;
    tx_time: number;
    tx_id: string;
    deleted: boolean | number;
    hash: Uint8Array;
    payload: Uint8Array;
  }>;
  entries: Array<{ index_id: string; key_mac: Uint8Array; doc_id: string; version: number }>;
  nodes: Array<{ level: number; idx: number; hash: Uint8Array }>;
}

/**
 * Group the rows read back into the logged batches. A batch whose first
 * block in the store has another transaction id lost its append to another
 * engine and wrote nothing; it is left out. Node `(level, idx)` of the block
 * tree is written with the block that completes it, leaf `((idx + 1) << level) - 1`.
 */
export function assembleBatches(log: LoggedBatch[], rows: StoredRows): BlockWrite[][] {
  const entriesByRevision = new Map<string, RevisionWrite['indexEntries']>();
  for (const e of rows.entries) {
    const key = `${e.doc_id}/${e.version}`;
    const list = entriesByRevision.get(key) ?? [];
    list.push({ indexId: e.index_id, keyMac: e.key_mac });
    entriesByRevision.set(key, list);
  }
  const nodesByBlock = new Map<number, MerkleNode[]>();
  for (const n of rows.nodes) {
    const seq = (Number(n.idx) + 1) * 2 ** n.level - 1;
    const list = nodesByBlock.get(seq) ?? [];
    list.push({ level: n.level, index: Number(n.idx), hash: n.hash });
    nodesByBlock.set(seq, list);
  }
  const blocks = new Map<number, BlockWrite>();
  for (const b of rows.blocks) {
    const seq = Number(b.seq);
    blocks.set(seq, {
      seq,
      txId: b.tx_id,
      time: Number(b.time),
      blockHash: b.block_hash,
      entriesHash: b.entries_hash,
      previousHash: b.previous_hash,
      body: b.body,
      revisions: [],
      catalog: [],
      merkleNodes: nodesByBlock.get(seq) ?? [],
    });
  }
  for (const r of rows.revisions) {
    blocks.get(Number(r.block_seq))?.revisions.push({
      docId: r.doc_id,
      version: r.version,
      tableId: r.table_id,
      blockSeq: Number(r.block_seq),
      txTime: Number(r.tx_time),
      txId: r.tx_id,
      deleted: Boolean(r.deleted),
      hash: r.hash,
      payload: r.payload,
      indexEntries: entriesByRevision.get(`${r.doc_id}/${r.version}`) ?? [],
    });
  }

  const batches: BlockWrite[][] = [];
  for (const batch of log) {
    if (blocks.get(batch.firstSeq)?.txId !== batch.firstTxId) continue;
    const written: BlockWrite[] = [];
    for (let seq = batch.firstSeq; seq < batch.firstSeq + batch.count; seq++) {
      const block = blocks.get(seq);
      if (block === undefined)
        throw new Error(
          `block ${seq} of a logged batch was not found in the store; read every seq the log covers`,
        );
      written.push(block);
    }
    batches.push(written);
  }
  return batches;
}

/**
 * Throw unless every block read back contains one revision with one index entry,
 * as each transaction of the insert benchmarks writes. A row missing from the
 * read-back would otherwise make the baseline look faster than it is.
 */
export function checkOneInsertPerBlock(batches: BlockWrite[][]): void {
  for (const block of batches.flat()) {
    if (block.revisions.length !== 1 || block.revisions[0]!.indexEntries.length !== 1) {
      throw new Error(
        `block ${block.seq} was read back with ${block.revisions.length} revisions; expected one insert with one index entry`,
      );
    }
  }
}
