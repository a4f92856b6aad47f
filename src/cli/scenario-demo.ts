import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import {
  writeDemoReport,
  type KeyEvent,
  type RequestSample,
  type StatusPeriod,
} from './demo-report.js';
import { runLoad } from './load.js';
import { startVellum, type RunningVellum } from './serve.js';

export interface ScenarioDemoOptions {
  dataDir?: string;
  records: number;
  /** Concurrent requests of the load. */
  concurrency: number;
  /** The key guard's check interval, which is the grace period after a key is disabled. */
  keyCheckInterval: number;
  stage: string;
  /** Keep the stage deployed at the end instead of removing it. */
  keep?: boolean;
  /** The path of the HTML report; `vellum-report.html` by default. */
  report?: string;
  /**
   * Run scenario 1 at the original scripts' rates (5 creates a second for
   * 300 s, 10 reads a second for 150 s) instead of compressed.
   */
  seedTiming?: boolean;
}

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROLES = { create: 'qldb-kms-create-record-role', get: 'qldb-kms-get-record-role' };

/** The report's data: every request, the key events and the status periods. */
class Timeline {
  readonly #start = performance.now();
  readonly samples: RequestSample[] = [];
  readonly events: KeyEvent[] = [];
  readonly periods: StatusPeriod[] = [];

  now(): number {
    return (performance.now() - this.#start) / 1000;
  }

  event(label: string): void {
    this.events.push({ t: this.now(), label });
  }

  status(status: string): void {
    const last = this.periods.at(-1);
    const t = this.now();
    if (last !== undefined && last.status === status) last.end = t;
    else {
      if (last !== undefined) last.end = t;
      this.periods.push({ start: t, end: t, status });
    }
  }
}

const timeline = new Timeline();

interface PhaseResult {
  phase: string;
  requests: number;
  succeeded: number;
  failed: number;
  firstError: string;
  /** Response times in milliseconds. */
  latencies: number[];
  /** Median and p99 response time in milliseconds, when the load runner measured them. */
  measured?: { p50: number; p99: number };
}

function percentiles(result: PhaseResult): [string, string] {
  if (result.measured !== undefined) {
    return [result.measured.p50.toFixed(1), result.measured.p99.toFixed(1)];
  }
  const sorted = [...result.latencies].sort((a, b) => a - b);
  if (sorted.length === 0) return ['-', '-'];
  const at = (fraction: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!.toFixed(1);
  return [at(0.5), at(0.99)];
}

/**
 * Run the reference scenario end to end. Start `vellum serve`, deploy the
 * stage (four keys behind an alias, two service roles, the ledger) and start
 * the record service. Then load it, rotate, disable and swap the ledger's key
 * under load, and report what the callers saw in each phase.
 */
export async function runScenarioDemo(options: ScenarioDemoOptions): Promise<boolean> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'vellum-demo-'));
  const keepData = options.dataDir !== undefined || options.keep === true;
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
      `1. deployed stacks/qldb-kms.yml as stack ${stack.stackName}: ledger ${stack.ledger} (STANDARD, key alias/qldb-kms-${options.stage}), ` +
        `keys main ${stack.keys.main}, rotate ${stack.keys.rotate}, no-access ${stack.keys.noAccess}, delete ${stack.keys.delete}`,
    );

    const started = await startRecordService(vellum, options.stage);
    service = started.child;
    const base = started.url;
    print(`2. record service on ${base}`);

    const ids = Array.from({ length: options.records }, (_, i) => i + 1);
    const read = (id: number) => fetch(`${base}/${id}`);
    const ledgerStatus = async () =>
      (await stack.qldb.send(new sdk.qldb.DescribeLedgerCommand({ Name: stack.ledger })))
        .EncryptionDescription;

    // Scenario 1: load.
    // Sample the ledger's encryption status for the report's timeline.
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const status = await ledgerStatus().catch(() => undefined);
        if (status?.EncryptionStatus !== undefined) timeline.status(status.EncryptionStatus);
        await new Promise((resolveWait) => setTimeout(resolveWait, 200));
      }
    })();

    // Scenario 1 runs the original load scripts with the load runner; by
    // default their phases are compressed to finish in seconds.
    results.push(await scriptPhase('1. create records', 'create-record.yml', base, options));
    results.push(await scriptPhase('1. read records', 'get-record.yml', base, options));

    // Scenario 2: change the key, through the alias and through the ledger, while reads run.
    const aliasChange = loadWhile(
      '2. alias re-pointed',
      ids,
      read,
      options.concurrency,
      async () => {
        timeline.event('alias to rotate key');
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
        timeline.event('update-ledger to delete key');
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
        timeline.event('disable key');
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
    timeline.event('enable key');
    await stack.kms.send(new sdk.kms.EnableKeyCommand({ KeyId: stack.keys.delete }));
    await waitFor(async () => (await ledgerStatus())?.EncryptionStatus === 'ENABLED', 'ENABLED');
    results.push(await load('3. key enabled again', ids, read, 200, options.concurrency));

    // Scenario 4: a key the service roles may not use.
    timeline.event('update-ledger to no-access key');
    await stack.qldb.send(
      new sdk.qldb.UpdateLedgerCommand({ Name: stack.ledger, KmsKey: stack.keys.noAccess }),
    );
    await waitFor(async () => (await ledgerStatus())?.EncryptionStatus === 'ENABLED', 'ENABLED');
    results.push(await load('4. no-access key', ids.slice(0, 100), read, 200, options.concurrency));

    print('');
    print(
      'phase                          requests  succeeded  failed  p50 ms  p99 ms  first error',
    );
    for (const result of results) {
      const [p50, p99] = percentiles(result);
      print(
        `${result.phase.padEnd(30)} ${String(result.requests).padStart(8)}  ${String(result.succeeded).padStart(9)}  ${String(result.failed).padStart(6)}  ${p50.padStart(6)}  ${p99.padStart(6)}  ${result.firstError}`,
      );
    }
    polling = false;
    await poller;
    const verdicts = [
      results[0]!.failed === 0,
      results[1]!.failed === 0,
      results[2]!.failed === 0,
      results[3]!.failed === 0,
      results[4]!.failed > 0 && /grant access/.test(results[4]!.firstError),
      results[5]!.failed === 0,
      results[6]!.succeeded === 0 && /AccessDeniedException/.test(results[6]!.firstError),
    ];
    const expected = verdicts.every(Boolean);
    const reportPath = resolve(options.report ?? 'vellum-report.html');
    await writeDemoReport(reportPath, {
      samples: timeline.samples,
      events: timeline.events,
      periods: timeline.periods,
      rows: results.map((result, i) => {
        const [p50, p99] = percentiles(result);
        return {
          phase: result.phase,
          requests: result.requests,
          succeeded: result.succeeded,
          failed: result.failed,
          p50,
          p99,
          verdict: verdicts[i] ? 'as expected' : 'NOT as expected',
          firstError: result.firstError,
        };
      }),
    });
    print(`report: ${reportPath}`);
    if (options.keep !== true) await removeStage(sdk, stack);
    print('');
    const ending =
      options.keep === true
        ? `5. stage ${stack.stackName} kept in ${dataDir}; vellum serve --data-dir ${dataDir} serves it again.`
        : '5. stage removed.';
    print(
      expected
        ? `${ending} Demo finished: every phase behaved as the reference scenario expects.`
        : `${ending} Demo finished, but a phase did not behave as expected; see the table.`,
    );
    return expected;
  } finally {
    service?.kill('SIGTERM');
    await vellum.close();
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
  }
}

