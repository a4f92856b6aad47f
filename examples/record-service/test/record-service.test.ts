import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  QLDBClient,
  UpdateLedgerCommand,
} from '@aws-sdk/client-qldb';
import { STSClient } from '@aws-sdk/client-sts';
import { QldbDriver } from 'amazon-qldb-driver-nodejs';
import {
  clientConfig,
  startVellumInstance,
  type VellumInstance,
} from '../../../test/helpers/vellum-instance.js';
import { referenceKeyPolicy } from '../../../test/helpers/reference-stack.js';
import { createRecordService } from '../src/record-service.js';
import { roleCredentials } from '../src/role-credentials.js';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const STAGE = 'dev';
const LEDGER = `qldb-kms-ledger-${STAGE}`;
const ROLES = { create: 'qldb-kms-create-record-role', get: 'qldb-kms-get-record-role' };

/** Build the reference stack's key policy; with `withRoles`, statement C lets both roles decrypt. */
function keyPolicy(withRoles: boolean): string {
  return referenceKeyPolicy({
    account: ACCOUNT,
    region: REGION,
    roleArns: withRoles
      ? Object.values(ROLES).map((role) => `arn:aws:iam::${ACCOUNT}:role/${role}`)
      : undefined,
  });
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('record service on vellum serve', () => {
  let vellum: VellumInstance;
  let service: ReturnType<typeof createRecordService>;
  let base: string;
  let qldb: QLDBClient;
  let kms: KMSClient;
  const keys: Record<string, string> = {};

  before(async () => {
    vellum = await startVellumInstance({ keyCheckInterval: 100 });
    const config = clientConfig(vellum.url, vellum.rootCredentials);
    const iam = new IAMClient(config);
    kms = new KMSClient(config);
    qldb = new QLDBClient(config);

    // Roles as the stack defines them; their trust policy names the account, which runs the service.
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
    const ledgerArn = `arn:aws:qldb:${REGION}:${ACCOUNT}:ledger/${LEDGER}`;
    for (const [role, action] of [
      [ROLES.create, 'qldb:PartiQLInsert'],
      [ROLES.get, 'qldb:PartiQLSelect'],
    ] as const) {
      await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: trust }));
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: role,
          PolicyName: 'ledger',
          PolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: action, Resource: `${ledgerArn}/*` },
              { Effect: 'Allow', Action: 'qldb:SendCommand', Resource: ledgerArn },
            ],
          }),
        }),
      );
    }
    for (const [name, withRoles] of [
      ['main', true],
      ['noAccess', false],
    ] as const) {
      keys[name] = (
        await kms.send(new CreateKeyCommand({ Policy: keyPolicy(withRoles) }))
      ).KeyMetadata!.KeyId!;
    }
    await kms.send(
      new CreateAliasCommand({ AliasName: `alias/qldb-kms-${STAGE}`, TargetKeyId: keys.main }),
    );
    await qldb.send(
      new CreateLedgerCommand({
        Name: LEDGER,
        PermissionsMode: 'STANDARD',
        KmsKey: `alias/qldb-kms-${STAGE}`,
        DeletionProtection: false,
      }),
    );
    const admin = new QldbDriver(LEDGER, { ...config, maxAttempts: undefined });
    await admin.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      await txn.execute('CREATE INDEX ON Test (id)');
    });
    admin.close();

    const sts = new STSClient(config);
    service = createRecordService({
      stage: STAGE,
      ledgerName: LEDGER,
      endpoint: vellum.url,
      region: REGION,
      createCredentials: roleCredentials({
        roleArn: `arn:aws:iam::${ACCOUNT}:role/${ROLES.create}`,
        sessionName: 'create',
        sts,
      }),
      getCredentials: roleCredentials({
        roleArn: `arn:aws:iam::${ACCOUNT}:role/${ROLES.get}`,
        sessionName: 'get',
        sts,
      }),
    });
    await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}/${STAGE}/record`;
  });

  after(async () => {
    await service?.close();
    await vellum?.dispose();
  });

  const post = (record: Record<string, unknown>) =>
    fetch(base, {
      method: 'POST',
      body: JSON.stringify(record),
      headers: { 'content-type': 'application/json' },
    });
  const get = (id: number | string) => fetch(`${base}/${id}`);
  const encryptionStatus = async () =>
    (await qldb.send(new DescribeLedgerCommand({ Name: LEDGER }))).EncryptionDescription
      ?.EncryptionStatus;

  test('creates and reads records through the roles', async () => {
    for (let id = 1; id <= 20; id++) {
      const response = await post({
        id,
        firstName: 'Ada',
        lastName: `L${id}`,
        email: `a${id}@email.com`,
        street: 'Main',
        postcode: '12345',
      });
      assert.equal(response.status, 201);
      assert.equal(await response.text(), '"Success"');
    }
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => get(i + 1)));
    for (const [i, response] of responses.entries()) {
      assert.equal(response.status, 200, await response.clone().text());
      assert.deepEqual(await response.json(), {
        id: i + 1,
        firstName: 'Ada',
        lastName: `L${i + 1}`,
        email: `a${i + 1}@email.com`,
        street: 'Main',
        postcode: '12345',
      });
    }
    const missing = await get(999);
    assert.equal(missing.status, 400);
    assert.deepEqual(await missing.json(), {
      status: 400,
      title: 'Record Not Found Error',
      detail: 'Record with id 999 does not exist',
    });
    const nan = await get('abc');
    assert.equal(nan.status, 400);
    assert.equal(
      ((await nan.json()) as { detail: string }).detail,
      'Record with id NaN does not exist',
    );
  });

  test('a disabled key stops the ledger until it is enabled', async () => {
    await kms.send(new DisableKeyCommand({ KeyId: keys.main }));
    await waitFor(
      async () => (await encryptionStatus()) === 'KMS_KEY_INACCESSIBLE',
      'KMS_KEY_INACCESSIBLE',
    );
    const refused = await get(1);
    assert.equal(refused.status, 500);
    assert.match(
      ((await refused.json()) as { detail: string }).detail,
      /does not have grant access on the KMS customer managed key of the ledger/,
    );
    await kms.send(new EnableKeyCommand({ KeyId: keys.main }));
    await waitFor(async () => (await encryptionStatus()) === 'ENABLED', 'ENABLED');
    assert.equal((await get(1)).status, 200);
  });

  test('a key the roles may not use gives AccessDeniedException', async () => {
    const updated = await qldb.send(
      new UpdateLedgerCommand({ Name: LEDGER, KmsKey: keys.noAccess }),
    );
    assert.equal(
      updated.EncryptionDescription?.KmsKeyArn,
      `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keys.noAccess}`,
    );
    await waitFor(async () => (await encryptionStatus()) === 'ENABLED', 'the key change');
    const denied = await get(1);
    assert.equal(denied.status, 500);
    const body = (await denied.json()) as { title: string; detail: string };
    assert.equal(body.title, 'AccessDeniedException');
    assert.match(
      body.detail,
      /^The user does not have permissions to use the customer managed KMS key of the ledger \(KMS Request ID: [0-9a-f-]{36}\) : /,
    );
  });
});
