import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dom } from 'ion-js';
import { LedgerError, executeStatement } from '../../../src/engine/index.js';
import { openLedger } from './ledger-fixture.js';

const WRITERS = 16;

test('concurrent inserts of one unique key', async () => {
  const db = await openLedger();
  try {
    await db.run('CREATE TABLE Member');
    await db.run('CREATE UNIQUE INDEX ON Member (email)');
    await db.run(`INSERT INTO Member VALUE {'email': 'other@example.com'}`);

    // Every writer inserts before any commits, so all of them see the key as free.
    const transactions = Array.from({ length: WRITERS }, () => db.ledger.begin());
    const inserted = await Promise.allSettled(
      transactions.map((tx, writer) =>
        executeStatement(tx, 'INSERT INTO Member ?', [
          dom.Value.from({ email: 'same@example.com', writer }),
        ]),
      ),
    );
    const commits = await Promise.allSettled(
      transactions.map((tx, i) =>
        inserted[i]!.status === 'fulfilled' ? tx.commit() : Promise.reject(inserted[i]!.reason),
      ),
    );

    const committed = commits.filter((outcome) => outcome.status === 'fulfilled');
    assert.equal(committed.length, 1, 'exactly one writer commits');
    for (const outcome of commits) {
      if (outcome.status === 'fulfilled') continue;
      const error: unknown = outcome.reason;
      assert.ok(error instanceof LedgerError, `expected a LedgerError, got ${String(error)}`);
      assert.ok(
        error.code === 'OccConflictException' ||
          (error.code === 'BadRequestException' && /same@example\.com/.test(error.message)),
        `unexpected failure ${error.code}: ${error.message}`,
      );
    }

    const rows = await db.run(
      `SELECT VALUE m.writer FROM Member AS m WHERE m.email = 'same@example.com'`,
    );
    assert.equal(rows.values.length, 1, 'the table holds one document with the key');
    const all = await db.run('SELECT COUNT(*) AS n FROM Member');
    assert.equal(all.values[0]!.get('n')!.numberValue(), 2);
  } finally {
    await db.close();
  }
});

test('unique key taken after insert', async () => {
  const db = await openLedger();
  try {
    await db.run('CREATE TABLE Member');
    await db.run('CREATE UNIQUE INDEX ON Member (email)');
    // A writer that starts before another commits the key fails at its own insert or commit.
    const late = db.ledger.begin();
    await db.run(`INSERT INTO Member VALUE {'email': 'k@example.com'}`);
    const outcome = await executeStatement(
      late,
      `INSERT INTO Member VALUE {'email': 'k@example.com'}`,
    )
      .then(() => late.commit())
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.ok(outcome instanceof LedgerError, 'the second insert of the key fails');
    const rows = await db.run(`SELECT * FROM Member WHERE email = 'k@example.com'`);
    assert.equal(rows.values.length, 1);
  } finally {
    await db.close();
  }
});
