import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LedgerCipher, PayloadIntegrityError } from '../../../src/engine/keyring/ledger-cipher.js';
import {
  loadOrCreateRootKey,
  RootKeyProvider,
  ROOT_KEY_FILE,
} from '../../../src/engine/keyring/root-key-file.js';
import { Engine } from '../../../src/engine/index.js';
import { tempDir } from '../../helpers/backends.js';

test('root key file is created 0600', () => {
  const dir = tempDir();
  try {
    const key = loadOrCreateRootKey(dir.path);
    assert.equal(key.length, 32);
    assert.equal(statSync(join(dir.path, ROOT_KEY_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateRootKey(dir.path), key, 'a second load returns the same key');
  } finally {
    dir.remove();
  }
});

test('readable root key file is rejected', () => {
  const dir = tempDir();
  try {
    loadOrCreateRootKey(dir.path);
    chmodSync(join(dir.path, ROOT_KEY_FILE), 0o644);
    assert.throws(() => loadOrCreateRootKey(dir.path), /mode 644; run "chmod 600/);
  } finally {
    dir.remove();
  }
});

test('no new root key is made next to an existing database', async () => {
  const dir = tempDir();
  try {
    const engine = await Engine.open({ dataDir: dir.path });
    await engine.createLedger('kept');
    await engine.close();
    rmSync(join(dir.path, ROOT_KEY_FILE));
    await assert.rejects(
      Engine.open({ dataDir: dir.path }),
      /root key file .*root\.key is missing, but the database .*vellum\.db exists, and only its original root key opens it\. Restore root\.key .* no new key was made/,
    );
    assert.equal(existsSync(join(dir.path, ROOT_KEY_FILE)), false);

    // Another key is refused before it can make ledgers of its own.
    writeFileSync(join(dir.path, ROOT_KEY_FILE), randomBytes(32), { mode: 0o600 });
    await assert.rejects(
      Engine.open({ dataDir: dir.path }),
      /root key file .*root\.key does not open the data key of ledger kept in .*vellum\.db: it is not the key this database was made with\. Restore the original root\.key/,
    );
    // The refused open left the directory unlocked.
    rmSync(join(dir.path, ROOT_KEY_FILE));
    await assert.rejects(Engine.open({ dataDir: dir.path }), /is missing, but the database/);
  } finally {
    dir.remove();
  }
});

test('short root key file is rejected', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, ROOT_KEY_FILE), randomBytes(16), { mode: 0o600 });
    assert.throws(() => loadOrCreateRootKey(dir.path), /must hold 32 bytes, found 16/);
  } finally {
    dir.remove();
  }
});

test('data key wrap is bound to ledger', async () => {
  const provider = new RootKeyProvider(randomBytes(32));
  const dataKey = randomBytes(32);
  const wrapped = await provider.wrap('ledger-a', dataKey);
  assert.deepEqual(Buffer.from(await provider.unwrap('ledger-a', wrapped)), dataKey);
  await assert.rejects(
    provider.unwrap('ledger-b', wrapped),
    /cannot unwrap the data key of ledger ledger-b/,
  );
  await assert.rejects(
    new RootKeyProvider(randomBytes(32)).unwrap('ledger-a', wrapped),
    /root key file does not match/,
  );
});

test('sealed payload is bound to context', () => {
  const cipher = new LedgerCipher(randomBytes(32));
  const sealed = cipher.seal(Buffer.from('hello'), 'rev:a:0');
  assert.equal(Buffer.from(cipher.open(sealed, 'rev:a:0')).toString(), 'hello');
  assert.throws(() => cipher.open(sealed, 'rev:a:1'), PayloadIntegrityError);
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 20]! ^= 1;
  assert.throws(() => cipher.open(flipped, 'rev:a:0'), PayloadIntegrityError);
  assert.throws(() => cipher.open(sealed.subarray(0, 10), 'rev:a:0'), PayloadIntegrityError);
  assert.throws(() => new LedgerCipher(randomBytes(16)), /data key must be 32 bytes, got 16/);
});

test('index MAC is keyed and scoped', () => {
  const key = randomBytes(32);
  const message = Buffer.from('value');
  assert.deepEqual(
    new LedgerCipher(key).mac('index', message),
    new LedgerCipher(key).mac('index', message),
  );
  assert.notDeepEqual(
    new LedgerCipher(key).mac('index', message),
    new LedgerCipher(randomBytes(32)).mac('index', message),
  );
  assert.notDeepEqual(
    new LedgerCipher(key).mac('index', message),
    new LedgerCipher(key).mac('other', message),
  );
});