type Clients = Awaited<ReturnType<typeof loadClients>>;

/**
 * Run one of the original load scripts against the record service. Without
 * `seedTiming`, its phase is scaled to `records` arrivals over a few
 * seconds; the script's processor numbers the records 1, 2, 3, ...
 */
async function scriptPhase(
  phase: string,
  script: string,
  target: string,
  options: ScenarioDemoOptions,
): Promise<PhaseResult> {
  const file = join(findRepositoryRoot(), 'scripts', script);
  let path = file;
  if (options.seedTiming !== true) {
    const seconds = Math.max(1, Math.ceil(options.records / 250));
    const rate = Math.ceil(options.records / seconds);
    const text = readFileSync(file, 'utf8')
      .replace(
        /duration: \d+\n(\s+)arrivalRate: \d+/,
        `duration: ${seconds}\n$1arrivalRate: ${rate}`,
      )
      .replace(
        /processor: '\.\/([^']+)'/,
        (_, name: string) => `processor: '${join(dirname(file), name)}'`,
      );
    const dir = mkdtempSync(join(tmpdir(), 'vellum-demo-load-'));
    path = join(dir, script);
    writeFileSync(path, text);
  }
  const summary = await runLoad({
    file: path,
    target: target.replace(/\/record$/, ''),
    quiet: true,
    onResponse: (ms, status) =>
      timeline.samples.push({ t: timeline.now(), ms, ok: status < 400, phase }),
  });
  const expected = script.startsWith('create') ? '201' : '200';
  const succeeded = summary.codes[expected] ?? 0;
  const failures = Object.entries(summary.codes).filter(([code]) => code !== expected);
  return {
    phase,
    requests: summary.requests,
    succeeded,
    failed: summary.requests - succeeded,
    firstError:
      failures.length > 0 ? `HTTP ${failures.map(([code, n]) => `${code} x${n}`).join(', ')}` : '',
    latencies: [],
    measured: { p50: summary.responseTime.median, p99: summary.responseTime.p99 },
  };
}

