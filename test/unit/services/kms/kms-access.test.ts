import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backends } from '../../../helpers/backends.js';
import { referenceKeyPolicy } from '../../../helpers/reference-stack.js';
import type { Principal } from '../../../../src/services/types.js';
import { ACCOUNT, b64, identityContext, kmsFixture, rejectsWith } from './kms-fixture.js';

const VIA_QLDB = 'qldb.eu-west-2.amazonaws.com';
const ROLES = ['qldb-kms-create-record-role', 'qldb-kms-get-record-role'];

/** The reference stack's key policy; with `withRoles`, statement C lets the two roles decrypt. */
function stackPolicy(id: string, withRoles: boolean): string {
  return referenceKeyPolicy({
    account: ACCOUNT,
    region: 'eu-west-2',
    id,
    roleArns: withRoles ? ROLES.map((role) => `arn:aws:iam::${ACCOUNT}:role/${role}`) : undefined,
  });
}

for (const backend of backends) {
  test(`${backend.name}: reference stack access matrix`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { identity, kms, root } = env;
      const trust = JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'lambda.amazonaws.com' },
            Action: 'sts:AssumeRole',
          },
        ],
      });
      const roleSessions: Principal[] = [];
      for (const role of ROLES) {
        const { id } = await identity.createRole({
          roleName: role,
          assumeRolePolicyDocument: trust,
        });
        await identity.putRolePolicy(
          role,
          'qldb',
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'qldb:SendCommand', Resource: '*' }],
          }),
        );
        roleSessions.push({
          accountId: ACCOUNT,
          arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/fn`,
          roleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`,
          userId: `${id}:fn`,
          accessKeyId: 'ASIA',
        });
      }
      const developer: Principal = {
        accountId: ACCOUNT,
        arn: `arn:aws:iam::${ACCOUNT}:user/developer`,
        userId: (await identity.createUser('developer')).id,
        accessKeyId: 'AKIADEV',
      };
      const outsider: Principal = {
        accountId: '999988887777',
        arn: 'arn:aws:iam::999988887777:user/eve',
        userId: 'AIDAEVE',
        accessKeyId: 'AKIAEVE',
      };

      const keys: Record<string, string> = {};
      for (const [name, withRoles] of [
        ['main', true],
        ['rotate', true],
        ['no-access', false],
        ['delete', true],
      ] as const) {
        keys[name] = (
          await kms.createKey({ Policy: stackPolicy(`qldb-cmk-${name}-poc`, withRoles) }, root)
        ).KeyMetadata.KeyId;
      }

      const blobs: Record<string, string> = {};
      for (const [name, keyId] of Object.entries(keys)) {
        blobs[name] = String(
          (
            await kms.handle(
              'GenerateDataKey',
              { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ledger: 'poc' } },
              root,
            )
          ).CiphertextBlob,
        );
      }

      const decrypt = (name: string, principal: Principal, via?: string) =>
        kms.handle(
          'Decrypt',
          { CiphertextBlob: blobs[name], EncryptionContext: { ledger: 'poc' } },
          identityContext(principal, via),
        );

      for (const name of ['main', 'rotate', 'delete']) {
        for (const session of roleSessions) {
          const result = await decrypt(name, session);
          assert.equal(
            result.KeyId,
            `arn:aws:kms:eu-west-2:${ACCOUNT}:key/${keys[name]}`,
            `${session.roleArn} decrypts with ${name}`,
          );
          await rejectsWith(
            kms.handle(
              'Encrypt',
              { KeyId: keys[name], Plaintext: 'eA==' },
              identityContext(session),
            ),
            'AccessDeniedException',
            `User: ${session.arn} is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:eu-west-2:${ACCOUNT}:key/${keys[name]} because no identity-based policy allows the kms:Encrypt action`,
          );
        }
      }
      for (const session of roleSessions) {
        await rejectsWith(
          decrypt('no-access', session),
          'AccessDeniedException',
          'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.',
        );
        await rejectsWith(
          decrypt('no-access', session, VIA_QLDB),
          'AccessDeniedException',
          /ciphertext refers to/,
        );
      }

      for (const [name, keyId] of Object.entries(keys)) {
        await kms.handle('DescribeKey', { KeyId: keyId }, identityContext(developer, VIA_QLDB));
        await kms.handle(
          'CreateGrant',
          {
            KeyId: keyId,
            GranteePrincipal: roleSessions[0]!.roleArn,
            Operations: ['Decrypt'],
            Name: `ledger-${name}`,
          },
          identityContext(developer, VIA_QLDB),
        );
        await rejectsWith(
          kms.handle('DescribeKey', { KeyId: keyId }, identityContext(developer)),
          'AccessDeniedException',
          /kms:DescribeKey .* because no identity-based policy allows/,
        );
        await rejectsWith(
          kms.handle(
            'DescribeKey',
            { KeyId: keyId },
            identityContext(developer, 'ec2.eu-west-2.amazonaws.com'),
          ),
          'AccessDeniedException',
        );
        await rejectsWith(
          kms.handle('DescribeKey', { KeyId: keyId }, identityContext(outsider, VIA_QLDB)),
          'AccessDeniedException',
        );
        await rejectsWith(
          decrypt(name, developer),
          'AccessDeniedException',
          /ciphertext refers to/,
        );
        await kms.handle('DisableKey', { KeyId: keyId }, root);
        await kms.handle('EnableKey', { KeyId: keyId }, root);
      }
      assert.equal(
        (await decrypt('no-access', roleSessions[0]!)).KeyId !== undefined,
        true,
        'the grant made through QLDB lets the create role decrypt',
      );
      await rejectsWith(decrypt('no-access', roleSessions[1]!), 'AccessDeniedException');

      await identity.putUserPolicy(
        'developer',
        'kms',
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }],
        }),
      );
      const viaDelegation = await decrypt('no-access', developer);
      assert.equal(
        viaDelegation.KeyId,
        `arn:aws:kms:eu-west-2:${ACCOUNT}:key/${keys['no-access']}`,
        'root delegation plus an identity policy allows',
      );
      await identity.putUserPolicy(
        'developer',
        'deny',
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Deny', Action: 'kms:Decrypt', Resource: `arn:aws:kms:*:*:key/${keys.main}` },
          ],
        }),
      );
      await rejectsWith(
        decrypt('main', developer),
        'AccessDeniedException',
        /ciphertext refers to/,
      );
      await rejectsWith(
        kms.handle('Encrypt', { KeyId: keys.main, Plaintext: 'eA==' }, identityContext(developer)),
        'AccessDeniedException',
        /because no identity-based policy allows/,
      );
    } finally {
      await env.dispose();
    }
  });

  test(
    `${backend.name}: key policies must name real principals`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        await rejectsWith(
          env.kms.createKey({ Policy: stackPolicy('p', true) }, env.root),
          'MalformedPolicyDocumentException',
          /invalid principals: arn:aws:iam::111122223333:role\/qldb-kms-create-record-role does not exist/,
        );
        const lockout = JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
              Action: 'kms:Decrypt',
              Resource: '*',
            },
          ],
        });
        await rejectsWith(
          env.kms.createKey({ Policy: lockout }, env.root),
          'MalformedPolicyDocumentException',
          'The new key policy will not allow you to update the key policy in the future.',
        );
        // A statement without Resource has no effect, and the message names it.
        const noResource = JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'Root',
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
              Action: 'kms:*',
            },
          ],
        });
        await rejectsWith(
          env.kms.createKey({ Policy: noResource }, env.root),
          'MalformedPolicyDocumentException',
          'The new key policy will not allow you to update the key policy in the future. ' +
            'Note: statement 1 (Root) has no Resource, so it has no effect; add "Resource": "*" and the actions.',
        );
        const key = (
          await env.kms.createKey(
            { Policy: lockout, BypassPolicyLockoutSafetyCheck: true },
            env.root,
          )
        ).KeyMetadata;
        await rejectsWith(
          env.kms.handle('PutKeyPolicy', { KeyId: key.KeyId, Policy: lockout }, env.root),
          'AccessDeniedException',
          // The key policy hands nothing but Decrypt to the account, so the key policy is at fault.
          /kms:PutKeyPolicy on resource: \S+ because no resource-based policy allows the kms:PutKeyPolicy action$/,
        );
        const open = (await env.kms.createKey({}, env.root)).KeyMetadata;
        await rejectsWith(
          env.kms.handle(
            'PutKeyPolicy',
            { KeyId: open.KeyId, Policy: 'x'.repeat(40_000) },
            env.root,
          ),
          'LimitExceededException',
          /32768 bytes/,
        );
      } finally {
        await env.dispose();
      }
    },
  );

  test(`${backend.name}: grants with constraints and tokens`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { kms, root, identity } = env;
      const app: Principal = {
        accountId: ACCOUNT,
        arn: `arn:aws:iam::${ACCOUNT}:user/app`,
        userId: (await identity.createUser('app')).id,
        accessKeyId: 'AKIAAPP',
      };
      const ops: Principal = {
        accountId: ACCOUNT,
        arn: `arn:aws:iam::${ACCOUNT}:user/ops`,
        userId: (await identity.createUser('ops')).id,
        accessKeyId: 'AKIAOPS',
      };
      const key = (await kms.createKey({}, root)).KeyMetadata;
      const blob = (
        await kms.encrypt(
          {
            KeyId: key.KeyId,
            Plaintext: Buffer.from('x'),
            EncryptionContext: { ledger: 'poc', extra: '1' },
          },
          root,
        )
      ).CiphertextBlob;
      const decrypt = (context: Record<string, string>, grantTokens?: string[]) =>
        kms.decrypt(
          {
            CiphertextBlob: blob,
            EncryptionContext: context,
            ...(grantTokens ? { GrantTokens: grantTokens } : {}),
          },
          identityContext(app),
        );

      await rejectsWith(decrypt({ ledger: 'poc', extra: '1' }), 'AccessDeniedException');
      const subset = await kms.handle(
        'CreateGrant',
        {
          KeyId: key.Arn,
          GranteePrincipal: app.arn,
          RetiringPrincipal: ops.arn,
          Operations: ['Decrypt', 'Encrypt'],
          Constraints: { EncryptionContextSubset: { ledger: 'poc' } },
          Name: 'app-grant',
        },
        root,
      );
      assert.match(String(subset.GrantId), /^[0-9a-f]{64}$/);
      assert.equal(
        (
          await decrypt({ ledger: 'poc', extra: '1' }, [String(subset.GrantToken)])
        ).Plaintext.toString(),
        'x',
      );
      await rejectsWith(
        decrypt({ ledger: 'poc', extra: '1' }, ['bogus-token']),
        'InvalidGrantTokenException',
      );
      await rejectsWith(
        kms.encrypt(
          { KeyId: key.KeyId, Plaintext: Buffer.from('y'), EncryptionContext: { ledger: 'other' } },
          identityContext(app),
        ),
        'AccessDeniedException',
      );
      await kms.encrypt(
        { KeyId: key.KeyId, Plaintext: Buffer.from('y'), EncryptionContext: { ledger: 'poc' } },
        identityContext(app),
      );
      // Constraint keys match ignoring case, values exactly.
      await kms.encrypt(
        { KeyId: key.KeyId, Plaintext: Buffer.from('y'), EncryptionContext: { LEDGER: 'poc' } },
        identityContext(app),
      );
      await rejectsWith(
        kms.encrypt(
          { KeyId: key.KeyId, Plaintext: Buffer.from('y'), EncryptionContext: { ledger: 'POC' } },
          identityContext(app),
        ),
        'AccessDeniedException',
      );

      const retry = await kms.handle(
        'CreateGrant',
        {
          KeyId: key.Arn,
          GranteePrincipal: app.arn,
          RetiringPrincipal: ops.arn,
          Operations: ['Encrypt', 'Decrypt'],
          Constraints: { EncryptionContextSubset: { ledger: 'poc' } },
          Name: 'app-grant',
        },
        root,
      );
      assert.equal(retry.GrantId, subset.GrantId, 'an identical retry returns the same grant');
      assert.notEqual(retry.GrantToken, subset.GrantToken);

      const equals = await kms.handle(
        'CreateGrant',
        {
          KeyId: key.KeyId,
          GranteePrincipal: ops.arn,
          Operations: ['Decrypt'],
          Constraints: { EncryptionContextEquals: { ledger: 'poc' } },
        },
        root,
      );
      await rejectsWith(
        kms.decrypt(
          { CiphertextBlob: blob, EncryptionContext: { ledger: 'poc', extra: '1' } },
          identityContext(ops),
        ),
        'AccessDeniedException',
      );
      const listed = await kms.handle('ListGrants', { KeyId: key.KeyId }, root);
      assert.equal((listed.Grants as unknown[]).length, 2);
      const retirable = await kms.handle(
        'ListRetirableGrants',
        { RetiringPrincipal: ops.arn },
        root,
      );
      assert.deepEqual(
        (retirable.Grants as Array<Record<string, unknown>>).map((grant) => grant.GrantId),
        [subset.GrantId],
      );

      await rejectsWith(
        kms.handle('RetireGrant', { GrantToken: String(subset.GrantToken) }, identityContext(app)),
        'AccessDeniedException',
      );
      await kms.handle(
        'RetireGrant',
        { GrantToken: String(subset.GrantToken) },
        identityContext(ops),
      );
      await rejectsWith(decrypt({ ledger: 'poc', extra: '1' }), 'AccessDeniedException');
      await kms.handle('RevokeGrant', { KeyId: key.KeyId, GrantId: equals.GrantId }, root);
      await rejectsWith(
        kms.handle('RevokeGrant', { KeyId: key.KeyId, GrantId: equals.GrantId }, root),
        'NotFoundException',
      );
      await rejectsWith(
        kms.handle('RevokeGrant', { KeyId: key.KeyId, GrantId: 'nope' }, root),
        'InvalidGrantIdException',
      );
      await rejectsWith(
        kms.handle(
          'CreateGrant',
          { KeyId: 'alias/x', GranteePrincipal: app.arn, Operations: ['Decrypt'] },
          root,
        ),
        'InvalidArnException',
        /Key Aliases are not supported for this operation\./,
      );
      await rejectsWith(
        kms.handle(
          'CreateGrant',
          { KeyId: key.KeyId, GranteePrincipal: app.arn, Operations: ['Sign'] },
          root,
        ),
        'ValidationException',
        /Sign/,
      );
      await rejectsWith(
        kms.handle(
          'CreateGrant',
          { KeyId: key.KeyId, GranteePrincipal: app.arn, Operations: ['Fly'] },
          root,
        ),
        'ValidationException',
        /enum value set/,
      );
    } finally {
      await env.dispose();
    }
  });

  test(
    `${backend.name}: identity-only actions need IAM permission`,
    { skip: backend.skip },
    async () => {
      const env = await kmsFixture(backend);
      try {
        await env.identity.createUser('dev');
        const dev = identityContext({
          accountId: ACCOUNT,
          arn: `arn:aws:iam::${ACCOUNT}:user/dev`,
          userId: 'AIDADEV',
          accessKeyId: 'AKIADEV',
        });
        await rejectsWith(
          env.kms.handle('CreateKey', {}, dev),
          'AccessDeniedException',
          `User: arn:aws:iam::${ACCOUNT}:user/dev is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action`,
        );
        await rejectsWith(env.kms.handle('ListKeys', {}, dev), 'AccessDeniedException');
        await env.identity.putUserPolicy(
          'dev',
          'kms',
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['kms:CreateKey', 'kms:List*', 'kms:PutKeyPolicy'],
                Resource: '*',
              },
            ],
          }),
        );
        const key = (await env.kms.handle('CreateKey', {}, dev)).KeyMetadata as Record<
          string,
          unknown
        >;
        assert.equal((await env.kms.handle('ListKeys', {}, dev)).Truncated, false);
        await rejectsWith(
          env.kms.handle('Encrypt', { KeyId: key.KeyId, Plaintext: 'eA==' }, dev),
          'AccessDeniedException',
        );
      } finally {
        await env.dispose();
      }
    },
  );
}

