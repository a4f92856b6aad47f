import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Start main.ts with the given pool size; resolve with its first line, or its error output once it exits. */
function start(poolSize: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: '/nonexistent',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00',
      AWS_SECRET_ACCESS_KEY: 'not-used-before-the-first-request',
      VELLUM_ENDPOINT: 'http://127.0.0.1:9',
      STAGE: 'dev',
      CREATE_ROLE_ARN: 'arn:aws:iam::000000000000:role/qldb-kms-create-record-role',
      GET_ROLE_ARN: 'arn:aws:iam::000000000000:role/qldb-kms-get-record-role',
      PORT: '0',
      MAX_CONCURRENT_TRANSACTIONS: poolSize,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) {
        child.kill('SIGTERM');
        resolve({ code: null, output });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

test('pool size from the environment', async () => {
  const started = await start('32');
  assert.match(
    started.output,
    /record service for stage dev on http:\/\/127\.0\.0\.1:\d+\/dev\/record/,
  );

  for (const bad of ['0', '51', 'ten', '2.5']) {
    const rejected = await start(bad);
    assert.notEqual(rejected.code, 0, bad);
    assert.match(
      rejected.output,
      new RegExp(
        `MAX_CONCURRENT_TRANSACTIONS must be an integer from 1 to 50 .*got ${JSON.stringify(JSON.stringify(bad)).slice(1, -1)}`,
      ),
    );
  }
});
