import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { backends } from '../../../helpers/backends.js';
import {
  decryptBlob,
  encodeEncryptionContext,
  encryptBlob,
  parseBlob,
} from '../../../../src/services/kms/ciphertext.js';
import { ServiceError } from '../../../../src/services/types.js';
import { kmsFixture } from './kms-fixture.js';

const KEY_ID = '7b0f3c9e-1a2b-4c3d-8e4f-5a6b7c8d9e0f';

test('context encoding is injective', () => {
  const context = fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), {
    maxKeys: 4,
  });
  fc.assert(
    fc.property(context, context, (a, b) => {
      const same = encodeEncryptionContext(a).equals(encodeEncryptionContext(b));
      const sortedA = JSON.stringify(Object.entries(a).sort());
      const sortedB = JSON.stringify(Object.entries(b).sort());
      assert.equal(same, sortedA === sortedB, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }),
    { numRuns: 3000 },
  );
  assert.notDeepEqual(encodeEncryptionContext({ ab: 'c' }), encodeEncryptionContext({ a: 'bc' }));
  assert.deepEqual(
    encodeEncryptionContext({ a: '1', b: '2' }),
    encodeEncryptionContext({ b: '2', a: '1' }),
  );
});

test('random bytes never parse as a valid blob', () => {
  const material = randomBytes(32);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const parsed = parseBlob(bytes);
      if (parsed) assert.equal(decryptBlob(material, parsed, undefined), undefined);
    }),
    { numRuns: 3000 },
  );
});

test('blob round trip binds key and context', () => {
  const material = randomBytes(32);
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
      fc.integer({ min: 1, max: 1000 }),
      (plaintext, context, version) => {
        const blob = encryptBlob(material, KEY_ID, version, plaintext, context);
        const parsed = parseBlob(blob)!;
        assert.equal(parsed.keyId, KEY_ID);
        assert.equal(parsed.materialVersion, version);
        assert.deepEqual(decryptBlob(material, parsed, { ...context }), Buffer.from(plaintext));
        assert.equal(decryptBlob(material, parsed, { ...context, extra: 'x' }), undefined);
        assert.equal(decryptBlob(randomBytes(32), parsed, context), undefined);
      },
    ),
    { numRuns: 300 },
  );
});

for (const backend of backends) {
  test(`${backend.name}: random input never crashes handle`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const operations = [
        'CreateKey',
        'DescribeKey',
        'ListKeys',
        'CreateAlias',
        'UpdateAlias',
        'DeleteAlias',
        'ListAliases',
        'EnableKey',
        'DisableKey',
        'ScheduleKeyDeletion',
        'CancelKeyDeletion',
        'Encrypt',
        'Decrypt',
        'ReEncrypt',
        'GenerateDataKey',
        'GenerateDataKeyWithoutPlaintext',
        'GenerateRandom',
        'GetKeyPolicy',
        'PutKeyPolicy',
        'ListKeyPolicies',
        'CreateGrant',
        'ListGrants',
        'ListRetirableGrants',
        'RetireGrant',
        'RevokeGrant',
        'EnableKeyRotation',
        'DisableKeyRotation',
        'GetKeyRotationStatus',
        'RotateKeyOnDemand',
        'ListKeyRotations',
        'TagResource',
        'UntagResource',
        'ListResourceTags',
        'UpdateKeyDescription',
      ];
      const value = fc.oneof(
        fc.constant(key.KeyId),
        fc.constant(key.Arn),
        fc.constant('alias/x'),
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.string(), { maxLength: 3 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
        fc.base64String(),
      );
      const member = fc.constantFrom(
        'KeyId',
        'Plaintext',
        'CiphertextBlob',
        'AliasName',
        'TargetKeyId',
        'NumberOfBytes',
        'KeySpec',
        'EncryptionContext',
        'GrantTokens',
        'Policy',
        'Tags',
        'TagKeys',
        'Operations',
        'GranteePrincipal',
        'GrantId',
        'GrantToken',
        'Limit',
        'Marker',
        'PendingWindowInDays',
        'RotationPeriodInDays',
        'Description',
        'DestinationKeyId',
        'Constraints',
        'DryRun',
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...operations),
          fc.dictionary(member, value, { maxKeys: 5 }),
          async (operation, input) => {
            try {
              await env.kms.handle(operation, input, env.root);
            } catch (error) {
              assert.ok(
                error instanceof ServiceError,
                `${operation} ${JSON.stringify(input)} raised ${String(error)}`,
              );
              assert.ok(error.status === 400, `${operation} answered status ${error.status}`);
            }
          },
        ),
        { numRuns: 1500 },
      );
    } finally {
      await env.dispose();
    }
  });
}
