import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backends } from '../../../helpers/backends.js';
import { ACCOUNT, b64, kmsFixture, REGION, rejectsWith } from './kms-fixture.js';

for (const backend of backends) {
  test(`${backend.name}: CreateKey and DescribeKey shapes`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { KeyMetadata: created } = await env.kms.handle(
        'CreateKey',
        { Description: 'ledger key', Tags: [{ TagKey: 'env', TagValue: 'poc' }] },
        env.root,
      );
      const meta = created as Record<string, unknown>;
      assert.match(String(meta.KeyId), /^[0-9a-f-]{36}$/);
      assert.equal(meta.Arn, `arn:aws:kms:${REGION}:${ACCOUNT}:key/${meta.KeyId}`);
      assert.equal(meta.AWSAccountId, ACCOUNT);
      assert.equal(meta.CreationDate, 1_800_000_000);
      assert.equal(meta.KeyState, 'Enabled');
      assert.equal(meta.Enabled, true);
      assert.equal(meta.KeySpec, 'SYMMETRIC_DEFAULT');
      assert.equal(meta.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
      assert.deepEqual(meta.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
      assert.equal(meta.KeyManager, 'CUSTOMER');
      assert.equal(meta.Origin, 'AWS_KMS');
      assert.equal(meta.MultiRegion, false);
      assert.match(String(meta.CurrentKeyMaterialId), /^[0-9a-f]{64}$/);

      for (const id of [meta.KeyId, meta.Arn]) {
        const described = await env.kms.handle('DescribeKey', { KeyId: id }, env.root);
        assert.deepEqual(described.KeyMetadata, meta);
      }
      const policy = await env.kms.handle('GetKeyPolicy', { KeyId: meta.KeyId }, env.root);
      assert.equal(policy.PolicyName, 'default');
      assert.match(String(policy.Policy), /"Sid":"Enable IAM User Permissions"/);
      assert.deepEqual(await env.kms.handle('ListKeyPolicies', { KeyId: meta.KeyId }, env.root), {
        PolicyNames: ['default'],
        Truncated: false,
      });
      assert.deepEqual(await env.kms.handle('ListResourceTags', { KeyId: meta.KeyId }, env.root), {
        Tags: [{ TagKey: 'env', TagValue: 'poc' }],
        Truncated: false,
      });
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: encrypt and decrypt round trip`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { KeyMetadata } = await env.kms.createKey({}, env.root);
      await env.kms.handle(
        'CreateAlias',
        { AliasName: 'alias/ledger', TargetKeyId: KeyMetadata.KeyId },
        env.root,
      );
      const context = { purpose: 'test', ledger: 'poc' };
      for (const keyId of [
        KeyMetadata.KeyId,
        KeyMetadata.Arn,
        'alias/ledger',
        `arn:aws:kms:${REGION}:${ACCOUNT}:alias/ledger`,
      ]) {
        const encrypted = await env.kms.handle(
          'Encrypt',
          { KeyId: keyId, Plaintext: b64('hello plaintext'), EncryptionContext: context },
          env.root,
        );
        assert.equal(encrypted.KeyId, KeyMetadata.Arn);
        assert.equal(encrypted.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
        const decrypted = await env.kms.handle(
          'Decrypt',
          {
            CiphertextBlob: encrypted.CiphertextBlob,
            EncryptionContext: { ledger: 'poc', purpose: 'test' },
          },
          env.root,
        );
        assert.equal(
          Buffer.from(String(decrypted.Plaintext), 'base64').toString(),
          'hello plaintext',
        );
        assert.equal(decrypted.KeyId, KeyMetadata.Arn);
        assert.equal(decrypted.KeyMaterialId, KeyMetadata.CurrentKeyMaterialId);
      }
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: ciphertext errors`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const first = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const second = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const { CiphertextBlob } = await env.kms.encrypt(
        { KeyId: first.KeyId, Plaintext: Buffer.from('secret'), EncryptionContext: { ab: 'c' } },
        env.root,
      );

      await rejectsWith(
        env.kms.decrypt({ CiphertextBlob, EncryptionContext: { a: 'bc' } }, env.root),
        'InvalidCiphertextException',
        '',
      );
      await rejectsWith(
        env.kms.decrypt({ CiphertextBlob }, env.root),
        'InvalidCiphertextException',
        '',
      );
      await rejectsWith(
        env.kms.decrypt({ CiphertextBlob, EncryptionContext: { ab: 'c', x: 'y' } }, env.root),
        'InvalidCiphertextException',
      );
      for (let bit = 0; bit < CiphertextBlob.length * 8; bit += 13) {
        const flipped = Buffer.from(CiphertextBlob);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        await assert.rejects(
          env.kms.decrypt({ CiphertextBlob: flipped, EncryptionContext: { ab: 'c' } }, env.root),
          /InvalidCiphertext|AccessDenied/,
          `bit ${bit}`,
        );
      }
      await rejectsWith(
        env.kms.decrypt(
          { CiphertextBlob, KeyId: second.KeyId, EncryptionContext: { ab: 'c' } },
          env.root,
        ),
        'IncorrectKeyException',
        'The key ID in the request does not identify a CMK that can perform this operation.',
      );
      await rejectsWith(
        env.kms.decrypt(
          { CiphertextBlob: Buffer.from('not a blob at all, just text'), EncryptionContext: {} },
          env.root,
        ),
        'InvalidCiphertextException',
      );

      const forged = Buffer.from(CiphertextBlob);
      forged.write(second.KeyId, 2, 'ascii');
      await rejectsWith(
        env.kms.decrypt({ CiphertextBlob: forged, EncryptionContext: { ab: 'c' } }, env.root),
        'InvalidCiphertextException',
        '',
        400,
      );
      const unknown = Buffer.from(CiphertextBlob);
      unknown.write('00000000-0000-4000-8000-000000000000', 2, 'ascii');
      await rejectsWith(
        env.kms.decrypt({ CiphertextBlob: unknown, EncryptionContext: { ab: 'c' } }, env.root),
        'AccessDeniedException',
        /ciphertext refers to a customer master key that does not exist/,
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: data keys, random and re-encryption`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const first = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const second = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const generated = await env.kms.handle(
        'GenerateDataKey',
        { KeyId: first.KeyId, KeySpec: 'AES_256', EncryptionContext: { ledger: 'a' } },
        env.root,
      );
      assert.equal(Buffer.from(String(generated.Plaintext), 'base64').length, 32);
      assert.equal(generated.KeyId, first.Arn);
      const decrypted = await env.kms.handle(
        'Decrypt',
        { CiphertextBlob: generated.CiphertextBlob, EncryptionContext: { ledger: 'a' } },
        env.root,
      );
      assert.equal(decrypted.Plaintext, generated.Plaintext);

      const small = await env.kms.handle(
        'GenerateDataKey',
        { KeyId: first.KeyId, NumberOfBytes: 7 },
        env.root,
      );
      assert.equal(Buffer.from(String(small.Plaintext), 'base64').length, 7);
      const aes128 = await env.kms.handle(
        'GenerateDataKeyWithoutPlaintext',
        { KeyId: first.KeyId, KeySpec: 'AES_128' },
        env.root,
      );
      assert.equal(aes128.Plaintext, undefined);
      const opened = await env.kms.handle(
        'Decrypt',
        { CiphertextBlob: aes128.CiphertextBlob },
        env.root,
      );
      assert.equal(Buffer.from(String(opened.Plaintext), 'base64').length, 16);

      await rejectsWith(
        env.kms.handle('GenerateDataKey', { KeyId: first.KeyId }, env.root),
        'ValidationException',
        'Please specify either number of bytes or key spec.',
      );
      await rejectsWith(
        env.kms.handle(
          'GenerateDataKey',
          { KeyId: first.KeyId, KeySpec: 'AES_256', NumberOfBytes: 32 },
          env.root,
        ),
        'ValidationException',
      );
      await rejectsWith(
        env.kms.handle('GenerateDataKey', { KeyId: first.KeyId, NumberOfBytes: 1025 }, env.root),
        'ValidationException',
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
      );

      const random = await env.kms.handle('GenerateRandom', { NumberOfBytes: 64 }, env.root);
      assert.equal(Buffer.from(String(random.Plaintext), 'base64').length, 64);
      await rejectsWith(
        env.kms.handle('GenerateRandom', {}, env.root),
        'ValidationException',
        'NumberOfBytes is required.',
      );
      await rejectsWith(
        env.kms.handle('GenerateRandom', { NumberOfBytes: 0 }, env.root),
        'ValidationException',
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
      );

      const moved = await env.kms.handle(
        'ReEncrypt',
        {
          CiphertextBlob: generated.CiphertextBlob,
          SourceEncryptionContext: { ledger: 'a' },
          DestinationKeyId: second.Arn,
          DestinationEncryptionContext: { ledger: 'b' },
        },
        env.root,
      );
      assert.equal(moved.SourceKeyId, first.Arn);
      assert.equal(moved.KeyId, second.Arn);
      const again = await env.kms.handle(
        'Decrypt',
        { CiphertextBlob: moved.CiphertextBlob, EncryptionContext: { ledger: 'b' } },
        env.root,
      );
      assert.equal(again.Plaintext, generated.Plaintext);
      assert.equal(again.KeyId, second.Arn);
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: aliases follow the rules`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const first = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const second = (await env.kms.createKey({}, env.root)).KeyMetadata;
      await env.kms.handle(
        'CreateAlias',
        { AliasName: 'alias/qldb-kms-poc', TargetKeyId: first.Arn },
        env.root,
      );
      await rejectsWith(
        env.kms.handle(
          'CreateAlias',
          { AliasName: 'alias/qldb-kms-poc', TargetKeyId: second.KeyId },
          env.root,
        ),
        'AlreadyExistsException',
        `An alias with the name arn:aws:kms:${REGION}:${ACCOUNT}:alias/qldb-kms-poc already exists`,
      );
      await rejectsWith(
        env.kms.handle('CreateAlias', { AliasName: 'qldb', TargetKeyId: second.KeyId }, env.root),
        'ValidationException',
        /must start with the prefix "alias\/"/,
      );
      await rejectsWith(
        env.kms.handle(
          'CreateAlias',
          { AliasName: 'alias/aws/ledger', TargetKeyId: second.KeyId },
          env.root,
        ),
        'InvalidAliasNameException',
        /reserved/,
      );
      await rejectsWith(
        env.kms.handle(
          'CreateAlias',
          { AliasName: 'alias/bad name', TargetKeyId: second.KeyId },
          env.root,
        ),
        'InvalidAliasNameException',
      );
      await rejectsWith(
        env.kms.handle(
          'CreateAlias',
          { AliasName: `alias/${'x'.repeat(251)}`, TargetKeyId: second.KeyId },
          env.root,
        ),
        'ValidationException',
        /less than or equal to 256/,
      );
      await rejectsWith(
        env.kms.handle(
          'CreateAlias',
          { AliasName: 'alias/other', TargetKeyId: 'alias/qldb-kms-poc' },
          env.root,
        ),
        'NotFoundException',
        /Invalid keyId/,
      );
      await rejectsWith(
        env.kms.handle('DescribeKey', { KeyId: 'alias/missing' }, env.root),
        'NotFoundException',
        `Alias arn:aws:kms:${REGION}:${ACCOUNT}:alias/missing is not found.`,
      );

      await env.kms.handle(
        'UpdateAlias',
        { AliasName: 'alias/qldb-kms-poc', TargetKeyId: second.KeyId },
        env.root,
      );
      const described = await env.kms.handle(
        'DescribeKey',
        { KeyId: 'alias/qldb-kms-poc' },
        env.root,
      );
      assert.equal((described.KeyMetadata as Record<string, unknown>).KeyId, second.KeyId);
      const listed = await env.kms.handle('ListAliases', {}, env.root);
      const aliases = listed.Aliases as Array<Record<string, unknown>>;
      assert.equal(aliases.length, 1);
      assert.equal(aliases[0]!.AliasArn, `arn:aws:kms:${REGION}:${ACCOUNT}:alias/qldb-kms-poc`);
      assert.equal(aliases[0]!.TargetKeyId, second.KeyId);
      assert.deepEqual(
        (await env.kms.handle('ListAliases', { KeyId: first.KeyId }, env.root)).Aliases,
        [],
      );

      await env.kms.handle('DeleteAlias', { AliasName: 'alias/qldb-kms-poc' }, env.root);
      await rejectsWith(
        env.kms.handle('DeleteAlias', { AliasName: 'alias/qldb-kms-poc' }, env.root),
        'NotFoundException',
        /is not found/,
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: bad input names the value`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      await rejectsWith(
        env.kms.handle('Encrypt', { KeyId: key.KeyId, Plaintext: b64('x'.repeat(4097)) }, env.root),
        'ValidationException',
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
      );
      await rejectsWith(
        env.kms.handle('Encrypt', { KeyId: key.KeyId }, env.root),
        'ValidationException',
        "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
      );
      await rejectsWith(
        env.kms.handle('Encrypt', {}, env.root),
        'ValidationException',
        /^2 validation errors detected: Value null at 'keyId'.*; Value null at 'plaintext'/,
      );
      await rejectsWith(
        env.kms.handle('Encrypt', { KeyId: 42, Plaintext: b64('x') }, env.root),
        'SerializationException',
        /keyId.*string/,
      );
      await rejectsWith(
        env.kms.handle('Encrypt', { KeyId: key.KeyId, Plaintext: 'not base64!' }, env.root),
        'SerializationException',
        /plaintext.*base64/,
      );
      await rejectsWith(
        env.kms.handle(
          'Encrypt',
          { KeyId: key.KeyId, Plaintext: b64('x'), EncryptionContext: { a: 1 } },
          env.root,
        ),
        'SerializationException',
        /encryptionContext\.a/,
      );
      await rejectsWith(
        env.kms.handle('DescribeKey', { KeyId: 'fake-key-id' }, env.root),
        'NotFoundException',
        "Invalid keyId 'fake-key-id'",
      );
      await rejectsWith(
        env.kms.handle('DescribeKey', { KeyId: '00000000-0000-4000-8000-000000000000' }, env.root),
        'NotFoundException',
        `Key 'arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-000000000000' does not exist`,
      );
      await rejectsWith(
        env.kms.handle(
          'DescribeKey',
          { KeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:key/${key.KeyId}` },
          env.root,
        ),
        'NotFoundException',
        'Invalid arn us-east-1',
      );
      await rejectsWith(
        env.kms.handle('CreateKey', { KeyUsage: 'RANDOM' }, env.root),
        'ValidationException',
        "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]",
      );
      await rejectsWith(
        env.kms.handle('CreateKey', { KeySpec: 'RSA_2048' }, env.root),
        'ValidationException',
        'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.',
      );
      await rejectsWith(
        env.kms.handle('CreateKey', { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }, env.root),
        'UnsupportedOperationException',
        /RSA_2048/,
      );
      await rejectsWith(
        env.kms.handle('CreateKey', { Policy: '{"Statement":' }, env.root),
        'MalformedPolicyDocumentException',
        /Syntax errors/,
      );
      await rejectsWith(
        env.kms.handle(
          'TagResource',
          { KeyId: key.KeyId, Tags: [{ TagKey: 'k'.repeat(129), TagValue: 'v' }] },
          env.root,
        ),
        'ValidationException',
        /at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128/,
      );
      await rejectsWith(
        env.kms.handle(
          'TagResource',
          { KeyId: key.KeyId, Tags: [{ TagKey: 'aws:x', TagValue: 'v' }] },
          env.root,
        ),
        'TagException',
        'Tags beginning with aws: are reserved',
      );
      await rejectsWith(
        env.kms.handle(
          'TagResource',
          {
            KeyId: key.KeyId,
            Tags: [
              { TagKey: 'a', TagValue: 'v' },
              { TagKey: 'a', TagValue: 'w' },
            ],
          },
          env.root,
        ),
        'TagException',
        'Duplicate tag keys',
      );
      await rejectsWith(env.kms.handle('Frobnicate', {}, env.root), 'UnknownOperationException');
      await rejectsWith(
        env.kms.handle(
          'Encrypt',
          { KeyId: key.KeyId, Plaintext: b64('x'), DryRun: true },
          env.root,
        ),
        'DryRunOperationException',
        'The request would have succeeded, but the DryRun option is set.',
      );
      await rejectsWith(
        env.kms.handle('ListKeys', { Marker: 'bogus' }, env.root),
        'InvalidMarkerException',
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: lists page and tags change`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const created = [];
      for (let i = 0; i < 5; i++)
        created.push((await env.kms.createKey({}, env.root)).KeyMetadata.KeyId);
      const seen: string[] = [];
      let marker: unknown;
      do {
        const page = await env.kms.handle(
          'ListKeys',
          { Limit: 2, ...(marker ? { Marker: marker } : {}) },
          env.root,
        );
        seen.push(...(page.Keys as Array<{ KeyId: string }>).map((key) => key.KeyId));
        marker = page.Truncated ? page.NextMarker : undefined;
      } while (marker);
      assert.deepEqual(seen.sort(), created.sort());

      // Keys deleted between pages, the last one listed among them, make the
      // next pages skip nothing.
      const first = await env.kms.handle('ListKeys', { Limit: 2 }, env.root);
      const listed = (first.Keys as Array<{ KeyId: string }>).map((key) => key.KeyId);
      for (const deleted of listed) {
        await env.kms.handle(
          'ScheduleKeyDeletion',
          { KeyId: deleted, PendingWindowInDays: 7 },
          env.root,
        );
      }
      env.advance(8 * 1000);
      await env.kms.runDueWork();
      const rest: string[] = [];
      marker = first.NextMarker;
      while (marker) {
        const next = await env.kms.handle('ListKeys', { Limit: 2, Marker: marker }, env.root);
        rest.push(...(next.Keys as Array<{ KeyId: string }>).map((key) => key.KeyId));
        marker = next.Truncated ? next.NextMarker : undefined;
      }
      assert.deepEqual(rest.sort(), created.filter((id) => !listed.includes(id)).sort());
      created.splice(0, created.length, ...rest);

      const keyId = created[0]!;
      await env.kms.handle(
        'TagResource',
        {
          KeyId: keyId,
          Tags: [
            { TagKey: 'a', TagValue: '1' },
            { TagKey: 'b', TagValue: '2' },
          ],
        },
        env.root,
      );
      await env.kms.handle(
        'TagResource',
        { KeyId: keyId, Tags: [{ TagKey: 'a', TagValue: '3' }] },
        env.root,
      );
      await env.kms.handle('UntagResource', { KeyId: keyId, TagKeys: ['b'] }, env.root);
      assert.deepEqual(
        (await env.kms.handle('ListResourceTags', { KeyId: keyId }, env.root)).Tags,
        [{ TagKey: 'a', TagValue: '3' }],
      );
      await env.kms.handle(
        'UpdateKeyDescription',
        { KeyId: keyId, Description: 'new words' },
        env.root,
      );
      assert.equal(
        (await env.kms.describeKey({ KeyId: keyId }, env.root)).KeyMetadata.Description,
        'new words',
      );
    } finally {
      await env.dispose();
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: odd requests are rejected cleanly`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      for (const operation of ['toString', '__proto__', 'constructor', '']) {
        await rejectsWith(env.kms.handle(operation, {}, env.root), 'UnknownOperationException');
      }
      await rejectsWith(
        env.kms.handle('Encrypt', null as never, env.root),
        'SerializationException',
        /JSON object/,
      );
      await rejectsWith(
        env.kms.handle('DescribeKey', [] as never, env.root),
        'SerializationException',
      );

      const forAll = JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
            Action: 'kms:*',
            Resource: '*',
          },
          {
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: 'kms:Decrypt',
            Resource: '*',
            Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContext:ledger': 'poc' } },
          },
        ],
      });
      await rejectsWith(
        env.kms.handle('PutKeyPolicy', { KeyId: key.KeyId, Policy: forAll }, env.root),
        'MalformedPolicyDocumentException',
        /^OverlyPermissiveCondition:EncryptionContext/,
      );

      await rejectsWith(
        env.kms.handle(
          'CreateGrant',
          {
            KeyId: key.KeyId,
            GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/app`,
            Operations: ['Decrypt'],
            Constraints: { EncryptionContextSubset: { ledger: 'x'.repeat(385) } },
          },
          env.root,
        ),
        'ValidationException',
        /constraints.encryptionContextSubset.ledger' failed to satisfy constraint: Member must have length less than or equal to 384/,
      );
      // Grantees and retiring principals must be found.
      for (const [member, principal] of [
        ['GranteePrincipal', `arn:aws:iam::${ACCOUNT}:user/ghost`],
        ['GranteePrincipal', 'notanarn'],
        ['RetiringPrincipal', `arn:aws:iam::${ACCOUNT}:role/ghost`],
      ] as const) {
        await rejectsWith(
          env.kms.handle(
            'CreateGrant',
            {
              KeyId: key.KeyId,
              GranteePrincipal: 'qldb.amazonaws.com',
              Operations: ['Decrypt'],
              [member]: principal,
            },
            env.root,
          ),
          'InvalidArnException',
          `${member} ${principal} is not a principal KMS can find: name an existing IAM user or role, an account, or a service principal such as qldb.amazonaws.com.`,
        );
      }
      const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']));
      await rejectsWith(
        env.kms.handle(
          'CreateGrant',
          {
            KeyId: key.KeyId,
            GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/app`,
            Operations: ['Decrypt'],
            Constraints: { EncryptionContextEquals: nine },
          },
          env.root,
        ),
        'ValidationException',
        /at most 8 pairs/,
      );
    } finally {
      await env.dispose();
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: concurrent writes stay consistent`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const creations = await Promise.allSettled(
        Array.from({ length: 8 }, () =>
          env.kms.handle(
            'CreateAlias',
            { AliasName: 'alias/race', TargetKeyId: key.KeyId },
            env.root,
          ),
        ),
      );
      assert.equal(creations.filter((result) => result.status === 'fulfilled').length, 1);
      for (const result of creations) {
        if (result.status === 'rejected')
          assert.equal((result.reason as Error).name, 'AlreadyExistsException');
      }

      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          env.kms.handle(
            'TagResource',
            { KeyId: key.KeyId, Tags: [{ TagKey: `t${i}`, TagValue: String(i) }] },
            env.root,
          ),
        ),
      );
      const tags = (await env.kms.handle('ListResourceTags', { KeyId: key.KeyId }, env.root))
        .Tags as unknown[];
      assert.equal(tags.length, 8, 'no tag write was lost');
      await env.restart();
      assert.equal(
        (
          (await env.kms.handle('ListResourceTags', { KeyId: key.KeyId }, env.root))
            .Tags as unknown[]
        ).length,
        8,
      );
    } finally {
      await env.dispose();
    }
  });
}
