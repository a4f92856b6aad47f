import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backends } from '../../../helpers/backends.js';
import { IdentityService } from '../../../../src/services/iam/identity.js';
import { KmsService } from '../../../../src/services/kms/kms-service.js';
import { ACCOUNT, b64, DAY, kmsFixture, REGION, rejectsWith } from './kms-fixture.js';

for (const backend of backends) {
  test(`${backend.name}: key state matrix`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const arn = key.Arn;
      const id = key.KeyId;
      const { CiphertextBlob } = await env.kms.encrypt(
        { KeyId: id, Plaintext: Buffer.from('x') },
        env.root,
      );
      const blob = CiphertextBlob.toString('base64');
      const crypto = [
        () => env.kms.handle('Encrypt', { KeyId: id, Plaintext: b64('x') }, env.root),
        () => env.kms.handle('Decrypt', { CiphertextBlob: blob }, env.root),
        () => env.kms.handle('ReEncrypt', { CiphertextBlob: blob, DestinationKeyId: id }, env.root),
        () => env.kms.handle('GenerateDataKey', { KeyId: id, KeySpec: 'AES_256' }, env.root),
        () =>
          env.kms.handle(
            'GenerateDataKeyWithoutPlaintext',
            { KeyId: id, KeySpec: 'AES_256' },
            env.root,
          ),
        () =>
          env.kms.handle(
            'CreateGrant',
            {
              KeyId: id,
              GranteePrincipal: `arn:aws:iam::${ACCOUNT}:root`,
              Operations: ['Decrypt'],
            },
            env.root,
          ),
        () => env.kms.handle('EnableKeyRotation', { KeyId: id }, env.root),
        () => env.kms.handle('DisableKeyRotation', { KeyId: id }, env.root),
        () => env.kms.handle('RotateKeyOnDemand', { KeyId: id }, env.root),
      ];
      const alwaysWork = [
        () => env.kms.handle('DescribeKey', { KeyId: id }, env.root),
        () => env.kms.handle('GetKeyPolicy', { KeyId: id }, env.root),
        () => env.kms.handle('ListGrants', { KeyId: id }, env.root),
        () => env.kms.handle('ListResourceTags', { KeyId: id }, env.root),
        () => env.kms.handle('ListKeyPolicies', { KeyId: id }, env.root),
        () => env.kms.handle('GetKeyRotationStatus', { KeyId: id }, env.root),
      ];

      await env.kms.handle('DisableKey', { KeyId: id }, env.root);
      await env.kms.handle('DisableKey', { KeyId: id }, env.root);
      assert.equal(
        (await env.kms.describeKey({ KeyId: id }, env.root)).KeyMetadata.KeyState,
        'Disabled',
      );
      for (const call of crypto)
        await rejectsWith(call(), 'DisabledException', `${arn} is disabled.`);
      for (const call of alwaysWork) await call();
      await env.kms.handle(
        'CreateAlias',
        { AliasName: 'alias/disabled', TargetKeyId: id },
        env.root,
      );
      await env.kms.handle(
        'TagResource',
        { KeyId: id, Tags: [{ TagKey: 'a', TagValue: 'b' }] },
        env.root,
      );
      await env.kms.handle('UpdateKeyDescription', { KeyId: id, Description: 'd' }, env.root);
      await rejectsWith(
        env.kms.handle('CancelKeyDeletion', { KeyId: id }, env.root),
        'KMSInvalidStateException',
        `${arn} is not pending deletion.`,
      );

      const scheduled = await env.kms.handle(
        'ScheduleKeyDeletion',
        { KeyId: id, PendingWindowInDays: 7 },
        env.root,
      );
      assert.deepEqual(scheduled, {
        KeyId: arn,
        DeletionDate: (env.now() + 7 * DAY) / 1000,
        KeyState: 'PendingDeletion',
        PendingWindowInDays: 7,
      });
      const pending = `${arn} is pending deletion.`;
      for (const call of crypto) await rejectsWith(call(), 'KMSInvalidStateException', pending);
      for (const call of alwaysWork) await call();
      for (const operation of ['EnableKey', 'DisableKey', 'ScheduleKeyDeletion']) {
        await rejectsWith(
          env.kms.handle(operation, { KeyId: id }, env.root),
          'KMSInvalidStateException',
          pending,
        );
      }
      await rejectsWith(
        env.kms.handle('CreateAlias', { AliasName: 'alias/pending', TargetKeyId: id }, env.root),
        'KMSInvalidStateException',
        pending,
      );
      await rejectsWith(
        env.kms.handle(
          'TagResource',
          { KeyId: id, Tags: [{ TagKey: 'a', TagValue: 'b' }] },
          env.root,
        ),
        'KMSInvalidStateException',
        pending,
      );
      await rejectsWith(
        env.kms.handle('UpdateKeyDescription', { KeyId: id, Description: 'd' }, env.root),
        'KMSInvalidStateException',
        pending,
      );
      const status = await env.kms.handle('GetKeyRotationStatus', { KeyId: id }, env.root);
      assert.equal(status.KeyRotationEnabled, false);

      assert.deepEqual(await env.kms.handle('CancelKeyDeletion', { KeyId: id }, env.root), {
        KeyId: arn,
      });
      assert.equal(
        (await env.kms.describeKey({ KeyId: id }, env.root)).KeyMetadata.KeyState,
        'Disabled',
        'cancel leaves the key disabled',
      );
      await env.kms.handle('EnableKey', { KeyId: id }, env.root);
      for (const call of crypto) await call();

      await rejectsWith(
        env.kms.handle('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 6 }, env.root),
        'ValidationException',
        /pendingWindowInDays.*greater than or equal to 7/,
      );
      await rejectsWith(
        env.kms.handle('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 31 }, env.root),
        'ValidationException',
        /less than or equal to 30/,
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: deletion happens by itself`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      await env.kms.handle(
        'CreateAlias',
        { AliasName: 'alias/doomed', TargetKeyId: key.KeyId },
        env.root,
      );
      const { CiphertextBlob } = await env.kms.encrypt(
        { KeyId: key.KeyId, Plaintext: Buffer.from('x') },
        env.root,
      );
      await env.kms.handle(
        'ScheduleKeyDeletion',
        { KeyId: key.KeyId, PendingWindowInDays: 7 },
        env.root,
      );
      env.advance(7 * DAY - 1);
      await env.kms.runDueWork();
      assert.equal(
        (await env.kms.describeKey({ KeyId: key.KeyId }, env.root)).KeyMetadata.KeyState,
        'PendingDeletion',
      );

      env.advance(1);
      await env.kms.runDueWork();
      await rejectsWith(
        env.kms.describeKey({ KeyId: key.KeyId }, env.root),
        'NotFoundException',
        `Key '${key.Arn}' does not exist`,
      );
      await rejectsWith(
        env.kms.decrypt({ CiphertextBlob }, env.root),
        'AccessDeniedException',
        /ciphertext refers to a customer master key/,
      );
      assert.deepEqual(
        (await env.kms.handle('ListAliases', {}, env.root)).Aliases,
        [],
        'aliases go with the key',
      );
      await env.restart();
      await rejectsWith(env.kms.describeKey({ KeyId: key.KeyId }, env.root), 'NotFoundException');
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: deletion timer runs unattended`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend, {
      now: Date.now,
      scheduleInterval: 20,
      kmsDayLength: 10,
    });
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      await env.kms.handle(
        'ScheduleKeyDeletion',
        { KeyId: key.KeyId, PendingWindowInDays: 7 },
        env.root,
      );
      const deadline = Date.now() + 5000;
      while ((await env.store().getState('kms.key', key.KeyId)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(await env.store().getState('kms.key', key.KeyId), undefined);
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: rotation keeps old material`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      const old = await env.kms.encrypt(
        { KeyId: key.KeyId, Plaintext: Buffer.from('before') },
        env.root,
      );
      await env.kms.handle(
        'EnableKeyRotation',
        { KeyId: key.KeyId, RotationPeriodInDays: 90 },
        env.root,
      );
      const status = await env.kms.handle('GetKeyRotationStatus', { KeyId: key.KeyId }, env.root);
      assert.equal(status.KeyRotationEnabled, true);
      assert.equal(status.RotationPeriodInDays, 90);
      assert.equal(status.NextRotationDate, (env.now() + 90 * DAY) / 1000);
      await rejectsWith(
        env.kms.handle(
          'EnableKeyRotation',
          { KeyId: key.KeyId, RotationPeriodInDays: 89 },
          env.root,
        ),
        'ValidationException',
        /rotationPeriodInDays/,
      );

      env.advance(90 * DAY);
      await env.kms.runDueWork();
      const rotated = (await env.kms.describeKey({ KeyId: key.KeyId }, env.root)).KeyMetadata;
      assert.notEqual(rotated.CurrentKeyMaterialId, key.CurrentKeyMaterialId);
      const after = await env.kms.encrypt(
        { KeyId: key.KeyId, Plaintext: Buffer.from('after') },
        env.root,
      );

      await env.kms.handle('RotateKeyOnDemand', { KeyId: key.KeyId }, env.root);
      const rotations = await env.kms.handle('ListKeyRotations', { KeyId: key.KeyId }, env.root);
      const entries = rotations.Rotations as Array<Record<string, unknown>>;
      assert.deepEqual(
        entries.map((entry) => [entry.RotationType, entry.KeyMaterialState]),
        [
          ['AUTOMATIC', 'NON_CURRENT'],
          ['ON_DEMAND', 'CURRENT'],
        ],
      );
      const all = await env.kms.handle(
        'ListKeyRotations',
        { KeyId: key.KeyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' },
        env.root,
      );
      assert.equal((all.Rotations as unknown[]).length, 3);

      await env.restart();
      const before = await env.kms.decrypt({ CiphertextBlob: old.CiphertextBlob }, env.root);
      assert.equal(before.Plaintext.toString(), 'before');
      assert.equal(before.KeyMaterialId, key.CurrentKeyMaterialId);
      assert.equal(
        (
          await env.kms.decrypt({ CiphertextBlob: after.CiphertextBlob }, env.root)
        ).Plaintext.toString(),
        'after',
      );

      await env.kms.handle('DisableKeyRotation', { KeyId: key.KeyId }, env.root);
      assert.deepEqual(
        await env.kms.handle('GetKeyRotationStatus', { KeyId: key.KeyId }, env.root),
        { KeyRotationEnabled: false, KeyId: key.Arn },
      );
    } finally {
      await env.dispose();
    }
  });

  test(
    `${backend.name}: rotation counts from the day it is enabled`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
        env.advance(30 * DAY);
        const enable = (days: number) =>
          env.kms.handle(
            'EnableKeyRotation',
            { KeyId: key.KeyId, RotationPeriodInDays: days },
            env.root,
          );
        const next = async () =>
          (await env.kms.handle('GetKeyRotationStatus', { KeyId: key.KeyId }, env.root))
            .NextRotationDate;
        await enable(90);
        const enabledAt = env.now();
        assert.equal(await next(), (enabledAt + 90 * DAY) / 1000);
        // A new period for rotation that is already on counts from the last rotation.
        env.advance(10 * DAY);
        await enable(100);
        assert.equal(await next(), (env.now() - 40 * DAY + 100 * DAY) / 1000);
        // Off and on again: one period from then.
        await env.kms.handle('DisableKeyRotation', { KeyId: key.KeyId }, env.root);
        await enable(90);
        assert.equal(await next(), (env.now() + 90 * DAY) / 1000);
      } finally {
        await env.dispose();
      }
    },
  );

  test(`${backend.name}: on-demand rotation limit`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const key = (await env.kms.createKey({}, env.root)).KeyMetadata;
      for (let i = 0; i < 25; i++)
        await env.kms.handle('RotateKeyOnDemand', { KeyId: key.KeyId }, env.root);
      await rejectsWith(
        env.kms.handle('RotateKeyOnDemand', { KeyId: key.KeyId }, env.root),
        'LimitExceededException',
        `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${key.Arn}`,
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: state survives a restart`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const policy = JSON.stringify(
        {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
              Action: 'kms:*',
              Resource: '*',
            },
          ],
        },
        null,
        2,
      );
      const key = (await env.kms.createKey({ Policy: policy }, env.root)).KeyMetadata;
      await env.kms.handle(
        'CreateAlias',
        { AliasName: 'alias/keep', TargetKeyId: key.KeyId },
        env.root,
      );
      await env.identity.createUser('app');
      const grant = await env.kms.handle(
        'CreateGrant',
        {
          KeyId: key.KeyId,
          GranteePrincipal: `arn:aws:iam::${ACCOUNT}:user/app`,
          Operations: ['Decrypt'],
        },
        env.root,
      );
      await env.kms.handle('EnableKeyRotation', { KeyId: key.KeyId }, env.root);
      const other = (await env.kms.createKey({}, env.root)).KeyMetadata;
      await env.kms.handle(
        'ScheduleKeyDeletion',
        { KeyId: other.KeyId, PendingWindowInDays: 10 },
        env.root,
      );
      const blob = (
        await env.kms.encrypt({ KeyId: 'alias/keep', Plaintext: Buffer.from('kept') }, env.root)
      ).CiphertextBlob;

      await env.restart();
      assert.equal(
        (await env.kms.handle('GetKeyPolicy', { KeyId: key.KeyId }, env.root)).Policy,
        policy,
        'policy kept byte for byte',
      );
      assert.equal(
        (await env.kms.describeKey({ KeyId: 'alias/keep' }, env.root)).KeyMetadata.KeyId,
        key.KeyId,
      );
      const grants = (await env.kms.handle('ListGrants', { KeyId: key.KeyId }, env.root))
        .Grants as Array<Record<string, unknown>>;
      assert.equal(grants[0]!.GrantId, grant.GrantId);
      assert.equal(
        (await env.kms.handle('GetKeyRotationStatus', { KeyId: key.KeyId }, env.root))
          .KeyRotationEnabled,
        true,
      );
      const pending = (await env.kms.describeKey({ KeyId: other.KeyId }, env.root)).KeyMetadata;
      assert.equal(pending.KeyState, 'PendingDeletion');
      assert.equal(pending.PendingDeletionWindowInDays, 10);
      assert.equal(
        (await env.kms.decrypt({ CiphertextBlob: blob }, env.root)).Plaintext.toString(),
        'kept',
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: root key must match stored keys`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend, { rootKey: undefined });
    try {
      await env.kms.createKey({}, env.root);
      const identity = await IdentityService.open({
        store: env.store(),
        accountId: ACCOUNT,
        rootKey: Buffer.alloc(32, 1),
      }).catch(() => env.identity);
      unlinkSync(join(env.dir, 'root.key'));
      await assert.rejects(
        KmsService.open({ store: env.store(), identity, dataDir: env.dir, scheduleInterval: 0 }),
        /root key file .* is missing.*no new key was created/,
      );
      writeFileSync(join(env.dir, 'root.key'), Buffer.alloc(32, 7), { mode: 0o600 });
      await assert.rejects(
        KmsService.open({ store: env.store(), identity, dataDir: env.dir, scheduleInterval: 0 }),
        /KMS root key does not match/,
      );
      writeFileSync(join(env.dir, 'root.key'), Buffer.alloc(5), { mode: 0o600 });
      await assert.rejects(
        KmsService.open({ store: env.store(), identity, dataDir: env.dir, scheduleInterval: 0 }),
        /must hold 32 bytes/,
      );
      assert.equal(
        (await env.store().listState('kms.key')).length,
        1,
        'no key was created or removed',
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: seed file creates keys once`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const seed = join(env.dir, 'kms-seed.yaml');
      writeFileSync(
        seed,
        [
          'keys:',
          '  - keyId: 7b0f3c9e-1a2b-4c3d-8e4f-5a6b7c8d9e0f',
          '    description: QLDB Ledger CMK',
          '    aliases: [alias/qldb-kms-poc]',
          '    enableKeyRotation: true',
          '    tags: { env: poc }',
          '  - alias: alias/second',
          '    enabled: false',
          '    policy:',
          '      Version: "2012-10-17"',
          '      Statement:',
          `        - { Effect: Allow, Principal: { AWS: "arn:aws:iam::${ACCOUNT}:root" }, Action: "kms:*", Resource: "*" }`,
        ].join('\n'),
      );
      const open = async () => {
        const kms = await KmsService.open({
          store: env.store(),
          identity: env.identity,
          dataDir: env.dir,
          scheduleInterval: 0,
          seedFile: seed,
          seedRegion: REGION,
        });
        kms.close();
        return kms;
      };
      const kms = await open();
      const first = (await kms.describeKey({ KeyId: 'alias/qldb-kms-poc' }, env.root)).KeyMetadata;
      assert.equal(first.KeyId, '7b0f3c9e-1a2b-4c3d-8e4f-5a6b7c8d9e0f');
      assert.equal(first.Description, 'QLDB Ledger CMK');
      assert.equal(
        (await kms.handle('GetKeyRotationStatus', { KeyId: first.KeyId }, env.root))
          .KeyRotationEnabled,
        true,
      );
      const second = (await kms.describeKey({ KeyId: 'alias/second' }, env.root)).KeyMetadata;
      assert.equal(second.KeyState, 'Disabled');

      await kms.handle(
        'UpdateKeyDescription',
        { KeyId: first.KeyId, Description: 'changed' },
        env.root,
      );
      const again = await open();
      assert.equal(
        (await again.describeKey({ KeyId: first.KeyId }, env.root)).KeyMetadata.Description,
        'changed',
        'the seed never overwrites',
      );
      assert.equal((await env.store().listState('kms.key')).length, 2);

      writeFileSync(seed, 'keys:\n  - description: no identity\n');
      await assert.rejects(open(), /keys\[0\] needs a keyId or an alias/);
      writeFileSync(seed, 'keys: [');
      await assert.rejects(open(), /invalid YAML/);
    } finally {
      await env.dispose();
    }
  });

  test(
    `${backend.name}: seeded key policy binds principal ids`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        const seed = join(env.dir, 'kms-seed.yaml');
        const daveArn = `arn:aws:iam::${ACCOUNT}:user/dave`;
        writeFileSync(
          seed,
          [
            'keys:',
            '  - alias: alias/dave',
            '    policy:',
            '      Version: "2012-10-17"',
            '      Statement:',
            `        - { Effect: Allow, Principal: { AWS: "arn:aws:iam::${ACCOUNT}:root" }, Action: "kms:*", Resource: "*" }`,
            `        - { Effect: Allow, Principal: { AWS: "${daveArn}" }, Action: "kms:Encrypt", Resource: "*" }`,
          ].join('\n'),
        );
        const open = () =>
          KmsService.open({
            store: env.store(),
            identity: env.identity,
            dataDir: env.dir,
            scheduleInterval: 0,
            seedFile: seed,
            seedRegion: REGION,
          });
        await assert.rejects(
          open(),
          new RegExp(`keys\\[0\\]\\.policy names ${daveArn}, which does not exist`),
        );

        const dave = await env.identity.createUser('dave');
        const kms = await open();
        kms.close();
        const keyId = String(
          (await kms.describeKey({ KeyId: 'alias/dave' }, env.root)).KeyMetadata.KeyId,
        );
        const record = (await env.store().getState('kms.key', keyId))!;
        const key = JSON.parse(Buffer.from(record.value).toString('utf8')) as {
          principalIds?: Record<string, string>;
        };
        assert.deepEqual(key.principalIds, { [daveArn]: dave.id });
      } finally {
        await env.dispose();
      }
    },
  );
}
