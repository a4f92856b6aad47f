import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dom, load } from 'ion-js';
import { Engine, LedgerError, type Ledger } from '../../../src/engine/index.js';
import { backends, engineFixture } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;

for (const backend of backends) {
  describe(`ledger engine: ${backend.name}`, { skip: backend.skip }, () => {
    let fixture: Awaited<ReturnType<typeof engineFixture>>;
    let engine: Engine;
    let ledger: Ledger;

    before(async () => {
      fixture = await engineFixture(backend);
      engine = await fixture.open();
      await engine.createLedger('people');
      ledger = await engine.ledger('people');
    });
    after(async () => {
      await engine.close();
      await fixture.remove();
    });

    test('new ledger has a first block', async () => {
      const { tipAddress, digest } = await ledger.digest();
      assert.equal(tipAddress.sequenceNo, 0);
      assert.equal(digest.length, 32);
    });

    test('ledger names follow QLDB rules', async () => {
      for (const bad of ['', '-a', 'a-', 'a--b', '123', 'x'.repeat(33), 'a_b']) {
        await assert.rejects(engine.createLedger(bad), (error: LedgerError) => {
          assert.equal(error.code, 'InvalidParameterException');
          return true;
        });
      }
      await assert.rejects(engine.createLedger('people'), {
        code: 'ResourceAlreadyExistsException',
      });
    });

    test('insert, read, update and delete', async () => {
      const tx = ledger.begin();
      tx.createTable('Person');
      await tx.createIndex('Person', 'id');
      const docId = await tx.insert('Person', ion('{id: 1, name: "Ada"}'));
      assert.match(docId, /^[0-9A-Za-z]{22}$/);
      const own = await tx.get('Person', docId);
      assert.equal(own?.committed, false);
      const committed = await tx.commit();
      assert.ok(committed.blockAddress!.sequenceNo >= 1);

      const read = ledger.begin();
      const revision = await read.get('Person', docId);
      assert.equal(revision?.version, 0);
      assert.equal(revision?.data?.get('name')?.stringValue(), 'Ada');
      assert.equal(revision?.metadata.txId, committed.transactionId);
      assert.deepEqual(revision?.blockAddress, committed.blockAddress);
      const found = await read.lookup('Person', 'id', ion('1'));
      assert.deepEqual(
        found.map((r) => r.id),
        [docId],
      );
      read.abort();

      await ledger.run(async (t) => {
        assert.equal(await t.update('Person', docId, ion('{id: 2, name: "Ada L."}')), 1);
      });
      await ledger.run(async (t) => {
        assert.deepEqual(await t.lookup('Person', 'id', ion('1')), []);
        assert.equal((await t.lookup('Person', 'id', ion('2')))[0]?.version, 1);
        assert.equal(await t.delete('Person', docId), 2);
      });
      await ledger.run(async (t) => {
        assert.equal(await t.get('Person', docId), undefined);
        assert.deepEqual(await t.scan('Person'), []);
      });

      const history = await ledger.documentHistory(docId);
      assert.deepEqual(
        history.map((r) => r.version),
        [0, 1, 2],
      );
      assert.equal(history[2]?.deleted, true);
      assert.equal(history[2]?.data, undefined);
    });

    test('own writes are visible before commit', async () => {
      await ledger.run(async (t) => {
        t.createTable('Draft');
        await t.createIndex('Draft', 'k');
        const a = await t.insert('Draft', ion('{k: "x"}'));
        await t.insert('Draft', ion('{k: "y"}'));
        assert.equal((await t.scan('Draft')).length, 2);
        assert.deepEqual(
          (await t.lookup('Draft', 'k', ion('"x"'))).map((r) => r.id),
          [a],
        );
        await t.update('Draft', a, ion('{k: "y"}'));
        assert.equal((await t.lookup('Draft', 'k', ion('"y"'))).length, 2);
        await t.delete('Draft', a);
        assert.equal((await t.scan('Draft')).length, 1);
      });
    });

    test('index created on a full table covers old documents', async () => {
      const ids = await ledger.run(async (t) => {
        t.createTable('Late');
        return [await t.insert('Late', ion('{n: 1}')), await t.insert('Late', ion('{n: 2}'))];
      });
      await ledger.run(async (t) => {
        await t.createIndex('Late', 'n');
      });
      await ledger.run(async (t) => {
        assert.deepEqual(
          (await t.lookup('Late', 'n', ion('2'))).map((r) => r.id),
          [ids[1]],
        );
      });
    });

    test('drop and undrop table', async () => {
      const tableId = await ledger.run(async (t) => t.createTable('Temp'));
      await ledger.run(async (t) => {
        await t.insert('Temp', ion('{a: 1}'));
        t.dropTable('Temp');
      });
      await ledger.run(async (t) => {
        assert.equal(t.findTable('Temp'), undefined);
        assert.throws(() => t.dropTable('Temp'), { code: 'BadRequestException' });
        assert.equal(t.tables().find((table) => table.tableId === tableId)?.status, 'INACTIVE');
      });
      await ledger.run(async (t) => {
        assert.equal(t.undropTable(tableId), tableId);
      });
      await ledger.run(async (t) => {
        assert.equal((await t.scan('Temp')).length, 1);
        assert.throws(() => t.undropTable(tableId), /already active/);
      });
    });

    test('unique index rejects duplicates', async () => {
      await ledger.run(async (t) => {
        t.createTable('Account');
        await t.createIndex('Account', 'email', { unique: true });
        await t.insert('Account', ion('{email: "a@example.com"}'));
      });
      const tx = ledger.begin();
      await assert.rejects(tx.insert('Account', ion('{email: "a@example.com"}')), /Unique index/);
      await tx.insert('Account', ion('{email: "b@example.com"}'));
      await tx.commit();
    });

    test('documents must be structs', async () => {
      await ledger.run(async (t) => {
        t.createTable('Shapes');
      });
      const tx = ledger.begin();
      await assert.rejects(tx.insert('Shapes', ion('[1, 2]')), /must be an Ion struct/);
      await assert.rejects(
        tx.insert('Missing', ion('{a: 1}')),
        /Table Missing does not exist or is not active/,
      );
      tx.abort();
    });

    test('plain objects are documents', async () => {
      const record = {
        id: 7,
        name: 'Ada',
        amount: 12.5,
        createdAt: new Date('2026-12-05T06:00:00.123Z'),
        tags: ['a', 'b'],
      };
      const docId = await ledger.run(async (t) => {
        t.createTable('Plain');
        await t.createIndex('Plain', 'id');
        await t.createIndex('Plain', 'email', { unique: true });
        const id = await t.insert('Plain', { ...record, email: 'ada@example.com' });
        // The transaction reads its own write back from the Ion binary.
        assert.equal((await t.get('Plain', id))!.data!.get('name')!.stringValue(), 'Ada');
        return id;
      });

      const stored = await ledger.run((t) => t.lookup('Plain', 'id', dom.Value.from(7)));
      // A lookup also takes the plain value.
      const byPlainKey = await ledger.run((t) => t.lookup('Plain', 'id', 7));
      assert.deepEqual(
        byPlainKey.map((revision) => revision.id),
        [docId],
      );
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.id, docId);
      const expected = dom.Value.from({ ...record, email: 'ada@example.com' });
      assert.ok(stored[0]!.data!.equals(expected), 'stored as dom.Value.from makes it');

      await ledger.run((t) =>
        t.update('Plain', docId, { ...record, id: 8, email: 'ada@example.com' }),
      );
      assert.equal((await ledger.run((t) => t.lookup('Plain', 'id', dom.Value.from(7)))).length, 0);
      assert.equal((await ledger.run((t) => t.lookup('Plain', 'id', dom.Value.from(8)))).length, 1);

      const tx = ledger.begin();
      await assert.rejects(
        tx.insert('Plain', { id: 9, email: 'ada@example.com' }),
        /Unique index on Plain\.email/,
      );
      tx.abort();
    });

    test('invalid plain objects are rejected', async () => {
      await ledger.run(async (t) => {
        t.createTable('Invalid');
      });
      const tx = ledger.begin();
      await assert.rejects(tx.insert('Invalid', { a: { b: undefined } }), {
        code: 'BadRequestException',
        message: /Invalid document: The value at a\.b is undefined/,
      });
      await assert.rejects(tx.insert('Invalid', { when: new Date('+010000-01-01T00:00:00Z') }), {
        code: 'BadRequestException',
        message: /Invalid document: .*year from 1 to 9999/,
      });
      const notDocuments: Array<[unknown, string]> = [
        [[1], 'an array'],
        [null, 'null'],
        ['text', 'a string'],
        [new Date(), 'a Date'],
        [new Map(), 'a Map'],
      ];
      for (const [value, kind] of notDocuments) {
        await assert.rejects(tx.insert('Invalid', value as object), {
          code: 'BadRequestException',
          message: new RegExp(`must be an Ion struct or a plain object, got ${kind};`),
        });
      }
      await assert.rejects(
        tx.lookup('Invalid', 'id', () => 1),
        {
          code: 'BadRequestException',
          message: /Invalid lookup value: The value is a function/,
        },
      );
      await tx.insert('Invalid', { ok: true });
      await tx.commit();
    });

    test('table history bounds by time', async () => {
      await ledger.run(async (t) => {
        t.createTable('Timeline');
      });
      const docId = await ledger.run(async (t) => t.insert('Timeline', ion('{v: 0}')));
      const [first] = await ledger.documentHistory(docId);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await ledger.run(async (t) => {
        await t.update('Timeline', docId, ion('{v: 1}'));
      });
      const tableId = (await ledger.run(async (t) => t.findTable('Timeline')))!.tableId;
      const all = await ledger.tableHistory(tableId);
      assert.deepEqual(
        all.map((r) => r.version),
        [0, 1],
      );
      const early = await ledger.tableHistory(tableId, undefined, first!.metadata.txTime);
      assert.deepEqual(
        early.map((r) => r.version),
        [0],
      );
      const late = await ledger.tableHistory(tableId, all[1]!.metadata.txTime);
      assert.deepEqual(
        late.map((r) => r.version),
        [1],
      );
    });

    test('commit digest follows the driver algorithm', async () => {
      await ledger.run(async (t) => {
        t.createTable('Digests');
      });
      const tx = ledger.begin();
      tx.recordStatement('INSERT INTO Digests ?', [ion('{a: 1}')]);
      const expected = tx.commitDigest;
      await assert.rejects(tx.commit({ commitDigest: new Uint8Array(32) }), /Digests don't match/);
      const result = await tx.commit({ commitDigest: expected });
      assert.deepEqual(Buffer.from(result.commitDigest), Buffer.from(expected));
    });

    test('data persists across reopen', async () => {
      const d = await engineFixture(backend);
      try {
        let first = await d.open();
        await first.createLedger('keep');
        const docId = await (
          await first.ledger('keep')
        ).run(async (t) => {
          t.createTable('T');
          return t.insert('T', ion('{x: "kept"}'));
        });
        const before = await (await first.ledger('keep')).digest();
        await first.close();

        first = await d.open();
        const reopened = await first.ledger('keep');
        const after = await reopened.digest();
        assert.deepEqual(after.tipAddress, before.tipAddress);
        assert.deepEqual(Buffer.from(after.digest), Buffer.from(before.digest));
        const revision = await reopened.run(async (t) => t.get('T', docId));
        assert.equal(revision?.data?.get('x')?.stringValue(), 'kept');
        await first.close();
      } finally {
        await d.remove();
      }
    });
  });
}
