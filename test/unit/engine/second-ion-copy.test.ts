import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine, LedgerError, executeStatement, ion } from '../../../src/engine/index.js';
import { tempDir } from '../../helpers/backends.js';

// The ES module build of ion-js, loaded by its path: a second copy, as an
// application that installs its own ion-js may have. Its values are
// instances of its own classes, not of the engine's.
const other = (await import(
  pathToFileURL(resolve('node_modules/ion-js/dist/es6/es6/Ion.js')).href
)) as typeof ion;

test('values of a second ion-js copy are rejected, never stored changed', async () => {
  const decimal = other.load('12345678901234567890.123456789')!;
  assert.ok(!(decimal instanceof ion.dom.Value), 'the copy is a second one');
  assert.ok(decimal instanceof Number, 'its decimal reads as a Number');
  const dir = tempDir();
  const engine = await Engine.open({ dataDir: dir.path });
  try {
    await engine.createLedger('copies');
    const ledger = await engine.ledger('copies');
    await ledger.run(async (tx) => {
      tx.createTable('T');
    });
    const rejected = (body: Parameters<typeof ledger.run>[0]) =>
      assert.rejects(ledger.run(body), (error: unknown) => {
        assert.ok(error instanceof LedgerError, String(error));
        assert.match(error.message, /from another copy of ion-js than the engine uses/);
        assert.match(error.message, /import \{ ion \} from 'vellum'/);
        return true;
      });
    const values = [
      decimal,
      other.load('12.50')!,
      other.load('sym')!,
      other.load('a::5')!,
      new other.Decimal('1.5'),
      other.Timestamp.parse('2024-01-01T')!,
    ];
    for (const value of values) {
      await rejected((tx) => tx.insert('T', { a: value }));
    }
    await rejected((tx) => tx.insert('T', other.load('{a: 1}')!));
    await rejected((tx) => executeStatement(tx, 'SELECT * FROM T WHERE a = ?', [other.load('1')!]));
    // The engine's own copy keeps every Ion type.
    await ledger.run((tx) => tx.insert('T', { a: ion.load('12.50')! }));
    const [stored] = await ledger.run((tx) => tx.scan('T'));
    assert.equal(ion.dumpText(stored!.data!.get('a')!), '12.50');
  } finally {
    await engine.close();
    dir.remove();
  }
});
