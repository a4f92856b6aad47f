import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisabledException,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  InvalidCiphertextException,
  KMSClient,
  KMSServiceException,
  ListAliasesCommand,
  NotFoundException,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../../helpers/vellum-instance.js';

describe('KMS through the AWS SDK', () => {
  let vellum: VellumInstance;
  let kms: KMSClient;

  before(async () => {
    vellum = await startVellumInstance();
    kms = new KMSClient(clientConfig(vellum.url, vellum.rootCredentials));
  });
  after(async () => {
    await vellum.dispose();
  });

  async function createKey(description: string): Promise<{ keyId: string; arn: string }> {
    const created = await kms.send(new CreateKeyCommand({ Description: description }));
    const metadata = created.KeyMetadata!;
    assert.equal(metadata.KeyState, 'Enabled');
    assert.equal(metadata.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.ok(metadata.CreationDate instanceof Date);
    assert.equal(metadata.Arn, `arn:aws:kms:us-east-1:000000000000:key/${metadata.KeyId}`);
    return { keyId: metadata.KeyId!, arn: metadata.Arn! };
  }

  test('keys and aliases', async () => {
    const main = await createKey('main');
    const rotate = await createKey('rotate');

    await kms.send(new CreateAliasCommand({ AliasName: 'alias/app', TargetKeyId: main.keyId }));
    const viaAlias = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/app' }));
    assert.equal(viaAlias.KeyMetadata?.KeyId, main.keyId);
    assert.equal(viaAlias.KeyMetadata?.Description, 'main');

    await kms.send(new UpdateAliasCommand({ AliasName: 'alias/app', TargetKeyId: rotate.arn }));
    const moved = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/app' }));
    assert.equal(moved.KeyMetadata?.KeyId, rotate.keyId);

    const aliases = await kms.send(new ListAliasesCommand({ KeyId: rotate.keyId }));
    assert.deepEqual(
      aliases.Aliases?.map((alias) => alias.AliasName),
      ['alias/app'],
    );
  });

  test('encrypt, decrypt and data keys', async () => {
    const key = await createKey('crypto');
    const plaintext = Buffer.from('hello plaintext');
    const context = { purpose: 'test' };

    const encrypted = await kms.send(
      new EncryptCommand({ KeyId: key.keyId, Plaintext: plaintext, EncryptionContext: context }),
    );
    assert.equal(encrypted.KeyId, key.arn);
    assert.equal(encrypted.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.ok(encrypted.CiphertextBlob instanceof Uint8Array);

    const decrypted = await kms.send(
      new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }),
    );
    assert.deepEqual(Buffer.from(decrypted.Plaintext!), plaintext);
    assert.equal(decrypted.KeyId, key.arn);

    await assert.rejects(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: encrypted.CiphertextBlob,
          EncryptionContext: { purpose: 'other' },
        }),
      ),
      (error: unknown) => error instanceof InvalidCiphertextException,
    );

    const dataKey = await kms.send(
      new GenerateDataKeyCommand({
        KeyId: key.keyId,
        KeySpec: 'AES_256',
        EncryptionContext: context,
      }),
    );
    assert.equal(dataKey.Plaintext?.length, 32);
    const unwrapped = await kms.send(
      new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context }),
    );
    assert.deepEqual(Buffer.from(unwrapped.Plaintext!), Buffer.from(dataKey.Plaintext!));
  });

  test('disabled key refuses Encrypt until enabled', async () => {
    const key = await createKey('disable-me');
    await kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
    const described = await kms.send(new DescribeKeyCommand({ KeyId: key.keyId }));
    assert.equal(described.KeyMetadata?.KeyState, 'Disabled');

    await assert.rejects(
      kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x') })),
      (error: unknown) => {
        assert.ok(error instanceof DisabledException);
        assert.ok(error instanceof KMSServiceException);
        assert.equal(error.message, `${key.arn} is disabled.`);
        assert.equal(error.$metadata.httpStatusCode, 400);
        assert.equal(error.$fault, 'client');
        assert.match(error.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
        return true;
      },
    );

    await kms.send(new EnableKeyCommand({ KeyId: key.keyId }));
    const encrypted = await kms.send(
      new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x') }),
    );
    assert.ok(encrypted.CiphertextBlob);
  });

  test('errors parse into typed exceptions', async () => {
    await assert.rejects(
      kms.send(new DescribeKeyCommand({ KeyId: '11111111-2222-3333-4444-555555555555' })),
      (error: unknown) => {
        assert.ok(error instanceof NotFoundException);
        assert.match(error.message, /11111111-2222-3333-4444-555555555555/);
        return true;
      },
    );

    const iam = new IAMClient(clientConfig(vellum.url, vellum.rootCredentials));
    const role = await iam.send(
      new CreateRoleCommand({
        RoleName: 'no-kms-access',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: 'arn:aws:iam::000000000000:root' },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      }),
    );
    const sts = new STSClient(clientConfig(vellum.url, vellum.rootCredentials));
    const session = await sts.send(
      new AssumeRoleCommand({ RoleArn: role.Role!.Arn, RoleSessionName: 'denied' }),
    );
    const key = await createKey('guarded');
    const denied = new KMSClient(
      clientConfig(vellum.url, {
        accessKeyId: session.Credentials!.AccessKeyId!,
        secretAccessKey: session.Credentials!.SecretAccessKey!,
        sessionToken: session.Credentials!.SessionToken!,
      }),
    );
    await assert.rejects(
      denied.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x') })),
      (error: unknown) => {
        // AccessDeniedException is not in the KMS model, so the SDK raises its base class.
        assert.ok(error instanceof KMSServiceException);
        assert.equal(error.name, 'AccessDeniedException');
        assert.match(
          error.message,
          /assumed-role\/no-kms-access\/denied is not authorized to perform: kms:Encrypt/,
        );
        return true;
      },
    );
  });
});
