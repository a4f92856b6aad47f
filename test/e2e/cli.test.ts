import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/backends.js';
import { startServe } from '../helpers/serve-process.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function vellum(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Return a loopback port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

test('demo runs and verify passes', () => {
  const dir = tempDir();
  try {
    const demo = vellum(
      'demo',
      '--engine-only',
      '--records',
      '60',
      '--writers',
      '4',
      '--data-dir',
      dir.path,
    );
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /read 60 of 60 records/);
    assert.match(demo.stdout, /Demo finished/);

    const ledger = /created ledger (\S+)/.exec(demo.stdout)?.[1];
    assert.ok(ledger, demo.stdout);
    const verify = vellum('verify', '--ledger', ledger, '--data-dir', dir.path);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /122 blocks and \d+ block-tree nodes verified/);
  } finally {
    dir.remove();
  }
});

test('verify names a missing data directory', () => {
  const dir = tempDir();
  try {
    const result = vellum('verify', '--ledger', 'x', '--data-dir', dir.path);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /no Vellum database/);
  } finally {
    dir.remove();
  }
});

test('verify names an unknown ledger', () => {
  const dir = tempDir();
  try {
    assert.equal(
      vellum('demo', '--engine-only', '--records', '5', '--data-dir', dir.path).status,
      0,
    );
    const result = vellum('verify', '--ledger', 'nope', '--data-dir', dir.path);
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /ledger nope does not exist in .*; its ledgers are: qldb-kms-ledger-demo-/,
    );
  } finally {
    dir.remove();
  }
});

test('verify checks every ledger', () => {
  const dir = tempDir();
  try {
    assert.equal(
      vellum('demo', '--engine-only', '--records', '5', '--data-dir', dir.path).status,
      0,
    );
    assert.equal(
      vellum('demo', '--engine-only', '--records', '5', '--data-dir', dir.path).status,
      0,
    );
    const result = vellum('verify', '--data-dir', dir.path);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.match(/blocks and \d+ block-tree nodes verified/g)?.length, 2);
  } finally {
    dir.remove();
  }
});

test('verify needs the root key', () => {
  const dir = tempDir();
  try {
    assert.equal(
      vellum('demo', '--engine-only', '--records', '5', '--data-dir', dir.path).status,
      0,
    );
    rmSync(join(dir.path, 'root.key'));
    const result = vellum('verify', '--data-dir', dir.path);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /root key file .* is missing/);
    assert.equal(existsSync(join(dir.path, 'root.key')), false, 'verify created a root key');

    // Another root key: the message gives the fix for that, not a KMS one.
    writeFileSync(join(dir.path, 'root.key'), randomBytes(32), { mode: 0o600 });
    const mismatch = vellum('verify', '--data-dir', dir.path);
    assert.equal(mismatch.status, 2);
    assert.match(
      mismatch.stderr,
      /does not match this data directory; restore its original root\.key, and run vellum verify again/,
    );
    assert.doesNotMatch(mismatch.stderr, /KMS key/);
  } finally {
    dir.remove();
  }
});

/**
 * Run `vellum verify` on `dir` mounted read-only in a mount namespace of its
 * own, or return undefined where this system cannot make such a mount.
 */
