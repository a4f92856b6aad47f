import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dom, load } from 'ion-js';
import { LedgerError, type Ledger } from '../../../src/engine/index.js';
import { backends, engineFixture } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const backend of backends) {
  describe(`transaction edges: ${backend.name}`, { skip: backend.skip }, () => {
    async function withLedger(body: (ledger: Ledger) => Promise<void>): Promise<void> {
      const fixture = await engineFixture(backend);
      const engine = await fixture.open();
      try {
        await engine.createLedger('r');
        await body(await engine.ledger('r'));
      } finally {
        await engine.close();
        await fixture.remove();
      }
    }

    test('new index, then update: no stale entry', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        const id = await ledger.run((t) => t.insert('T', ion('{k: 1}')));
        await ledger.run(async (t) => {
          await t.createIndex('T', 'k');
          await t.update('T', id, ion('{k: 2}'));
        });
        const old = await ledger.run((t) => t.lookup('T', 'k', ion('1')));
        assert.deepEqual(
          old.map((r) => r.data?.get('k')?.numberValue()),
          [],
          'lookup k=1 should find nothing',
        );
      }));

    test('new index, then delete: no entry', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        const id = await ledger.run((t) => t.insert('T', ion('{k: 1}')));
        await ledger.run(async (t) => {
          await t.createIndex('T', 'k');
          await t.delete('T', id);
        });
        const found = await ledger.run((t) => t.lookup('T', 'k', ion('1')));
        assert.deepEqual(
          found.map((r) => ({ id: r.id, data: r.data === undefined ? 'none' : 'some' })),
          [],
        );
      }));

    test('new unique index rejects duplicate', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        await ledger.run((t) => t.insert('T', ion('{k: 1}')));
        await assert.rejects(
          ledger.run(async (t) => {
            await t.createIndex('T', 'k', { unique: true });
            await t.insert('T', ion('{k: 1}'));
          }),
          /Unique index/,
        );
      }));

    test('new index finds existing documents', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        await ledger.run((t) => t.insert('T', ion('{k: 1}')));
        const n = await ledger.run(async (t) => {
          await t.createIndex('T', 'k');
          return (await t.lookup('T', 'k', ion('1'))).length;
        });
        assert.equal(n, 1);
      }));

    test('concurrent index creation conflicts', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        const t1 = ledger.begin(); // snapshot of the catalog taken here
        await ledger.run(async (t) => void (await t.createIndex('T', 'k')));
        let committed = true;
        try {
          await t1.insert('T', ion('{k: 7}'));
          await t1.commit();
        } catch {
          committed = false; // an OCC conflict would be acceptable
        }
        if (committed) {
          const found = await ledger.run((t) => t.lookup('T', 'k', ion('7')));
          assert.equal(found.length, 1, 'committed doc must be reachable through the index');
        }
      }));

    test('concurrent table drop conflicts', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        const t1 = ledger.begin();
        await ledger.run(async (t) => void t.dropTable('T'));
        await assert.rejects(async () => {
          await t1.insert('T', ion('{k: 7}'));
          await t1.commit();
        });
      }));

    test('pending write hidden from other tables', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => {
          t.createTable('A');
          t.createTable('B');
        });
        await ledger.run(async (t) => {
          const id = await t.insert('A', ion('{k: 1}'));
          assert.equal(await t.get('B', id), undefined, 'get through B must not see A document');
        });
      }));

    test('pending write stays in its table', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => {
          t.createTable('A');
          t.createTable('B');
        });
        const id = await ledger.run(async (t) => {
          const id = await t.insert('A', ion('{k: 1}'));
          await t.update('B', id, ion('{k: 2}')).catch(() => undefined);
          return id;
        });
        const inA = await ledger.run((t) => t.get('A', id));
        assert.ok(inA !== undefined, 'document inserted into A should still be in A');
      }));

    test('history omits earlier deletions', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => void t.createTable('T'));
        const id = await ledger.run((t) => t.insert('T', ion('{k: 1}')));
        await sleep(5);
        await ledger.run((t) => t.delete('T', id));
        await sleep(5);
        const start = Date.now();
        await sleep(5);
        const rows = await ledger.tableHistory('T', start, Date.now());
        assert.deepEqual(
          rows.map((r) => [r.id, r.metadata.version, r.data === undefined]),
          [],
          'nothing was active after the deletion',
        );
      }));

    test('lookup rejects values without Ion form', () =>
      withLedger(async (ledger) => {
        await ledger.run(async (t) => {
          t.createTable('T');
          await t.createIndex('T', 'k');
          await t.insert('T', { k: 1 });
        });
        // A plain value is a key like its dom value.
        assert.equal((await ledger.run((t) => t.lookup('T', 'k', 1))).length, 1);
        for (const key of [undefined, () => 1, new Map()]) {
          await assert.rejects(
            ledger.run((t) => t.lookup('T', 'k', key)),
            (e) => e instanceof LedgerError && /Invalid lookup value/.test(e.message),
          );
        }
      }));
  });
}