for (const backend of backends) {
  test(`${backend.name}: grants made through a grant`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { identity, kms, root } = env;
      const user = async (name: string) => {
        const { id } = await identity.createUser(name);
        return identityContext({
          accountId: ACCOUNT,
          arn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
          userId: id,
          accessKeyId: `AKIA${name.toUpperCase()}`,
        });
      };
      const bob = await user('bob');
      const carol = await user('carol');
      const bobArn = `arn:aws:iam::${ACCOUNT}:user/bob`;
      const carolArn = `arn:aws:iam::${ACCOUNT}:user/carol`;
      const key = (await kms.createKey({}, root)).KeyMetadata;
      await kms.handle(
        'CreateGrant',
        {
          KeyId: key.KeyId,
          GranteePrincipal: bobArn,
          Operations: ['Decrypt', 'CreateGrant'],
          Constraints: { EncryptionContextSubset: { tenant: 'bob' } },
        },
        root,
      );
      const grant = (constraints?: Record<string, Record<string, string>>) =>
        kms.handle(
          'CreateGrant',
          {
            KeyId: key.KeyId,
            GranteePrincipal: carolArn,
            Operations: ['Decrypt'],
            ...(constraints ? { Constraints: constraints } : {}),
          },
          bob,
        );

      // A sub-grant may not drop or loosen the constraints of bob's grant.
      const looser: Array<Record<string, Record<string, string>> | undefined> = [
        undefined,
        { EncryptionContextSubset: { tenant: 'other' } },
        { EncryptionContextEquals: { team: 'x' } },
      ];
      for (const loose of looser) {
        await rejectsWith(grant(loose), 'AccessDeniedException', /kms:CreateGrant/);
      }
      // The same or stricter constraints are accepted.
      await grant({ EncryptionContextSubset: { tenant: 'bob' } });
      await grant({ EncryptionContextSubset: { tenant: 'bob', team: 'x' } });
      await grant({ EncryptionContextEquals: { tenant: 'bob', team: 'x' } });
      // Operations outside bob's grant stay out of reach.
      await rejectsWith(
        kms.handle(
          'CreateGrant',
          {
            KeyId: key.KeyId,
            GranteePrincipal: carolArn,
            Operations: ['Encrypt'],
            Constraints: { EncryptionContextSubset: { tenant: 'bob' } },
          },
          bob,
        ),
        'AccessDeniedException',
      );
      const { CiphertextBlob } = await kms.handle(
        'Encrypt',
        { KeyId: key.KeyId, Plaintext: b64('x'), EncryptionContext: { tenant: 'other' } },
        root,
      );
      await rejectsWith(
        kms.handle('Decrypt', { CiphertextBlob, EncryptionContext: { tenant: 'other' } }, carol),
        'AccessDeniedException',
      );

      // The console's statement for key users lets a service create grants for carol.
      const policy = JSON.parse(
        (await kms.handle('GetKeyPolicy', { KeyId: key.KeyId }, root)).Policy as string,
      ) as { Statement: unknown[] };
      policy.Statement.push({
        Effect: 'Allow',
        Principal: { AWS: carolArn },
        Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'],
        Resource: '*',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      });
      await kms.handle(
        'PutKeyPolicy',
        { KeyId: key.KeyId, PolicyName: 'default', Policy: JSON.stringify(policy) },
        root,
      );
      const forLedger = {
        KeyId: key.KeyId,
        GranteePrincipal: 'qldb.amazonaws.com',
        Operations: ['Decrypt'],
      };
      await rejectsWith(kms.handle('CreateGrant', forLedger, carol), 'AccessDeniedException');
      const viaQldb = identityContext(carol.principal, VIA_QLDB);
      await kms.handle('CreateGrant', forLedger, viaQldb);

      // An explicit Deny of CreateGrant wins over bob's grant.
      policy.Statement.push({
        Effect: 'Deny',
        Principal: { AWS: bobArn },
        Action: 'kms:CreateGrant',
        Resource: '*',
      });
      await kms.handle(
        'PutKeyPolicy',
        { KeyId: key.KeyId, PolicyName: 'default', Policy: JSON.stringify(policy) },
        root,
      );
      await rejectsWith(
        grant({ EncryptionContextSubset: { tenant: 'bob' } }),
        'AccessDeniedException',
        /with an explicit deny/,
      );
    } finally {
      await env.dispose();
    }
  });
}

