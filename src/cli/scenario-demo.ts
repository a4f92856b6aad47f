import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startVellum, type RunningVellum } from './serve.js';

export interface ScenarioDemoOptions {
  dataDir?: string;
  records: number;
  /** Concurrent requests of the load. */
  concurrency: number;
  /** The key guard's check interval, which is the grace period after a key is disabled. */
  keyCheckInterval: number;
  stage: string;
}

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROLES = { create: 'qldb-kms-create-record-role', get: 'qldb-kms-get-record-role' };

interface PhaseResult {
  phase: string;
  requests: number;
  succeeded: number;
  failed: number;
  firstError: string;
}

/**
 * The reference scenario end to end: start `vellum serve`, deploy the stage
 * (four keys behind an alias, two service roles, the ledger), start the
 * record service, load it, then rotate, disable and swap the ledger's key
 * under load and report what the callers saw in each phase.
 */
export async function runScenarioDemo(options: ScenarioDemoOptions): Promise<boolean> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'vellum-demo-'));
  const keepData = options.dataDir !== undefined;
  const sdk = await loadClients();
  const vellum = await startVellum({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    accountId: ACCOUNT,
    region: REGION,
    kmsDayLength: 1000,
    keyCheckInterval: options.keyCheckInterval,
    logLevel: 'silent',
    allowRemote: false,
    logger: pino({ level: 'silent' }),
  });
  let service: ChildProcess | undefined;
  const results: PhaseResult[] = [];
  try {
    print(`Vellum demo: the reference scenario against ${vellum.url} (data in ${dataDir})`);
    const stack = await deployStage(sdk, vellum, options.stage);
    print(
      `1. deployed stage ${options.stage}: ledger ${stack.ledger} (STANDARD, key alias/qldb-kms-${options.stage}), ` +
        `keys main ${stack.keys.main}, rotate ${stack.keys.rotate}, no-access ${stack.keys.noAccess}, delete ${stack.keys.delete}`,
    );

    const started = await startRecordService(vellum, options.stage);
    service = started.child;
    const base = started.url;
    print(`2. record service on ${base}`);

    const ids = Array.from({ length: options.records }, (_, i) => i + 1);
    const create = (id: number) =>
      fetch(base, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id,
          firstName: `First${id}`,
          lastName: `Last${id}`,
          email: `first${id}.last${id}@email.com`,
          street: `${id} Ledger Street`,
          postcode: `${10000 + id}`,
        }),
      });
    const read = (id: number) => fetch(`${base}/${id}`);
    const ledgerStatus = async () =>
      (await stack.qldb.send(new sdk.qldb.DescribeLedgerCommand({ Name: stack.ledger })))
        .EncryptionDescription;

    // Scenario 1: load.
    results.push(await load('1. create records', ids, create, 201, options.concurrency));
    results.push(await load('1. read records', ids, read, 200, options.concurrency));

    // Scenario 2: change the key, through the alias and through the ledger, while reads run.
    const aliasChange = loadWhile(
      '2. alias re-pointed',
      ids,
      read,
      options.concurrency,
      async () => {
        await stack.kms.send(
          new sdk.kms.UpdateAliasCommand({
            AliasName: `alias/qldb-kms-${options.stage}`,
            TargetKeyId: stack.keys.rotate,
          }),
        );
        await waitFor(
          async () => (await ledgerStatus())?.KmsKeyArn === stack.arn(stack.keys.rotate),
          'the alias change',
        );
        await waitFor(
          async () => (await ledgerStatus())?.EncryptionStatus === 'ENABLED',
          'ENABLED',
        );
      },
    );
    results.push(await aliasChange);
    let seen = '';
    const ledgerChange = loadWhile(
      '2. update-ledger --kms-key',
      ids,
      read,
      options.concurrency,
      async () => {
        const updated = await stack.qldb.send(
          new sdk.qldb.UpdateLedgerCommand({ Name: stack.ledger, KmsKey: stack.keys.delete }),
        );
        seen = updated.EncryptionDescription?.EncryptionStatus ?? '';
        await waitFor(
          async () => (await ledgerStatus())?.EncryptionStatus === 'ENABLED',
          'ENABLED',
        );
      },
    );
    results.push(await ledgerChange);
    print(
      `3. update-ledger answered ${seen}, then the ledger reported ENABLED under the delete key`,
    );

    // Scenario 3: disable the key; reads go on until the guard notices, then fail, then recover.
    results.push(
      await loadWhile('3. key disabled', ids, read, options.concurrency, async () => {
        await stack.kms.send(new sdk.kms.DisableKeyCommand({ KeyId: stack.keys.delete }));
        await waitFor(
          async () => (await ledgerStatus())?.EncryptionStatus === 'KMS_KEY_INACCESSIBLE',
          'KMS_KEY_INACCESSIBLE',
        );
        await new Promise((resolveWait) => setTimeout(resolveWait, 500));
      }),
    );
    const inaccessible = await ledgerStatus();
    print(
      `4. key disabled: the ledger is ${inaccessible?.EncryptionStatus} since ` +
        `${inaccessible?.InaccessibleKmsKeyDateTime?.toISOString()}`,
    );
    await stack.kms.send(new sdk.kms.EnableKeyCommand({ KeyId: stack.keys.delete }));
    await waitFor(async () => (await ledgerStatus())?.EncryptionStatus === 'ENABLED', 'ENABLED');
    results.push(await load('3. key enabled again', ids, read, 200, options.concurrency));

    // Scenario 4: a key the service roles may not use.
    await stack.qldb.send(
      new sdk.qldb.UpdateLedgerCommand({ Name: stack.ledger, KmsKey: stack.keys.noAccess }),
    );
    await waitFor(async () => (await ledgerStatus())?.EncryptionStatus === 'ENABLED', 'ENABLED');
    results.push(await load('4. no-access key', ids.slice(0, 100), read, 200, options.concurrency));

    print('');
    print('phase                          requests  succeeded  failed  first error');
    for (const result of results) {
      print(
        `${result.phase.padEnd(30)} ${String(result.requests).padStart(8)}  ${String(result.succeeded).padStart(9)}  ${String(result.failed).padStart(6)}  ${result.firstError}`,
      );
    }
    const expected =
      results[0]!.failed === 0 &&
      results[1]!.failed === 0 &&
      results[2]!.failed === 0 &&
      results[3]!.failed === 0 &&
      results[4]!.failed > 0 &&
      results[5]!.failed === 0 &&
      results[6]!.succeeded === 0 &&
      /AccessDeniedException/.test(results[6]!.firstError);
    await removeStage(sdk, stack);
    print('');
    print(
      expected
        ? '5. stage removed. Demo finished: every phase behaved as the reference scenario expects.'
        : '5. stage removed. Demo finished, but a phase did not behave as expected; see the table.',
    );
    return expected;
  } finally {
    service?.kill('SIGTERM');
    await vellum.close();
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
  }
}

