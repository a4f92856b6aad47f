import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dumpText, load } from 'ion-js';
import { TreeNodeMismatchError, verifyLedger } from '../../../src/cli/verify-ledger.js';
import { DATABASE_FILE } from '../../../src/engine/engine.js';
import { Engine, JournalIntegrityError, type Ledger } from '../../../src/engine/index.js';
import {
  VerificationError,
  verifyBlock,
  type VerificationErrorCode,
} from '../../../src/verifier/index.js';
import { tempDir } from '../../helpers/backends.js';

const LEDGER = 'tampered';
const TABLE = 'Item';
/** The block whose stored bytes each test changes: neither the first nor the last. */
const TARGET_SEQ = 3;

/**
 * Builds the 7-block ledger every test starts from and returns its document ids. Block 1
 * creates the table and inserts document 0, blocks 2 to 5 insert documents 1 to 4, and
 * block 6 updates document 0. Block 3 contains document 2's only revision.
 */
async function buildPristine(dataDir: string): Promise<string[]> {
  const engine = await Engine.open({ dataDir });
  try {
    await engine.createLedger(LEDGER);
    const ledger = await engine.ledger(LEDGER);
    const docIds: string[] = [];
    docIds.push(
      await ledger.run(async (t) => {
        t.createTable(TABLE);
        return t.insert(TABLE, load('{n: 0, owner: "Ada"}')!);
      }),
    );
    for (let n = 1; n <= 4; n++) {
      docIds.push(await ledger.run((t) => t.insert(TABLE, load(`{n: ${n}, owner: "Grace"}`)!)));
    }
    await ledger.run(async (t) => {
      await t.update(TABLE, docIds[0]!, load('{n: 0, owner: "Ada L."}')!);
    });
    assert.equal(ledger.tipSeq, 6, 'the pristine ledger has blocks 0 to 6');
    return docIds;
  } finally {
    await engine.close();
  }
}

/**
 * Flips the lowest bit of the middle byte of one BLOB value in one row of this ledger. The
 * table, column and `where` text go into the SQL as they are, so callers pass fixed strings.
 */
function changeOneByte(
  dataDir: string,
  table: string,
  column: string,
  where: string,
  parameters: unknown[],
): void {
  const db = new Database(join(dataDir, DATABASE_FILE));
  try {
    const ledgerNo = (
      db.prepare('SELECT no FROM ledgers WHERE name = ?').get(LEDGER) as {
        no: number;
      }
    ).no;
    const condition = `ledger = ? AND ${where}`;
    const rows = db
      .prepare(`SELECT ${column} AS value FROM ${table} WHERE ${condition}`)
      .all(ledgerNo, ...parameters) as Array<{ value: Buffer }>;
    assert.equal(rows.length, 1, `expected 1 ${table} row where ${where}, found ${rows.length}`);

    const bytes = Buffer.from(rows[0]!.value);
    const position = bytes.length >> 1;
    bytes[position] = bytes[position]! ^ 0x01;
    const changes = db
      .prepare(`UPDATE ${table} SET ${column} = ? WHERE ${condition}`)
      .run(bytes, ledgerNo, ...parameters).changes;
    assert.equal(changes, 1, `expected to change 1 ${table} row, changed ${changes}`);
  } finally {
    db.close();
  }
}

function assertJournalIntegrityError(error: unknown, seq: number): true {
  assert.ok(
    error instanceof JournalIntegrityError,
    `expected a JournalIntegrityError, got ${String(error)}`,
  );
  assert.equal(error.blockSeq, seq, `the error names block ${error.blockSeq}: ${error.message}`);
  assert.match(
    error.message,
    new RegExp(`\\bblock ${seq}\\b`),
    `the message does not name block ${seq}`,
  );
  // People read it: it names the block or revision, not the hashes that bind it.
  assert.doesNotMatch(error.message, /[0-9a-f]{64}/, error.message);
  return true;
}

/**
 * Checks a verifier error from `verifyLedger`: its code, the block in its details, and that
 * the message names that block. The message names it as `sequenceNo: N}` unless `naming` differs.
 */
function assertVerificationError(
  error: unknown,
  code: VerificationErrorCode,
  seq: number,
  naming = new RegExp(`sequenceNo: ${seq}\\}`),
): true {
  assert.ok(
    error instanceof VerificationError,
    `expected a VerificationError, got ${String(error)}`,
  );
  assert.equal(error.code, code, `unexpected code, message: ${error.message}`);
  assert.equal(
    error.blockAddress?.sequenceNo,
    seq,
    `the error names block ${error.blockAddress?.sequenceNo}: ${error.message}`,
  );
  assert.match(error.message, naming, `the message does not name block ${seq}`);
  return true;
}

