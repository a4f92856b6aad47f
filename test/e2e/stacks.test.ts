import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/backends.js';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  GetRoleCommand,
  IAMClient,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { DescribeLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { AWS_CLI, VELLUM_MAIN, readProfile, startServe } from '../helpers/serve-process.js';

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
  const run = (args: string[], runEnv: NodeJS.ProcessEnv) => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', VELLUM_MAIN, ...args], {
      encoding: 'utf8',
      timeout: 120_000,
      env: runEnv,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const vellum = (...args: string[]) =>
    run([...args, '--endpoint', serve.url], { ...process.env, ...env });
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

    // Without --endpoint, the profile's endpoint_url (the server's own port) is used,
    // and without any AWS settings, the profile in --data-dir.
    const noAws = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')),
    );
    const fromProfile = run(['outputs', '--stage', 'ci'], { ...process.env, ...env });
    assert.equal(fromProfile.status, 0, fromProfile.stderr);
    assert.match(fromProfile.stdout, /mainKeyID: /);
    const fromDataDir = run(['outputs', '--stage', 'ci', '--data-dir', dir.path], {
      ...noAws,
      HOME: dir.path,
    });
    assert.equal(fromDataDir.status, 0, fromDataDir.stderr);
    // A profile that does not exist, and an endpoint where nothing listens:
    // the message names the value and the fix.
    const noProfile = run(['outputs', '--stage', 'ci'], {
      ...process.env,
      ...env,
      AWS_PROFILE: 'nope',
    });
    assert.equal(noProfile.status, 1);
    assert.match(
      noProfile.stderr,
      /no AWS credentials for .*profile nope in .*credentials.*export AWS_SHARED_CREDENTIALS_FILE=.*, or pass --data-dir with the data directory of vellum serve$/m,
    );
    const nobody = run(['outputs', '--stage', 'ci', '--endpoint', 'http://127.0.0.1:9'], {
      ...process.env,
      ...env,
    });
    assert.equal(nobody.status, 1);
    assert.match(
      nobody.stderr,
      /cannot reach Vellum at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\): start it with vellum serve/,
    );

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
    assert.equal(notDeployed.status, 0);
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

test('deploy rejects foreign resources, then resumes', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path);
  const profile = readProfile(dir.path);
  const config = {
    endpoint: serve.url,
    region: 'us-east-1',
    credentials: { accessKeyId: profile.accessKeyId, secretAccessKey: profile.secretAccessKey },
  };
  const env = {
    ...process.env,
    HOME: dir.path,
    AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'credentials'),
    AWS_CONFIG_FILE: join(dir.path, 'config'),
    AWS_PROFILE: 'vellum',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const vellum = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', VELLUM_MAIN, ...args, '--endpoint', serve.url],
      {
        encoding: 'utf8',
        timeout: 120_000,
        env,
      },
    );
  const iam = new IAMClient(config);
  const qldb = new QLDBClient(config);
  try {
    // A role of the same name made outside the stack: the deploy fails on it.
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'qldb-kms-get-record-role',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'lambda.amazonaws.com' },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      }),
    );
    const failed = vellum('deploy', '--stage', 'st');
    assert.equal(failed.status, 1, failed.stdout);
    assert.match(
      failed.stderr + failed.stdout,
      /AWS::IAM::Role' with identifier 'qldb-kms-get-record-role' already exists/,
    );
    // The foreign role keeps its policies: the stack wrote none onto it.
    const policies = await iam.send(
      new ListRolePoliciesCommand({ RoleName: 'qldb-kms-get-record-role' }),
    );
    assert.deepEqual(policies.PolicyNames ?? [], []);

    // Once the name is free, the next deploy finishes the stack.
    await iam.send(new DeleteRoleCommand({ RoleName: 'qldb-kms-get-record-role' }));
    const resumed = vellum('deploy', '--stage', 'st');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /stack qldb-kms-st is (CREATE|UPDATE)_COMPLETE/);
    const ledger = await qldb.send(new DescribeLedgerCommand({ Name: 'qldb-kms-ledger-st' }));
    assert.equal(ledger.State, 'ACTIVE');

    // A second stage would export the same names and take the same roles: it is
    // refused before anything is made, and stage st stays intact.
    const second = vellum('deploy', '--stage', 'other');
    assert.equal(second.status, 1, second.stdout);
    assert.match(
      second.stderr + second.stdout,
      /Export with name mainKeyID is already exported by stack qldb-kms-st/,
    );
    const failedOutputs = vellum('outputs', '--stage', 'other');
    assert.equal(failedOutputs.status, 1);
    const removedOther = vellum('remove', '--stage', 'other');
    assert.equal(removedOther.status, 0, removedOther.stderr);
    await iam.send(new GetRoleCommand({ RoleName: 'qldb-kms-create-record-role' }));

    // Parameters the file does not declare, and file names that make no stack name.
    const unknown = vellum('deploy', '--stage', 'st', '--parameter', 'Colour=blue');
    assert.equal(unknown.status, 1);
    assert.match(
      unknown.stderr,
      /--parameter Colour=blue must be KEY=VALUE for a parameter of stacks\/qldb-kms\.yml: Stage/,
    );
    const underscore = vellum('deploy', '--stage', 'st', '--file', 'stacks/my_ledger.yml');
    assert.equal(underscore.status, 1);
    assert.match(
      underscore.stderr,
      /stack name my_ledger-st comes from the stack file's name .* such as to my-ledger\.yml/,
    );

    const removed = vellum('remove', '--stage', 'st');
    assert.equal(removed.status, 0, removed.stderr);
    const again = vellum('remove', '--stage', 'st');
    assert.equal(again.status, 0);
    assert.match(again.stderr, /qldb-kms-st does not exist/);
    await assert.rejects(
      qldb.send(new DescribeLedgerCommand({ Name: 'qldb-kms-ledger-st' })),
      /ResourceNotFoundException|not found|does not exist/i,
    );
    await assert.rejects(
      iam.send(new GetRoleCommand({ RoleName: 'qldb-kms-create-record-role' })),
      /NoSuchEntity|cannot be found/,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});