type Clients = Awaited<ReturnType<typeof loadClients>>;

/** The AWS SDK clients and the QLDB driver, which only the demo needs. */
async function loadClients() {
  try {
    return {
      iam: await import('@aws-sdk/client-iam'),
      kms: await import('@aws-sdk/client-kms'),
      qldb: await import('@aws-sdk/client-qldb'),
      driver: await import('amazon-qldb-driver-nodejs'),
    };
  } catch (error) {
    throw new Error(
      `the demo needs the AWS SDK clients and the QLDB driver, which come with the repository's development dependencies; run npm install in a clone first (${(error as Error).message})`,
    );
  }
}

function keyPolicy(stage: string, name: string, withRoles: boolean): string {
  const statements: unknown[] = [
    {
      Sid: 'Allow administration of the key',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
    {
      Sid: 'Allow access to principals authorized to use Amazon QLDB',
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: ['kms:DescribeKey', 'kms:CreateGrant'],
      Resource: '*',
      Condition: {
        StringEquals: {
          'kms:ViaService': `qldb.${REGION}.amazonaws.com`,
          'kms:CallerAccount': ACCOUNT,
        },
      },
    },
  ];
  if (withRoles) {
    statements.push({
      Sid: 'Allow access to create and get record roles',
      Effect: 'Allow',
      Principal: {
        AWS: Object.values(ROLES).map((role) => `arn:aws:iam::${ACCOUNT}:role/${role}`),
      },
      Action: 'kms:Decrypt',
      Resource: '*',
    });
  }
  return JSON.stringify({
    Version: '2012-10-17',
    Id: `qldb-cmk-${name}-${stage}`,
    Statement: statements,
  });
}

/** Create the stage's roles, keys, alias and ledger, then table `Test` with its index. */
async function deployStage(sdk: Clients, vellum: RunningVellum, stage: string) {
  const config = {
    endpoint: vellum.url,
    region: REGION,
    credentials: {
      accessKeyId: vellum.rootCredentials.accessKeyId,
      secretAccessKey: vellum.rootCredentials.secretAccessKey,
    },
  };
  const iam = new sdk.iam.IAMClient(config);
  const kms = new sdk.kms.KMSClient(config);
  const qldb = new sdk.qldb.QLDBClient(config);
  const ledger = `qldb-kms-ledger-${stage}`;
  const ledgerArn = `arn:aws:qldb:${REGION}:${ACCOUNT}:ledger/${ledger}`;

  // Lambda would assume these roles; locally the account's record service does.
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
    [ROLES.create, 'qldb:PartiQLInsert'],
    [ROLES.get, 'qldb:PartiQLSelect'],
  ] as const) {
    await iam.send(
      new sdk.iam.CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: trust }),
    );
    await iam.send(
      new sdk.iam.PutRolePolicyCommand({
        RoleName: role,
        PolicyName: `${role}-${stage}`,
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
  const keys = { main: '', rotate: '', noAccess: '', delete: '' };
  for (const [name, field, description, withRoles] of [
    ['', 'main', 'QLDB Ledger CMK', true],
    ['rotate', 'rotate', 'QLDB Ledger Rotate CMK', true],
    ['no-access', 'noAccess', 'QLDB Ledger No Access CMK', false],
    ['delete', 'delete', 'QLDB Ledger Delete CMK', true],
  ] as const) {
    const created = await kms.send(
      new sdk.kms.CreateKeyCommand({
        Description: description,
        Policy: keyPolicy(stage, name === '' ? 'main' : name, withRoles),
      }),
    );
    keys[field] = created.KeyMetadata!.KeyId!;
    await kms.send(new sdk.kms.EnableKeyRotationCommand({ KeyId: keys[field] }));
  }
  await kms.send(
    new sdk.kms.CreateAliasCommand({
      AliasName: `alias/qldb-kms-${stage}`,
      TargetKeyId: keys.main,
    }),
  );
  await qldb.send(
    new sdk.qldb.CreateLedgerCommand({
      Name: ledger,
      PermissionsMode: 'STANDARD',
      KmsKey: `alias/qldb-kms-${stage}`,
      DeletionProtection: false,
      Tags: { name: 'qldb-kms-ledger' },
    }),
  );
  const driver = new sdk.driver.QldbDriver(ledger, config);
  try {
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      await txn.execute('CREATE INDEX ON Test (id)');
    });
  } finally {
    driver.close();
  }
  const arn = (keyId: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
  return { iam, kms, qldb, ledger, keys, arn };
}

async function removeStage(
  sdk: Clients,
  stack: Awaited<ReturnType<typeof deployStage>>,
): Promise<void> {
  await stack.qldb.send(new sdk.qldb.DeleteLedgerCommand({ Name: stack.ledger }));
  for (const role of Object.values(ROLES)) {
    const policies = await stack.iam.send(new sdk.iam.ListRolePoliciesCommand({ RoleName: role }));
    for (const policy of policies.PolicyNames ?? []) {
      await stack.iam.send(
        new sdk.iam.DeleteRolePolicyCommand({ RoleName: role, PolicyName: policy }),
      );
    }
    await stack.iam.send(new sdk.iam.DeleteRoleCommand({ RoleName: role }));
  }
  for (const keyId of Object.values(stack.keys)) {
    await stack.kms.send(
      new sdk.kms.ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }),
    );
  }
}

