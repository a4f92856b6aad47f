import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dom } from 'ion-js';
import { executeStatement } from '../../../src/engine/index.js';
import { expectedTexts, openLedger, sortedTexts } from './ledger-fixture.js';

// The statements the record service sends, in its order: one table, an index
// on `id`, inserts of structs whose `id` is an Ion int, and lookups by `id`.
test('record service statements', async () => {
  const db = await openLedger();
  try {
    const created = await db.run('CREATE TABLE Test');
    const tableId = created.values[0]!.get('tableId')!.stringValue()!;
    const indexed = await db.run('CREATE INDEX ON Test (id)');
    assert.equal(indexed.values[0]!.get('tableId')!.stringValue(), tableId);

    const documentIds: string[] = [];
    for (let id = 1; id <= 5; id++) {
      const record = new dom.Struct([
        ['id', new dom.Integer(id)],
        ['name', new dom.String(`record ${id}`)],
      ]);
      const inserted = await db.run('INSERT INTO Test ?', record);
      assert.equal(inserted.values.length, 1);
      documentIds.push(inserted.values[0]!.get('documentId')!.stringValue()!);
    }
    assert.equal(new Set(documentIds).size, 5);

    const found = await db.ledger.run((tx) =>
      executeStatement(tx, 'SELECT * FROM Test WHERE id = ?', [new dom.Integer(3)]),
    );
    assert.deepEqual(sortedTexts(found.values), expectedTexts('{id: 3, name: "record 3"}'));
    assert.equal(found.readIOs, 1);
    assert.deepEqual(
      found.plans.map((plan) => plan.kind),
      ['index'],
    );
  } finally {
    await db.close();
  }
});

test('record service lookup of a missing id', async () => {
  const db = await openLedger();
  try {
    await db.run('CREATE TABLE Test');
    await db.run('CREATE INDEX ON Test (id)');
    await db.run('INSERT INTO Test ?', new dom.Struct([['id', new dom.Integer(1)]]));
    const found = await db.run('SELECT * FROM Test WHERE id = ?', new dom.Integer(2));
    assert.deepEqual(found.values, []);
    assert.equal(found.readIOs, 0);
    assert.deepEqual(
      found.plans.map((plan) => plan.kind),
      ['index'],
    );
  } finally {
    await db.close();
  }
});
