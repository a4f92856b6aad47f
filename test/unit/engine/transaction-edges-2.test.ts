import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dom, load } from 'ion-js';
import { Engine, LedgerError, type Ledger } from '../../../src/engine/index.js';
import { tempDir } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withLedger(body: (ledger: Ledger) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const engine = await Engine.open({ dataDir: dir.path });
  try {
    await engine.createLedger('r');
    await body(await engine.ledger('r'));
  } finally {
    await engine.close();
    dir.remove();
  }
}

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

test('lookup rejects non-Ion values', () =>
  withLedger(async (ledger) => {
    await ledger.run(async (t) => {
      t.createTable('T');
      await t.createIndex('T', 'k');
    });
    await assert.rejects(
      ledger.run((t) => t.lookup('T', 'k', 1 as unknown as dom.Value)),
      (e) => e instanceof LedgerError,
    );
  }));
