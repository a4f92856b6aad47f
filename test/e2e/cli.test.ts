import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/backends.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function vellum(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
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

test('demo rejects a bad count', () => {
  const result = vellum('demo', '--engine-only', '--records', 'many');
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /expected a positive integer, got "many"/);
});

test('demo runs the reference scenario end to end', () => {
  const dir = tempDir();
  const report = join(dir.path, 'report.html');
  const demo = vellum(
    'demo',
    '--records',
    '60',
    '--key-check-interval',
    '300ms',
    '--report',
    report,
  );
  assert.equal(demo.status, 0, demo.stdout + demo.stderr);
  assert.match(demo.stdout, /1\. create records +60 +60 +0/);
  assert.match(demo.stdout, /2\. update-ledger --kms-key +\d+ +\d+ +0/);
  assert.match(demo.stdout, /3\. key disabled .*does not have grant access/);
  assert.match(demo.stdout, /4\. no-access key +\d+ +0 +\d+ .* 500 .*AccessDeniedException/);
  assert.match(demo.stdout, /every phase behaved as the reference scenario expects/);
  const html = readFileSync(report, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /disable key/);
  assert.match(html, /as expected/);
  dir.remove();
});
