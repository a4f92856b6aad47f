import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dom } from 'ion-js';
import {
  OccConflictError,
  executeStatement,
  type Ledger,
  type StatementResult,
} from '../../../src/engine/index.js';
import { openLedger, type LedgerFixture } from './ledger-fixture.js';

const DOCUMENTS = 100_000;
/** QLDB's limit of documents written in one transaction. */
const PER_TRANSACTION = 40;
const CONCURRENT_TRANSACTIONS = 16;

/** Insert documents `{id, group}` for ids 0..count-1, 40 a transaction, several transactions at once. */
async function fill(ledger: Ledger, table: string, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const first = next;
      next = Math.min(count, next + PER_TRANSACTION);
      const last = next;
      await ledger.run(async (tx) => {
        for (let id = first; id < last; id++) {
          await tx.insert(table, dom.Value.from({ id, group: id % 100 }));
        }
      });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT_TRANSACTIONS }, worker));
}

function planKinds(result: StatementResult): string[] {
  return result.plans.map((plan) => plan.kind);
}

describe('index use on 100,000 documents', { timeout: 120_000 }, () => {
  let db: LedgerFixture;
  let documentIdOf42: string;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Big');
    await db.run('CREATE INDEX ON Big (id)');
    await fill(db.ledger, 'Big', DOCUMENTS);
    const found = await db.run('SELECT did FROM Big BY did WHERE id = 42');
    documentIdOf42 = found.values[0]!.get('did')!.stringValue()!;
  });
  after(() => db.close());

  test('equality reads one document', async () => {
    const result = await db.run('SELECT * FROM Big WHERE id = ?', 73_214);
    assert.equal(result.values.length, 1);
    assert.equal(result.values[0]!.get('id')!.numberValue(), 73_214);
    assert.equal(result.readIOs, 1);
    assert.deepEqual(planKinds(result), ['index']);
  });

  test('equality with an alias reads one', async () => {
    const result = await db.run('SELECT VALUE b.group FROM Big AS b WHERE b.id = ?', 99_999);
    assert.deepEqual(
      result.values.map((value) => value.numberValue()),
      [99],
    );
    assert.equal(result.readIOs, 1);
  });

  test('IN reads two documents', async () => {
    const result = await db.run('SELECT VALUE id FROM Big WHERE id IN (?, ?)', 5, 90_005);
    assert.deepEqual(
      result.values.map((value) => value.numberValue()).sort((a, b) => a! - b!),
      [5, 90_005],
    );
    assert.equal(result.readIOs, 2);
    assert.deepEqual(planKinds(result), ['index']);
  });

  test('missing key reads nothing', async () => {
    const result = await db.run('SELECT * FROM Big WHERE id = ?', DOCUMENTS + 1);
    assert.deepEqual(result.values, []);
    assert.equal(result.readIOs, 0);
  });

  test('BY id reads one document', async () => {
    const result = await db.run('SELECT b.id FROM Big AS b BY did WHERE did = ?', documentIdOf42);
    assert.equal(result.values.length, 1);
    assert.equal(result.values[0]!.get('id')!.numberValue(), 42);
    assert.equal(result.readIOs, 1);
    assert.deepEqual(planKinds(result), ['documentId']);
  });

  test('range predicate scans', async () => {
    const result = await db.run('SELECT COUNT(*) AS n FROM Big WHERE id > ?', DOCUMENTS - 11);
    assert.equal(result.values[0]!.get('n')!.numberValue(), 10);
    assert.equal(result.readIOs, DOCUMENTS);
    assert.deepEqual(planKinds(result), ['scan']);
  });

  test('unindexed equality scans', async () => {
    const result = await db.run('SELECT COUNT(*) AS n FROM Big WHERE "group" = ?', 7);
    assert.equal(result.values[0]!.get('n')!.numberValue(), DOCUMENTS / 100);
    assert.equal(result.readIOs, DOCUMENTS);
    assert.deepEqual(planKinds(result), ['scan']);
  });
});