function verifyReadOnly(
  dir: string,
  env: NodeJS.ProcessEnv,
): { status: number | null; stdout: string; stderr: string } | undefined {
  // Outside root, a user namespace gives the right to mount.
  const namespace = process.getuid?.() === 0 ? ['-m'] : ['-r', '-m'];
  const mountReadOnly = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"';
  const probe = spawnSync(
    'unshare',
    [...namespace, 'sh', '-c', `${mountReadOnly} && ! touch "$1/probe" 2>/dev/null`, 'sh', dir],
    { encoding: 'utf8' },
  );
  if (probe.status !== 0) return undefined;
  const result = spawnSync(
    'unshare',
    [
      ...namespace,
      'sh',
      '-c',
      `${mountReadOnly} && shift && exec "$@"`,
      'sh',
      dir,
      process.execPath,
      '--import',
      'tsx',
      main,
      'verify',
      '--data-dir',
      dir,
    ],
    { encoding: 'utf8', timeout: 120_000, env },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('verify reads a read-only data directory', (t) => {
  const dir = tempDir();
  const scratch = tempDir();
  try {
    assert.equal(
      vellum('demo', '--engine-only', '--records', '5', '--data-dir', dir.path).status,
      0,
    );
    const before = readdirSync(dir.path).sort();
    const database = readFileSync(join(dir.path, 'vellum.db'));
    const result = verifyReadOnly(dir.path, { ...process.env, TMPDIR: scratch.path });
    if (result === undefined) {
      t.skip('this system cannot mount a directory read-only in a private mount namespace');
      return;
    }
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /blocks and \d+ block-tree nodes verified/);
    assert.match(result.stderr, /is read-only; verifying a copy of its database in /);

    // Nothing was written beside the database, and the copy is gone.
    assert.deepEqual(readdirSync(dir.path).sort(), before);
    assert.ok(readFileSync(join(dir.path, 'vellum.db')).equals(database));
    assert.deepEqual(
      readdirSync(scratch.path).filter((name) => name.startsWith('vellum-verify-')),
      [],
    );
  } finally {
    dir.remove();
    scratch.remove();
  }
});

test('verify explains a running server directory', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path, '--log-level', 'warn');
  try {
    const result = vellum('verify', '--data-dir', dir.path);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /data directory .* is in use by process \d+/);
    assert.match(
      result.stderr,
      /Stop process \d+ first, or verify a copy taken while it runs \(sqlite3 .*vellum\.db "\.backup COPY\/vellum\.db"/,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('misspelt required options are named', () => {
  const shell = vellum('shell', '--ledgr', 'people');
  assert.equal(shell.status, 1);
  assert.match(shell.stderr, /unknown option '--ledgr'\n\(Did you mean --ledger\?\)/);

  const deploy = vellum('deploy', '--stag', 'dev');
  assert.equal(deploy.status, 1);
  assert.match(deploy.stderr, /unknown option '--stag'\n\(Did you mean --stage\?\)/);

  // Without the options, each is still required.
  const noLedger = vellum('shell', '-e', 'SELECT 1 FROM t;');
  assert.equal(noLedger.status, 1);
  assert.match(noLedger.stderr, /required option '--ledger <name>' not specified/);
  const noStage = vellum('outputs');
  assert.equal(noStage.status, 1);
  assert.match(noStage.stderr, /required option '--stage <stage>' not specified/);
});

test('commands name a server that is not Vellum', async () => {
  // Another HTTP service, such as the record service, where Vellum was expected.
  const other = createHttpServer((_request, response) => {
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end('{"status":404,"title":"Not Found"}');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  const run = (...args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', main, ...args, '--endpoint', url],
        {
          timeout: 60_000,
          env: {
            ...process.env,
            AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE12',
            AWS_SECRET_ACCESS_KEY: 'secret',
            AWS_PROFILE: '',
          },
        },
        (_error, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });
  try {
    const commands = [
      ['shell', '--ledger', 'people', '-e', 'SELECT 1 FROM t;'],
      ['outputs', '--stage', 'dev'],
      ['ledger', 'rekey', 'people'],
    ];
    for (const command of commands) {
      const result = await run(...command);
      assert.equal(result.code, 1, command.join(' '));
      assert.match(
        result.stderr,
        new RegExp(
          `the server at ${url.replace(/\./g, '\\.')} is not Vellum: it responded with HTTP 404 and no request id\\. ` +
            'Pass the address vellum serve printed',
        ),
        command.join(' '),
      );
    }
  } finally {
    other.close();
  }
});

test('demo rejects a bad count', () => {
  const result = vellum('demo', '--engine-only', '--records', 'many');
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /expected a positive integer, got "many"/);
});

test('demo runs the reference scenario end to end', async () => {
  const dir = tempDir();
  const report = join(dir.path, 'report.html');
  const [port, servicePort] = [await freePort(), await freePort()];
  const demo = vellum(
    'demo',
    '--records',
    '60',
    '--key-check-interval',
    '300ms',
    '--report',
    report,
    '--port',
    String(port),
    '--service-port',
    String(servicePort),
  );
  assert.equal(demo.status, 0, demo.stdout + demo.stderr);
  assert.match(demo.stdout, new RegExp(`against http://127\\.0\\.0\\.1:${port} `));
  assert.match(demo.stdout, new RegExp(`record service on http://127\\.0\\.0\\.1:${servicePort}/`));
  assert.match(demo.stdout, /1\. create records +60 +60 +0 .* PASS/);
  assert.match(demo.stdout, /2\. update-ledger --kms-key +\d+ +\d+ +0 .* PASS/);
  assert.match(demo.stdout, /3\. key disabled .* PASS .*does not have grant access/);
  assert.match(demo.stdout, /4\. no-access key +\d+ +0 +\d+ .* PASS +500 .*AccessDeniedException/);
  assert.match(demo.stdout, /DescribeLedger returned it \d+\.\d s after DisableKey/);
  const verdicts = demo.stdout.split('\n').filter((line) => /^(PASS|FAIL) /.test(line));
  assert.deepEqual(
    verdicts.map((line) => line.replace(/:.*/, '')),
    [
      'PASS 1. create records',
      'PASS 1. read records',
      'PASS 2. alias re-pointed',
      'PASS 2. update-ledger --kms-key',
      'PASS 3. key disabled',
      'PASS 3. key enabled again',
      'PASS 4. no-access key',
    ],
  );
  assert.match(
    demo.stdout,
    /^PASS 3\. key disabled: reads that ended before DisableKey succeeded; .*every read that started after DescribeLedger returned KMS_KEY_INACCESSIBLE failed$/m,
  );
  assert.match(
    demo.stdout,
    /^PASS 4\. no-access key: every read failed with AccessDeniedException$/m,
  );
  assert.match(demo.stdout, /every phase behaved as the reference scenario expects/);
  const html = readFileSync(report, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /<li>[\d.]+ s: disable key<\/li>/);
  assert.match(html, /KMS_KEY_INACCESSIBLE: observed by DescribeLedger at [\d.]+ s/);
  assert.match(html, /<td class="pass">PASS<\/td>/);
  assert.doesNotMatch(html, /FAIL/);
  dir.remove();
});

test('demo names a port in use', async () => {
  const occupier = createServer();
  await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
  const { port } = occupier.address() as AddressInfo;
  try {
    const server = vellum('demo', '--records', '5', '--port', String(port));
    assert.equal(server.status, 1, server.stdout + server.stderr);
    assert.match(
      server.stderr,
      new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use; .*pass another --port`),
    );

    const service = vellum('demo', '--records', '5', '--service-port', String(port));
    assert.equal(service.status, 1, service.stdout + service.stderr);
    assert.match(
      service.stderr,
      new RegExp(
        `port ${port} on 127\\.0\\.0\\.1 is already in use, so the record service cannot listen there; .*--service-port`,
      ),
    );
    assert.match(service.stderr, /removing stack qldb-kms-demo after the failure/);
  } finally {
    occupier.close();
  }
});

test('demo rejects ports without a server', () => {
  const engineOnly = vellum('demo', '--engine-only', '--port', '19600');
  assert.equal(engineOnly.status, 1);
  assert.match(engineOnly.stderr, /--port does not go with --engine-only/);

  const badPort = vellum('demo', '--service-port', '70000');
  assert.notEqual(badPort.status, 0);
  assert.match(badPort.stderr, /expected a TCP port from 0 to 65535, got "70000"/);
});
