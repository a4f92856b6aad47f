import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { dom } from 'ion-js';
import { LedgerError } from '../../../src/engine/index.js';
import { openLedger, type LedgerFixture } from './ledger-fixture.js';

/** DROP INDEX "<indexId>" ON t WITH (purge = true), as QLDB writes it. */
describe('DROP INDEX', () => {
  let fixture: LedgerFixture;
  let tableId: string;

  const values = async (text: string, ...parameters: unknown[]) =>
    (await fixture.run(text, ...parameters)).values as dom.Value[];

  async function indexes(): Promise<Array<{ indexId: string; expr: string }>> {
    const rows = await values(
      "SELECT VALUE i FROM information_schema.user_tables AS t, t.indexes AS i WHERE t.name = 'Orders'",
    );
    return rows.map((row) => ({
      indexId: row.get('indexId')!.stringValue()!,
      expr: row.get('expr')!.stringValue()!,
    }));
  }

  before(async () => {
    fixture = await openLedger('drop-index');
    const [created] = await values('CREATE TABLE Orders');
    tableId = created!.get('tableId')!.stringValue()!;
    await fixture.run('CREATE INDEX ON Orders (sku)');
    await fixture.run('CREATE INDEX ON Orders (customer)');
    for (let i = 0; i < 10; i++) {
      await fixture.run('INSERT INTO Orders ?', { sku: `s${i % 3}`, customer: i });
    }
  });
  after(() => fixture.close());

  test('drops the index; lookups scan and find the same documents', async () => {
    const before = await fixture.run("SELECT * FROM Orders WHERE sku = 's1'");
    assert.deepEqual(
      before.plans.map((plan) => plan.kind),
      ['index'],
    );
    const sku = (await indexes()).find((index) => index.expr === '[sku]')!;
    const [result] = await values(`DROP INDEX "${sku.indexId}" ON Orders WITH (purge = true)`);
    assert.equal(result!.get('tableId')!.stringValue(), tableId);
    assert.deepEqual(
      (await indexes()).map((index) => index.expr),
      ['[customer]'],
    );
    const after = await fixture.run("SELECT * FROM Orders WHERE sku = 's1'");
    assert.deepEqual(
      after.plans.map((plan) => plan.kind),
      ['scan'],
    );
    assert.equal(after.values.length, before.values.length);
    // Writes go on, and the field can be indexed again.
    await fixture.run('INSERT INTO Orders ?', { sku: 's1', customer: 99 });
    await fixture.run('CREATE INDEX ON Orders (sku)');
    const again = await fixture.run("SELECT * FROM Orders WHERE sku = 's1'");
    assert.deepEqual(
      again.plans.map((plan) => plan.kind),
      ['index'],
    );
    assert.equal(again.values.length, before.values.length + 1);
  });

  test('a dropped index frees its place under the quota', async () => {
    for (const field of ['a', 'b', 'c']) await fixture.run(`CREATE INDEX ON Orders (${field})`);
    await assert.rejects(fixture.run('CREATE INDEX ON Orders (d)'), /already has 5 indexes/);
    const a = (await indexes()).find((index) => index.expr === '[a]')!;
    await fixture.run(`DROP INDEX "${a.indexId}" ON Orders WITH (purge = true)`);
    await fixture.run('CREATE INDEX ON Orders (d)');
  });

  test('bad statements name the fix and change nothing', async () => {
    const customer = (await indexes()).find((index) => index.expr === '[customer]')!;
    const cases: Array<[string, RegExp]> = [
      [`DROP INDEX "${customer.indexId}" ON Orders`, /needs WITH \(purge = true\)/],
      [
        `DROP INDEX "${customer.indexId}" ON Orders WITH (purge = false)`,
        /one option, WITH \(purge = true\)/,
      ],
      [
        `DROP INDEX "${customer.indexId}" ON Orders WITH (keep = true)`,
        /one option, WITH \(purge = true\)/,
      ],
      ['DROP INDEX customer ON Orders WITH (purge = true)', /index id in double quotes/],
      [
        `DROP INDEX "${'X'.repeat(22)}" ON Orders WITH (purge = true)`,
        /Table Orders has no index with id X{22}; its indexes are .*\(customer\)/,
      ],
      [`DROP INDEX "${customer.indexId}" ON Nope WITH (purge = true)`, /Nope/],
    ];
    for (const [statement, message] of cases) {
      await assert.rejects(
        fixture.run(statement),
        (error: unknown) => error instanceof LedgerError && message.test(error.message),
        statement,
      );
    }
    assert.ok((await indexes()).some((index) => index.indexId === customer.indexId));
  });
});
