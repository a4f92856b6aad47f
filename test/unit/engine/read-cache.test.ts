import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dom, load } from 'ion-js';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Engine } from '../../../src/engine/index.js';
import { tempDir } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;

test('read cache sees index from later DDL', async () => {
  const dir = tempDir();
  const engine = await Engine.open({ dataDir: dir.path });
  try {
    await engine.createLedger('r');
    const ledger = await engine.ledger('r');
    await ledger.run(async (t) => void t.createTable('T'));
    const id = await ledger.run((t) => t.insert('T', ion('{k: 1}')));
    const t1 = ledger.begin();
    await ledger.run(async (t) => void (await t.createIndex('T', 'k')));
    assert.equal((await ledger.run((t) => t.lookup('T', 'k', ion('1')))).length, 1); // fills cache
    await t1.update('T', id, ion('{k: 2}'));
    await t1.commit();
    const current = await ledger.run((t) => t.get('T', id));
    const byOld = await ledger.run((t) => t.lookup('T', 'k', ion('1')));
    const byNew = await ledger.run((t) => t.lookup('T', 'k', ion('2')));
    assert.deepEqual(
      {
        current: current?.data?.get('k')?.numberValue(),
        byOld: byOld.map((r) => r.data?.get('k')?.numberValue()),
        byNew: byNew.map((r) => r.data?.get('k')?.numberValue()),
      },
      { current: 2, byOld: [], byNew: [2] },
    );
  } finally {
    await engine.close();
    dir.remove();
  }
});

test('rejected unique index leaves nothing', async () => {
  const dir = tempDir();
  const engine = await Engine.open({ dataDir: dir.path });
  try {
    await engine.createLedger('r');
    const ledger = await engine.ledger('r');
    await ledger.run(async (t) => void t.createTable('T'));
    await ledger.run(async (t) => {
      await t.insert('T', ion('{k: 1}'));
      await t.insert('T', ion('{k: 1}'));
      await assert.rejects(t.createIndex('T', 'k', { unique: true }), /unique index/);
    });
  } finally {
    await engine.close();
  }
  const db = new Database(join(dir.path, 'vellum.db'), { readonly: true });
  try {
    const n = (db.prepare('SELECT COUNT(*) AS n FROM index_entries').get() as { n: number }).n;
    assert.equal(n, 0, 'no index exists, so no entries should be stored');
  } finally {
    db.close();
    dir.remove();
  }
});
