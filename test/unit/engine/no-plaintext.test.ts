import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'ion-js';
import { Engine } from '../../../src/engine/index.js';
import { tempDir } from '../../helpers/backends.js';

const MARKER = 'MARKER-7f3a9c-plaintext';
const TABLE = 'SecretTableQz';
const FIELD = 'hiddenFieldXq';
const INDEXED = 'indexedFieldWv';

/** Read every file of the data directory (the database, its WAL and shared memory) into one buffer. */
function storedBytes(dir: string): { files: string[]; bytes: Buffer } {
  const files = readdirSync(dir);
  return { files, bytes: Buffer.concat(files.map((file) => readFileSync(join(dir, file)))) };
}

function assertAbsent(bytes: Buffer, needle: string, where: string): void {
  for (const encoding of ['utf8', 'utf16le', 'latin1'] as const) {
    assert.equal(
      bytes.indexOf(Buffer.from(needle, encoding)),
      -1,
      `${needle} (${encoding}) found in ${where}`,
    );
  }
}

test('store files hold no user plaintext', async () => {
  const dir = tempDir();
  const engine = await Engine.open({ dataDir: dir.path });
  try {
    await engine.createLedger('secret');
    const ledger = await engine.ledger('secret');
    await ledger.run(async (t) => {
      t.recordStatement(`CREATE TABLE ${TABLE}`);
      t.createTable(TABLE);
      t.recordStatement(`CREATE INDEX ON ${TABLE} (${INDEXED})`);
      await t.createIndex(TABLE, INDEXED);
    });
    for (let round = 0; round < 20; round++) {
      await ledger.run(async (t) => {
        t.recordStatement(`INSERT INTO ${TABLE} VALUE {'${FIELD}': '${MARKER}'}`);
        const id = await t.insert(
          TABLE,
          load(`{${FIELD}: "${MARKER}", ${INDEXED}: "${MARKER}-${round}", n: ${round}}`)!,
        );
        if (round % 2 === 0) await t.update(TABLE, id, load(`{${FIELD}: "${MARKER} again"}`)!);
      });
    }

    // While the engine is open most data is still in the WAL file.
    const open = storedBytes(dir.path);
    assert.ok(
      open.files.some((file) => file.endsWith('-wal')),
      `expected a WAL file, found ${open.files.join(', ')}`,
    );
    for (const needle of [MARKER, TABLE, FIELD, INDEXED])
      assertAbsent(open.bytes, needle, 'the open data directory');
  } finally {
    await engine.close();
  }

  const closed = storedBytes(dir.path);
  for (const needle of [MARKER, TABLE, FIELD, INDEXED])
    assertAbsent(closed.bytes, needle, 'the closed data directory');

  // The data is still readable through the engine, so the test is not vacuous.
  const reopened = await Engine.open({ dataDir: dir.path });
  try {
    const ledger = await reopened.ledger('secret');
    const documents = await ledger.run(async (t) => t.scan(TABLE));
    assert.equal(documents.length, 20);
    assert.ok(documents.some((d) => d.data?.get(FIELD)?.stringValue() === MARKER));
    const found = await ledger.run(async (t) => t.lookup(TABLE, INDEXED, load(`"${MARKER}-1"`)!));
    assert.equal(found.length, 1);
  } finally {
    await reopened.close();
    dir.remove();
  }
});

test('after a rekey the files hold no plaintext and no copy of the old wrapped key', async () => {
  const dir = tempDir();
  const engine = await Engine.open({ dataDir: dir.path, rekey: { batchBlocks: 4 } });
  let oldWrapped: Uint8Array;
  try {
    await engine.createLedger('secret');
    const ledger = await engine.ledger('secret');
    await ledger.run(async (t) => {
      t.recordStatement(`CREATE TABLE ${TABLE}`);
      t.createTable(TABLE);
      await t.createIndex(TABLE, INDEXED);
    });
    for (let round = 0; round < 20; round++) {
      await ledger.run(async (t) => {
        t.recordStatement(`INSERT INTO ${TABLE} VALUE {'${FIELD}': '${MARKER}'}`);
        await t.insert(
          TABLE,
          load(`{${FIELD}: "${MARKER}", ${INDEXED}: "${MARKER}-${round}", n: ${round}}`)!,
        );
      });
    }
    oldWrapped = (await engine.ledgerKeyRecord('secret')).wrappedKey;
    // The scan finds the key while it is stored, so its absence later means something.
    assert.notEqual(storedBytes(dir.path).bytes.indexOf(Buffer.from(oldWrapped)), -1);
    await engine.rekeyLedger('secret');
    // Writes during the rekey are sealed too.
    await ledger.run(async (t) => {
      await t.insert(TABLE, load(`{${FIELD}: "${MARKER}", ${INDEXED}: "${MARKER}-during"}`)!);
    });
    assert.equal((await engine.waitForRekey('secret')).rekey?.state, 'DONE');

    const open = storedBytes(dir.path);
    for (const needle of [MARKER, TABLE, FIELD, INDEXED])
      assertAbsent(open.bytes, needle, 'the open data directory after a rekey');
    assert.equal(
      open.bytes.indexOf(Buffer.from(oldWrapped)),
      -1,
      'the old wrapped data key is still in the data directory',
    );
  } finally {
    await engine.close();
  }

  const closed = storedBytes(dir.path);
  for (const needle of [MARKER, TABLE, FIELD, INDEXED])
    assertAbsent(closed.bytes, needle, 'the closed data directory after a rekey');
  assert.equal(closed.bytes.indexOf(Buffer.from(oldWrapped!)), -1);

  const reopened = await Engine.open({ dataDir: dir.path });
  try {
    const ledger = await reopened.ledger('secret');
    const found = await ledger.run(async (t) =>
      t.lookup(TABLE, INDEXED, load(`"${MARKER}-during"`)!),
    );
    assert.equal(found.length, 1);
    assert.equal((await ledger.run(async (t) => t.scan(TABLE))).length, 21);
  } finally {
    await reopened.close();
    dir.remove();
  }
});
