import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateLedgerCommand, DescribeLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { tempDir } from '../helpers/backends.js';
import { VELLUM_MAIN, readProfile, startServe } from '../helpers/serve-process.js';
import { sendSigned } from '../helpers/signed-request.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI with the profile `vellum serve` wrote, as a user in its directory would. */
function vellum(dataDir: string, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', VELLUM_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'),
      AWS_CONFIG_FILE: join(dataDir, 'config'),
      AWS_PROFILE: 'vellum',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

test('vellum ledger rekey against vellum serve', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path, '--key-check-interval', '200ms');
  try {
    const credentials = readProfile(dir.path);
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const config = { endpoint: serve.url, region: 'us-east-1', credentials, maxAttempts: 1 };
    const qldb = new QLDBClient(config);
    await qldb.send(new CreateLedgerCommand({ Name: 'books', PermissionsMode: 'ALLOW_ALL' }));
    const statements = [
      'CREATE TABLE Book;',
      'CREATE INDEX ON Book (isbn);',
      ...Array.from(
        { length: 30 },
        (_, i) => `INSERT INTO Book VALUE {'isbn': '${i % 5}', 'title': 'Rekey marker ${i}'};`,
      ),
    ].join('\n');
    const filled = await vellum(dir.path, 'shell', '--ledger', 'books', '-e', statements);
    assert.equal(filled.status, 0, filled.stderr);

    // The endpoint comes from the profile's endpoint_url; output is not a terminal.
    const rekey = await vellum(dir.path, 'ledger', 'rekey', 'books');
    assert.equal(rekey.status, 0, rekey.stderr);
    const lines = rekey.stdout.trim().split('\n');
    assert.equal(lines[0], 'rekey of ledger books started: data key generation 0 to 1');
    assert.equal(
      lines.at(-1),
      'rekey of ledger books done: data key generation 1; the old data key is deleted',
    );
    assert.ok(
      lines.some((line) => /^\w+: \d+\/\d+ blocks \(\d+%\), \d+ document revisions/.test(line)),
      rekey.stdout,
    );
    assert.ok(
      !rekey.stdout.includes('\r') && !rekey.stdout.includes('\u001b'),
      'plain lines when not on a terminal',
    );
    assert.equal(rekey.stderr, '');

    // The status route reports the finished rekey.
    const status = await sendSigned(
      serve.url,
      { method: 'GET', path: '/ledgers/books/rekey' },
      { credentials, service: 'qldb' },
    );
    assert.equal(status.status, 200, status.body);
    const reply = JSON.parse(status.body) as {
      KeyGeneration: number;
      RetiringKeyGeneration?: number;
      Rekey: { Status: string; DocumentsReencrypted: number; IndexEntriesReplaced: number };
    };
    assert.equal(reply.KeyGeneration, 1);
    assert.equal(reply.RetiringKeyGeneration, undefined);
    assert.equal(reply.Rekey.Status, 'DONE');
    assert.equal(reply.Rekey.DocumentsReencrypted, 30);
    assert.equal(reply.Rekey.IndexEntriesReplaced, 30);

    // The data reads back through the index with the new key.
    const read = await vellum(
      dir.path,
      'shell',
      '--ledger',
      'books',
      '--format',
      'json',
      '-e',
      "SELECT title FROM Book WHERE isbn = '3';",
    );
    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout.match(/Rekey marker/g)?.length, 6, read.stdout);

    // --no-wait starts the next rekey and returns.
    const quick = await vellum(
      dir.path,
      'ledger',
      'rekey',
      'books',
      '--no-wait',
      '--endpoint',
      serve.url,
    );
    assert.equal(quick.status, 0, quick.stderr);
    assert.equal(quick.stdout, 'rekey of ledger books started: data key generation 1 to 2\n');

    // Bad ledger names: unknown, and not a ledger name at all.
    const missing = await vellum(dir.path, 'ledger', 'rekey', 'nosuch');
    assert.equal(missing.status, 1);
    assert.equal(
      missing.stderr,
      'vellum ledger rekey: ResourceNotFoundException: Ledger nosuch does not exist\n',
    );
    const invalid = await vellum(dir.path, 'ledger', 'rekey', 'bad_name');
    assert.equal(invalid.status, 1);
    assert.match(
      invalid.stderr,
      /^vellum ledger rekey: InvalidParameterException: Invalid ledger name "bad_name"/,
    );
    const unreachable = await vellum(
      dir.path,
      'ledger',
      'rekey',
      'books',
      '--endpoint',
      'http://127.0.0.1:9',
    );
    assert.equal(unreachable.status, 1);
    // Port 9 is also on fetch's blocked list; the message names the refused connection.
    assert.match(
      unreachable.stderr,
      /cannot reach Vellum at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\): start it with vellum serve/,
    );
    // https:// on the server's plain HTTP port.
    const tls = serve.url.replace(/^http:/, 'https:');
    const https = await vellum(dir.path, 'ledger', 'rekey', 'books', '--endpoint', tls);
    assert.equal(https.status, 1);
    assert.match(
      https.stderr,
      new RegExp(
        `Vellum at ${tls.replace(/\./g, '\\.')} did not respond over TLS \\(ERR_SSL_\\w+\\): ` +
          `vellum serve listens on plain HTTP, so use ${serve.url.replace(/\./g, '\\.')},`,
      ),
    );

    // A ledger under a customer managed key gets its new data key from the KMS.
    const kms = new KMSClient(config);
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await qldb.send(
      new CreateLedgerCommand({ Name: 'vault', PermissionsMode: 'STANDARD', KmsKey: keyId }),
    );
    const cmk = await vellum(dir.path, 'ledger', 'rekey', 'vault');
    assert.equal(cmk.status, 0, cmk.stderr);
    assert.match(cmk.stdout, /rekey of ledger vault done: data key generation 1/);

    // Once the key is inaccessible, a rekey is refused with the key's error.
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const described = await qldb.send(new DescribeLedgerCommand({ Name: 'vault' }));
      if (described.EncryptionDescription?.EncryptionStatus === 'KMS_KEY_INACCESSIBLE') break;
      assert.ok(Date.now() < deadline, 'the ledger never became KMS_KEY_INACCESSIBLE');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const refused = await vellum(dir.path, 'ledger', 'rekey', 'vault');
    assert.equal(refused.status, 1);
    assert.equal(
      refused.stderr,
      'vellum ledger rekey: BadRequestException: Vellum does not have grant access on the KMS customer managed key of the ledger. Restore the grant on the key for the ledger.\n',
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }

  // The journal still verifies after the rekeys.
  const verify = await vellum(dir.path, 'verify', '--data-dir', dir.path, '--ledger', 'books');
  assert.equal(verify.status, 0, verify.stdout + verify.stderr);
  dir.remove();
});

/** Return whether 127.0.0.1:`port` can be listened on now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

// Port 6000 is on fetch's list of blocked ports, which a rekey client built on
// fetch refused to reach ("bad port") while every other command worked.
const BLOCKED_BY_FETCH = 6000;

test('vellum ledger rekey on a port fetch blocks', async (t) => {
  if (!(await portFree(BLOCKED_BY_FETCH))) {
    t.skip(`127.0.0.1:${BLOCKED_BY_FETCH} is in use`);
    return;
  }
  const dir = tempDir();
  const serve = await startServe(dir.path, '--port', String(BLOCKED_BY_FETCH));
  try {
    const credentials = readProfile(dir.path);
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const qldb = new QLDBClient({
      endpoint: serve.url,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    await qldb.send(new CreateLedgerCommand({ Name: 'ports', PermissionsMode: 'ALLOW_ALL' }));
    const rekey = await vellum(dir.path, 'ledger', 'rekey', 'ports', '--endpoint', serve.url);
    assert.equal(rekey.status, 0, rekey.stderr);
    assert.match(rekey.stdout, /rekey of ledger ports done: data key generation 1/);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});