describe('OCC of scans and index reads', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Small');
    await db.run('CREATE INDEX ON Small (id)');
    await fill(db.ledger, 'Small', 200);
  });
  after(() => db.close());

  const insertElsewhere = async (id: number): Promise<void> => {
    await db.run('INSERT INTO Small ?', { id, group: -1 });
  };

  test('scan conflicts with a concurrent insert', async () => {
    const tx = db.ledger.begin();
    const read = await executeStatement(tx, 'SELECT * FROM Small WHERE id > ?', [
      dom.Value.from(190),
    ]);
    assert.deepEqual(planKinds(read), ['scan']);
    await executeStatement(tx, 'INSERT INTO Small ?', [dom.Value.from({ id: 10_001 })]);

    await insertElsewhere(10_002);

    await assert.rejects(tx.commit(), OccConflictError);
    const inserted = await db.run('SELECT * FROM Small WHERE id = 10001');
    assert.deepEqual(inserted.values, [], 'the conflicting transaction wrote nothing');
  });

  test('index read ignores insert of another key', async () => {
    const tx = db.ledger.begin();
    const read = await executeStatement(tx, 'SELECT * FROM Small WHERE id = ?', [
      dom.Value.from(7),
    ]);
    assert.deepEqual(planKinds(read), ['index']);
    assert.equal(read.readIOs, 1);
    await executeStatement(tx, 'UPDATE Small SET seen = true WHERE id = ?', [dom.Value.from(7)]);

    await insertElsewhere(10_003);

    await tx.commit();
    const updated = await db.run('SELECT VALUE s.seen FROM Small AS s WHERE s.id = 7');
    assert.deepEqual(
      updated.values.map((value) => value.booleanValue()),
      [true],
    );
  });

  test('index read conflicts with insert of its key', async () => {
    const tx = db.ledger.begin();
    const read = await executeStatement(tx, 'SELECT * FROM Small WHERE id = ?', [
      dom.Value.from(20_000),
    ]);
    assert.deepEqual(read.values, []);
    await executeStatement(tx, 'INSERT INTO Small ?', [dom.Value.from({ id: 20_001 })]);

    await insertElsewhere(20_000);

    await assert.rejects(tx.commit(), OccConflictError);
  });
});

describe('index and scan agree', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Pair');
    await db.run('CREATE INDEX ON Pair (indexed)');
    await db.run('CREATE TABLE Twin');
    await db.run('CREATE INDEX ON Twin (indexed)');
  });
  after(() => db.close());

  /** Insert one document per key, `{n, indexed: key, plain: key}`, with n its position. */
  const insertKeys = async (table: string, keys: readonly string[]): Promise<void> => {
    const documents = keys.map((key, n) => `{n: ${n}, indexed: ${key}, plain: ${key}}`);
    await db.run(`INSERT INTO ${table} ?`, `ion:[${documents.join(', ')}]`);
  };

  /** Select the sorted `n` of the documents that an equality on `field` matches. */
  const select = async (table: string, field: string, key: string): Promise<number[]> => {
    const result = await db.run(
      `SELECT VALUE p.n FROM ${table} AS p WHERE p.${field} = ?`,
      `ion:${key}`,
    );
    return result.values.map((value) => value.numberValue()!).sort((a, b) => a - b);
  };

  test('equality on keys of many types', async () => {
    // No two of these keys are equal under PartiQL's =.
    const keys = [
      '2',
      '-1',
      '0',
      '2.5',
      '"A"',
      '""',
      'true',
      'false',
      '2024-01-01T',
      '[1]',
      '[1, 2]',
      '{x: 1}',
      '{{YQ==}}',
      'null',
      'null.int',
      'sym',
    ];
    await insertKeys('Pair', keys);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...keys), async (key) => {
        const indexed = await select('Pair', 'indexed', key);
        assert.deepEqual(indexed, await select('Pair', 'plain', key), `key ${key}`);
        assert.ok(indexed.length <= 1, `key ${key} matched ${indexed.length} documents`);
      }),
      { numRuns: keys.length * 3 },
    );
  });

  test('equal keys of different representation', async () => {
    const keys = ['1', '1.0', '1e0', '"a"', 'a', '2024-01-01T', '2024-01-01T00:00Z'];
    await insertKeys('Twin', keys);
    for (const key of keys) {
      assert.deepEqual(
        await select('Twin', 'indexed', key),
        await select('Twin', 'plain', key),
        `key ${key}`,
      );
    }
  });
});
