import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
  type Parameter,
} from '@aws-sdk/client-cloudformation';
import {
  GetRoleCommand,
  IAMClient,
  ListRolePoliciesCommand,
  NoSuchEntityException,
} from '@aws-sdk/client-iam';
import {
  DescribeKeyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
} from '@aws-sdk/client-kms';
import {
  DescribeLedgerCommand,
  ListTagsForResourceCommand,
  QLDBClient,
} from '@aws-sdk/client-qldb';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../../helpers/vellum-instance.js';

const ACCOUNT = '000000000000';
const NAMED_IAM = ['CAPABILITY_NAMED_IAM' as const];

describe('CloudFormation stacks: updates, intrinsic functions and template checks', () => {
  let vellum: VellumInstance;
  let cfn: CloudFormationClient;
  let iam: IAMClient;
  let kms: KMSClient;
  let qldb: QLDBClient;

  before(async () => {
    vellum = await startVellumInstance();
    const config = clientConfig(vellum.url, vellum.rootCredentials);
    cfn = new CloudFormationClient(config);
    iam = new IAMClient(config);
    kms = new KMSClient(config);
    qldb = new QLDBClient(config);
  });
  after(async () => {
    await vellum.dispose();
  });

  /** Wait until the stack's operation ends; return its status and reason. */
  async function settled(name: string): Promise<{ status: string; reason?: string }> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const [stack] = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks!;
      if (!stack!.StackStatus!.endsWith('_IN_PROGRESS')) {
        return { status: stack!.StackStatus!, reason: stack!.StackStatusReason };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`stack ${name} did not settle`);
  }

  async function outputs(name: string): Promise<Record<string, string>> {
    const [stack] = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks!;
    return Object.fromEntries(stack!.Outputs!.map((o) => [o.OutputKey!, o.OutputValue!]));
  }

  const trust = (service: string) => ({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
  const policy = (action: string) => ({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }],
  });

  /** The template of the update test, as JSON; `changed` gives the second version. */
  function shop(changed: boolean): string {
    const resources: Record<string, unknown> = {
      Key: {
        Type: 'AWS::KMS::Key',
        Properties: {
          Description: { 'Fn::Sub': ['${Shop} key ${!Literal}', { Shop: { Ref: 'Shop' } }] },
          EnableKeyRotation: !changed,
        },
      },
      Writer: {
        Type: 'AWS::IAM::Role',
        Properties: {
          RoleName: changed ? 'shop-writer-2' : 'shop-writer',
          AssumeRolePolicyDocument: trust('lambda.amazonaws.com'),
          Policies: [{ PolicyName: 'send', PolicyDocument: policy('qldb:SendCommand') }],
        },
      },
      Reader: {
        Type: 'AWS::IAM::Role',
        Properties: {
          RoleName: 'shop-reader',
          AssumeRolePolicyDocument: trust(changed ? 'ec2.amazonaws.com' : 'lambda.amazonaws.com'),
          Policies: [
            { PolicyName: 'send', PolicyDocument: policy('qldb:SendCommand') },
            ...(changed
              ? []
              : [{ PolicyName: 'select', PolicyDocument: policy('qldb:PartiQLSelect') }]),
          ],
        },
      },
      Orders: {
        Type: 'AWS::QLDB::Ledger',
        Properties: {
          Name: { 'Fn::Join': ['-', [{ Ref: 'Shop' }, 'orders']] },
          PermissionsMode: changed ? 'ALLOW_ALL' : 'STANDARD',
          DeletionProtection: { Ref: 'Protect' },
          ...(changed ? {} : { KmsKey: { 'Fn::GetAtt': ['Key', 'Arn'] } }),
          Tags: changed ? [{ Key: 'team', Value: 'b' }] : [{ Key: 'stage', Value: 'a' }],
        },
      },
    };
    if (!changed) {
      resources.Audit = {
        Type: 'AWS::QLDB::Ledger',
        Properties: { Name: 'shop-audit', PermissionsMode: 'ALLOW_ALL', DeletionProtection: false },
      };
      resources.Alias = {
        Type: 'AWS::KMS::Alias',
        Properties: { AliasName: 'alias/shop', TargetKeyId: { Ref: 'Key' } },
      };
    }
    return JSON.stringify({
      Parameters: {
        Shop: { Type: 'String', Default: 'shop' },
        Protect: { Type: 'String', AllowedValues: ['true', 'false'], Default: 'false' },
      },
      Resources: resources,
      Outputs: {
        Description: { Value: { 'Fn::Sub': '${Shop}: ${Key.Arn}' } },
        ReaderId: { Value: { 'Fn::GetAtt': ['Reader', 'RoleId'] } },
      },
    });
  }

  test('an update makes the server match the template, and removal leaves nothing', async () => {
    await assert.rejects(
      cfn.send(new CreateStackCommand({ StackName: 'shop', TemplateBody: shop(false) })),
      /Requires capabilities : \[CAPABILITY_NAMED_IAM\]/,
    );
    await cfn.send(
      new CreateStackCommand({
        StackName: 'shop',
        TemplateBody: shop(false),
        Capabilities: NAMED_IAM,
      }),
    );
    assert.deepEqual(await settled('shop'), { status: 'CREATE_COMPLETE', reason: undefined });
    const created = await outputs('shop');
    const keyArn = created.Description!.replace(/^shop: /, '');
    const keyId = keyArn.split('/')[1]!;
    assert.equal(
      (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Description,
      'shop key ${Literal}',
    );
    const reader = (await iam.send(new GetRoleCommand({ RoleName: 'shop-reader' }))).Role!;
    assert.equal(created.ReaderId, reader.RoleId);
    assert.match(reader.RoleId!, /^AROA/);

    await cfn.send(
      new UpdateStackCommand({
        StackName: 'shop',
        TemplateBody: shop(true),
        Capabilities: NAMED_IAM,
      }),
    );
    assert.deepEqual(await settled('shop'), { status: 'UPDATE_COMPLETE', reason: undefined });

    // Dropped resources are gone: the audit ledger and the alias.
    await assert.rejects(
      qldb.send(new DescribeLedgerCommand({ Name: 'shop-audit' })),
      /ResourceNotFoundException|does not exist/,
    );
    const aliases = (await kms.send(new ListAliasesCommand({}))).Aliases ?? [];
    assert.ok(!aliases.some((alias) => alias.AliasName === 'alias/shop'));
    // A renamed role replaces the old one.
    await iam.send(new GetRoleCommand({ RoleName: 'shop-writer-2' }));
    await assert.rejects(
      iam.send(new GetRoleCommand({ RoleName: 'shop-writer' })),
      NoSuchEntityException,
    );
    // Changed properties are applied.
    const updatedReader = (await iam.send(new GetRoleCommand({ RoleName: 'shop-reader' }))).Role!;
    assert.match(decodeURIComponent(updatedReader.AssumeRolePolicyDocument!), /ec2\.amazonaws/);
    assert.deepEqual(
      (await iam.send(new ListRolePoliciesCommand({ RoleName: 'shop-reader' }))).PolicyNames,
      ['send'],
    );
    const rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.equal(rotation.KeyRotationEnabled, false);
    let ledger = await qldb.send(new DescribeLedgerCommand({ Name: 'shop-orders' }));
    for (let attempt = 0; ledger.EncryptionDescription !== undefined && attempt < 100; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ledger = await qldb.send(new DescribeLedgerCommand({ Name: 'shop-orders' }));
    }
    assert.equal(ledger.PermissionsMode, 'ALLOW_ALL');
    assert.equal(ledger.EncryptionDescription, undefined, 'back on the AWS owned key');
    const tags = await qldb.send(new ListTagsForResourceCommand({ ResourceArn: ledger.Arn }));
    assert.deepEqual(tags.Tags, { team: 'b' });

    await cfn.send(new DeleteStackCommand({ StackName: 'shop' }));
    for (let attempt = 0; attempt < 200; attempt++) {
      const found = await cfn.send(new DescribeStacksCommand({ StackName: 'shop' })).then(
        (reply) => reply.Stacks![0]!.StackStatus,
        () => 'gone',
      );
      if (found === 'gone') break;
      assert.notEqual(found, 'DELETE_FAILED');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const name of ['shop-writer-2', 'shop-reader']) {
      await assert.rejects(iam.send(new GetRoleCommand({ RoleName: name })), NoSuchEntityException);
    }
    await assert.rejects(
      qldb.send(new DescribeLedgerCommand({ Name: 'shop-orders' })),
      /ResourceNotFoundException|does not exist/,
    );
    const key = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    assert.equal(key.KeyMetadata!.KeyState, 'PendingDeletion');
  });

  test('UsePreviousValue keeps a parameter, and parameter checks apply', async () => {
    const template = JSON.stringify({
      Parameters: {
        Text: { Type: 'String' },
        Size: { Type: 'Number', Default: '3' },
        Mode: { Type: 'String', AllowedValues: ['ALLOW_ALL', 'STANDARD'], Default: 'ALLOW_ALL' },
      },
      Resources: {
        Key: { Type: 'AWS::KMS::Key', Properties: { Description: { Ref: 'Text' } } },
      },
      Outputs: { Size: { Value: { 'Fn::Sub': '${Size} ${Mode}' } } },
    });
    const create = (parameters: Parameter[]) =>
      cfn.send(
        new CreateStackCommand({
          StackName: 'params',
          TemplateBody: template,
          Parameters: parameters,
        }),
      );
    for (const size of ['abc', '0x10', ' 8']) {
      await assert.rejects(
        create([
          { ParameterKey: 'Text', ParameterValue: 'a' },
          { ParameterKey: 'Size', ParameterValue: size },
        ]),
        new RegExp(`Parameter 'Size' must be a number, got '${size}'`),
      );
    }
    await assert.rejects(
      create([
        { ParameterKey: 'Text', ParameterValue: 'a' },
        { ParameterKey: 'Mode', ParameterValue: 'NONE' },
      ]),
      /Parameter 'Mode' must be one of AllowedValues \(ALLOW_ALL, STANDARD\), got 'NONE'/,
    );

    await create([{ ParameterKey: 'Text', ParameterValue: 'first' }]);
    assert.equal((await settled('params')).status, 'CREATE_COMPLETE');
    await assert.rejects(
      cfn.send(
        new UpdateStackCommand({
          StackName: 'params',
          TemplateBody: template,
          Parameters: [{ ParameterKey: 'Text', UsePreviousValue: true, ParameterValue: 'x' }],
        }),
      ),
      /Cannot specify usePreviousValue as true and non empty value/,
    );
    await cfn.send(
      new UpdateStackCommand({
        StackName: 'params',
        TemplateBody: template,
        Parameters: [
          { ParameterKey: 'Text', UsePreviousValue: true },
          { ParameterKey: 'Size', ParameterValue: '5' },
        ],
      }),
    );
    assert.equal((await settled('params')).status, 'UPDATE_COMPLETE');

    const [stack] = (await cfn.send(new DescribeStacksCommand({ StackName: 'params' }))).Stacks!;
    const values = Object.fromEntries(
      stack!.Parameters!.map((p) => [p.ParameterKey!, p.ParameterValue!]),
    );
    assert.deepEqual(values, { Text: 'first', Size: '5', Mode: 'ALLOW_ALL' });
    assert.equal((await outputs('params')).Size, '5 ALLOW_ALL');
  });

  test('templates with what Vellum cannot do are refused before anything is made', async () => {
    const ledger = (properties: Record<string, unknown>) =>
      JSON.stringify({ Resources: { L: { Type: 'AWS::QLDB::Ledger', Properties: properties } } });
    const cases: Array<[string, string, RegExp]> = [
      [
        'a misspelt property',
        ledger({ Name: 'typo', PermissionsMode: 'ALLOW_ALL', DeletionProtecton: false }),
        /resource L \(AWS::QLDB::Ledger\) has the property DeletionProtecton, which Vellum does not know; its properties are Name, PermissionsMode, DeletionProtection, KmsKey, Tags/,
      ],
      [
        'a missing required property',
        ledger({ Name: 'nomode' }),
        /resource L \(AWS::QLDB::Ledger\) needs the property PermissionsMode/,
      ],
      [
        'an intrinsic function Vellum does not resolve',
        ledger({ Name: { 'Fn::Select': [0, ['a']] }, PermissionsMode: 'ALLOW_ALL' }),
        /Fn::Select in resource L is not supported; use Ref, Fn::GetAtt, Fn::Sub and Fn::Join/,
      ],
      [
        'a YAML short form Vellum does not read',
        'Resources:\n  L:\n    Type: AWS::QLDB::Ledger\n    Properties:\n      Name: !Select [0, [a]]\n      PermissionsMode: ALLOW_ALL\n',
        /Unresolved tag: !Select .*; the short forms Vellum reads are !Ref, !GetAtt, !Sub and !Join/,
      ],
      [
        'a Conditions section',
        JSON.stringify({
          Conditions: { Prod: { 'Fn::Equals': ['a', 'b'] } },
          Resources: { K: { Type: 'AWS::KMS::Key', Condition: 'Prod', Properties: {} } },
        }),
        /the section Conditions is not supported; Vellum reads AWSTemplateFormatVersion, Description, Metadata, Parameters, Resources, Outputs/,
      ],
      [
        'a DeletionPolicy that keeps the resource',
        JSON.stringify({
          Resources: { K: { Type: 'AWS::KMS::Key', DeletionPolicy: 'Retain', Properties: {} } },
        }),
        /resource K has DeletionPolicy Retain, which Vellum does not support/,
      ],
      [
        'DependsOn naming a parameter',
        JSON.stringify({
          Parameters: { P: { Type: 'String', Default: 'x' } },
          Resources: {
            K: { Type: 'AWS::KMS::Key', DependsOn: 'P', Properties: {} },
          },
        }),
        /unresolved resource dependency \[P\] in K/,
      ],
    ];
    for (const [what, body, message] of cases) {
      await assert.rejects(
        cfn.send(new CreateStackCommand({ StackName: 'refused', TemplateBody: body })),
        (error: Error) => {
          assert.match(error.message, message, what);
          return true;
        },
      );
      await assert.rejects(
        cfn.send(new DescribeStacksCommand({ StackName: 'refused' })),
        /does not exist/,
        `${what} left a stack`,
      );
    }
  });

  test('an export name belongs to one stack', async () => {
    const exporting = (exportName: unknown) =>
      JSON.stringify({
        Resources: { K: { Type: 'AWS::KMS::Key', Properties: {} } },
        Outputs: { Id: { Value: { Ref: 'K' }, Export: { Name: exportName } } },
      });
    await cfn.send(
      new CreateStackCommand({ StackName: 'exports-a', TemplateBody: exporting('shared-key') }),
    );
    assert.equal((await settled('exports-a')).status, 'CREATE_COMPLETE');
    const keys = (await kms.send(new ListKeysCommand({}))).Keys!.length;

    // A name known from the template alone is refused before anything is made.
    await assert.rejects(
      cfn.send(
        new CreateStackCommand({ StackName: 'exports-b', TemplateBody: exporting('shared-key') }),
      ),
      /Export with name shared-key is already exported by stack exports-a/,
    );
    await assert.rejects(
      cfn.send(new DescribeStacksCommand({ StackName: 'exports-b' })),
      /does not exist/,
    );
    assert.equal((await kms.send(new ListKeysCommand({}))).Keys!.length, keys);

    // A name that needs a resource fails the stack once the resource exists:
    // a role's Ref is its name.
    const byResource = JSON.stringify({
      Resources: {
        R: {
          Type: 'AWS::IAM::Role',
          Properties: {
            RoleName: 'shared-key',
            AssumeRolePolicyDocument: trust('lambda.amazonaws.com'),
          },
        },
      },
      Outputs: { Name: { Value: 'x', Export: { Name: { Ref: 'R' } } } },
    });
    await cfn.send(
      new CreateStackCommand({
        StackName: 'exports-c',
        TemplateBody: byResource,
        Capabilities: NAMED_IAM,
      }),
    );
    const failed = await settled('exports-c');
    assert.equal(failed.status, 'CREATE_FAILED');
    assert.match(
      failed.reason!,
      /Export with name shared-key is already exported by stack exports-a/,
    );
    await cfn.send(new DeleteStackCommand({ StackName: 'exports-c' }));
    await settled('exports-c').catch(() => undefined);
    // A resource name another stack owns fails the stack, naming the owner.
    const role = JSON.stringify({
      Resources: {
        R: {
          Type: 'AWS::IAM::Role',
          Properties: {
            RoleName: 'owned-role',
            AssumeRolePolicyDocument: trust('lambda.amazonaws.com'),
          },
        },
      },
    });
    for (const name of ['owner', 'intruder']) {
      await cfn.send(
        new CreateStackCommand({ StackName: name, TemplateBody: role, Capabilities: NAMED_IAM }),
      );
      await settled(name);
    }
    assert.equal((await settled('owner')).status, 'CREATE_COMPLETE');
    const intruder = await settled('intruder');
    assert.equal(intruder.status, 'CREATE_FAILED');
    assert.match(
      intruder.reason!,
      /already exists and belongs to stack owner; remove that stack first/,
    );
    for (const name of ['intruder', 'owner']) {
      await cfn.send(new DeleteStackCommand({ StackName: name }));
      await settled(name).catch(() => undefined);
    }

    const twice = JSON.stringify({
      Resources: { K: { Type: 'AWS::KMS::Key', Properties: {} } },
      Outputs: {
        One: { Value: 'a', Export: { Name: 'twice' } },
        Two: { Value: 'b', Export: { Name: 'twice' } },
      },
    });
    await assert.rejects(
      cfn.send(new CreateStackCommand({ StackName: 'exports-d', TemplateBody: twice })),
      /export the name twice twice/,
    );
    // Once the owner is deleted, the name is free.
    await cfn.send(new DeleteStackCommand({ StackName: 'exports-a' }));
    await settled('exports-a').catch(() => undefined);
    await cfn.send(
      new CreateStackCommand({ StackName: 'exports-b', TemplateBody: exporting('shared-key') }),
    );
    assert.equal((await settled('exports-b')).status, 'CREATE_COMPLETE');
    await cfn.send(new DeleteStackCommand({ StackName: 'exports-b' }));
  });

  test('a value found bad while deploying makes nothing, and a deploy resumes', async () => {
    const keyCount = async () => (await kms.send(new ListKeysCommand({}))).Keys!.length;
    const before = await keyCount();
    const key = (properties: Record<string, unknown>) =>
      JSON.stringify({
        Parameters: { Rotate: { Type: 'String', Default: 'maybe' } },
        Resources: { K: { Type: 'AWS::KMS::Key', Properties: properties } },
      });
    await cfn.send(
      new CreateStackCommand({
        StackName: 'badkey',
        TemplateBody: key({ EnableKeyRotation: { Ref: 'Rotate' } }),
      }),
    );
    const failed = await settled('badkey');
    assert.equal(failed.status, 'CREATE_FAILED');
    assert.match(failed.reason!, /property EnableKeyRotation must be true or false, got "maybe"/);

    await cfn.send(
      new UpdateStackCommand({
        StackName: 'badkey',
        TemplateBody: key({ PendingWindowInDays: 31 }),
      }),
    );
    assert.match(
      (await settled('badkey')).reason!,
      /PendingWindowInDays must be a whole number of days from 7 to 30, got 31/,
    );
    assert.equal(await keyCount(), before, 'no key was made');

    await cfn.send(
      new UpdateStackCommand({
        StackName: 'badkey',
        TemplateBody: key({ PendingWindowInDays: 7 }),
      }),
    );
    assert.equal((await settled('badkey')).status, 'UPDATE_COMPLETE');
    assert.equal(await keyCount(), before + 1);
  });

  test('an update that failed to replace a ledger can be taken back', async () => {
    const template = (name: string) =>
      JSON.stringify({
        Resources: {
          L: {
            Type: 'AWS::QLDB::Ledger',
            Properties: { Name: name, PermissionsMode: 'ALLOW_ALL', DeletionProtection: true },
          },
        },
      });
    await cfn.send(new CreateStackCommand({ StackName: 'keep', TemplateBody: template('keep-a') }));
    assert.equal((await settled('keep')).status, 'CREATE_COMPLETE');
    // The old ledger cannot go while deletion protection is on.
    await cfn.send(new UpdateStackCommand({ StackName: 'keep', TemplateBody: template('keep-b') }));
    const failed = await settled('keep');
    assert.equal(failed.status, 'UPDATE_FAILED');
    assert.match(failed.reason!, /deletion protection/i);
    // Naming the old ledger again takes it back; the new one is then retired.
    await cfn.send(new UpdateStackCommand({ StackName: 'keep', TemplateBody: template('keep-a') }));
    const back = await settled('keep');
    assert.equal(back.status, 'UPDATE_FAILED', 'keep-b is protected too');
    assert.match(back.reason!, /keep-b/);
    await qldb.send(new DescribeLedgerCommand({ Name: 'keep-a' }));
  });

  test('YAML short forms: !Join, !GetAtt as a list, !Sub with variables', async () => {
    const body = [
      'Parameters:',
      '  Stage: { Type: String, Default: dev }',
      'Resources:',
      '  Key:',
      '    Type: AWS::KMS::Key',
      '    Properties:',
      "      Description: !Join ['-', [key, !Ref Stage]]",
      '      EnableKeyRotation: !Ref Rotate',
      'Outputs:',
      '  Arn: { Value: !GetAtt [Key, Arn] }',
      "  Text: { Value: !Sub ['${Name} in ${AWS::Region}', { Name: !Ref Stage }] }",
    ]
      .join('\n')
      .replace('      EnableKeyRotation: !Ref Rotate\n', '      EnableKeyRotation: true\n');
    await cfn.send(new CreateStackCommand({ StackName: 'short', TemplateBody: body }));
    assert.equal((await settled('short')).status, 'CREATE_COMPLETE');
    const values = await outputs('short');
    assert.match(values.Arn!, new RegExp(`^arn:aws:kms:us-east-1:${ACCOUNT}:key/`));
    assert.equal(values.Text, 'dev in us-east-1');
    const keyId = values.Arn!.split('/')[1]!;
    const key = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    assert.equal(key.KeyMetadata!.Description, 'key-dev');
  });
});
