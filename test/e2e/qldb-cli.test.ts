import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/backends.js';
import { AWS_CLI, runAwsCli, startServe } from '../helpers/serve-process.js';

const skip = existsSync(AWS_CLI) ? false : `${AWS_CLI} is not installed (apt-get install awscli)`;

test('AWS CLI drives the QLDB control plane', { skip }, async () => {
  const parent = tempDir();
  // A data directory that does not exist yet: the first start makes it.
  const dir = { path: join(parent.path, 'new', 'data'), remove: parent.remove };
  const serve = await startServe(dir.path);
  try {
    const aws = (...args: string[]) => runAwsCli(serve.url, dir.path, ...args);
    const json = (...args: string[]): Record<string, unknown> => {
      const result = aws(...args);
      assert.equal(result.status, 0, `aws ${args.join(' ')}: ${result.stderr}`);
      return result.stdout === '' ? {} : (JSON.parse(result.stdout) as Record<string, unknown>);
    };

    const created = json(
      'qldb',
      'create-ledger',
      '--name',
      'cli-ledger',
      '--permissions-mode',
      'STANDARD',
    );
    assert.equal(created.Name, 'cli-ledger');
    assert.equal(created.State, 'CREATING');
    assert.equal(created.DeletionProtection, true);
    assert.equal(created.Arn, 'arn:aws:qldb:us-east-1:000000000000:ledger/cli-ledger');
    // The CLI prints the epoch-second timestamps as ISO text.
    assert.match(String(created.CreationDateTime), /^\d{4}-\d{2}-\d{2}T/);

    const described = json('qldb', 'describe-ledger', '--name', 'cli-ledger');
    assert.equal(described.State, 'ACTIVE');
    assert.equal(described.PermissionsMode, 'STANDARD');

    const refused = aws('qldb', 'delete-ledger', '--name', 'cli-ledger');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /ResourcePreconditionNotMetException/);

    const updated = json(
      'qldb',
      'update-ledger',
      '--name',
      'cli-ledger',
      '--no-deletion-protection',
    );
    assert.equal(updated.DeletionProtection, false);
    assert.equal(updated.PermissionsMode, undefined);

    // The ledger is under the Vellum-owned key, which the account cannot list.
    assert.equal(described.EncryptionDescription, undefined);
    const key = json('kms', 'create-key').KeyMetadata as { KeyId: string; Arn: string };
    assert.deepEqual(
      (json('kms', 'list-keys').Keys as Array<{ KeyId: string }>).map((entry) => entry.KeyId),
      [key.KeyId],
    );
    const encryptionAfter = async (kmsKey: string) => {
      const changed = json('qldb', 'update-ledger', '--name', 'cli-ledger', '--kms-key', kmsKey);
      for (let attempt = 0; attempt < 50; attempt += 1) {
        const encryption = json('qldb', 'describe-ledger', '--name', 'cli-ledger')
          .EncryptionDescription as { EncryptionStatus?: string } | undefined;
        if (encryption?.EncryptionStatus !== 'UPDATING') {
          return { changed: changed.EncryptionDescription, encryption };
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.fail(`the change to ${kmsKey} did not finish`);
    };
    // To the customer key and back, as QLDB reports each step.
    let change = await encryptionAfter(key.KeyId);
    assert.deepEqual(change.changed, { KmsKeyArn: key.Arn, EncryptionStatus: 'UPDATING' });
    assert.deepEqual(change.encryption, { KmsKeyArn: key.Arn, EncryptionStatus: 'ENABLED' });
    change = await encryptionAfter('AWS_OWNED_KMS_KEY');
    assert.deepEqual(change.changed, {
      KmsKeyArn: 'AWS_OWNED_KMS_KEY',
      EncryptionStatus: 'UPDATING',
    });
    assert.equal(change.encryption, undefined);

    const listed = json('qldb', 'list-ledgers');
    assert.deepEqual(
      (listed.Ledgers as Array<{ Name: string }>).map((ledger) => ledger.Name),
      ['cli-ledger'],
    );
    const digest = json('qldb', 'get-digest', '--name', 'cli-ledger');
    assert.equal(Buffer.from(String(digest.Digest), 'base64').length, 32);
    assert.match(
      String((digest.DigestTipAddress as { IonText: string }).IonText),
      /strandId.*sequenceNo/,
    );

    // Addresses as the journal guide writes them: Ion text in a JSON string.
    const tip = JSON.stringify(digest.DigestTipAddress);
    const block = json(
      'qldb',
      'get-block',
      '--name',
      'cli-ledger',
      '--block-address',
      tip,
      '--digest-tip-address',
      tip,
    );
    assert.match(String((block.Block as { IonText: string }).IonText), /blockHash/);
    assert.match(String((block.Proof as { IonText: string }).IonText), /^\[/);
    const badAddress = aws(
      'qldb',
      'get-block',
      '--name',
      'cli-ledger',
      '--block-address',
      '{"IonText": "8"}',
    );
    assert.notEqual(badAddress.status, 0);
    assert.match(
      badAddress.stderr,
      /InvalidParameterException.*BlockAddress 8 must be one Ion struct/,
    );

    const missing = aws('qldb', 'describe-ledger', '--name', 'nope');
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /ResourceNotFoundException/);

    json('qldb', 'delete-ledger', '--name', 'cli-ledger');
    assert.deepEqual(json('qldb', 'list-ledgers').Ledgers, []);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});
