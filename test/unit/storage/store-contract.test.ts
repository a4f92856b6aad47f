import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  LedgerExistsError,
  RekeyConflictError,
  SequenceConflictError,
  StateConflictError,
  StoreClosedError,
  type BlockWrite,
  type RevisionWrite,
  type Store,
} from '../../../src/storage/store.js';
import { backends } from '../../helpers/backends.js';

const bytes = (n: number) => new Uint8Array(randomBytes(n));

/** The hash of test block `seq`: fixed by its number, so test blocks chain without bookkeeping. */
const blockHashOf = (seq: number) =>
  new Uint8Array(createHash('sha256').update(`block ${seq}`).digest());

function revision(
  docId: string,
  version: number,
  blockSeq: number,
  extra: Partial<RevisionWrite> = {},
): RevisionWrite {
  return {
    docId,
    version,
    tableId: 'T'.repeat(22),
    blockSeq,
    txTime: 1_000 + blockSeq,
    txId: `tx${blockSeq}`.padEnd(22, 'x'),
    hash: bytes(32),
    payload: bytes(40),
    deleted: false,
    indexEntries: [],
    ...extra,
  };
}

function block(
  seq: number,
  revisions: RevisionWrite[] = [],
  extra: Partial<BlockWrite> = {},
): BlockWrite {
  return {
    seq,
    txId: `tx${seq}`.padEnd(22, 'x'),
    time: 1_000 + seq,
    blockHash: blockHashOf(seq),
    entriesHash: bytes(32),
    previousHash: seq === 0 ? new Uint8Array(0) : blockHashOf(seq - 1),
    body: bytes(64),
    revisions,
    catalog: [],
    merkleNodes: [],
    ...extra,
  };
}

async function withLedger(store: Store, name = 'contract'): Promise<string> {
  const id = `${name}`.padEnd(22, '0');
  await store.createLedger({ name, id, createdAt: 5, settings: '{"a":1}', wrappedKey: bytes(61) });
  return id;
}

