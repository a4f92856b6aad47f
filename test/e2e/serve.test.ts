import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { tempDir } from '../helpers/backends.js';
import { signRequest } from '../helpers/signed-request.js';
import { clientConfig } from '../helpers/vellum-instance.js';
import { AWS_CLI, VELLUM_MAIN as main, readProfile, startServe } from '../helpers/serve-process.js';

test('first start writes credentials, second reuses them', async () => {
  const dir = tempDir();
  try {
    const first = await startServe(dir.path);
    assert.match(first.output(), /Root credentials created: profile 'vellum'/);
    assert.match(
      first.output(),
      new RegExp(`export AWS_SHARED_CREDENTIALS_FILE=${dir.path}/credentials`),
    );
    assert.match(first.output(), /export AWS_PROFILE=vellum/);

    for (const file of ['credentials', 'config']) {
      assert.equal(statSync(join(dir.path, file)).mode & 0o777, 0o600, file);
    }
    const config = readFileSync(join(dir.path, 'config'), 'utf8');
    assert.equal(config, `[profile vellum]\nregion = us-east-1\nendpoint_url = ${first.url}\n`);
    const credentials = readProfile(dir.path);
    assert.match(credentials.accessKeyId, /^AKIA[A-Z0-9]{16}$/);

    const sts = new STSClient(clientConfig(first.url, credentials));
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, 'arn:aws:iam::000000000000:root');

    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /vellum serve stopped/);

    const second = await startServe(dir.path);
    assert.match(second.output(), /Root credentials reused/);
    assert.deepEqual(readProfile(dir.path), credentials);
    const again = new STSClient(clientConfig(second.url, credentials));
    assert.equal((await again.send(new GetCallerIdentityCommand({}))).Arn, identity.Arn);
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0, second.output());
  } finally {
    dir.remove();
  }
});

const CALLER_IDENTITY = 'Action=GetCallerIdentity&Version=2011-06-15';

/** Signed headers of an STS GetCallerIdentity call with the root profile in `dataDir`. */
function signedCallerIdentity(url: string, dataDir: string) {
  return signRequest(
    url,
    {
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: CALLER_IDENTITY,
    },
    { credentials: readProfile(dataDir), service: 'sts' },
  );
}

test('SIGTERM lets a request in flight finish', async () => {
  const dir = tempDir();
  try {
    const serve = await startServe(dir.path);
    const headers = await signedCallerIdentity(serve.url, dir.path);
    const url = new URL(serve.url);
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        { host: url.hostname, port: url.port, method: 'POST', path: '/', headers, agent: false },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      request.on('error', reject);
      request.write(CALLER_IDENTITY.slice(0, 10));
      setTimeout(() => {
        serve.child.kill('SIGTERM');
        setTimeout(() => request.end(CALLER_IDENTITY.slice(10)), 500);
      }, 300);
    });

    const answer = await response;
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /<Arn>arn:aws:iam::000000000000:root<\/Arn>/);
    assert.equal(await serve.exited, 0, serve.output());
    assert.match(serve.output(), /stopping: finishing requests in flight/);
  } finally {
    dir.remove();
  }
});

test('SIGTERM serves a request still arriving on an open connection', async () => {
  const dir = tempDir();
  try {
    const serve = await startServe(dir.path);
    const url = new URL(serve.url);
    const raw = async () => {
      const headers = await signedCallerIdentity(serve.url, dir.path);
      const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
      return `POST / HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${CALLER_IDENTITY}`;
    };
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const until = async (done: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!done()) {
        assert.ok(Date.now() < deadline, `no answer; received so far:\n${received}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    // A first request keeps the connection open.
    socket.write(await raw());
    await until(() => received.includes('</GetCallerIdentityResponse>'));
    assert.match(received, /^HTTP\/1\.1 200/);
    received = '';
    // The second one's first bytes come before the signal, the rest after it.
    const second = await raw();
    socket.write(second.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 200));
    serve.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.write(second.slice(20));
    await until(() => received.includes('</GetCallerIdentityResponse>') || received.includes('}'));
    await closed;
    assert.match(received, /^HTTP\/1\.1 200/, received);
    assert.match(received, /\r\nconnection: close\r\n/i);
    assert.match(received, /<Arn>arn:aws:iam::000000000000:root<\/Arn>/);
    assert.equal(await serve.exited, 0, serve.output());
  } finally {
    dir.remove();
  }
});

test('serve rejects a non-loopback host and bad options', () => {
  const dir = tempDir();
  try {
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', main, 'serve', '--data-dir', dir.path, ...args],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
    const remote = run('--host', '0.0.0.0');
    assert.equal(remote.status, 1);
    assert.match(remote.stderr, /--host 0\.0\.0\.0 is not a loopback address/);
    assert.match(remote.stderr, /pass --allow-remote/);

    const duration = run('--kms-day-length', '3 weeks');
    assert.notEqual(duration.status, 0);
    assert.match(
      duration.stderr,
      /expected a duration such as 500ms, 10s, 5m, 24h or 7d, got "3 weeks"/,
    );

    const port = run('--port', '70000');
    assert.notEqual(port.status, 0);
    assert.match(port.stderr, /expected a TCP port from 0 to 65535, got "70000"/);
    assert.equal(existsSync(join(dir.path, 'credentials')), false, 'nothing was started');
  } finally {
    dir.remove();
  }
});

test('serve reports a busy data directory and port', async () => {
  const dir = tempDir();
  const other = tempDir();
  const first = await startServe(dir.path);
  try {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', main, 'serve', ...args], {
        encoding: 'utf8',
        timeout: 60_000,
      });
    const sameDir = run('--port', '0', '--data-dir', dir.path);
    assert.equal(sameDir.status, 1);
    assert.match(sameDir.stderr, /data directory .* is in use by process \d+/);

    const port = new URL(first.url).port;
    const samePort = run('--port', port, '--data-dir', other.path, '--log-level', 'silent');
    assert.equal(samePort.status, 1);
    assert.match(
      samePort.stderr,
      new RegExp(
        `port ${port} on 127\\.0\\.0\\.1 is already in use; stop the process using it or pass another --port`,
      ),
    );
    // A first start that fails leaves no data directory behind.
    const fresh = join(other.path, 'fresh');
    const freshStart = run('--port', port, '--data-dir', fresh, '--log-level', 'silent');
    assert.equal(freshStart.status, 1);
    assert.equal(existsSync(fresh), false);
  } finally {
    first.child.kill('SIGTERM');
    await first.exited;
    dir.remove();
    other.remove();
  }
});

test(
  'AWS CLI uses the written profile',
  { skip: !existsSync(AWS_CLI) && `${AWS_CLI} is not installed` },
  async () => {
    const dir = tempDir();
    try {
      const serve = await startServe(dir.path);
      const result = spawnSync(
        AWS_CLI,
        ['--endpoint-url', serve.url, 'sts', 'get-caller-identity', '--output', 'json'],
        {
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            PATH: process.env.PATH,
            HOME: dir.path,
            AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'credentials'),
            AWS_CONFIG_FILE: join(dir.path, 'config'),
            AWS_PROFILE: 'vellum',
            AWS_EC2_METADATA_DISABLED: 'true',
            AWS_PAGER: '',
          },
        },
      );
      assert.equal(result.status, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).Arn, 'arn:aws:iam::000000000000:root');
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
    } finally {
      dir.remove();
    }
  },
);
