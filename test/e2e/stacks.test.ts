import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/backends.js';
import { AWS_CLI, VELLUM_MAIN, startServe } from '../helpers/serve-process.js';

test('deploy, outputs and remove the reference stack', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path);
  const env = {
    PATH: process.env.PATH,
    HOME: dir.path,
    AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'credentials'),
    AWS_CONFIG_FILE: join(dir.path, 'config'),
    AWS_PROFILE: 'vellum',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
  const vellum = (...args: string[]) => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', VELLUM_MAIN, ...args, '--endpoint', serve.url],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } },
    );
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  try {
    const deployed = vellum('deploy', '--stage', 'ci');
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(deployed.stdout, /stack qldb-kms-ci is CREATE_COMPLETE/);
    assert.match(deployed.stdout, /mainKeyID: [0-9a-f-]{36}/);

    // Deploying again changes nothing.
    const again = vellum('deploy', '--stage', 'ci');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /up to date/);

    const outputs = vellum('outputs', '--stage', 'ci', '--json');
    assert.equal(outputs.status, 0, outputs.stderr);
    const values = JSON.parse(outputs.stdout) as Record<string, string>;
    for (const key of ['mainKeyID', 'rotateKeyID', 'noAccessKeyID', 'deleteKeyID']) {
      assert.match(values[key] ?? '', /^[0-9a-f-]{36}$/, key);
    }
    assert.equal(values.ledgerName, 'qldb-kms-ledger-ci');
    assert.equal(values.createRecordAddress, 'POST http://127.0.0.1:3000/ci/record');

    if (existsSync(AWS_CLI)) {
      const aws = (...args: string[]) =>
        spawnSync(AWS_CLI, ['--endpoint-url', serve.url, ...args], { encoding: 'utf8', env });
      const key = aws(
        'cloudformation',
        'describe-stacks',
        '--stack-name',
        'qldb-kms-ci',
        '--query',
        "Stacks[0].Outputs[?OutputKey=='mainKeyID'].OutputValue",
        '--output',
        'text',
      );
      assert.equal(key.status, 0, key.stderr);
      assert.equal(key.stdout.trim(), values.mainKeyID);
      const ledger = JSON.parse(
        aws('qldb', 'describe-ledger', '--name', 'qldb-kms-ledger-ci').stdout,
      ) as {
        PermissionsMode: string;
        EncryptionDescription: { KmsKeyArn: string; EncryptionStatus: string };
      };
      assert.equal(ledger.PermissionsMode, 'STANDARD');
      assert.equal(ledger.EncryptionDescription.EncryptionStatus, 'ENABLED');
      assert.match(ledger.EncryptionDescription.KmsKeyArn, new RegExp(`key/${values.mainKeyID}$`));
    }

    const missingFile = vellum('deploy', '--stage', 'ci', '--file', 'stacks/nope.yml');
    assert.equal(missingFile.status, 1);
    assert.match(missingFile.stderr, /stack file stacks\/nope\.yml not found; pass --file/);
    const notDeployed = vellum('remove', '--stage', 'other');
    assert.equal(notDeployed.status, 1);
    assert.match(notDeployed.stderr, /qldb-kms-other does not exist/);

    const removed = vellum('remove', '--stage', 'ci');
    assert.equal(removed.status, 0, removed.stderr);
    const gone = vellum('outputs', '--stage', 'ci');
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /does not exist/);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});