for (const backend of backends) {
  describe(`store contract: ${backend.name}`, { skip: backend.skip }, () => {
    const run = (
      name: string,
      body: (
        store: Store,
        reopen: () => Promise<Store>,
        another: () => Promise<Store>,
      ) => Promise<void>,
    ) =>
      test(name, async () => {
        const { store, dispose, reopen, another } = await backend.create();
        try {
          await body(store, reopen, another);
        } finally {
          await dispose();
        }
      });

    run('schema is migrated', async (store) => {
      assert.ok((await store.schemaVersion()) >= 1);
    });

    run('ledger records round-trip', async (store) => {
      const wrappedKey = bytes(61);
      await store.createLedger({
        name: 'one',
        id: 'A'.repeat(22),
        createdAt: 42,
        settings: '{}',
        wrappedKey,
      });
      const record = await store.getLedger('one');
      assert.equal(record?.id, 'A'.repeat(22));
      assert.equal(record?.createdAt, 42);
      assert.deepEqual(Buffer.from(record!.wrappedKey), Buffer.from(wrappedKey));
      assert.equal(await store.getLedger('two'), undefined);

      await store.updateLedgerSettings('one', '{"state":"ACTIVE"}');
      assert.equal((await store.getLedger('one'))?.settings, '{"state":"ACTIVE"}');
      const rewrapped = bytes(61);
      await store.updateLedgerKey('one', rewrapped);
      assert.deepEqual(
        Buffer.from((await store.getLedger('one'))!.wrappedKey),
        Buffer.from(rewrapped),
      );
    });

    run('duplicate ledger name is rejected', async (store) => {
      await withLedger(store, 'dup');
      await assert.rejects(withLedger(store, 'dup'), LedgerExistsError);
    });

    run('ledgers are listed by name', async (store) => {
      await withLedger(store, 'b');
      await withLedger(store, 'a');
      assert.deepEqual(
        (await store.listLedgers()).map((l) => l.name),
        ['a', 'b'],
      );
    });

    run('blocks append in sequence', async (store) => {
      const id = await withLedger(store);
      assert.equal(await store.lastBlock(id), undefined);
      const first = block(0);
      await store.appendBlocks(id, [first, block(1), block(2)]);
      assert.equal((await store.lastBlock(id))?.seq, 2);
      const read = await store.getBlock(id, 0);
      assert.deepEqual(Buffer.from(read!.blockHash), Buffer.from(first.blockHash));
      assert.deepEqual(Buffer.from(read!.body), Buffer.from(first.body));
      assert.equal(read!.previousHash.length, 0);
      assert.deepEqual(
        (await store.getBlocks(id, 1, 3)).map((b) => b.seq),
        [1, 2],
      );
      assert.equal(await store.getBlock(id, 3), undefined);
    });

    run('out-of-sequence append writes nothing', async (store) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0)]);
      await assert.rejects(store.appendBlocks(id, [block(2)]), SequenceConflictError);
      await assert.rejects(
        store.appendBlocks(id, [block(1, [revision('D'.repeat(22), 0, 1)]), block(3)]),
        SequenceConflictError,
      );
      assert.equal((await store.lastBlock(id))?.seq, 0);
      assert.equal(await store.getDocument(id, 'D'.repeat(22)), undefined);
      assert.equal(await store.getBlock(id, 1), undefined);
    });

    run('append rejects a broken hash chain', async (store) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0), block(1)]);
      const forged = block(2, [revision('D'.repeat(22), 0, 2)], { previousHash: bytes(32) });
      await assert.rejects(store.appendBlocks(id, [forged]), (error) => {
        assert.ok(error instanceof SequenceConflictError);
        assert.equal(error.expected, 2);
        assert.match(error.message, /previous hash differs/);
        return true;
      });
      assert.equal((await store.lastBlock(id))?.seq, 1);
      assert.equal(await store.getDocument(id, 'D'.repeat(22)), undefined);
      await store.appendBlocks(id, [block(2)]);
      assert.equal((await store.lastBlock(id))?.seq, 2);
    });

    run('appends from two stores stay gapless', async (store, _reopen, another) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0)]);
      const second = await another();
      const writers = [store, second];
      const appended: number[][] = [[], []];
      // Each writer appends the next block until 40 exist, retrying when the
      // other one appended first, the way an engine's committer does.
      await Promise.all(
        writers.map(async (writer, w) => {
          for (let attempts = 0; attempts < 400; attempts++) {
            const last = await writer.lastBlock(id);
            const next = last!.seq + 1;
            if (next >= 40) return;
            const doc = `${w}`.padEnd(21, 'd') + String.fromCharCode(65 + (next % 26));
            try {
              await writer.appendBlocks(id, [block(next, [revision(doc + next, 0, next)])]);
              appended[w]!.push(next);
            } catch (error) {
              assert.ok(error instanceof SequenceConflictError, String(error));
            }
          }
        }),
      );
      const blocks = await store.getBlocks(id, 0, 100);
      assert.deepEqual(
        blocks.map((b) => b.seq),
        Array.from({ length: 40 }, (_, seq) => seq),
      );
      for (const b of blocks.slice(1)) {
        assert.deepEqual(Buffer.from(b.previousHash), Buffer.from(blockHashOf(b.seq - 1)));
      }
      const all = [...appended[0]!, ...appended[1]!].sort((a, b) => a - b);
      assert.deepEqual(
        all,
        Array.from({ length: 39 }, (_, i) => i + 1),
        'each block once',
      );
    });

    run('append lock makes writers take turns', async (store, _reopen, another) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0)]);
      const lock = await store.lockAppends(id);
      if (store.singleWriter) {
        // No other writer to hold back: the lock is granted and released at once.
        await store.appendBlocks(id, [block(1)]);
        await lock.release();
        await store.appendBlocks(id, [block(2)]);
        assert.equal((await store.lastBlock(id))?.seq, 2);
        return;
      }
      const second = await another();
      let granted = false;
      const waiting = second.lockAppends(id).then((other) => {
        granted = true;
        return other;
      });
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(granted, false, 'the other store waits for the lock');
      await store.appendBlocks(id, [block(1)]);
      await lock.release();
      const other = await waiting;
      await second.appendBlocks(id, [block(2)]);
      await other.release();
      assert.equal((await store.lastBlock(id))?.seq, 2);

      // Closing a store ends its wait for the lock instead of hanging.
      const held = await store.lockAppends(id);
      const third = await another();
      const stuck = third.lockAppends(id);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await third.close();
      await assert.rejects(stuck, StoreClosedError);
      await held.release();
    });

    run('changes since a block list what later blocks changed', async (store) => {
      const id = await withLedger(store);
      const a = 'A'.repeat(22);
      const b = 'B'.repeat(22);
      const oldKey = { indexId: 'I'.repeat(22), keyMac: bytes(32) };
      const newKey = { indexId: 'I'.repeat(22), keyMac: bytes(32) };
      const table = {
        objectId: 'C'.repeat(22),
        kind: 'table' as const,
        blockSeq: 0,
        payload: bytes(9),
      };
      await store.appendBlocks(id, [
        block(0, [revision(a, 0, 0, { indexEntries: [oldKey] })], { catalog: [table] }),
      ]);
      await store.appendBlocks(id, [
        block(1, [revision(a, 1, 1, { indexEntries: [newKey] })], { removedEntries: [oldKey] }),
        block(2, [revision(b, 0, 2)], { catalog: [{ ...table, blockSeq: 2, payload: bytes(9) }] }),
      ]);

      const changes = await store.changesSince(id, 0);
      assert.equal(changes.last?.seq, 2);
      assert.deepEqual(
        changes.revisions.map((r) => [r.docId, r.blockSeq]),
        [
          [a, 1],
          [b, 2],
        ],
      );
      const keys = changes.indexEntries
        .map((e) => [Buffer.from(e.entry.keyMac).toString('hex'), e.blockSeq])
        .sort();
      const hex = (key: typeof oldKey) => Buffer.from(key.keyMac).toString('hex');
      assert.deepEqual(
        keys,
        [
          [hex(oldKey), 1],
          [hex(newKey), 1],
        ].sort(),
      );
      assert.deepEqual(
        changes.catalog.map((c) => [c.objectId, c.blockSeq]),
        [[table.objectId, 2]],
      );

      const none = await store.changesSince(id, 2);
      assert.equal(none.last?.seq, 2);
      assert.deepEqual(none.revisions, []);
      assert.deepEqual(none.indexEntries, []);
      assert.deepEqual(none.redactions, []);
      assert.deepEqual(none.catalog, []);
      assert.equal((await store.changesSince('Z'.repeat(22), -1)).last, undefined);
    });

    run('changes list block hashes and stop at a limit', async (store) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0), block(1, [revision('A'.repeat(22), 0, 1)])]);
      await store.appendBlocks(id, [block(2), block(3)]);
      const hex = (hashes: Uint8Array[]) => hashes.map((h) => Buffer.from(h).toString('hex'));

      const all = await store.changesSince(id, 0);
      assert.equal(all.complete, true);
      assert.deepEqual(hex(all.blockHashes), hex([1, 2, 3].map(blockHashOf)));
      const within = await store.changesSince(id, 0, 3);
      assert.equal(within.complete, true);
      assert.deepEqual(hex(within.blockHashes), hex(all.blockHashes));
      assert.equal(within.revisions.length, 1);

      // Three blocks follow block 0: over a limit of two, only the last block is read.
      const beyond = await store.changesSince(id, 0, 2);
      assert.equal(beyond.complete, false);
      assert.equal(beyond.last?.seq, 3);
      assert.deepEqual(beyond.blockHashes, []);
      assert.deepEqual(beyond.revisions, []);
      assert.deepEqual(beyond.indexEntries, []);
      assert.deepEqual(beyond.redactions, []);
      assert.deepEqual(beyond.catalog, []);

      const none = await store.changesSince(id, 3, 0);
      assert.equal(none.complete, true);
      assert.deepEqual(none.blockHashes, []);
      const empty = await store.changesSince('Z'.repeat(22), -1, 0);
      assert.equal(empty.complete, true);
      assert.equal(empty.last, undefined);
    });

    run('lock reads the previous holder changes', async (store, _reopen, another) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0)]);
      const first = await store.lockAppends(id, { afterSeq: 0, maxBlocks: 100 });
      assert.equal(first.changes?.last?.seq, 0);
      assert.deepEqual(first.changes?.blockHashes, []);
      if (store.singleWriter) {
        await first.release();
        return;
      }
      const second = await another();
      const waiting = second.lockAppends(id, { afterSeq: 0, maxBlocks: 100 });
      // Appended while the other store waits: its changes must include these.
      await store.appendBlocks(id, [block(1, [revision('B'.repeat(22), 0, 1)]), block(2)]);
      await first.release();
      const next = await waiting;
      try {
        assert.equal(next.changes?.complete, true);
        assert.equal(next.changes?.last?.seq, 2);
        assert.deepEqual(
          next.changes?.blockHashes.map((h) => Buffer.from(h).toString('hex')),
          [1, 2].map((seq) => Buffer.from(blockHashOf(seq)).toString('hex')),
        );
        assert.deepEqual(
          next.changes?.revisions.map((r) => r.docId),
          ['B'.repeat(22)],
        );
      } finally {
        await next.release();
      }
      await assert.rejects(
        store.lockAppends(id, { afterSeq: 0.5, maxBlocks: 100 }),
        /catchUp needs integer afterSeq and maxBlocks, got \{"afterSeq":0.5,"maxBlocks":100\}/,
      );
    });

    run('current document follows its revisions', async (store) => {
      const id = await withLedger(store);
      const doc = 'D'.repeat(22);
      const v0 = revision(doc, 0, 0);
      await store.appendBlocks(id, [block(0, [v0])]);
      assert.equal((await store.getDocument(id, doc))?.version, 0);
      const v1 = revision(doc, 1, 1);
      await store.appendBlocks(id, [block(1, [v1])]);
      const current = await store.getDocument(id, doc);
      assert.equal(current?.version, 1);
      assert.deepEqual(Buffer.from(current!.payload), Buffer.from(v1.payload));
      assert.equal(current?.txId, v1.txId);
      assert.deepEqual(
        (await store.documentHistory(id, doc)).map((r) => r.version),
        [0, 1],
      );
      assert.deepEqual(
        Buffer.from((await store.getRevision(id, doc, 0))!.hash),
        Buffer.from(v0.hash),
      );
    });

    run('deleted documents leave scans and lookups', async (store) => {
      const id = await withLedger(store);
      const entry = { indexId: 'I'.repeat(22), keyMac: bytes(32) };
      const a = 'A'.repeat(22);
      const b = 'B'.repeat(22);
      await store.appendBlocks(id, [
        block(0, [
          revision(a, 0, 0, { indexEntries: [entry] }),
          revision(b, 0, 0, { indexEntries: [entry] }),
        ]),
      ]);
      assert.deepEqual(
        (await store.scanTable(id, 'T'.repeat(22))).map((r) => r.docId),
        [a, b],
      );
      assert.deepEqual(
        (await store.lookupIndex(id, entry)).map((r) => r.docId),
        [a, b],
      );

      await store.appendBlocks(id, [block(1, [revision(a, 1, 1, { deleted: true })])]);
      assert.deepEqual(
        (await store.scanTable(id, 'T'.repeat(22))).map((r) => r.docId),
        [b],
      );
      assert.deepEqual(
        (await store.lookupIndex(id, entry)).map((r) => r.docId),
        [b],
      );
      assert.equal((await store.getDocument(id, a))?.deleted, true);
    });

    run('new revision replaces index entries', async (store) => {
      const id = await withLedger(store);
      const doc = 'D'.repeat(22);
      const old = { indexId: 'I'.repeat(22), keyMac: bytes(32) };
      const next = { indexId: 'I'.repeat(22), keyMac: bytes(32) };
      await store.appendBlocks(id, [block(0, [revision(doc, 0, 0, { indexEntries: [old] })])]);
      await store.appendBlocks(id, [block(1, [revision(doc, 1, 1, { indexEntries: [next] })])]);
      assert.deepEqual(await store.lookupIndex(id, old), []);
      assert.equal((await store.lookupIndex(id, next))[0]?.version, 1);
    });

    run('index adds cover existing documents', async (store) => {
      const id = await withLedger(store);
      const doc = 'D'.repeat(22);
      const entry = { indexId: 'J'.repeat(22), keyMac: bytes(32) };
      await store.appendBlocks(id, [block(0, [revision(doc, 0, 0)])]);
      await store.appendBlocks(id, [block(1, [], { indexAdds: [{ docId: doc, entry }] })]);
      assert.equal((await store.lookupIndex(id, entry))[0]?.docId, doc);
    });

    run('ledger keys: begin and finish a rekey', async (store, reopen) => {
      const id = await withLedger(store, 'keys');
      const first = (await store.getLedger('keys'))!;
      assert.equal(first.keyGeneration, 0);
      assert.equal(first.retiringKey, undefined);

      const next = bytes(61);
      await store.beginRekey('keys', 0, { generation: 1, wrappedKey: next });
      let record = (await store.getLedger('keys'))!;
      assert.equal(record.keyGeneration, 1);
      assert.deepEqual(Buffer.from(record.wrappedKey), Buffer.from(next));
      assert.equal(record.retiringKey?.generation, 0);
      assert.deepEqual(Buffer.from(record.retiringKey!.wrappedKey), Buffer.from(first.wrappedKey));

      // A second begin, a stale generation or a lower one changes nothing.
      await assert.rejects(
        store.beginRekey('keys', 1, { generation: 2, wrappedKey: bytes(61) }),
        (error: RekeyConflictError) =>
          error instanceof RekeyConflictError &&
          /already running, from data key generation 0 to 1/.test(error.message),
      );
      await assert.rejects(
        store.beginRekey('nope', 0, { generation: 1, wrappedKey: bytes(61) }),
        /ledger nope does not exist/,
      );
      await assert.rejects(store.finishRekey('keys', 1), /no retiring data key of generation 1/);
      assert.equal((await store.getLedger('keys'))!.keyGeneration, 1);

      // Rewrapping goes to the slot that holds the generation.
      const retiringRewrapped = bytes(61);
      assert.equal(await store.updateLedgerKey('keys', retiringRewrapped, 0), true);
      const currentRewrapped = bytes(61);
      assert.equal(await store.updateLedgerKey('keys', currentRewrapped, 1), true);
      assert.equal(await store.updateLedgerKey('keys', bytes(61), 7), false);

      // With an expected form, only while that form is still stored, in either slot.
      assert.equal(await store.updateLedgerKey('keys', bytes(61), 1, bytes(61)), false);
      assert.equal(await store.updateLedgerKey('keys', bytes(61), 0, currentRewrapped), false);
      assert.equal(await store.updateLedgerKey('keys', bytes(61), undefined, bytes(61)), false);
      record = (await store.getLedger('keys'))!;
      assert.deepEqual(Buffer.from(record.wrappedKey), Buffer.from(currentRewrapped));
      assert.deepEqual(Buffer.from(record.retiringKey!.wrappedKey), Buffer.from(retiringRewrapped));
      const currentAgain = bytes(61);
      assert.equal(await store.updateLedgerKey('keys', currentAgain, 1, currentRewrapped), true);
      const retiringAgain = bytes(61);
      assert.equal(await store.updateLedgerKey('keys', retiringAgain, 0, retiringRewrapped), true);
      assert.equal(await store.updateLedgerKey('keys', bytes(61), 1, currentRewrapped), false);
      record = (await reopen().then((s) => s.getLedger('keys')))!;
      assert.deepEqual(Buffer.from(record.wrappedKey), Buffer.from(currentAgain));
      assert.deepEqual(Buffer.from(record.retiringKey!.wrappedKey), Buffer.from(retiringAgain));
      void id;
    });

    run('ledger keys: finish refuses while old index entries remain', async (store) => {
      const id = await withLedger(store, 'finish');
      const doc = 'D'.repeat(22);
      const old = { indexId: 'I'.repeat(22), keyMac: bytes(32), generation: 0 };
      const removed = { indexId: 'I'.repeat(22), keyMac: bytes(32), generation: 0 };
      await store.appendBlocks(id, [block(0, [revision(doc, 0, 0, { indexEntries: [old] })])]);
      await store.appendBlocks(id, [
        block(1, [revision(doc, 1, 1, { indexEntries: [old] })], { removedEntries: [removed] }),
      ]);
      await store.beginRekey('finish', 0, { generation: 1, wrappedKey: bytes(61) });
      await assert.rejects(
        store.finishRekey('finish', 0),
        (error: Error) =>
          error instanceof RekeyConflictError &&
          /index entries of data key generation 0 remain in ledger finish/.test(error.message),
      );
      assert.equal((await store.getLedger('finish'))!.retiringKey?.generation, 0);

      const next = { indexId: old.indexId, keyMac: bytes(32), generation: 1 };
      assert.equal(
        await store.replaceIndexEntries(id, [{ docId: doc, version: 1, from: old, to: next }]),
        1,
      );
      await store.finishRekey('finish', 0);
      const record = (await store.getLedger('finish'))!;
      assert.equal(record.retiringKey, undefined);
      assert.equal(record.keyGeneration, 1);
      // The removed entries MACed under the retired key went with it.
      const changes = await store.changesSince(id, -1);
      assert.deepEqual(
        changes.indexEntries.map(({ entry }) => Buffer.from(entry.keyMac).toString('hex')),
        [Buffer.from(next.keyMac).toString('hex')],
      );
    });

    run('index entries: list by generation and replace while unchanged', async (store) => {
      const id = await withLedger(store);
      const index = 'I'.repeat(22);
      const other = 'J'.repeat(22);
      const docs = ['A', 'B', 'C', 'D'].map((letter) => letter.repeat(22));
      const entries = docs.map(() => ({ indexId: index, keyMac: bytes(32), generation: 0 }));
      const second = { indexId: other, keyMac: bytes(32), generation: 0 };
      await store.appendBlocks(id, [
        block(
          0,
          docs.map((doc, i) =>
            revision(doc, 0, 0, { indexEntries: i === 1 ? [entries[i]!, second] : [entries[i]!] }),
          ),
        ),
      ]);

      // Pages keep a document's entries together: B has two.
      const page1 = await store.listIndexEntries(id, 0, '', 2);
      assert.deepEqual(
        page1.map((e) => e.docId),
        [docs[0]],
      );
      const page2 = await store.listIndexEntries(id, 0, docs[0]!, 2);
      assert.deepEqual(
        page2.map((e) => [e.docId, e.entry.indexId]),
        [
          [docs[1], index],
          [docs[1], other],
        ],
      );
      assert.equal(page2[0]!.version, 0);
      assert.equal(page2[0]!.entry.generation, 0);
      const rest = await store.listIndexEntries(id, 0, docs[1]!, 100);
      assert.deepEqual(
        rest.map((e) => e.docId),
        [docs[2], docs[3]],
      );
      assert.deepEqual(await store.listIndexEntries(id, 1, '', 100), []);
      await assert.rejects(store.listIndexEntries(id, 0, '', 0), /positive integer, got 0/);

      // C gets a new revision meanwhile: its old entry is gone, so replacing it does nothing.
      const fresh = { indexId: index, keyMac: bytes(32), generation: 1 };
      await store.appendBlocks(id, [
        block(1, [revision(docs[2]!, 1, 1, { indexEntries: [fresh] })]),
      ]);
      const replacements = [0, 2, 3].map((i) => ({
        docId: docs[i]!,
        version: 0,
        from: entries[i]!,
        to: { indexId: index, keyMac: bytes(32), generation: 1 },
      }));
      assert.equal(await store.replaceIndexEntries(id, replacements), 2);
      // Replacing twice finds nothing the second time.
      assert.equal(await store.replaceIndexEntries(id, replacements), 0);
      assert.deepEqual(
        (await store.lookupIndex(id, [replacements[0]!.to, replacements[1]!.to, fresh])).map(
          (r) => [r.docId, r.version],
        ),
        [
          [docs[0], 0],
          [docs[2], 1],
        ],
      );
      // A lookup with both generations' MACs finds each document once.
      assert.deepEqual(
        (await store.lookupIndex(id, [entries[1]!, replacements[2]!.to])).map((r) => r.docId),
        [docs[1], docs[3]],
      );
      assert.deepEqual(
        (await store.listIndexEntries(id, 0, '', 100)).map((e) => e.docId),
        [docs[1], docs[1]],
      );
      await assert.rejects(
        store.replaceIndexEntries(id, [
          { docId: docs[1]!, version: 0, from: entries[1]!, to: { ...second, generation: 1 } },
        ]),
        /cannot move from index/,
      );
      await assert.rejects(
        store.lookupIndex(id, [entries[0]!, second]),
        /must name the same index/,
      );
    });

    run('sealed payloads are replaced; catalog objects only while unchanged', async (store) => {
      const id = await withLedger(store);
      const doc = 'D'.repeat(22);
      const table = {
        objectId: 'T'.repeat(22),
        kind: 'table' as const,
        blockSeq: 0,
        payload: bytes(30),
      };
      const index = {
        objectId: 'I'.repeat(22),
        kind: 'index' as const,
        blockSeq: 0,
        payload: bytes(30),
      };
      const first = [revision(doc, 0, 0), revision(doc, 1, 1)];
      await store.appendBlocks(id, [
        block(0, [first[0]!], { catalog: [table, index] }),
        block(1, [first[1]!]),
      ]);
      // The index changes in block 2, after the replacement was prepared.
      const changed = { ...index, blockSeq: 2, payload: bytes(30) };
      await store.appendBlocks(id, [block(2, [], { catalog: [changed] })]);

      const body = bytes(70);
      const payloads = [bytes(41), bytes(42)];
      const tablePayload = bytes(31);
      await store.replaceSealed(id, {
        blocks: [{ seq: 1, body }],
        revisions: [
          { docId: doc, version: 0, from: first[0]!.payload, payload: payloads[0]! },
          { docId: doc, version: 1, from: first[1]!.payload, payload: payloads[1]! },
        ],
        catalog: [
          { objectId: table.objectId, blockSeq: 0, payload: tablePayload },
          { objectId: index.objectId, blockSeq: 0, payload: bytes(31) },
        ],
      });
      assert.deepEqual(Buffer.from((await store.getBlock(id, 1))!.body), Buffer.from(body));
      const revisions = await store.getRevisionsInBlocks(id, 0, 3);
      assert.deepEqual(
        revisions.map((r) => [r.blockSeq, Buffer.from(r.payload).toString('hex')]),
        [
          [0, Buffer.from(payloads[0]!).toString('hex')],
          [1, Buffer.from(payloads[1]!).toString('hex')],
        ],
      );
      assert.deepEqual(
        (await store.getRevisionsInBlocks(id, 1, 2)).map((r) => r.version),
        [1],
      );
      const catalog = new Map((await store.loadCatalog(id)).map((o) => [o.objectId, o]));
      assert.deepEqual(
        Buffer.from(catalog.get(table.objectId)!.payload),
        Buffer.from(tablePayload),
      );
      // The newer index definition stays.
      assert.deepEqual(
        Buffer.from(catalog.get(index.objectId)!.payload),
        Buffer.from(changed.payload),
      );
      // Everything else of the rows is unchanged.
      assert.deepEqual(
        Buffer.from((await store.getBlock(id, 1))!.blockHash),
        Buffer.from(blockHashOf(1)),
      );
      await store.replaceSealed(id, {});
      // A revision whose payload changed since it was read keeps the new one.
      await store.replaceSealed(id, {
        revisions: [{ docId: doc, version: 0, from: first[0]!.payload, payload: bytes(43) }],
      });
      assert.deepEqual(
        Buffer.from((await store.getRevision(id, doc, 0))!.payload),
        Buffer.from(payloads[0]!),
      );
    });

    run('a block replaces the payloads of the revisions it redacts', async (store) => {
      const id = await withLedger(store);
      const doc = 'D'.repeat(22);
      const other = 'E'.repeat(22);
      const written = [revision(doc, 0, 0), revision(other, 0, 0), revision(doc, 1, 1)];
      await store.appendBlocks(id, [block(0, [written[0]!, written[1]!]), block(1, [written[2]!])]);
      const redacted = bytes(44);
      await store.appendBlocks(id, [
        block(2, [], { redactions: [{ docId: doc, version: 0, payload: redacted }] }),
      ]);
      const after = await store.getRevision(id, doc, 0);
      assert.deepEqual(Buffer.from(after!.payload), Buffer.from(redacted));
      // Everything else of the row, and every other row, stays.
      for (const column of [
        'docId',
        'version',
        'tableId',
        'blockSeq',
        'txTime',
        'txId',
        'deleted',
      ] as const) {
        assert.equal(after![column], written[0]![column], column);
      }
      assert.deepEqual(Buffer.from(after!.hash), Buffer.from(written[0]!.hash));
      assert.deepEqual(
        Buffer.from((await store.getRevision(id, other, 0))!.payload),
        Buffer.from(written[1]!.payload),
      );
      assert.deepEqual(
        Buffer.from((await store.getDocument(id, doc))!.payload),
        Buffer.from(written[2]!.payload),
      );
      // A batch whose first block does not continue the journal redacts nothing.
      await assert.rejects(
        store.appendBlocks(id, [
          block(2, [], { redactions: [{ docId: other, version: 0, payload: bytes(45) }] }),
        ]),
        SequenceConflictError,
      );
      assert.deepEqual(
        Buffer.from((await store.getRevision(id, other, 0))!.payload),
        Buffer.from(written[1]!.payload),
      );
      // A writer that catches up gets the revision that the block redacted.
      assert.deepEqual((await store.changesSince(id, 1)).redactions, [
        { docId: doc, version: 0, blockSeq: 2 },
      ]);
      assert.deepEqual((await store.changesSince(id, 2)).redactions, []);
    });

    run('block revisions keep their order', async (store) => {
      const id = await withLedger(store);
      const ids = ['Z', 'A', 'M'].map((c) => c.repeat(22));
      await store.appendBlocks(id, [
        block(
          0,
          ids.map((doc) => revision(doc, 0, 0)),
        ),
      ]);
      assert.deepEqual(
        (await store.getBlockRevisions(id, 0)).map((r) => r.docId),
        ids,
      );
    });

    run('table history filters by time', async (store) => {
      const id = await withLedger(store);
      const doc = 'D'.repeat(22);
      await store.appendBlocks(id, [
        block(0, [revision(doc, 0, 0)]),
        block(1, [revision(doc, 1, 1)]),
      ]);
      const all = await store.tableHistory(id, { tableId: 'T'.repeat(22) });
      assert.deepEqual(
        all.map((r) => r.version),
        [0, 1],
      );
      const early = await store.tableHistory(id, { tableId: 'T'.repeat(22), until: 1_000 });
      assert.deepEqual(
        early.map((r) => r.version),
        [0],
      );
    });

    run('merkle nodes are stored', async (store) => {
      const id = await withLedger(store);
      const parent = { level: 1, index: 0, hash: bytes(32) };
      const b0 = block(0);
      const b1 = block(1);
      b1.merkleNodes.push(parent);
      await store.appendBlocks(id, [b0, b1]);
      const [leaf, node, missing] = await store.getMerkleNodes(id, [
        { level: 0, index: 0 },
        { level: 1, index: 0 },
        { level: 1, index: 1 },
      ]);
      // Leaves are the blocks' own hashes.
      assert.deepEqual(Buffer.from(leaf!), Buffer.from(b0.blockHash));
      assert.deepEqual(Buffer.from(node!), Buffer.from(parent.hash));
      assert.equal(missing, undefined);
    });

    run('catalog objects upsert', async (store) => {
      const id = await withLedger(store);
      const first = {
        objectId: 'C'.repeat(22),
        kind: 'table' as const,
        blockSeq: 0,
        payload: bytes(10),
      };
      await store.appendBlocks(id, [block(0, [], { catalog: [first] })]);
      const second = { ...first, blockSeq: 1, payload: bytes(12) };
      await store.appendBlocks(id, [block(1, [], { catalog: [second] })]);
      const catalog = await store.loadCatalog(id);
      assert.equal(catalog.length, 1);
      assert.deepEqual(Buffer.from(catalog[0]!.payload), Buffer.from(second.payload));
    });

    run('ledgers are isolated', async (store) => {
      const one = await withLedger(store, 'one');
      const two = await withLedger(store, 'two');
      await store.appendBlocks(one, [block(0, [revision('D'.repeat(22), 0, 0)])]);
      await store.appendBlocks(two, [block(0)]);
      assert.equal(await store.getDocument(two, 'D'.repeat(22)), undefined);
      assert.equal((await store.scanTable(two, 'T'.repeat(22))).length, 0);
    });

    run('delete ledger removes its data', async (store) => {
      const id = await withLedger(store, 'gone');
      await store.appendBlocks(id, [block(0, [revision('D'.repeat(22), 0, 0)])]);
      await store.deleteLedger('gone');
      assert.equal(await store.getLedger('gone'), undefined);
      assert.equal(await store.lastBlock(id), undefined);
      assert.equal(await store.getDocument(id, 'D'.repeat(22)), undefined);
    });

    run('closed store rejects calls', async (store, reopen) => {
      const id = await withLedger(store);
      const again = await reopen();
      await again.close();
      await assert.rejects(again.getLedger('contract'), StoreClosedError);
      await assert.rejects(again.appendBlocks(id, [block(0)]), StoreClosedError);
    });

    run('data survives reopen', async (store, reopen) => {
      const id = await withLedger(store);
      await store.appendBlocks(id, [block(0, [revision('D'.repeat(22), 0, 0)])]);
      const again = await reopen();
      assert.equal((await again.lastBlock(id))?.seq, 0);
      assert.equal((await again.getDocument(id, 'D'.repeat(22)))?.version, 0);
    });

    run('state records: create, compare-and-set, list, delete', async (store) => {
      const value = (text: string) => new TextEncoder().encode(text);
      assert.equal(await store.getState('kms.key', 'k1'), undefined);
      assert.equal(await store.putState('kms.key', 'k1', value('one'), 0), 1);
      await assert.rejects(store.putState('kms.key', 'k1', value('again'), 0), StateConflictError);
      assert.equal(await store.putState('kms.key', 'k1', value('two'), 1), 2);
      await assert.rejects(store.putState('kms.key', 'k1', value('stale'), 1), (error) => {
        assert.ok(error instanceof StateConflictError);
        assert.equal(error.found, 2);
        return true;
      });
      const record = await store.getState('kms.key', 'k1');
      assert.equal(record?.version, 2);
      assert.equal(Buffer.from(record!.value).toString(), 'two');

      await store.putState('kms.key', 'k2', value('x'), 0);
      await store.putState('kms.key', 'k%_', value('y'), 0);
      await store.putState('kms.alias', 'k1', value('other namespace'), 0);
      assert.deepEqual(
        (await store.listState('kms.key')).map((r) => r.key),
        ['k%_', 'k1', 'k2'],
      );
      assert.deepEqual(
        (await store.listState('kms.key', 'k%')).map((r) => r.key),
        ['k%_'],
      );
      assert.deepEqual(await store.listState('kms.none'), []);

      await assert.rejects(store.deleteState('kms.key', 'k1', 1), StateConflictError);
      await store.deleteState('kms.key', 'k1', 2);
      assert.equal(await store.getState('kms.key', 'k1'), undefined);
      await assert.rejects(store.deleteState('kms.key', 'k1', 2), StateConflictError);
      // A deleted record starts again at version 1.
      assert.equal(await store.putState('kms.key', 'k1', value('new'), 0), 1);
    });

    run('state records: concurrent compare-and-set lets one writer win', async (store) => {
      const writes = Array.from({ length: 16 }, (_, i) =>
        store.putState('iam.role', 'r', new Uint8Array([i]), 0),
      );
      const results = await Promise.allSettled(writes);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof StateConflictError);
      }
    });

    run('state records: bad keys are refused, records survive reopen', async (store, reopen) => {
      await assert.rejects(store.putState('', 'k', new Uint8Array(1), 0), RangeError);
      await assert.rejects(store.putState('ns', 'k'.repeat(513), new Uint8Array(1), 0), RangeError);
      await store.putState('ns', 'k', new Uint8Array([1, 2, 3]), 0);
      const again = await reopen();
      assert.deepEqual([...(await again.getState('ns', 'k'))!.value], [1, 2, 3]);
      await again.close();
      await assert.rejects(again.putState('ns', 'k2', new Uint8Array(1), 0), StoreClosedError);
    });
  });
}
