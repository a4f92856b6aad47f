import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateKeyCommand,
  EncryptCommand,
  KMSClient,
  ListKeysCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-kms';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../../helpers/vellum-instance.js';

const ACCOUNT = '000000000000';

function policy(...statements: unknown[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

describe('IAM and STS authorization through the AWS SDK', () => {
  let vellum: VellumInstance;
  let iam: IAMClient;

  /** Create a user with an inline policy and return a client signed with its access key. */
  async function userClient(name: string, document: string, path?: string) {
    await iam.send(new CreateUserCommand({ UserName: name, ...(path ? { Path: path } : {}) }));
    await iam.send(
      new PutUserPolicyCommand({ UserName: name, PolicyName: 'inline', PolicyDocument: document }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    return {
      accessKeyId: key.AccessKeyId!,
      secretAccessKey: key.SecretAccessKey!,
    };
  }

  async function denied(promise: Promise<unknown>, code = 'AccessDenied'): Promise<void> {
    await assert.rejects(promise, (error: Error) => {
      assert.equal(error.name, code);
      return true;
    });
  }

  before(async () => {
    vellum = await startVellumInstance();
    iam = new IAMClient(clientConfig(vellum.url, vellum.rootCredentials));
  });
  after(async () => {
    await vellum.dispose();
  });

  test('IAM actions: resource ARN has path', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'chief', Path: '/admins/' }));
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'break-glass',
        Path: '/admins/',
        AssumeRolePolicyDocument: policy({
          Effect: 'Allow',
          Principal: { AWS: ACCOUNT },
          Action: 'sts:AssumeRole',
        }),
      }),
    );
    const helpdesk = new IAMClient(
      clientConfig(
        vellum.url,
        await userClient(
          'helpdesk',
          policy(
            { Effect: 'Allow', Action: 'iam:*', Resource: '*' },
            {
              Effect: 'Deny',
              Action: 'iam:*',
              Resource: [
                `arn:aws:iam::${ACCOUNT}:user/admins/*`,
                `arn:aws:iam::${ACCOUNT}:role/admins/*`,
              ],
            },
          ),
        ),
      ),
    );
    const everything = policy({ Effect: 'Allow', Action: '*', Resource: '*' });
    await denied(
      helpdesk.send(
        new PutUserPolicyCommand({
          UserName: 'chief',
          PolicyName: 'x',
          PolicyDocument: everything,
        }),
      ),
    );
    await denied(helpdesk.send(new CreateAccessKeyCommand({ UserName: 'chief' })));
    await denied(
      helpdesk.send(
        new PutRolePolicyCommand({
          RoleName: 'break-glass',
          PolicyName: 'x',
          PolicyDocument: everything,
        }),
      ),
    );
    await denied(helpdesk.send(new CreateUserCommand({ UserName: 'deputy', Path: '/admins/' })));
    // Outside the denied path the allow applies.
    await helpdesk.send(new CreateUserCommand({ UserName: 'intern', Path: '/staff/' }));

    const auditor = new IAMClient(
      clientConfig(
        vellum.url,
        await userClient(
          'auditor',
          policy({
            Effect: 'Allow',
            Action: 'iam:GetUser',
            Resource: `arn:aws:iam::${ACCOUNT}:user/admins/*`,
          }),
        ),
      ),
    );
    const chief = await auditor.send(new GetUserCommand({ UserName: 'chief' }));
    assert.equal(chief.User?.Arn, `arn:aws:iam::${ACCOUNT}:user/admins/chief`);
    await denied(auditor.send(new GetUserCommand({ UserName: 'intern' })));
  });

  test('AssumeRole: own Deny beats trust', async () => {
    const denyAll = policy({ Effect: 'Deny', Action: 'sts:AssumeRole', Resource: '*' });
    const credentials = await userClient('grounded', denyAll);
    const trusted = await iam.send(
      new CreateRoleCommand({
        RoleName: 'names-grounded',
        AssumeRolePolicyDocument: policy({
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/grounded` },
          Action: 'sts:AssumeRole',
        }),
      }),
    );
    const sts = new STSClient(clientConfig(vellum.url, credentials));
    const assume = () =>
      sts.send(new AssumeRoleCommand({ RoleArn: trusted.Role!.Arn!, RoleSessionName: 'attempt' }));
    await denied(assume());

    // Without the Deny the trust policy alone lets the user in.
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'grounded',
        PolicyName: 'inline',
        PolicyDocument: policy({ Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }),
      }),
    );
    const assumed = await assume();
    assert.equal(
      assumed.AssumedRoleUser?.Arn,
      `arn:aws:sts::${ACCOUNT}:assumed-role/names-grounded/attempt`,
    );
  });

  test('AssumeRole: ExternalId and session name', async () => {
    const credentials = await userClient(
      'vendor',
      policy({ Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }),
    );
    const role = await iam.send(
      new CreateRoleCommand({
        RoleName: 'vendor-access',
        AssumeRolePolicyDocument: policy({
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/vendor` },
          Action: 'sts:AssumeRole',
          Condition: {
            StringEquals: { 'sts:ExternalId': 'tenant-42' },
            StringLike: { 'sts:RoleSessionName': 'vendor-*' },
          },
        }),
      }),
    );
    const sts = new STSClient(clientConfig(vellum.url, credentials));
    const assume = (RoleSessionName: string, ExternalId?: string) =>
      sts.send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn!, RoleSessionName, ExternalId }));

    const assumed = await assume('vendor-1', 'tenant-42');
    assert.equal(
      assumed.AssumedRoleUser?.Arn,
      `arn:aws:sts::${ACCOUNT}:assumed-role/vendor-access/vendor-1`,
    );
    await denied(assume('vendor-1', 'tenant-43'));
    await denied(assume('vendor-1'));
    await denied(assume('other-1', 'tenant-42'));
    await denied(assume('vendor-1', 'x'), 'ValidationError');
    await denied(assume('vendor-1', 'has space'), 'ValidationError');
  });

  test('policy variables: ${aws:username}', async () => {
    const selfService = policy(
      {
        Effect: 'Allow',
        Action: ['iam:ListAccessKeys', 'iam:GetUser'],
        Resource: 'arn:aws:iam::*:user/${aws:username}',
      },
      {
        Effect: 'Deny',
        Action: 'iam:GetUser',
        Resource: '*',
        Condition: { StringLike: { 'aws:username': 'locked-*' } },
      },
    );
    const ana = new IAMClient(clientConfig(vellum.url, await userClient('ana', selfService)));
    const own = await ana.send(new ListAccessKeysCommand({}));
    assert.equal(own.AccessKeyMetadata?.[0]?.UserName, 'ana');
    const user = await ana.send(new GetUserCommand({}));
    assert.equal(user.User?.UserName, 'ana');
    await denied(ana.send(new ListAccessKeysCommand({ UserName: 'helpdesk' })));

    const locked = new IAMClient(
      clientConfig(vellum.url, await userClient('locked-out', selfService)),
    );
    await locked.send(new ListAccessKeysCommand({}));
    await denied(locked.send(new GetUserCommand({})));
  });

  test('policy size quotas: LimitExceeded', async () => {
    // Build a policy of exactly `size` characters other than whitespace.
    const sized = (size: number, principal?: unknown) => {
      const statement: Record<string, unknown> = principal
        ? { Sid: '', Effect: 'Allow', Principal: principal, Action: 'sts:AssumeRole' }
        : { Sid: '', Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' };
      const base = policy(statement).length;
      statement.Sid = 'S'.repeat(size - base);
      return policy(statement);
    };
    const limited = async (promise: Promise<unknown>, pattern: RegExp) => {
      await assert.rejects(
        promise,
        (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(error.name, 'LimitExceededException');
          assert.equal(error.$metadata?.httpStatusCode, 409);
          assert.match(error.message, pattern);
          return true;
        },
      );
    };
    const putUserPolicy = (PolicyName: string, PolicyDocument: string) =>
      iam.send(new PutUserPolicyCommand({ UserName: 'sized', PolicyName, PolicyDocument }));

    await iam.send(new CreateUserCommand({ UserName: 'sized' }));
    await putUserPolicy('first', sized(1500));
    await limited(
      putUserPolicy('second', sized(549)),
      /^Maximum policy size of 2048 bytes exceeded for user sized\. .* 2049 characters/,
    );
    await putUserPolicy('second', sized(548));
    // Replacing a policy counts its new text only, and whitespace is free.
    await putUserPolicy('first', JSON.stringify(JSON.parse(sized(1500)), null, 8));
    await limited(putUserPolicy('first', sized(1501)), /exceeded for user sized/);

    const trust = (size: number) => sized(size, { AWS: ACCOUNT });
    await limited(
      iam.send(
        new CreateRoleCommand({ RoleName: 'sized-role', AssumeRolePolicyDocument: trust(2049) }),
      ),
      /^Cannot exceed quota for ACLSizePerRole: 2048\. The trust policy has 2049 characters/,
    );
    await iam.send(
      new CreateRoleCommand({ RoleName: 'sized-role', AssumeRolePolicyDocument: trust(2048) }),
    );
    await limited(
      iam.send(
        new UpdateAssumeRolePolicyCommand({ RoleName: 'sized-role', PolicyDocument: trust(2049) }),
      ),
      /ACLSizePerRole/,
    );
    const putRolePolicy = (PolicyDocument: string) =>
      iam.send(
        new PutRolePolicyCommand({ RoleName: 'sized-role', PolicyName: 'p', PolicyDocument }),
      );
    await putRolePolicy(sized(10240));
    await limited(
      putRolePolicy(sized(10241)),
      /^Maximum policy size of 10240 bytes exceeded for role sized-role\./,
    );
  });

  test('IAM policy rules: Sid and NotPrincipal', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'strict' }));
    const put = (statements: unknown[]) =>
      iam.send(
        new PutUserPolicyCommand({
          UserName: 'strict',
          PolicyName: 'p',
          PolicyDocument: policy(...statements),
        }),
      );
    const malformed = async (promise: Promise<unknown>, pattern: RegExp) => {
      await assert.rejects(promise, (error: Error) => {
        assert.equal(error.name, 'MalformedPolicyDocumentException');
        assert.match(error.message, pattern);
        return true;
      });
    };
    const statement = { Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' };

    await malformed(
      put([
        { Sid: 'Same', ...statement },
        { Sid: 'Same', ...statement },
      ]),
      /must be unique: "Same" appears again in statement 2/,
    );
    await malformed(put([{ Sid: 'with space', ...statement }]), /must be alpha-numeric/);
    await put([
      { Sid: 'One', ...statement },
      { Sid: '', ...statement },
      { Sid: '', ...statement },
    ]);

    await malformed(
      iam.send(
        new CreateRoleCommand({
          RoleName: 'not-principal',
          AssumeRolePolicyDocument: policy({
            Effect: 'Deny',
            NotPrincipal: { AWS: ACCOUNT },
            Action: 'sts:AssumeRole',
          }),
        }),
      ),
      /Trust policies do not support NotPrincipal \(statement 1\)/,
    );
  });

  test('aws:RequestedRegion in conditions', async () => {
    const inRegion = (region: string) =>
      policy({
        Effect: 'Allow',
        Action: ['iam:GetUser', 'kms:ListKeys'],
        Resource: '*',
        Condition: { StringEquals: { 'aws:RequestedRegion': region } },
      });
    const home = await userClient('home-region', inRegion('us-east-1'));
    await new IAMClient(clientConfig(vellum.url, home)).send(new GetUserCommand({}));
    await new KMSClient(clientConfig(vellum.url, home)).send(new ListKeysCommand({}));

    const away = await userClient('away-region', inRegion('eu-west-1'));
    await denied(new IAMClient(clientConfig(vellum.url, away)).send(new GetUserCommand({})));
    await denied(
      new KMSClient(clientConfig(vellum.url, away)).send(new ListKeysCommand({})),
      'AccessDeniedException',
    );
  });

  test('KMS tag conditions: ResourceTag, RequestTag', async () => {
    const rootKms = new KMSClient(clientConfig(vellum.url, vellum.rootCredentials));
    const created = (Tags?: Array<{ TagKey: string; TagValue: string }>) =>
      rootKms.send(new CreateKeyCommand({ Tags })).then((out) => out.KeyMetadata!.KeyId!);
    const prod = await created([{ TagKey: 'env', TagValue: 'prod' }]);
    const dev = await created([{ TagKey: 'env', TagValue: 'dev' }]);

    const kms = new KMSClient(
      clientConfig(
        vellum.url,
        await userClient(
          'tagged-dev',
          policy(
            { Effect: 'Allow', Action: 'kms:*', Resource: '*' },
            {
              Effect: 'Deny',
              Action: 'kms:Encrypt',
              Resource: '*',
              Condition: { StringEquals: { 'aws:ResourceTag/env': 'prod' } },
            },
            {
              Effect: 'Deny',
              Action: ['kms:TagResource', 'kms:CreateKey'],
              Resource: '*',
              Condition: { StringEquals: { 'aws:RequestTag/env': 'prod' } },
            },
            {
              Effect: 'Deny',
              Action: 'kms:UntagResource',
              Resource: '*',
              Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': 'env' } },
            },
          ),
        ),
      ),
    );
    const encrypt = (KeyId: string) =>
      kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }));
    const prodTag = [{ TagKey: 'env', TagValue: 'prod' }];

    await encrypt(dev);
    await denied(encrypt(prod), 'AccessDeniedException');
    await denied(
      kms.send(new TagResourceCommand({ KeyId: dev, Tags: prodTag })),
      'AccessDeniedException',
    );
    await denied(kms.send(new CreateKeyCommand({ Tags: prodTag })), 'AccessDeniedException');
    await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'env', TagValue: 'dev' }] }));
    await denied(
      kms.send(new UntagResourceCommand({ KeyId: prod, TagKeys: ['env'] })),
      'AccessDeniedException',
    );
    await kms.send(new UntagResourceCommand({ KeyId: dev, TagKeys: ['team'] }));
  });
});
