import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { dom } from 'ion-js';
import { canonicalText, ion, openLedger, type LedgerFixture } from './ledger-fixture.js';

/** FROM updates over collections nested in a table's documents. */
describe('FROM updates with nested collections', () => {
  let fixture: LedgerFixture;

  before(async () => {
    fixture = await openLedger('nested');
    await fixture.run('CREATE TABLE Cars');
  });
  after(() => fixture.close());

  async function car(vin: string, owners: string): Promise<void> {
    await fixture.run('DELETE FROM Cars WHERE VIN = ?', vin);
    await fixture.run('INSERT INTO Cars ?', `ion:{VIN: "${vin}", Owners: ${owners}}`);
  }

  async function owners(vin: string): Promise<string> {
    const [value] = (await fixture.run('SELECT VALUE c.Owners FROM Cars AS c WHERE c.VIN = ?', vin))
      .values as dom.Value[];
    return canonicalText(value!);
  }

  const text = (owners: string) => canonicalText(ion(owners));

  test('REMOVE a matching element', async () => {
    await car('A', '[{id: 1}, {id: 2}, {id: 3}]');
    const result = await fixture.run(
      'FROM Cars AS c, @c.Owners AS o WHERE c.VIN = ? AND o.id = 2 REMOVE o',
      'A',
    );
    assert.equal(result.values.length, 1, 'one document changed');
    assert.equal(await owners('A'), text('[{id: 1}, {id: 3}]'));
  });

  test('REMOVE several elements of one document', async () => {
    await car('B', '[{id: 1}, {id: 2}, {id: 3}, {id: 4}]');
    const result = await fixture.run(
      'FROM Cars AS c, c.Owners AS o WHERE c.VIN = ? AND o.id IN (1, 3, 4) REMOVE o',
      'B',
    );
    assert.equal(result.values.length, 1, 'the document is written once');
    assert.equal(await owners('B'), text('[{id: 2}]'));
    const [history] = (
      await fixture.run("SELECT VALUE COUNT(*) FROM history(Cars) AS h WHERE h.data.VIN = 'B'")
    ).values as dom.Value[];
    assert.equal(history!.numberValue(), 2, 'one revision for the change');
  });

  test('SET a field of matching elements, from their own values', async () => {
    await car('C', '[{id: 1, share: 10}, {id: 2, share: 20}]');
    await fixture.run(
      'FROM Cars AS c, @c.Owners AS o WHERE c.VIN = ? AND o.share > 15 SET o.share = o.share + 1, o.checked = true',
      'C',
    );
    assert.equal(
      await owners('C'),
      text('[{id: 1, share: 10}, {id: 2, share: 21, checked: true}]'),
    );
  });

  test('INSERT INTO a list inside an element, two levels down', async () => {
    await car('D', '[{id: 1, phones: [{n: "a", tags: []}, {n: "b", tags: []}]}]');
    await fixture.run(
      "FROM Cars AS c, c.Owners AS o, o.phones AS p WHERE c.VIN = ? AND p.n = 'b' INSERT INTO p.tags VALUE 'work'",
      'D',
    );
    assert.equal(
      await owners('D'),
      text('[{id: 1, phones: [{n: "a", tags: []}, {n: "b", tags: ["work"]}]}]'),
    );
  });

  test('a nested struct, and documents without a match, stay put', async () => {
    await car('E', '{primary: {id: 7}}');
    await car('F', '[{id: 9}]');
    const result = await fixture.run(
      "FROM Cars AS c, c.Owners.primary AS p WHERE c.VIN IN ('E', 'F') SET p.verified = true",
    );
    assert.equal(result.values.length, 1);
    assert.equal(await owners('E'), text('{primary: {id: 7, verified: true}}'));
    assert.equal(await owners('F'), text('[{id: 9}]'));
  });

  test('an element matched by several rows changes once', async () => {
    await fixture.run('CREATE TABLE Multi');
    const itemsOf = async (k: number) => {
      const [value] = (await fixture.run('SELECT VALUE t.items FROM Multi AS t WHERE t.k = ?', k))
        .values as dom.Value[];
      return canonicalText(value!);
    };
    const insert = (k: number, rest: string) =>
      fixture.run('INSERT INTO Multi ?', `ion:{k: ${k}, ${rest}}`);
    await insert(1, 'items: [{sku: "A"}, {sku: "B"}, {sku: "C"}], tags: ["x", "y"]');
    await fixture.run(
      "FROM Multi AS t, @t.items AS e, @t.tags AS g WHERE t.k = 1 AND e.sku = 'B' REMOVE e",
    );
    assert.equal(await itemsOf(1), text('[{sku: "A"}, {sku: "C"}]'));

    await insert(2, 'items: [{sku: "A"}, {sku: "B"}, {sku: "C"}, {sku: "D"}]');
    await fixture.run(
      "FROM Multi AS t, @t.items AS e, @t.items AS f WHERE t.k = 2 AND e.sku = 'A' AND f.sku <> 'D' REMOVE e",
    );
    assert.equal(await itemsOf(2), text('[{sku: "B"}, {sku: "C"}, {sku: "D"}]'));

    await insert(
      3,
      'items: [], orders: [{n: 1, lines: [{s: "a"}, {s: "a"}]}, {n: 2, lines: [{s: "b"}]}, {n: 3, lines: []}]',
    );
    await fixture.run(
      "FROM Multi AS t, @t.orders AS o, @o.lines AS l WHERE t.k = 3 AND l.s = 'a' REMOVE o",
    );
    const [orders] = (await fixture.run('SELECT VALUE t.orders FROM Multi AS t WHERE t.k = 3'))
      .values as dom.Value[];
    assert.equal(canonicalText(orders!), text('[{n: 2, lines: [{s: "b"}]}, {n: 3, lines: []}]'));

    await insert(4, 'items: [{sku: "C"}], tags: ["x", "y"]');
    await fixture.run(
      "FROM Multi AS t, @t.items AS e, @t.tags AS g WHERE t.k = 4 AND e.sku = 'C' INSERT INTO t.items VALUE {'sku': 'dup'}",
    );
    assert.equal(await itemsOf(4), text('[{sku: "C"}, {sku: "dup"}]'));
    await fixture.run(
      'FROM Multi AS t, @t.items AS e, @t.tags AS g WHERE t.k = 4 INSERT INTO t.items VALUE g',
    );
    assert.equal(await itemsOf(4), text('[{sku: "C"}, {sku: "dup"}, "x", "y"]'));
  });

  test('a second table, or an unnamed collection, is refused', async () => {
    await fixture.run('CREATE TABLE People');
    for (const statement of [
      'FROM Cars AS c, People AS p SET p.x = 1',
      'FROM Cars AS c, x.Owners AS o SET o.x = 1',
      'FROM Cars AS c, c.Owners[*] AS o SET o.x = 1',
      'FROM Cars AS c, UNPIVOT c.Owners AS o SET o.x = 1',
    ]) {
      await assert.rejects(fixture.run(statement), /FROM update|nested collection/, statement);
    }
  });
});
