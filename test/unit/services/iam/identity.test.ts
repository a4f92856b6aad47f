import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { backends } from '../../../helpers/backends.js';
import { IdentityService } from '../../../../src/services/iam/identity.js';
import { IamQueryService, StsQueryService } from '../../../../src/services/iam/iam-query.js';
import {
  ServiceError,
  type Principal,
  type RequestContext,
} from '../../../../src/services/types.js';

const ACCOUNT = '111122223333';

function context(principal: Principal): RequestContext {
  return { principal, requestId: 'req-1', region: 'us-east-1' };
}

function trustPolicy(principal: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole' }],
  });
}

async function rejects(
  promise: Promise<unknown>,
  code: string,
  status: number,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ServiceError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    if (message) assert.match(error.message, message);
    return true;
  });
}

for (const backend of backends) {
  async function setup() {
    const opened = await backend.create();
    const rootKey = randomBytes(32);
    let now = 1_800_000_000_000;
    const open = (store = opened.store) =>
      IdentityService.open({ store, accountId: ACCOUNT, rootKey, now: () => now });
    const identity = await open();
    return {
      identity,
      rootKey,
      advance: (ms: number) => (now += ms),
      reopen: async () => open(await opened.reopen()),
      store: () => opened.store,
      dispose: opened.dispose,
    };
  }

  test(`${backend.name}: root credentials created once`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      const first = await env.identity.ensureRoot();
      assert.equal(first.created, true);
      assert.match(first.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
      assert.equal(first.secretAccessKey.length, 40);
      const again = await env.identity.ensureRoot();
      assert.deepEqual({ ...again, created: true }, first);
      assert.equal(again.created, false);

      const reopened = await env.reopen();
      const third = await reopened.ensureRoot();
      assert.equal(third.accessKeyId, first.accessKeyId);
      assert.equal(third.secretAccessKey, first.secretAccessKey);

      const record = await reopened.lookupAccessKey(first.accessKeyId);
      assert.equal(record?.secretAccessKey, first.secretAccessKey);
      assert.equal(record?.principal.arn, `arn:aws:iam::${ACCOUNT}:root`);
      assert.equal(await reopened.lookupAccessKey('AKIANOTHINGHERE0000'), undefined);
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: secrets are sealed at rest`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      const root = await env.identity.ensureRoot();
      const records = await env.store().listState('iam.accessKey');
      assert.equal(records.length, 1);
      const raw = Buffer.from(records[0]!.value).toString();
      assert.ok(!raw.includes(root.secretAccessKey), 'the secret is not stored in plain text');

      await assert.rejects(
        IdentityService.open({ store: env.store(), accountId: ACCOUNT, rootKey: randomBytes(32) }),
        /root key does not match/,
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: users, access keys and lookups`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      const { identity } = env;
      const user = await identity.createUser('Alice', '/team/');
      assert.equal(user.arn, `arn:aws:iam::${ACCOUNT}:user/team/Alice`);
      assert.match(user.id, /^AIDA/);
      await rejects(
        identity.createUser('alice'),
        'EntityAlreadyExists',
        409,
        /User with name alice already exists/,
      );
      assert.equal((await identity.getUser('ALICE')).name, 'Alice');
      await rejects(
        identity.getUser('bob'),
        'NoSuchEntity',
        404,
        /The user with name bob cannot be found/,
      );
      await rejects(identity.createUser('bad name!'), 'ValidationError', 400, /userName/);
      await rejects(
        identity.createUser('x'.repeat(65)),
        'ValidationError',
        400,
        /less than or equal to 64/,
      );

      const key = await identity.createAccessKey('Alice');
      await identity.createAccessKey('Alice');
      await rejects(
        identity.createAccessKey('Alice'),
        'LimitExceeded',
        409,
        /AccessKeysPerUser: 2/,
      );
      const record = await identity.lookupAccessKey(key.accessKeyId);
      assert.equal(record?.principal.arn, user.arn);
      assert.equal(record?.principal.userId, user.id);
      assert.equal(record?.secretAccessKey, key.secretAccessKey);

      await rejects(identity.deleteUser('Alice'), 'DeleteConflict', 409, /access keys/);
      for (const listed of await identity.listAccessKeys('Alice')) {
        await identity.deleteAccessKey(listed.accessKeyId, 'Alice');
      }
      assert.equal(await identity.lookupAccessKey(key.accessKeyId), undefined);
      await rejects(identity.deleteAccessKey(key.accessKeyId, 'Alice'), 'NoSuchEntity', 404);
      await identity.deleteUser('Alice');
      await rejects(identity.getUser('Alice'), 'NoSuchEntity', 404);
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: roles and inline policies`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      const { identity } = env;
      const trust = trustPolicy(`arn:aws:iam::${ACCOUNT}:root`);
      const role = await identity.createRole({
        roleName: 'reader',
        assumeRolePolicyDocument: trust,
        description: 'reads',
      });
      assert.equal(role.arn, `arn:aws:iam::${ACCOUNT}:role/reader`);
      assert.equal(
        (await identity.getRole('reader')).trustPolicy,
        trust,
        'trust policy kept byte for byte',
      );
      await rejects(
        identity.createRole({ roleName: 'Reader', assumeRolePolicyDocument: trust }),
        'EntityAlreadyExists',
        409,
      );
      await rejects(
        identity.createRole({
          roleName: 'r2',
          assumeRolePolicyDocument: '{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}',
        }),
        'MalformedPolicyDocument',
        400,
        /no principal/,
      );
      await rejects(
        identity.createRole({
          roleName: 'r3',
          assumeRolePolicyDocument: JSON.stringify({
            Statement: {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/ghost` },
              Action: 'sts:AssumeRole',
            },
          }),
        }),
        'MalformedPolicyDocument',
        400,
        /^Invalid principal in policy: "AWS":"arn:aws:iam::\d{12}:user\/ghost"; name an existing user or role/,
      );

      const policy = JSON.stringify({
        Version: '2012-10-17',
        Statement: { Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' },
      });
      await identity.putRolePolicy('reader', 'decrypt', policy);
      await rejects(
        identity.putRolePolicy(
          'reader',
          'bad',
          '{"Statement":{"Effect":"Allow","Action":"kms:*"}}',
        ),
        'MalformedPolicyDocument',
        400,
        /resources/,
      );
      assert.deepEqual(await identity.listRolePolicies('reader'), ['decrypt']);
      assert.equal(await identity.getRolePolicy('reader', 'decrypt'), policy);
      await rejects(
        identity.getRolePolicy('reader', 'other'),
        'NoSuchEntity',
        404,
        /role policy with name other/,
      );
      await rejects(identity.deleteRole('reader'), 'DeleteConflict', 409, /policies/);

      const reopened = await env.reopen();
      assert.equal(
        await reopened.getRolePolicy('reader', 'decrypt'),
        policy,
        'policies survive a restart',
      );
      await reopened.deleteRolePolicy('reader', 'decrypt');
      await rejects(reopened.deleteRolePolicy('reader', 'decrypt'), 'NoSuchEntity', 404);
      await reopened.deleteRole('reader');
      assert.deepEqual(await reopened.listRoles(), []);
    } finally {
      await env.dispose();
    }
  });

  test(
    `${backend.name}: AssumeRole checks trust and issues sessions`,
    { skip: backend.skip },
    async () => {
      const env = await setup();
      try {
        const { identity } = env;
        const root = identity.rootPrincipal('AKIAROOT');
        await identity.createUser('alice');
        await identity.createUser('bob');
        const alice = (await identity.lookupAccessKey(
          (await identity.createAccessKey('alice')).accessKeyId,
        ))!.principal;
        const bob = (await identity.lookupAccessKey(
          (await identity.createAccessKey('bob')).accessKeyId,
        ))!.principal;

        await identity.createRole({
          roleName: 'direct',
          assumeRolePolicyDocument: trustPolicy(alice.arn),
        });
        await identity.createRole({
          roleName: 'account',
          assumeRolePolicyDocument: trustPolicy(ACCOUNT),
          maxSessionDuration: 7200,
        });
        await identity.putRolePolicy(
          'direct',
          'p',
          JSON.stringify({ Statement: { Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' } }),
        );

        const session = await identity.assumeRole(alice, {
          roleArn: `arn:aws:iam::${ACCOUNT}:role/direct`,
          roleSessionName: 'job-1',
        });
        assert.match(session.accessKeyId, /^ASIA/);
        assert.equal(session.assumedRoleArn, `arn:aws:sts::${ACCOUNT}:assumed-role/direct/job-1`);
        assert.equal(session.expiresAt - 1_800_000_000_000, 3600 * 1000);

        const record = await identity.lookupAccessKey(session.accessKeyId);
        assert.equal(record?.sessionToken, session.sessionToken);
        assert.equal(record?.principal.roleArn, `arn:aws:iam::${ACCOUNT}:role/direct`);
        assert.equal(
          await identity.authorize(record!.principal, 'kms:Decrypt', '*'),
          true,
          'session gets the role policy',
        );
        assert.equal(await identity.authorize(record!.principal, 'kms:Encrypt', '*'), false);

        await rejects(
          identity.assumeRole(bob, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/direct`,
            roleSessionName: 's' + 'x',
          }),
          'AccessDenied',
          403,
          /bob is not authorized to perform: sts:AssumeRole/,
        );
        await rejects(
          identity.assumeRole(bob, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/account`,
            roleSessionName: 'sx',
          }),
          'AccessDenied',
          403,
          /sts:AssumeRole/,
        );
        await identity.putUserPolicy(
          'bob',
          'assume',
          JSON.stringify({
            Statement: {
              Effect: 'Allow',
              Action: 'sts:AssumeRole',
              Resource: `arn:aws:iam::${ACCOUNT}:role/account`,
            },
          }),
        );
        const bobSession = await identity.assumeRole(bob, {
          roleArn: `arn:aws:iam::${ACCOUNT}:role/account`,
          roleSessionName: 'sx',
          durationSeconds: 7200,
        });
        assert.equal(bobSession.expiresAt - 1_800_000_000_000, 7200 * 1000);
        await identity.assumeRole(root, {
          roleArn: `arn:aws:iam::${ACCOUNT}:role/account`,
          roleSessionName: 'rootjob',
        });

        await rejects(
          identity.assumeRole(root, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/account`,
            roleSessionName: 'x',
            durationSeconds: 900,
          }),
          'ValidationError',
          400,
          /roleSessionName/,
        );
        await rejects(
          identity.assumeRole(root, {
            roleArn: `arn:aws:iam::${ACCOUNT}:notarole/account`,
            roleSessionName: 'xx',
          }),
          'ValidationError',
          400,
          /^arn:aws:iam::\d{12}:notarole\/account is not a valid role ARN; use the form arn:aws:iam::<account-id>:role\/<role-name>\.$/,
        );
        await rejects(
          identity.assumeRole(root, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/account`,
            roleSessionName: 'xx',
            durationSeconds: 899,
          }),
          'ValidationError',
          400,
          /durationSeconds/,
        );
        await rejects(
          identity.assumeRole(root, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/account`,
            roleSessionName: 'xx',
            durationSeconds: 10800,
          }),
          'ValidationError',
          400,
          /MaxSessionDuration/,
        );
        await rejects(
          identity.assumeRole(root, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/missing`,
            roleSessionName: 'xx',
          }),
          'AccessDenied',
          403,
        );

        const reopened = await env.reopen();
        const restored = await reopened.lookupAccessKey(session.accessKeyId);
        assert.equal(
          restored?.secretAccessKey,
          session.secretAccessKey,
          'sessions survive a restart',
        );
        assert.equal(restored?.expiresAt, session.expiresAt);
      } finally {
        await env.dispose();
      }
    },
  );

  test(`${backend.name}: principalId and identity policies`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      const { identity } = env;
      const alice = await identity.createUser('alice');
      await identity.createRole({
        roleName: 'reader',
        assumeRolePolicyDocument: trustPolicy(ACCOUNT),
      });
      assert.deepEqual(await identity.principalId(`arn:aws:iam::${ACCOUNT}:root`), 'exists');
      assert.deepEqual(await identity.principalId(`arn:aws:iam::${ACCOUNT}:user/alice`), {
        id: alice.id,
      });
      const reader = await identity.principalId(`arn:aws:iam::${ACCOUNT}:role/reader`);
      assert.match(typeof reader === 'object' ? reader.id : '', /^AROA/);
      assert.equal(await identity.principalId(`arn:aws:iam::${ACCOUNT}:role/writer`), 'none');
      assert.equal(
        await identity.principalId(`arn:aws:sts::${ACCOUNT}:assumed-role/reader/s`),
        'exists',
      );
      assert.equal(await identity.principalId('arn:aws:iam::999988887777:role/any'), 'exists');
      assert.equal(await identity.principalId('nonsense'), 'none');

      const root = identity.rootPrincipal();
      assert.deepEqual(await identity.identityPolicies(root), []);
      assert.equal(
        await identity.authorize(root, 'iam:DeleteUser', '*'),
        true,
        'root is always allowed',
      );
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: trust policy binds principal ids`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      let identity = env.identity;
      const root = identity.rootPrincipal('AKIAROOT');
      const daveArn = `arn:aws:iam::${ACCOUNT}:user/dave`;
      const ciArn = `arn:aws:iam::${ACCOUNT}:role/ci`;
      const deployArn = `arn:aws:iam::${ACCOUNT}:role/deploy`;
      const signIn = async (name: string) => {
        await identity.createUser(name);
        const { accessKeyId } = await identity.createAccessKey(name);
        return (await identity.lookupAccessKey(accessKeyId))!.principal;
      };
      const removeUser = async (name: string) => {
        for (const key of await identity.listAccessKeys(name)) {
          await identity.deleteAccessKey(key.accessKeyId, name);
        }
        await identity.deleteUser(name);
      };
      const ciSession = async () => {
        const session = await identity.assumeRole(root, {
          roleArn: ciArn,
          roleSessionName: 'ci',
        });
        return (await identity.lookupAccessKey(session.accessKeyId))!.principal;
      };
      const assumeDeploy = (caller: Principal) =>
        identity.assumeRole(caller, { roleArn: deployArn, roleSessionName: 'deploy' });
      const deployTrust = JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: [daveArn, ciArn] }, Action: 'sts:AssumeRole' },
        ],
      });

      let dave = await signIn('dave');
      await identity.createRole({
        roleName: 'ci',
        assumeRolePolicyDocument: trustPolicy(ACCOUNT),
      });
      let ci = await ciSession();
      await identity.createRole({ roleName: 'deploy', assumeRolePolicyDocument: deployTrust });
      await assumeDeploy(dave);
      await assumeDeploy(ci);

      // A user or role created again under a deleted one's name is someone else.
      const oldDaveId = dave.userId;
      await removeUser('dave');
      dave = await signIn('dave');
      await rejects(assumeDeploy(dave), 'AccessDenied', 403, /user\/dave is not authorized/);
      const oldCiId = (await identity.getRole('ci')).id;
      await identity.deleteRole('ci');
      await identity.createRole({
        roleName: 'ci',
        assumeRolePolicyDocument: trustPolicy(ACCOUNT),
      });
      ci = await ciSession();
      await rejects(assumeDeploy(ci), 'AccessDenied', 403, /assumed-role\/ci\/ci is not/);

      // GetRole shows deleted principals as their recorded ids.
      const iam = new IamQueryService(identity);
      const role = (await iam.handle('GetRole', { RoleName: 'deploy' }, context(root)))
        .Role as Record<string, string>;
      const returned = JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!)) as {
        Statement: Array<{ Principal: { AWS: string[] } }>;
      };
      assert.deepEqual(returned.Statement[0]!.Principal.AWS, [oldDaveId, oldCiId]);

      // Storing the trust policy again names the principals that hold the names now.
      await identity.updateAssumeRolePolicy('deploy', deployTrust);
      await assumeDeploy(dave);
      await assumeDeploy(ci);
      const listed = (await iam.handle('ListRoles', {}, context(root))).Roles as Array<
        Record<string, string>
      >;
      assert.equal(
        decodeURIComponent(listed.find((r) => r.RoleName === 'deploy')!.AssumeRolePolicyDocument!),
        deployTrust,
        'a trust policy whose principals all exist is shown as stored',
      );

      // A role stored before ids were recorded matches by ARN.
      const record = (await env.store().getState('iam.role', 'deploy'))!;
      const legacy = JSON.parse(Buffer.from(record.value).toString('utf8')) as Record<
        string,
        unknown
      >;
      assert.ok(legacy.trustPrincipalIds, 'the ids are stored with the role');
      delete legacy.trustPrincipalIds;
      await env
        .store()
        .putState('iam.role', 'deploy', Buffer.from(JSON.stringify(legacy)), record.version);
      identity = await env.reopen();
      await removeUser('dave');
      dave = await signIn('dave');
      await assumeDeploy(dave);
    } finally {
      await env.dispose();
    }
  });

  test(`${backend.name}: IAM query actions and permissions`, { skip: backend.skip }, async () => {
    const env = await setup();
    try {
      const { identity } = env;
      const iam = new IamQueryService(identity);
      const root = context(identity.rootPrincipal('AKIAROOT'));

      const created = await iam.handle('CreateUser', { UserName: 'alice' }, root);
      assert.equal(
        (created.User as Record<string, unknown>).Arn,
        `arn:aws:iam::${ACCOUNT}:user/alice`,
      );
      assert.match(
        String((created.User as Record<string, unknown>).CreateDate),
        /^\d{4}-\d\d-\d\dT/,
      );
      const key = (await iam.handle('CreateAccessKey', { UserName: 'alice' }, root))
        .AccessKey as Record<string, string>;
      const alice = context((await identity.lookupAccessKey(key.AccessKeyId!))!.principal);
      // GetUser without UserName means the caller, which a role session is not.
      const session = context({
        accountId: ACCOUNT,
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/r/s`,
        roleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
        userId: 'AROA:s',
        accessKeyId: 'ASIA',
      });
      await rejects(
        iam.handle('GetUser', {}, session),
        'ValidationError',
        400,
        /^Must specify userName when calling with non-User credentials$/,
      );

      await rejects(
        iam.handle(
          'CreateRole',
          { RoleName: 'r', AssumeRolePolicyDocument: trustPolicy(ACCOUNT) },
          alice,
        ),
        'AccessDenied',
        403,
        /alice is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::111122223333:role\/r/,
      );
      await iam.handle(
        'PutUserPolicy',
        {
          UserName: 'alice',
          PolicyName: 'admin',
          PolicyDocument: JSON.stringify({
            Statement: { Effect: 'Allow', Action: 'iam:*Role*', Resource: '*' },
          }),
        },
        root,
      );

      const trust = trustPolicy(ACCOUNT);
      const role = (
        await iam.handle(
          'CreateRole',
          { RoleName: 'r', AssumeRolePolicyDocument: trust, MaxSessionDuration: '7200' },
          alice,
        )
      ).Role as Record<string, unknown>;
      assert.equal(role.AssumeRolePolicyDocument, encodeURIComponent(trust));
      assert.equal(role.MaxSessionDuration, 7200);
      await iam.handle(
        'PutRolePolicy',
        {
          RoleName: 'r',
          PolicyName: 'p',
          PolicyDocument: '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}',
        },
        alice,
      );
      assert.deepEqual(await iam.handle('ListRolePolicies', { RoleName: 'r' }, alice), {
        PolicyNames: ['p'],
        IsTruncated: false,
      });
      const got = await iam.handle('GetRolePolicy', { RoleName: 'r', PolicyName: 'p' }, alice);
      assert.equal(
        decodeURIComponent(String(got.PolicyDocument)),
        '{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}',
      );
      await rejects(iam.handle('CreateUser', { UserName: 'bob' }, alice), 'AccessDenied', 403);
      await rejects(
        iam.handle('CreateRole', { RoleName: 'r2' }, alice),
        'ValidationError',
        400,
        /Value null at 'assumeRolePolicyDocument'/,
      );
      await rejects(iam.handle('Frobnicate', {}, root), 'InvalidAction', 400, /Frobnicate/);

      await iam.handle('CreateRole', { RoleName: 'r2', AssumeRolePolicyDocument: trust }, root);
      await iam.handle('CreateRole', { RoleName: 'r3', AssumeRolePolicyDocument: trust }, root);
      const first = await iam.handle('ListRoles', { MaxItems: '2' }, root);
      assert.equal((first.Roles as unknown[]).length, 2);
      assert.equal(first.IsTruncated, true);
      const second = await iam.handle(
        'ListRoles',
        { MaxItems: '2', Marker: String(first.Marker) },
        root,
      );
      assert.equal((second.Roles as unknown[]).length, 1);
      assert.equal(second.IsTruncated, false);

      const sts = new StsQueryService(identity);
      assert.deepEqual(await sts.handle('GetCallerIdentity', {}, alice), {
        UserId: alice.principal.userId,
        Account: ACCOUNT,
        Arn: alice.principal.arn,
      });
      const assumed = await sts.handle(
        'AssumeRole',
        {
          RoleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
          RoleSessionName: 'web',
          DurationSeconds: '1800',
        },
        root,
      );
      const credentials = assumed.Credentials as Record<string, string>;
      assert.match(credentials.AccessKeyId!, /^ASIA/);
      assert.equal(credentials.Expiration, new Date(1_800_000_000_000 + 1800 * 1000).toISOString());
      assert.deepEqual(assumed.AssumedRoleUser, {
        AssumedRoleId: `${role.RoleId}:web`,
        Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/r/web`,
      });
      await rejects(
        sts.handle(
          'AssumeRole',
          {
            RoleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
            RoleSessionName: 'web',
            DurationSeconds: 'ten',
          },
          root,
        ),
        'ValidationError',
        400,
        /durationSeconds/,
      );
    } finally {
      await env.dispose();
    }
  });
}

for (const backend of backends) {
  test(
    `${backend.name}: service principals and role chaining`,
    { skip: backend.skip },
    async () => {
      const opened = await backend.create();
      try {
        const identity = await IdentityService.open({
          store: opened.store,
          accountId: ACCOUNT,
          rootKey: randomBytes(32),
        });
        const lambdaTrust = JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'lambda.amazonaws.com' },
              Action: 'sts:AssumeRole',
            },
          ],
        });
        await identity.createRole({ roleName: 'fn', assumeRolePolicyDocument: lambdaTrust });
        await identity.createRole({
          roleName: 'next',
          assumeRolePolicyDocument: trustPolicy(`arn:aws:iam::${ACCOUNT}:role/fn`),
          maxSessionDuration: 7200,
        });
        const roleArn = `arn:aws:iam::${ACCOUNT}:role/fn`;

        const session = await identity.assumeRole(
          identity.servicePrincipal('lambda.amazonaws.com'),
          {
            roleArn,
            roleSessionName: 'fn-1',
          },
        );
        await rejects(
          identity.assumeRole(identity.rootPrincipal(), { roleArn, roleSessionName: 'fn-1' }),
          'AccessDenied',
          403,
        );
        await rejects(
          identity.assumeRole(identity.servicePrincipal('ec2.amazonaws.com'), {
            roleArn,
            roleSessionName: 'fn-1',
          }),
          'AccessDenied',
          403,
        );

        const chained = (await identity.lookupAccessKey(session.accessKeyId))!.principal;
        await identity.assumeRole(chained, {
          roleArn: `arn:aws:iam::${ACCOUNT}:role/next`,
          roleSessionName: 'hop',
        });
        await rejects(
          identity.assumeRole(chained, {
            roleArn: `arn:aws:iam::${ACCOUNT}:role/next`,
            roleSessionName: 'hop',
            durationSeconds: 7200,
          }),
          'ValidationError',
          400,
          /role chaining/,
        );
      } finally {
        await opened.dispose();
      }
    },
  );

  test(`${backend.name}: random query input never crashes`, { skip: backend.skip }, async () => {
    const opened = await backend.create();
    try {
      const identity = await IdentityService.open({
        store: opened.store,
        accountId: ACCOUNT,
        rootKey: randomBytes(32),
      });
      const iam = new IamQueryService(identity);
      const sts = new StsQueryService(identity);
      const root = context(identity.rootPrincipal('AKIAROOT'));
      await identity.createUser('alice');
      await identity.createRole({ roleName: 'r', assumeRolePolicyDocument: trustPolicy(ACCOUNT) });
      const actions = [
        'CreateUser',
        'GetUser',
        'ListUsers',
        'DeleteUser',
        'CreateRole',
        'GetRole',
        'ListRoles',
        'DeleteRole',
        'PutRolePolicy',
        'GetRolePolicy',
        'DeleteRolePolicy',
        'ListRolePolicies',
        'PutUserPolicy',
        'GetUserPolicy',
        'DeleteUserPolicy',
        'ListUserPolicies',
        'CreateAccessKey',
        'DeleteAccessKey',
        'ListAccessKeys',
        'AssumeRole',
        'GetCallerIdentity',
      ];
      const value = fc.oneof(
        fc.constantFrom(
          'alice',
          'r',
          'p',
          `arn:aws:iam::${ACCOUNT}:role/r`,
          trustPolicy(ACCOUNT),
          '{}',
          '900',
          '-1',
          'x'.repeat(70),
        ),
        fc.string(),
      );
      const field = fc.constantFrom(
        'UserName',
        'RoleName',
        'PolicyName',
        'PolicyDocument',
        'AssumeRolePolicyDocument',
        'Path',
        'AccessKeyId',
        'MaxItems',
        'Marker',
        'RoleArn',
        'RoleSessionName',
        'DurationSeconds',
        'MaxSessionDuration',
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...actions),
          fc.dictionary(field, value, { maxKeys: 4 }),
          async (action, params) => {
            const service = action === 'AssumeRole' || action === 'GetCallerIdentity' ? sts : iam;
            try {
              await service.handle(action, params, root);
            } catch (error) {
              assert.ok(
                error instanceof ServiceError,
                `${action} ${JSON.stringify(params)} raised ${String(error)}`,
              );
            }
          },
        ),
        { numRuns: 1500 },
      );
    } finally {
      await opened.dispose();
    }
  });
}
