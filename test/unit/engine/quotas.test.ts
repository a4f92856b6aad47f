import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { load, type dom } from 'ion-js';
import { Engine, type Ledger } from '../../../src/engine/index.js';
import {
  DEFAULT_TRANSACTION_TIMEOUT_MS,
  MAX_DOCUMENT_BYTES,
  MAX_DOCUMENTS_PER_TRANSACTION,
} from '../../../src/engine/ledger/transaction.js';
import { tempDir } from '../../helpers/backends.js';

const ion = (text: string): dom.Value => load(text)!;
const limit = { code: 'LimitExceededException' };

describe('quotas', () => {
  const dir = tempDir();
  let engine: Engine;
  let ledger: Ledger;

  before(async () => {
    engine = await Engine.open({ dataDir: dir.path });
    await engine.createLedger('quota');
    ledger = await engine.ledger('quota');
    await ledger.run(async (t) => {
      t.createTable('Doc');
    });
  });
  after(async () => {
    await engine.close();
    dir.remove();
  });

  const count = () => ledger.run(async (t) => (await t.scan('Doc')).length);

  test('QLDB default limits', () => {
    assert.equal(DEFAULT_TRANSACTION_TIMEOUT_MS, 30_000);
    assert.equal(MAX_DOCUMENTS_PER_TRANSACTION, 40);
    assert.equal(MAX_DOCUMENT_BYTES, 131_072);
  });

  test('document over 128 KB', async () => {
    const before = await count();
    const tx = ledger.begin();
    await assert.rejects(
      tx.insert('Doc', ion(`{s: "${'x'.repeat(MAX_DOCUMENT_BYTES)}"}`)),
      (error: Error) => {
        assert.match(error.message, /131072/);
        return (error as { code?: string }).code === 'LimitExceededException';
      },
    );
    await tx.insert('Doc', ion(`{s: "${'x'.repeat(MAX_DOCUMENT_BYTES - 100)}"}`));
    await tx.commit();
    assert.equal(await count(), before + 1);
  });

  test('41 documents in one transaction', async () => {
    const before = await count();
    const tx = ledger.begin();
    for (let i = 0; i < 40; i++) await tx.insert('Doc', ion(`{i: ${i}}`));
    await assert.rejects(tx.insert('Doc', ion('{i: 40}')), limit);
    assert.equal(tx.writes.size, 40);
    tx.abort();
    assert.equal(await count(), before);
  });

  test('transaction over 4 MB', async () => {
    const before = await count();
    const tx = ledger.begin();
    const big = `{s: "${'y'.repeat(120 * 1024)}"}`;
    let rejected = 0;
    for (let i = 0; i < 40; i++) {
      try {
        await tx.insert('Doc', ion(big));
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'LimitExceededException');
        rejected += 1;
      }
    }
    assert.ok(
      rejected > 0 && tx.writes.size === 34,
      `kept ${tx.writes.size}, rejected ${rejected}`,
    );
    await tx.commit();
    assert.equal(await count(), before + 34);
  });

  test('transaction times out', async () => {
    // A short timeout of its own, so slow machines do not expire the other tests.
    const timeoutDir = tempDir();
    const short = await Engine.open({ dataDir: timeoutDir.path, transactionTimeoutMs: 200 });
    try {
      await short.createLedger('timeout');
      const timed = await short.ledger('timeout');
      await timed.run(async (t) => {
        t.createTable('Doc');
      });
      const tx = timed.begin();
      await tx.insert('Doc', ion('{late: true}'));
      await new Promise((resolve) => setTimeout(resolve, 250));
      await assert.rejects(tx.insert('Doc', ion('{late: 2}')), {
        code: 'InvalidSessionException',
        message: `Transaction ${tx.id} has expired`,
      });
      await assert.rejects(tx.commit(), { code: 'InvalidSessionException' });
      const stored = await timed.run(async (t) => t.scan('Doc'));
      assert.equal(stored.length, 0);
    } finally {
      await short.close();
      timeoutDir.remove();
    }
  });

  test('20 active tables and 40 in all', async () => {
    const other = await engine.createLedger('tables').then(() => engine.ledger('tables'));
    await other.run(async (t) => {
      for (let i = 0; i < 20; i++) t.createTable(`T${i}`);
    });
    await other.run(async (t) => {
      assert.throws(() => t.createTable('Extra'), limit);
      for (let i = 0; i < 20; i++) t.dropTable(`T${i}`);
    });
    await other.run(async (t) => {
      for (let i = 0; i < 20; i++) t.createTable(`U${i}`);
    });
    await other.run(async (t) => {
      t.dropTable('U0');
      assert.throws(() => t.createTable('V'), limit);
      assert.equal(t.tables().length, 40);
    });
  });

  test('5 indexes per table', async () => {
    await ledger.run(async (t) => {
      t.createTable('Indexed');
      for (const field of ['a', 'b', 'c', 'd', 'e']) await t.createIndex('Indexed', field);
    });
    const tx = ledger.begin();
    await assert.rejects(tx.createIndex('Indexed', 'f'), limit);
    await assert.rejects(tx.createIndex('Indexed', 'a'), /already exists/);
    tx.abort();
  });
});