/** Sign in users and sessions of role `app` that can be deleted and created again. */
function principals(env: Awaited<ReturnType<typeof kmsFixture>>) {
  const signIn = async (name: string) => {
    await env.identity.createUser(name);
    const { accessKeyId } = await env.identity.createAccessKey(name);
    return identityContext((await env.identity.lookupAccessKey(accessKeyId))!.principal);
  };
  const removeUser = async (name: string) => {
    for (const key of await env.identity.listAccessKeys(name)) {
      await env.identity.deleteAccessKey(key.accessKeyId, name);
    }
    await env.identity.deleteUser(name);
  };
  const createApp = () =>
    env.identity.createRole({
      roleName: 'app',
      assumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
            Action: 'sts:AssumeRole',
          },
        ],
      }),
    });
  const appSession = async () => {
    const session = await env.identity.assumeRole(env.root.principal, {
      roleArn: `arn:aws:iam::${ACCOUNT}:role/app`,
      roleSessionName: 'job',
    });
    return identityContext((await env.identity.lookupAccessKey(session.accessKeyId))!.principal);
  };
  return { signIn, removeUser, createApp, appSession };
}

for (const backend of backends) {
  test(`${backend.name}: key policy binds principal ids`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { root } = env;
      const daveArn = `arn:aws:iam::${ACCOUNT}:user/dave`;
      const appArn = `arn:aws:iam::${ACCOUNT}:role/app`;
      const { signIn, removeUser, createApp, appSession } = principals(env);

      let dave = await signIn('dave');
      const erin = await signIn('erin');
      await createApp();
      let app = await appSession();
      const policy = JSON.stringify({
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
            Principal: { AWS: [daveArn, `arn:aws:iam::${ACCOUNT}:user/erin`, appArn] },
            Action: 'kms:Encrypt',
            Resource: '*',
          },
        ],
      });
      const keyId = (await env.kms.createKey({ Policy: policy }, root)).KeyMetadata.KeyId;
      const encrypt = (context: ReturnType<typeof identityContext>) =>
        env.kms.handle('Encrypt', { KeyId: keyId, Plaintext: b64('x') }, context);
      const denied = (context: ReturnType<typeof identityContext>) =>
        rejectsWith(
          encrypt(context),
          'AccessDeniedException',
          `User: ${context.principal.arn} is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:eu-west-2:${ACCOUNT}:key/${keyId} because no identity-based policy allows the kms:Encrypt action`,
        );
      await encrypt(dave);
      await encrypt(erin);
      await encrypt(app);

      // A user created again under a deleted user's name is someone else.
      const oldDaveId = dave.principal.userId;
      await removeUser('dave');
      dave = await signIn('dave');
      await denied(dave);
      await encrypt(erin);
      await env.restart();
      await denied(dave);
      await encrypt(erin);

      // So is a session of a role created again under a deleted role's name.
      const oldAppId = (await env.identity.getRole('app')).id;
      await env.identity.deleteRole('app');
      await createApp();
      app = await appSession();
      await denied(app);

      // GetKeyPolicy shows deleted principals as their recorded ids.
      const returned = JSON.parse(
        String((await env.kms.handle('GetKeyPolicy', { KeyId: keyId }, root)).Policy),
      ) as { Statement: Array<{ Principal: { AWS: string | string[] } }> };
      assert.deepEqual(returned.Statement[1]!.Principal.AWS, [
        oldDaveId,
        `arn:aws:iam::${ACCOUNT}:user/erin`,
        oldAppId,
      ]);

      // Storing the policy again names the principals that hold the names now.
      await env.kms.handle('PutKeyPolicy', { KeyId: keyId, Policy: policy }, root);
      await encrypt(dave);
      await encrypt(erin);
      await encrypt(app);
      assert.equal(
        (await env.kms.handle('GetKeyPolicy', { KeyId: keyId }, root)).Policy,
        policy,
        'a policy whose principals all exist is shown as stored',
      );

      // A key stored before ids were recorded matches by ARN.
      const record = (await env.store().getState('kms.key', keyId))!;
      const legacy = JSON.parse(Buffer.from(record.value).toString('utf8')) as Record<
        string,
        unknown
      >;
      assert.ok(legacy.principalIds, 'the ids are stored with the key');
      delete legacy.principalIds;
      await env
        .store()
        .putState('kms.key', keyId, Buffer.from(JSON.stringify(legacy)), record.version);
      await env.restart();
      await removeUser('dave');
      dave = await signIn('dave');
      await encrypt(dave);
    } finally {
      await env.dispose();
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: grants bind principal ids`, { skip: backend.skip }, async () => {
    const env = await kmsFixture(backend);
    try {
      const { root } = env;
      const { signIn, removeUser, createApp, appSession } = principals(env);
      let dave = await signIn('dave');
      await createApp();
      let app = await appSession();
      const keyId = (await env.kms.createKey({}, root)).KeyMetadata.KeyId;
      const daveArn = `arn:aws:iam::${ACCOUNT}:user/dave`;
      const appArn = `arn:aws:iam::${ACCOUNT}:role/app`;
      const grant = (grantee: string, retiring?: string) =>
        env.kms.handle(
          'CreateGrant',
          {
            KeyId: keyId,
            GranteePrincipal: grantee,
            Operations: ['Encrypt', 'RetireGrant'],
            ...(retiring ? { RetiringPrincipal: retiring } : {}),
          },
          root,
        );
      const encrypt = (context: ReturnType<typeof identityContext>) =>
        env.kms.handle('Encrypt', { KeyId: keyId, Plaintext: b64('x') }, context);
      const denied = (context: ReturnType<typeof identityContext>) =>
        rejectsWith(encrypt(context), 'AccessDeniedException', /kms:Encrypt/);
      const retire = (grantId: unknown, context: ReturnType<typeof identityContext>) =>
        env.kms.handle('RetireGrant', { KeyId: keyId, GrantId: grantId }, context);

      const toDave = await grant(daveArn, appArn);
      const toApp = await grant(appArn);
      await encrypt(dave);
      await encrypt(app);

      // A user or role created again under a deleted one's name does not
      // inherit its grants, neither to use the key nor to retire them.
      await removeUser('dave');
      dave = await signIn('dave');
      await denied(dave);
      await env.identity.deleteRole('app');
      await createApp();
      app = await appSession();
      await denied(app);
      await env.restart();
      await denied(dave);
      await rejectsWith(retire(toDave.GrantId, app), 'AccessDeniedException', /kms:RetireGrant/);
      await rejectsWith(retire(toApp.GrantId, app), 'AccessDeniedException', /kms:RetireGrant/);

      // ListGrants still names the principals by ARN, as they were given.
      const listed = (await env.kms.handle('ListGrants', { KeyId: keyId }, root)).Grants as Array<
        Record<string, unknown>
      >;
      assert.deepEqual(listed.map((entry) => entry.GranteePrincipal).sort(), [appArn, daveArn]);

      // A grant made again, under the same name, reaches the new principals.
      const named = { KeyId: keyId, GranteePrincipal: daveArn, Operations: ['Encrypt'] };
      await env.kms.handle('CreateGrant', { ...named, Name: 'n' }, root);
      await encrypt(dave);
      await removeUser('dave');
      dave = await signIn('dave');
      const again = await env.kms.handle('CreateGrant', { ...named, Name: 'n' }, root);
      assert.ok(
        !listed.some((entry) => entry.GrantId === again.GrantId),
        'a grant for the new dave is a new grant',
      );
      await encrypt(dave);
      await retire(toApp.GrantId, root);
    } finally {
      await env.dispose();
    }
  });
}