describe('tampered store', () => {
  const pristine = tempDir('vellum-pristine-');
  let docIds: string[];
  /** Document 2, whose only revision is in the target block. */
  let targetDocId: string;
  const opened: Array<{ engine: Engine; remove: () => void }> = [];

  before(async () => {
    docIds = await buildPristine(pristine.path);
    targetDocId = docIds[TARGET_SEQ - 1]!;
  });
  after(async () => {
    for (const { engine, remove } of opened) {
      await engine.close();
      remove();
    }
    pristine.remove();
  });

  /** Opens a copy of the pristine ledger after `tamper` changed its closed database. */
  async function openCopy(tamper: (dataDir: string) => void): Promise<Ledger> {
    const copy = tempDir('vellum-tampered-');
    cpSync(pristine.path, copy.path, { recursive: true });
    tamper(copy.path);
    const engine = await Engine.open({ dataDir: copy.path });
    opened.push({ engine, remove: copy.remove });
    return engine.ledger(LEDGER);
  }

  /** Reads the target document in a transaction and returns its data as Ion text and its hash. */
  async function readTarget(ledger: Ledger): Promise<{ data: string; hash: string }> {
    const transaction = ledger.begin();
    try {
      const revision = await transaction.get(TABLE, targetDocId);
      assert.ok(revision !== undefined, 'the target document is missing');
      return { data: dumpText(revision.data), hash: Buffer.from(revision.hash!).toString('hex') };
    } finally {
      transaction.abort();
    }
  }

  test('untouched copy verifies', async () => {
    const ledger = await openCopy(() => undefined);
    const result = await verifyLedger(ledger);
    assert.equal(result.blocks, 7, 'verified block count');
    const target = await readTarget(ledger);
    assert.equal(target.data, dumpText(load('{n: 2, owner: "Grace"}')), 'target document data');
  });

  test('block body change names block', async () => {
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'blocks', 'body', 'seq = ?', [TARGET_SEQ]),
    );
    await assert.rejects(verifyLedger(ledger), (error) =>
      assertJournalIntegrityError(error, TARGET_SEQ),
    );
    await assert.rejects(ledger.getBlock(TARGET_SEQ), (error) =>
      assertJournalIntegrityError(error, TARGET_SEQ),
    );
  });

  test('block hash change names block', async () => {
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'blocks', 'block_hash', 'seq = ?', [TARGET_SEQ]),
    );
    // Every column of a block is bound to its sealed body, so the change fails authentication.
    await assert.rejects(verifyLedger(ledger), (error) =>
      assertJournalIntegrityError(error, TARGET_SEQ),
    );
  });

  test('revision payload change names block', async () => {
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'revisions', 'payload', 'doc_id = ? AND version = 0', [targetDocId]),
    );
    await assert.rejects(verifyLedger(ledger), (error) =>
      assertJournalIntegrityError(error, TARGET_SEQ),
    );
  });

  test('revision payload change fails reads', async () => {
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'revisions', 'payload', 'doc_id = ? AND version = 0', [targetDocId]),
    );
    await assert.rejects(readTarget(ledger), 'get returned the changed document');
    await assert.rejects(
      ledger.run((t) => t.scan(TABLE)),
      'scan returned the changed document',
    );
  });

  test('revision hash change names block', async () => {
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'revisions', 'hash', 'doc_id = ? AND version = 0', [targetDocId]),
    );
    // Every column of a revision is bound to its sealed payload.
    await assert.rejects(verifyLedger(ledger), (error) =>
      assertJournalIntegrityError(error, TARGET_SEQ),
    );
  });

  test('revision hash change fails reads', async () => {
    const original = await readTarget(await openCopy(() => undefined));
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'revisions', 'hash', 'doc_id = ? AND version = 0', [targetDocId]),
    );
    let read: { data: string; hash: string } | undefined;
    try {
      read = await readTarget(ledger);
    } catch {
      // Rejecting the read is the expected outcome.
      return;
    }
    assert.equal(read.data, original.data, 'the read returned changed data');
    assert.equal(read.hash, original.hash, 'the read returned the changed revision hash');
  });

  test('Merkle node change fails digest check', async () => {
    // With 7 blocks the digest is dot(node(2, 0), dot(node(1, 2), block 6)), so it reads
    // node (2, 0), the root of blocks 0 to 3. The chain check names the digest's tip block.
    const ledger = await openCopy((dir) =>
      changeOneByte(dir, 'merkle_nodes', 'hash', 'level = 2 AND idx = 0', []),
    );
    await assert.rejects(verifyLedger(ledger), (error) =>
      assertVerificationError(error, 'DIGEST_MISMATCH', 6, /\bblocks 0 to 6\b/),
    );
  });

  // Node (1, 1), the root of blocks 2 and 3, is not on the path to the current digest, but
  // the audit paths of blocks 0 and 1 and the consistency proof from tip 1 read it.
  const changeInnerNode = (dir: string) =>
    changeOneByte(dir, 'merkle_nodes', 'hash', 'level = 1 AND idx = 1', []);

  test('inner Merkle node change breaks proofs', async () => {
    const ledger = await openCopy(changeInnerNode);
    const { digest, tipAddress } = await ledger.digest();
    const { block, proof } = await ledger.getBlock(0, tipAddress.sequenceNo);
    assert.throws(
      () => verifyBlock({ block, proof: proof!, digest, tipAddress }),
      { code: 'PROOF_MISMATCH' },
      'a proof through the changed node verified',
    );
  });

  test('inner Merkle node change is detected', async () => {
    const ledger = await openCopy(changeInnerNode);
    await assert.rejects(verifyLedger(ledger), (error) => {
      assert.ok(
        error instanceof TreeNodeMismatchError,
        `expected a TreeNodeMismatchError, got ${String(error)}`,
      );
      assert.match(error.message, /level 1, index 1 \(over blocks 2 to 3\)/);
      return true;
    });
  });
});