/** Load the AWS SDK clients and the QLDB driver, which only the demo needs. */
async function loadClients() {
  try {
    return {
      cloudformation: await import('@aws-sdk/client-cloudformation'),
      kms: await import('@aws-sdk/client-kms'),
      qldb: await import('@aws-sdk/client-qldb'),
      driver: await import('amazon-qldb-driver-nodejs'),
    };
  } catch (error) {
    throw new Error(
      `the demo needs the AWS SDK clients and the QLDB driver, which come with the repository's development dependencies; run npm install in a clone first (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * Deploy the reference stack file through CloudFormation, as `vellum deploy`
 * does, then create table `Test` with its index, the step the original
 * scenario does by hand.
 */
async function deployStage(sdk: Clients, vellum: RunningVellum, stage: string) {
  const config = {
    endpoint: vellum.url,
    region: REGION,
    credentials: {
      accessKeyId: vellum.rootCredentials.accessKeyId,
      secretAccessKey: vellum.rootCredentials.secretAccessKey,
    },
  };
  const cloudformation = new sdk.cloudformation.CloudFormationClient(config);
  const kms = new sdk.kms.KMSClient(config);
  const qldb = new sdk.qldb.QLDBClient(config);
  const stackName = `qldb-kms-${stage}`;
  const template = readFileSync(join(findRepositoryRoot(), 'stacks', 'qldb-kms.yml'), 'utf8');
  await cloudformation.send(
    new sdk.cloudformation.CreateStackCommand({
      StackName: stackName,
      TemplateBody: template,
      Parameters: [{ ParameterKey: 'Stage', ParameterValue: stage }],
      Capabilities: ['CAPABILITY_NAMED_IAM'],
    }),
  );
  let outputs: Record<string, string> = {};
  await waitFor(async () => {
    const reply = await cloudformation.send(
      new sdk.cloudformation.DescribeStacksCommand({ StackName: stackName }),
    );
    const stack = reply.Stacks![0]!;
    if (stack.StackStatus === 'CREATE_FAILED') {
      throw new Error(`stack ${stackName} failed: ${stack.StackStatusReason}`);
    }
    outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
    return stack.StackStatus === 'CREATE_COMPLETE';
  }, `stack ${stackName}`);
  const ledger = outputs.ledgerName!;
  const driver = new sdk.driver.QldbDriver(ledger, config);
  try {
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Test');
      await txn.execute('CREATE INDEX ON Test (id)');
    });
  } finally {
    driver.close();
  }
  const keys = {
    main: outputs.mainKeyID!,
    rotate: outputs.rotateKeyID!,
    noAccess: outputs.noAccessKeyID!,
    delete: outputs.deleteKeyID!,
  };
  const arn = (keyId: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
  return { cloudformation, kms, qldb, ledger, keys, arn, stackName };
}

async function removeStage(
  sdk: Clients,
  stack: Awaited<ReturnType<typeof deployStage>>,
): Promise<void> {
  await stack.cloudformation.send(
    new sdk.cloudformation.DeleteStackCommand({ StackName: stack.stackName }),
  );
  await waitFor(async () => {
    try {
      await stack.cloudformation.send(
        new sdk.cloudformation.DescribeStacksCommand({ StackName: stack.stackName }),
      );
      return false;
    } catch (error) {
      if (/does not exist/.test((error as Error).message)) return true;
      throw error;
    }
  }, `removal of stack ${stack.stackName}`);
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

/** Send one request per id, `concurrency` at a time, and count the responses with the expected status. */
async function load(
  phase: string,
  ids: number[],
  send: (id: number) => Promise<Response>,
  expected: number,
  concurrency: number,
): Promise<PhaseResult> {
  const result: PhaseResult = {
    phase,
    requests: 0,
    succeeded: 0,
    failed: 0,
    firstError: '',
    latencies: [],
  };
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      result.requests++;
      const started = performance.now();
      const response = await send(id).catch((error: Error) => error);
      const elapsed = performance.now() - started;
      result.latencies.push(elapsed);
      const ok = response instanceof Response && response.status === (expected === 201 ? 201 : 200);
      timeline.samples.push({ t: timeline.now(), ms: elapsed, ok, phase });
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
      latencies: total.latencies.concat(part.latencies),
    }),
    { phase, requests: 0, succeeded: 0, failed: 0, firstError: '', latencies: [] as number[] },
  );
}