/** Start the example record service as its own process, as a user would run it. */
async function startRecordService(
  vellum: RunningVellum,
  stage: string,
): Promise<{ child: ChildProcess; url: string }> {
  const root = findRepositoryRoot();
  const main = join(root, 'examples', 'record-service', 'src', 'main.ts');
  const require = createRequire(join(root, 'package.json'));
  let tsx: string;
  try {
    tsx = require.resolve('tsx');
  } catch {
    throw new Error(
      'the demo runs the example record service with tsx; run npm install in the repository first',
    );
  }
  const child = spawn(process.execPath, ['--import', tsx, main], {
    cwd: root,
    env: {
      ...process.env,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: vellum.profile.credentialsFile,
      AWS_CONFIG_FILE: vellum.profile.configFile,
      AWS_PROFILE: 'vellum',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      VELLUM_ENDPOINT: vellum.url,
      AWS_REGION: REGION,
      STAGE: stage,
      CREATE_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/${ROLES.create}`,
      GET_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/${ROLES.get}`,
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /on (http:\/\/\S+)/.exec(line);
      if (match !== null) resolveUrl(match[1]!);
    });
    child.once('exit', (code) =>
      reject(
        new Error(`the record service exited with code ${code} before it listened:\n${errors}`),
      ),
    );
  });
  return { child, url };
}

function findRepositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'examples', 'record-service'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error(
    'the demo runs from a clone of the Vellum repository, which has examples/record-service',
  );
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
}

/** Send one request per id, `concurrency` at a time, and count the answers with the expected status. */
async function load(
  phase: string,
  ids: number[],
  send: (id: number) => Promise<Response>,
  expected: number,
  concurrency: number,
): Promise<PhaseResult> {
  const result: PhaseResult = { phase, requests: 0, succeeded: 0, failed: 0, firstError: '' };
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      result.requests++;
      const response = await send(id).catch((error: Error) => error);
      if (response instanceof Response && response.status === (expected === 201 ? 201 : 200)) {
        result.succeeded++;
        await response.arrayBuffer();
      } else {
        result.failed++;
        if (result.firstError === '') {
          result.firstError =
            response instanceof Response
              ? `${response.status} ${(await response.text()).slice(0, 160)}`
              : response.message;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}

/** Read in a loop while `change` runs, then report the reads. */
async function loadWhile(
  phase: string,
  ids: number[],
  read: (id: number) => Promise<Response>,
  concurrency: number,
  change: () => Promise<void>,
): Promise<PhaseResult> {
  let done = false;
  const reads: PhaseResult[] = [];
  const loop = (async () => {
    while (!done) reads.push(await load(phase, ids.slice(0, 50), read, 200, concurrency));
  })();
  try {
    await change();
  } finally {
    done = true;
    await loop;
  }
  return reads.reduce(
    (total, part) => ({
      phase,
      requests: total.requests + part.requests,
      succeeded: total.succeeded + part.succeeded,
      failed: total.failed + part.failed,
      firstError: total.firstError || part.firstError,
    }),
    { phase, requests: 0, succeeded: 0, failed: 0, firstError: '' },
  );
}
