import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
  GetRoleCommand,
  IAMClient,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { sendSigned } from '../../helpers/signed-request.js';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../../helpers/vellum-instance.js';

const TRUST_ROOT = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::000000000000:root' },
      Action: 'sts:AssumeRole',
    },
  ],
});

describe('STS and IAM through the AWS SDK', () => {
  let vellum: VellumInstance;
  let root: { accessKeyId: string; secretAccessKey: string };

  before(async () => {
    vellum = await startVellumInstance();
    root = vellum.rootCredentials;
  });
  after(async () => {
    await vellum.dispose();
  });

  test('GetCallerIdentity as root', async () => {
    const sts = new STSClient(clientConfig(vellum.url, root));
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, 'arn:aws:iam::000000000000:root');
    assert.equal(identity.Account, '000000000000');
    assert.match(identity.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
  });

  test('AssumeRole gives an assumed-role identity', async () => {
    const iam = new IAMClient(clientConfig(vellum.url, root));
    const created = await iam.send(
      new CreateRoleCommand({ RoleName: 'record-service', AssumeRolePolicyDocument: TRUST_ROOT }),
    );
    assert.equal(created.Role?.Arn, 'arn:aws:iam::000000000000:role/record-service');
    assert.ok(created.Role?.CreateDate instanceof Date);

    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'record-service',
        PolicyName: 'read',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'iam:GetRole', Resource: '*' }],
        }),
      }),
    );

    const sts = new STSClient(clientConfig(vellum.url, root));
    const assumed = await sts.send(
      new AssumeRoleCommand({
        RoleArn: created.Role!.Arn,
        RoleSessionName: 'session-1',
        DurationSeconds: 900,
      }),
    );
    const credentials = assumed.Credentials!;
    assert.match(credentials.AccessKeyId!, /^ASIA/);
    assert.ok(credentials.SessionToken);
    assert.ok(credentials.Expiration instanceof Date);
    assert.equal(
      assumed.AssumedRoleUser?.Arn,
      'arn:aws:sts::000000000000:assumed-role/record-service/session-1',
    );

    const temporary = {
      accessKeyId: credentials.AccessKeyId!,
      secretAccessKey: credentials.SecretAccessKey!,
      sessionToken: credentials.SessionToken!,
    };
    const asRole = new STSClient(clientConfig(vellum.url, temporary));
    const identity = await asRole.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, 'arn:aws:sts::000000000000:assumed-role/record-service/session-1');

    const roleIam = new IAMClient(clientConfig(vellum.url, temporary));
    const role = await roleIam.send(new GetRoleCommand({ RoleName: 'record-service' }));
    assert.equal(role.Role?.RoleName, 'record-service');

    const withoutToken = new STSClient(
      clientConfig(vellum.url, {
        accessKeyId: temporary.accessKeyId,
        secretAccessKey: temporary.secretAccessKey,
      }),
    );
    await assert.rejects(withoutToken.send(new GetCallerIdentityCommand({})), (error: Error) => {
      assert.equal(error.name, 'InvalidClientTokenId');
      assert.equal(error.message, 'The security token included in the request is invalid.');
      return true;
    });
  });

  test('rejected signature creates nothing', async () => {
    const forged = new IAMClient(
      clientConfig(vellum.url, { accessKeyId: root.accessKeyId, secretAccessKey: 'wrong-secret' }),
    );
    await assert.rejects(
      forged.send(
        new CreateRoleCommand({ RoleName: 'forged', AssumeRolePolicyDocument: TRUST_ROOT }),
      ),
      (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(error.name, 'SignatureDoesNotMatch');
        assert.equal(error.$metadata?.httpStatusCode, 403);
        return true;
      },
    );

    const iam = new IAMClient(clientConfig(vellum.url, root));
    await assert.rejects(
      iam.send(new GetRoleCommand({ RoleName: 'forged' })),
      (error: unknown) => error instanceof NoSuchEntityException,
    );
  });

  test('deleted access key is rejected', async () => {
    const iam = new IAMClient(clientConfig(vellum.url, root));
    await iam.send(new CreateUserCommand({ UserName: 'short-lived' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'short-lived' })))
      .AccessKey!;
    const sts = new STSClient(
      clientConfig(vellum.url, {
        accessKeyId: key.AccessKeyId!,
        secretAccessKey: key.SecretAccessKey!,
      }),
    );
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, 'arn:aws:iam::000000000000:user/short-lived');

    await iam.send(
      new DeleteAccessKeyCommand({ UserName: 'short-lived', AccessKeyId: key.AccessKeyId! }),
    );
    await assert.rejects(sts.send(new GetCallerIdentityCommand({})), (error: Error) => {
      assert.equal(error.name, 'InvalidClientTokenId');
      return true;
    });
  });

  test('inactive access key is rejected until reactivated', async () => {
    const iam = new IAMClient(clientConfig(vellum.url, root));
    await iam.send(new CreateUserCommand({ UserName: 'paused' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'paused' }))).AccessKey!;
    const sts = new STSClient(
      clientConfig(vellum.url, {
        accessKeyId: key.AccessKeyId!,
        secretAccessKey: key.SecretAccessKey!,
      }),
    );
    await sts.send(new GetCallerIdentityCommand({}));
    const update = (Status: 'Active' | 'Inactive') =>
      iam.send(
        new UpdateAccessKeyCommand({ UserName: 'paused', AccessKeyId: key.AccessKeyId!, Status }),
      );

    await update('Inactive');
    await assert.rejects(sts.send(new GetCallerIdentityCommand({})), (error: Error) => {
      assert.equal(error.name, 'InvalidClientTokenId');
      return true;
    });
    const listed = await iam.send(new ListAccessKeysCommand({ UserName: 'paused' }));
    assert.equal(listed.AccessKeyMetadata![0]!.Status, 'Inactive');

    await update('Active');
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, 'arn:aws:iam::000000000000:user/paused');

    await assert.rejects(
      iam.send(
        new UpdateAccessKeyCommand({
          UserName: 'paused',
          AccessKeyId: key.AccessKeyId!,
          Status: 'Paused' as 'Active',
        }),
      ),
      (error: Error) => {
        assert.equal(error.name, 'ValidationError');
        assert.match(error.message, /Value 'Paused' at 'status'.*\[Active, Inactive\]/);
        return true;
      },
    );
    await assert.rejects(
      iam.send(
        new UpdateAccessKeyCommand({
          UserName: 'paused',
          AccessKeyId: 'AKIA0000000000000000',
          Status: 'Inactive',
        }),
      ),
      (error: unknown) => error instanceof NoSuchEntityException,
    );
  });

  test('unknown query action names the supported ones', async () => {
    const response = await sendSigned(
      vellum.url,
      {
        path: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: 'Action=ListRoles&Version=2011-06-15',
      },
      { credentials: root, service: 'sts', payloadHash: false },
    );
    assert.equal(response.status, 400);
    assert.match(response.body, /<Code>InvalidAction<\/Code>/);
    assert.match(response.body, /The action ListRoles is not valid for this endpoint/);
    assert.match(response.body, /xmlns="https:\/\/sts.amazonaws.com\/doc\/2011-06-15\/"/);

    const unsigned = await fetch(vellum.url, { method: 'GET' });
    assert.equal(unsigned.status, 403);
    await unsigned.arrayBuffer();
  });
});
