import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/backends.js';
import { AWS_CLI, runAwsCli, startServe } from '../helpers/serve-process.js';

const skip = existsSync(AWS_CLI) ? false : `${AWS_CLI} is not installed (apt-get install awscli)`;

test('AWS CLI drives the KMS with the written profile', { skip }, async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path);
  try {
    const aws = (...args: string[]) => runAwsCli(serve.url, dir.path, ...args);
    const ok = (...args: string[]): string => {
      const result = aws(...args);
      assert.equal(result.status, 0, `aws ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };

    const main = ok(
      'kms',
      'create-key',
      '--description',
      'main',
      '--query',
      'KeyMetadata.KeyId',
      '--output',
      'text',
    );
    const other = ok('kms', 'create-key', '--query', 'KeyMetadata.Arn', '--output', 'text');
    assert.match(main, /^[0-9a-f-]{36}$/);
    assert.match(other, /^arn:aws:kms:us-east-1:000000000000:key\/[0-9a-f-]{36}$/);

    assert.equal(
      ok('kms', 'create-alias', '--alias-name', 'alias/cli-app', '--target-key-id', main),
      '',
    );
    const described = JSON.parse(ok('kms', 'describe-key', '--key-id', 'alias/cli-app')) as {
      KeyMetadata: { KeyId: string; KeyState: string; CreationDate: string };
    };
    assert.equal(described.KeyMetadata.KeyId, main);
    assert.equal(described.KeyMetadata.KeyState, 'Enabled');
    assert.match(
      described.KeyMetadata.CreationDate,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/,
    );

    assert.equal(
      ok('kms', 'update-alias', '--alias-name', 'alias/cli-app', '--target-key-id', other),
      '',
    );
    assert.equal(
      ok(
        'kms',
        'describe-key',
        '--key-id',
        'alias/cli-app',
        '--query',
        'KeyMetadata.Arn',
        '--output',
        'text',
      ),
      other,
    );

    const plaintext = Buffer.from('hello from the CLI').toString('base64');
    const ciphertext = ok(
      'kms',
      'encrypt',
      '--key-id',
      'alias/cli-app',
      '--plaintext',
      plaintext,
      '--encryption-context',
      'purpose=cli',
      '--query',
      'CiphertextBlob',
      '--output',
      'text',
    );
    const blobFile = join(dir.path, 'blob.bin');
    writeFileSync(blobFile, Buffer.from(ciphertext, 'base64'));
    const decrypted = ok(
      'kms',
      'decrypt',
      '--ciphertext-blob',
      `fileb://${blobFile}`,
      '--encryption-context',
      'purpose=cli',
      '--query',
      'Plaintext',
      '--output',
      'text',
    );
    assert.equal(decrypted, plaintext);

    assert.equal(ok('kms', 'disable-key', '--key-id', main), '');
    assert.equal(
      ok(
        'kms',
        'describe-key',
        '--key-id',
        main,
        '--query',
        'KeyMetadata.KeyState',
        '--output',
        'text',
      ),
      'Disabled',
    );
    const refused = aws('kms', 'encrypt', '--key-id', main, '--plaintext', plaintext);
    assert.equal(refused.status, 254);
    assert.equal(refused.stdout, '');
    assert.equal(
      refused.stderr,
      `An error occurred (DisabledException) when calling the Encrypt operation: ` +
        `arn:aws:kms:us-east-1:000000000000:key/${main} is disabled.`,
    );

    assert.equal(ok('kms', 'enable-key', '--key-id', main), '');
    assert.equal(
      ok(
        'kms',
        'describe-key',
        '--key-id',
        main,
        '--query',
        'KeyMetadata.KeyState',
        '--output',
        'text',
      ),
      'Enabled',
    );

    const missing = aws('kms', 'describe-key', '--key-id', 'alias/nope');
    assert.equal(missing.status, 254);
    assert.match(
      missing.stderr,
      /^An error occurred \(NotFoundException\) when calling the DescribeKey operation: /,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});
