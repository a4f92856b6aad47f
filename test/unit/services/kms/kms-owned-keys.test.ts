import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backends } from '../../../helpers/backends.js';
import { IdentityService } from '../../../../src/services/iam/identity.js';
import { KmsService } from '../../../../src/services/kms/kms-service.js';
import { SeedFileError } from '../../../../src/services/kms/kms-seed.js';
import { CIPHERTEXT_ACCESS_MESSAGE } from '../../../../src/services/kms/kms-errors.js';
import {
  ACCOUNT,
  b64,
  DAY,
  identityContext,
  kmsFixture,
  REGION,
  rejectsWith,
} from './kms-fixture.js';

const CONTEXT = { 'key-hierarchy-node-id': 'ledger-1', 'key-hierarchy-node-version': '1' };

for (const backend of backends) {
  test(
    `${backend.name}: an owned key is invisible to the account`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        const owned = await env.kms.ownedKey('qldb');
        assert.equal(await env.kms.ownedKey('qldb'), owned, 'one handle per service');
        const { plaintext, blob } = owned.generateDataKey(CONTEXT);
        assert.equal(plaintext.length, 32);
        assert.ok(owned.owns(blob));
        assert.deepEqual(owned.decrypt(blob, CONTEXT), plaintext);

        const id = owned.keyId;
        const arn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
        const missing = `Key '${arn}' does not exist`;
        const customer = (await env.kms.createKey({}, env.root)).KeyMetadata;
        const customerBlob = (
          await env.kms.encrypt({ KeyId: customer.KeyId, Plaintext: Buffer.from('x') }, env.root)
        ).CiphertextBlob.toString('base64');

        // Listing shows the account's key only.
        const listed = (await env.kms.handle('ListKeys', {}, env.root)).Keys as Array<{
          KeyId: string;
        }>;
        assert.deepEqual(
          listed.map((key) => key.KeyId),
          [customer.KeyId],
        );
        assert.deepEqual((await env.kms.handle('ListAliases', {}, env.root)).Aliases, []);

        // Every operation that names the key raises NotFoundException, as for a missing key.
        const naming = (keyId: string) => [
          () => env.kms.handle('DescribeKey', { KeyId: keyId }, env.root),
          () => env.kms.handle('Encrypt', { KeyId: keyId, Plaintext: b64('x') }, env.root),
          () => env.kms.handle('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256' }, env.root),
          () => env.kms.handle('DisableKey', { KeyId: keyId }, env.root),
          () => env.kms.handle('EnableKey', { KeyId: keyId }, env.root),
          () =>
            env.kms.handle(
              'ScheduleKeyDeletion',
              { KeyId: keyId, PendingWindowInDays: 7 },
              env.root,
            ),
          () => env.kms.handle('GetKeyPolicy', { KeyId: keyId }, env.root),
          () =>
            env.kms.handle(
              'PutKeyPolicy',
              { KeyId: keyId, PolicyName: 'default', Policy: '{}' },
              env.root,
            ),
          () => env.kms.handle('ListGrants', { KeyId: keyId }, env.root),
          () =>
            env.kms.handle(
              'CreateGrant',
              {
                KeyId: keyId,
                GranteePrincipal: `arn:aws:iam::${ACCOUNT}:root`,
                Operations: ['Decrypt'],
              },
              env.root,
            ),
          () =>
            env.kms.handle('CreateAlias', { AliasName: 'alias/x', TargetKeyId: keyId }, env.root),
          () => env.kms.handle('RotateKeyOnDemand', { KeyId: keyId }, env.root),
          () =>
            env.kms.handle(
              'ReEncrypt',
              { CiphertextBlob: customerBlob, DestinationKeyId: keyId },
              env.root,
            ),
        ];
        for (const call of [...naming(id), ...naming(arn)]) {
          await rejectsWith(call(), 'NotFoundException', missing);
        }

        // Decrypting its blobs is rejected as for a key the caller may not access.
        const base64 = blob.toString('base64');
        await rejectsWith(
          env.kms.handle(
            'Decrypt',
            { CiphertextBlob: base64, EncryptionContext: CONTEXT },
            env.root,
          ),
          'AccessDeniedException',
          CIPHERTEXT_ACCESS_MESSAGE,
        );
        await rejectsWith(
          env.kms.handle(
            'ReEncrypt',
            {
              CiphertextBlob: base64,
              SourceEncryptionContext: CONTEXT,
              DestinationKeyId: customer.KeyId,
            },
            env.root,
          ),
          'AccessDeniedException',
          CIPHERTEXT_ACCESS_MESSAGE,
        );

        // Scheduled work never touches it, and it never rotates.
        env.advance(400 * DAY);
        await env.kms.runDueWork();
        assert.deepEqual(owned.decrypt(blob, CONTEXT), plaintext);
      } finally {
        await env.dispose();
      }
    },
  );

  test(
    `${backend.name}: an owned key decrypts only its own blobs`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        const owned = await env.kms.ownedKey('qldb');
        const other = await env.kms.ownedKey('other-service');
        assert.notEqual(other.keyId, owned.keyId);
        const { blob } = owned.encrypt(Buffer.from('secret'), CONTEXT);
        const invalid = (call: () => unknown) =>
          assert.throws(call, (error: Error) => error.name === 'InvalidCiphertextException');
        invalid(() => owned.decrypt(blob, { ...CONTEXT, 'key-hierarchy-node-id': 'ledger-2' }));
        invalid(() => owned.decrypt(blob, {}));
        invalid(() => other.decrypt(blob, CONTEXT));
        const flipped = Buffer.from(blob);
        flipped[flipped.length - 1]! ^= 1;
        invalid(() => owned.decrypt(flipped, CONTEXT));
        invalid(() => owned.decrypt(Buffer.from('not a blob'), CONTEXT));
        const customer = await env.kms.encrypt(
          {
            KeyId: (await env.kms.createKey({}, env.root)).KeyMetadata.KeyId,
            Plaintext: Buffer.from('x'),
            EncryptionContext: CONTEXT,
          },
          env.root,
        );
        assert.equal(owned.owns(customer.CiphertextBlob), false);
        invalid(() => owned.decrypt(customer.CiphertextBlob, CONTEXT));
        await assert.rejects(env.kms.ownedKey('Bad Name'), /must be lower-case letters/);

        // The material is sealed under the root key: the stored record does not contain it.
        const record = await env.store().getState('kms.owned', 'qldb');
        assert.ok(record);
        const stored = JSON.parse(Buffer.from(record.value).toString('utf8')) as {
          keyId: string;
          materials: Array<{ sealed: string }>;
        };
        assert.equal(stored.keyId, owned.keyId);
        assert.equal(Buffer.from(stored.materials[0]!.sealed, 'base64').length, 1 + 12 + 32 + 16);

        // A restart reads the same key back, and it still opens its blobs.
        await env.restart();
        const again = await env.kms.ownedKey('qldb');
        assert.equal(again.keyId, owned.keyId);
        assert.equal(again.decrypt(blob, CONTEXT).toString(), 'secret');
      } finally {
        await env.dispose();
      }
    },
  );

  test(
    `${backend.name}: servers starting at once create one owned key`,
    { skip: backend.skip },
    async () => {
      const opened = await backend.create();
      const rootKey = randomBytes(32);
      const services: KmsService[] = [];
      try {
        const stores = [
          opened.store,
          ...(await Promise.all([1, 2, 3].map(() => opened.another()))),
        ];
        const kmsList = await Promise.all(
          stores.map(async (store) => {
            const identity = await IdentityService.open({ store, accountId: ACCOUNT, rootKey });
            const kms = await KmsService.open({ store, identity, rootKey, scheduleInterval: 0 });
            services.push(kms);
            return kms;
          }),
        );
        const keys = await Promise.all(kmsList.map((kms) => kms.ownedKey('qldb')));
        assert.equal(new Set(keys.map((key) => key.keyId)).size, 1, 'every server has one key');
        assert.equal((await opened.store.listState('kms.owned')).length, 1);
        // A blob from one server opens on every other.
        const { plaintext, blob } = keys[0]!.generateDataKey(CONTEXT);
        for (const key of keys) assert.deepEqual(key.decrypt(blob, CONTEXT), plaintext);
      } finally {
        for (const kms of services) kms.close();
        await opened.dispose();
      }
    },
  );

  test(
    `${backend.name}: a seed cannot take an owned key's id`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        const owned = await env.kms.ownedKey('qldb');
        const seed = join(env.dir, 'seed.yaml');
        writeFileSync(
          seed,
          ['keys:', '  - alias: alias/fine', `  - keyId: ${owned.keyId}`].join('\n'),
        );
        await assert.rejects(
          KmsService.open({
            store: env.store(),
            identity: env.identity,
            dataDir: env.dir,
            scheduleInterval: 0,
            seedFile: seed,
            seedRegion: REGION,
          }),
          (error: Error) =>
            error instanceof SeedFileError &&
            error.message.includes(`keys[1].keyId ${owned.keyId} is the id of a Vellum-owned key`),
        );
        assert.equal((await env.store().listState('kms.key')).length, 0, 'nothing was seeded');
        const context = identityContext(env.identity.rootPrincipal('AKIAROOT'));
        assert.deepEqual((await env.kms.handle('ListAliases', {}, context)).Aliases, []);
      } finally {
        await env.dispose();
      }
    },
  );
}
