import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../helpers/vellum-instance.js';

const ACCOUNT = '000000000000';
const LEDGER_ARN = `arn:aws:qldb:us-east-1:${ACCOUNT}:ledger/standard`;

describe('STANDARD permissions mode with the reference roles', () => {
  let vellum: VellumInstance;
  const drivers: Record<string, QldbDriver> = {};
  let droppedTableId: string;

  before(async () => {
    vellum = await startVellumInstance();
    const config = clientConfig(vellum.url, vellum.rootCredentials);
    await new QLDBClient(config).send(
      new CreateLedgerCommand({
        Name: 'standard',
        PermissionsMode: 'STANDARD',
        DeletionProtection: false,
      }),
    );
    const admin = new QldbDriver('standard', { ...config, maxAttempts: undefined });
    await admin.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      await txn.execute('CREATE INDEX ON Test (id)');
      await txn.execute('INSERT INTO Test ?', { id: 1 });
    });
    await admin.executeLambda((txn) => txn.execute("UPDATE Test SET secret = 'gone' WHERE id = 1"));
    droppedTableId = await admin.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Dropped');
      const result = await txn.execute('DROP TABLE Dropped');
      return result.getResultList()[0]!.get('tableId')!.stringValue()!;
    });
    admin.close();

    const iam = new IAMClient(config);
    const sts = new STSClient(config);
    const trust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: 'sts:AssumeRole',
        },
      ],
    });
    for (const [role, action] of [
      ['create', 'qldb:PartiQLInsert'],
      ['get', 'qldb:PartiQLSelect'],
      ['redact', ['qldb:PartiQLRedact', 'qldb:PartiQLHistoryFunction']],
    ] as const) {
      await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: trust }));
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: role,
          PolicyName: 'ledger',
          PolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: action, Resource: `${LEDGER_ARN}/*` },
              { Effect: 'Allow', Action: 'qldb:SendCommand', Resource: LEDGER_ARN },
            ],
          }),
        }),
      );
      const assumed = await sts.send(
        new AssumeRoleCommand({
          RoleArn: `arn:aws:iam::${ACCOUNT}:role/${role}`,
          RoleSessionName: role,
        }),
      );
      const credentials = {
        accessKeyId: assumed.Credentials!.AccessKeyId!,
        secretAccessKey: assumed.Credentials!.SecretAccessKey!,
        sessionToken: assumed.Credentials!.SessionToken!,
      };
      drivers[role] = new QldbDriver(
        'standard',
        { ...clientConfig(vellum.url, credentials), maxAttempts: undefined },
        {},
        4,
        new RetryConfig(0),
      );
    }
  });
  after(async () => {
    for (const driver of Object.values(drivers)) driver.close();
    await vellum.dispose();
  });

  const denied = (error: Error) => {
    assert.equal(error.name, 'AccessDeniedException');
    assert.match(
      error.message,
      /is not authorized to perform: qldb:PartiQL\w+ on resource: arn:aws:qldb:/,
    );
    return true;
  };

  test('the create role inserts but cannot select', async () => {
    await drivers.create!.executeLambda((txn) => txn.execute('INSERT INTO Test ?', { id: 2 }));
    await assert.rejects(
      drivers.create!.executeLambda((txn) => txn.execute('SELECT * FROM Test WHERE id = 1')),
      denied,
    );
  });

  test('the get role selects but cannot insert, update or delete', async () => {
    const rows = await drivers.get!.executeLambda(async (txn) =>
      (await txn.execute('SELECT * FROM Test WHERE id = ?', 2)).getResultList(),
    );
    assert.equal(rows.length, 1);
    for (const statement of [
      "INSERT INTO Test VALUE {'id': 3}",
      'UPDATE Test SET x = 1',
      'DELETE FROM Test',
      'CREATE TABLE Other',
    ]) {
      await assert.rejects(
        drivers.get!.executeLambda((txn) => txn.execute(statement)),
        denied,
      );
    }
    const count = await drivers.get!.executeLambda(async (txn) =>
      (await txn.execute('SELECT COUNT(*) AS n FROM Test')).getResultList(),
    );
    assert.equal(count[0]!.get('n')!.numberValue(), 2);
  });

  test('redacting a revision needs qldb:PartiQLRedact on its table', async () => {
    const history = await drivers.redact!.executeLambda(async (txn) =>
      (await txn.execute('SELECT * FROM history(Test) AS h WHERE h.data.id = 1')).getResultList(),
    );
    assert.equal(history.length, 2);
    const first = history[0]!;
    const args = [
      first.get('blockAddress'),
      await testTableId(),
      first.get('metadata', 'id')!.stringValue(),
    ];
    await assert.rejects(
      drivers.get!.executeLambda((txn) => txn.execute('EXEC redact_revision ?, ?, ?', ...args)),
      (error: Error) =>
        denied(error) && /qldb:PartiQLRedact on resource: .*\/table\/\w{22}$/.test(error.message),
    );
    const [result] = await drivers.redact!.executeLambda(async (txn) =>
      (await txn.execute('EXEC redact_revision ?, ?, ?', ...args)).getResultList(),
    );
    assert.equal(result!.get('version')!.numberValue(), 0);
    const after = await drivers.redact!.executeLambda(async (txn) =>
      (await txn.execute('SELECT * FROM history(Test) AS h WHERE h.data.id = 1')).getResultList(),
    );
    assert.equal(after.length, 1, 'the redacted revision has no data left to match');
  });

  test('undropping a table needs qldb:PartiQLUndropTable on its id', async () => {
    await assert.rejects(
      drivers.get!.executeLambda((txn) => txn.execute(`UNDROP TABLE "${droppedTableId}"`)),
      (error: Error) =>
        denied(error) &&
        error.message.endsWith(
          `qldb:PartiQLUndropTable on resource: ${LEDGER_ARN}/table/${droppedTableId}`,
        ),
    );
  });

  test('history by table id needs the id', async () => {
    const iam = new IAMClient(clientConfig(vellum.url, vellum.rootCredentials));
    const testId = await testTableId();
    await iam.send(new CreateUserCommand({ UserName: 'test-historian' }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'test-historian',
        PolicyName: 'ledger',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'qldb:SendCommand', Resource: LEDGER_ARN },
            {
              Effect: 'Allow',
              Action: 'qldb:PartiQLHistoryFunction',
              Resource: `${LEDGER_ARN}/table/${testId}`,
            },
          ],
        }),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'test-historian' })))
      .AccessKey!;
    const historian = new QldbDriver(
      'standard',
      {
        ...clientConfig(vellum.url, {
          accessKeyId: key.AccessKeyId!,
          secretAccessKey: key.SecretAccessKey!,
        }),
        maxAttempts: undefined,
      },
      {},
      1,
      new RetryConfig(0),
    );
    const history = (statement: string) =>
      historian.executeLambda(async (txn) => (await txn.execute(statement)).getResultList());
    try {
      assert.ok((await history(`SELECT * FROM history('${testId}')`)).length > 0);
      await assert.rejects(
        history(`SELECT * FROM history('${droppedTableId}')`),
        (error: Error) =>
          denied(error) &&
          error.message.endsWith(
            `qldb:PartiQLHistoryFunction on resource: ${LEDGER_ARN}/table/${droppedTableId}`,
          ),
      );
    } finally {
      historian.close();
    }
  });

  test('a Deny applies to an open session', async () => {
    const iam = new IAMClient(clientConfig(vellum.url, vellum.rootCredentials));
    const rows = () =>
      drivers.get!.executeLambda(async (txn) =>
        (await txn.execute('SELECT * FROM Test')).getResultList(),
      );
    await rows();

    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'get',
        PolicyName: 'lockout',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Deny', Action: 'qldb:SendCommand', Resource: LEDGER_ARN }],
        }),
      }),
    );
    try {
      await assert.rejects(rows(), (error: Error) => {
        assert.equal(error.name, 'AccessDeniedException');
        assert.match(error.message, /is not authorized to perform: qldb:SendCommand on resource/);
        return true;
      });
    } finally {
      await iam.send(new DeleteRolePolicyCommand({ RoleName: 'get', PolicyName: 'lockout' }));
    }
    await rows();
  });

  async function testTableId(): Promise<string> {
    const admin = new QldbDriver('standard', {
      ...clientConfig(vellum.url, vellum.rootCredentials),
      maxAttempts: undefined,
    });
    try {
      return await admin.executeLambda(async (txn) => {
        const rows = await txn.execute(
          "SELECT VALUE tableId FROM information_schema.user_tables WHERE name = 'Test'",
        );
        return rows.getResultList()[0]!.stringValue()!;
      });
    } finally {
      admin.close();
    }
  }
});
