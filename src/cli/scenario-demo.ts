import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { request } from 'undici';
import {
  writeDemoReport,
  type KeyEvent,
  type RequestSample,
  type StatusPeriod,
} from './demo-report.js';
import {
  explainAccessError,
  requireCredentials,
  resolveRegion,
  useServeProfile,
} from './endpoint.js';
import { runLoad } from './load.js';
import { formatElapsed, withProgress, type ProgressOptions } from './progress.js';
import { startVellum } from './serve.js';
import { onStdoutClosed } from './stdout-closed.js';

export interface ScenarioDemoOptions {
  dataDir?: string;
  records: number;
  /** Concurrent requests of the load. */
  concurrency: number;
  /**
   * The embedded server's key check interval, which is the grace period
   * after a key is disabled. A server at `endpoint` uses its own.
   */
  keyCheckInterval: number;
  stage: string;
  /** Keep the stage deployed at the end instead of removing it. */
  keep?: boolean;
  /** The path of the HTML report; `vellum-report.html` by default. */
  report?: string;
  /**
   * Run phase 1 at the original scripts' rates (5 creates a second for
   * 300 s, 10 reads a second for 150 s) instead of compressed.
   */
  seedTiming?: boolean;
  /**
   * A running Vellum to deploy to instead of an embedded server, such as
   * `http://127.0.0.1:8600`. Credentials come from the AWS profile or
   * environment, as for `vellum shell`.
   */
  endpoint?: string;
  /** The endpoint's region: the AWS profile's region, or us-east-1, when absent. */
  region?: string;
  /** Milliseconds to wait for the stack or the ledger to reach a state; 2 minutes by default. */
  waitTimeout?: number;
  /** Milliseconds between progress lines when standard error is not a terminal; 5 s by default. */
  progressInterval?: number;
  /** The embedded server's port on 127.0.0.1; 0, the default, picks a free one. */
  port?: number;
  /** The record service's port on 127.0.0.1; 0, the default, picks a free one. */
  servicePort?: number;
}

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const ROLES = { create: 'qldb-kms-create-record-role', get: 'qldb-kms-get-record-role' };
const DEFAULT_WAIT_MS = 120_000;
/** Milliseconds between the DescribeLedger polls that draw the report's status bands. */
const STATUS_POLL_MS = 50;
const GRANT_ACCESS = /does not have grant access/;
const ACCESS_DENIED = /AccessDeniedException/;

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

  /** Record a status that a DescribeLedger poll returned just now. */
  status(status: string): void {
    const last = this.periods.at(-1);
    const t = this.now();
    if (last !== undefined) last.end = t;
    if (last !== undefined && last.status === status) last.lastSeen = t;
    else this.periods.push({ start: t, end: t, lastSeen: t, status });
  }

  samplesOf(phase: string): RequestSample[] {
    return this.samples.filter((sample) => sample.phase === phase);
  }
}

interface PhaseResult {
  phase: string;
  requests: number;
  succeeded: number;
  failed: number;
  firstError: string;
  /** The error of each failed request, in the order they ended. */
  errors: string[];
  /** Response times in milliseconds. */
  latencies: number[];
  /** Median and p99 response time in milliseconds, when the load runner measured them. */
  measured?: { p50: number; p99: number };
}

function emptyResult(phase: string): PhaseResult {
  return {
    phase,
    requests: 0,
    succeeded: 0,
    failed: 0,
    firstError: '',
    errors: [],
    latencies: [],
  };
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

/** A phase's verdict: what was checked, and what was seen instead when the check failed. */
export interface Verdict {
  passed: boolean;
  expectation: string;
  problems: string[];
}

function buildVerdict(expectation: string, problems: string[]): Verdict {
  return { passed: problems.length === 0, expectation, problems };
}

/** The outcome counts and error messages of a phase, which the verdicts check. */
export type PhaseCounts = Pick<PhaseResult, 'requests' | 'succeeded' | 'failed' | 'errors'>;

export function expectAllSucceeded(result: PhaseCounts): Verdict {
  const problems = result.failed === 0 ? [] : [`${result.failed} of ${result.requests} failed`];
  return buildVerdict('every request succeeded', problems);
}

/** Count the errors that do not match `pattern`, and describe the first of them. */
function unexpectedErrors(errors: string[], pattern: RegExp, expectedError: string): string[] {
  const other = errors.filter((error) => !pattern.test(error));
  if (other.length === 0) return [];
  return [
    `${other.length} failed with another error than ${expectedError}, the first with: ${other[0]}`,
  ];
}

/**
 * Judge the phase in which the ledger's key is disabled under load. Reads
 * go on until the server's key check for the caller or the key guard finds
 * the key disabled. That takes up to about one key check interval, so the
 * moment reads begin to fail is not checked. What is checked holds on a
 * loaded machine: reads that ended before DisableKey was sent succeeded,
 * at least one read failed, every failure carried QLDB's grant-access
 * message, and no read that started after DescribeLedger returned
 * `KMS_KEY_INACCESSIBLE` succeeded. `samples` are the phase's requests,
 * `disabledAt` and `inaccessibleAt` seconds on the same clock.
 */
export function judgeKeyDisabled(
  result: PhaseCounts,
  samples: RequestSample[],
  disabledAt: number,
  inaccessibleAt: number,
): Verdict {
  const problems: string[] = [];
  const failedBefore = samples.filter((sample) => !sample.ok && sample.t < disabledAt).length;
  if (failedBefore > 0) problems.push(`${failedBefore} failed before DisableKey was sent`);
  if (result.failed === 0) problems.push('no read failed');
  problems.push(...unexpectedErrors(result.errors, GRANT_ACCESS, 'the grant-access message'));
  const succeededAfter = samples.filter(
    (sample) => sample.ok && sample.t - sample.ms / 1000 > inaccessibleAt,
  ).length;
  if (succeededAfter > 0) {
    problems.push(
      `${succeededAfter} started after DescribeLedger returned KMS_KEY_INACCESSIBLE and succeeded`,
    );
  }
  return buildVerdict(
    'reads that ended before DisableKey succeeded; at least one read failed, every failure had the ' +
      'grant-access message, and every read that started after DescribeLedger returned KMS_KEY_INACCESSIBLE failed',
    problems,
  );
}

export function expectAllDenied(result: PhaseCounts): Verdict {
  const problems = result.succeeded === 0 ? [] : [`${result.succeeded} succeeded`];
  if (result.requests === 0) problems.push('no read was sent');
  problems.push(...unexpectedErrors(result.errors, ACCESS_DENIED, 'AccessDeniedException'));
  return buildVerdict('every read failed with AccessDeniedException', problems);
}

/** Format a verdict as a terminal line, such as `PASS 1. create records: every request succeeded`. */
export function formatVerdict(phase: string, result: Verdict): string {
  const seen = result.passed ? '' : `; instead ${result.problems.join('; ')}`;
  return `${result.passed ? 'PASS' : 'FAIL'} ${phase}: ${result.expectation}${seen}`;
}

type Clients = Awaited<ReturnType<typeof loadClients>>;

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The Vellum the demo runs against: embedded, or a running server at `--endpoint`. */
interface Target {
  url: string;
  region: string;
  account: string;
  credentials: Credentials;
  /** Environment entries that tell the record service who it runs as. */
  serviceEnv: Record<string, string>;
  /** Said after the URL in the opening line. */
  about: string;
  /** The closing sentence when the stage is kept. */
  keptMessage(stackName: string): string;
  /** The command that removes a stage from this Vellum, with `stage` in it. */
  removeCommand(stage: string): string;
  /** How to run the demo on another Vellum instead. */
  elsewhere: string;
  close(): Promise<void>;
}

/** State of one demo run: its timeline, its wait timeout and its progress options. */
interface Run {
  timeline: Timeline;
  waitTimeout: number;
  progress: ProgressOptions;
  /** Folders of the load phase running now, removed when it ends or the demo is interrupted. */
  scratch: Set<string>;
}

/**
 * Run the reference scenario end to end. Start `vellum serve`, or use the
 * one at `endpoint`, deploy the stage (four keys behind an alias, two
 * service roles, the ledger) and start the record service. Then load it,
 * rotate, disable and swap the ledger's key under load, and report what the
 * callers saw in each phase. The stage is removed at the end, also when the
 * run fails or is interrupted, unless `keep` is set.
 */
export async function runScenarioDemo(options: ScenarioDemoOptions): Promise<boolean> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  checkStage(options.stage);
  const endpoint = options.endpoint === undefined ? undefined : parseEndpoint(options.endpoint);
  const run: Run = {
    timeline: new Timeline(),
    waitTimeout: options.waitTimeout ?? DEFAULT_WAIT_MS,
    progress: { lineInterval: options.progressInterval },
    scratch: new Set(),
  };
  const timeline = run.timeline;
  const sdk = await loadClients();
  const target =
    endpoint === undefined
      ? await startEmbedded(options)
      : await connect(sdk, endpoint, options.region);
  const clients = makeClients(sdk, target);
  const stackName = `qldb-kms-${options.stage}`;
  let service: ChildProcess | undefined;
  let deployed = false;
  let removed = false;
  let cleaning: Promise<void> | undefined;
  // Stop the record service, remove the stage unless it is kept, and let go of the server.
  const cleanUp = (reason: string) =>
    (cleaning ??= (async () => {
      service?.kill('SIGTERM');
      for (const folder of run.scratch) {
        try {
          rmSync(folder, { recursive: true, force: true });
        } catch (error) {
          // Removing the stage matters more than a leftover copy of a script.
          process.stderr.write(`could not remove ${folder}: ${(error as Error).message}\n`);
        }
      }
      if (deployed && !removed && options.keep !== true) {
        process.stderr.write(`removing stack ${stackName} ${reason}\n`);
        try {
          await removeStage(sdk, clients, stackName, run);
          removed = true;
        } catch (error) {
          process.stderr.write(
            `could not remove stack ${stackName}: ${(error as Error).message}\n` +
              `remove it with: ${target.removeCommand(options.stage)}\n`,
          );
        }
      }
      await target.close();
    })());
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the demo (a second ${signal} stops at once)\n`);
    void cleanUp('after the interruption').finally(() =>
      process.exit(signal === 'SIGINT' ? 130 : 143),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A reader of the output that went away, as in `vellum demo | head`, stops the demo as a signal does.
  const stopWatchingStdout = onStdoutClosed(() => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('standard output was closed: stopping the demo\n');
    void cleanUp('after standard output was closed').finally(() => process.exit(1));
  });

  const results: PhaseResult[] = [];
  // The ledger status poller runs until the table is printed, or until the run fails.
  let polling = true;
  try {
    print(`Vellum demo: the reference scenario against ${target.url} ${target.about}`);
    await checkStageIsFree(sdk, clients, target, options.stage);
    const stack = await deployStage(sdk, clients, target, options.stage, run, () => {
      deployed = true;
    });
    print(
      `1. deployed stacks/qldb-kms.yml as stack ${stack.stackName}: ledger ${stack.ledger} (STANDARD, key alias/qldb-kms-${options.stage}), ` +
        `keys main ${stack.keys.main}, rotate ${stack.keys.rotate}, no-access ${stack.keys.noAccess}, delete ${stack.keys.delete}`,
    );

    const started = await withProgress(
      'starting the record service',
      () => '',
      () => startRecordService(target, options.stage, options.servicePort ?? 0),
      run.progress,
    );
    service = started.child;
    const base = started.url;
    print(`2. record service on ${base}`);

    const ids = Array.from({ length: options.records }, (_, i) => i + 1);
    // undici's request, unlike fetch, reaches a record service on any port.
    const read = async (id: number): Promise<Reply> => {
      const response = await request(`${base}/${id}`);
      return { status: response.statusCode, body: await response.body.text() };
    };
    const keyNames = new Map(
      Object.entries(stack.keys).map(([name, keyId]) => [stack.arn(keyId), name]),
    );
    const ledgerStatus = async () =>
      (await clients.qldb.send(new sdk.qldb.DescribeLedgerCommand({ Name: stack.ledger })))
        .EncryptionDescription;
    const describe = (status: Awaited<ReturnType<typeof ledgerStatus>>) => {
      if (status?.EncryptionStatus === undefined) return 'no key status';
      const key = keyNames.get(status.KmsKeyArn ?? '') ?? status.KmsKeyArn ?? 'an unknown key';
      return `${status.EncryptionStatus} under the ${key} key`;
    };
    let lastStatus = '';
    // Sample the ledger's encryption status for the report's timeline and the progress lines.
    const poller = (async () => {
      while (polling) {
        const status = await ledgerStatus().catch(() => undefined);
        if (status?.EncryptionStatus !== undefined) {
          timeline.status(status.EncryptionStatus);
          lastStatus = describe(status);
        }
        await sleep(STATUS_POLL_MS);
      }
    })();
    /**
     * Poll DescribeLedger until `done` holds, for at most the wait timeout.
     * The key guard makes most of these changes at its next key check, so
     * how long they take depends on the server's key check interval.
     */
    const waitForLedger = async (
      want: string,
      done: (status: Awaited<ReturnType<typeof ledgerStatus>>) => boolean,
    ) => {
      const deadline = Date.now() + run.waitTimeout;
      for (;;) {
        const status = await ledgerStatus();
        if (done(status)) return status;
        if (Date.now() > deadline) {
          throw new Error(
            `ledger ${stack.ledger} still reports ${describe(status)} after ${formatElapsed(run.waitTimeout)} ` +
              `of waiting for ${want}. The server's key guard makes this change at its next key check ` +
              `(vellum serve --key-check-interval, 10 s by default); if the server checks less often, ` +
              `pass a longer --wait-timeout`,
          );
        }
        await sleep(100);
      }
    };
    const readsWhile = (phase: string, change: (live: PhaseResult) => Promise<void>) =>
      loadWhile(run, phase, ids, read, options.concurrency, change, () =>
        lastStatus === '' ? '' : `ledger ${lastStatus}`,
      );

    // Scenario 1 runs the original load scripts with the load runner; by
    // default their phases are compressed to finish in seconds.
    results.push(await scriptPhase(run, '1. create records', 'create-record.yml', base, options));
    results.push(await scriptPhase(run, '1. read records', 'get-record.yml', base, options));

    // Scenario 2: change the key, through the alias and through the ledger, while reads run.
    results.push(
      await readsWhile('2. alias re-pointed', async () => {
        timeline.event('alias to rotate key');
        await clients.kms.send(
          new sdk.kms.UpdateAliasCommand({
            AliasName: `alias/qldb-kms-${options.stage}`,
            TargetKeyId: stack.keys.rotate,
          }),
        );
        await waitForLedger(
          'the alias change to the rotate key, then ENABLED',
          (status) =>
            status?.KmsKeyArn === stack.arn(stack.keys.rotate) &&
            status.EncryptionStatus === 'ENABLED',
        );
      }),
    );
    let seen = '';
    results.push(
      await readsWhile('2. update-ledger --kms-key', async () => {
        timeline.event('update-ledger to delete key');
        const updated = await clients.qldb.send(
          new sdk.qldb.UpdateLedgerCommand({ Name: stack.ledger, KmsKey: stack.keys.delete }),
        );
        seen = updated.EncryptionDescription?.EncryptionStatus ?? '';
        await waitForLedger(
          'ENABLED under the delete key',
          (status) =>
            status?.KmsKeyArn === stack.arn(stack.keys.delete) &&
            status.EncryptionStatus === 'ENABLED',
        );
      }),
    );
    print(
      `3. update-ledger answered ${seen}, then the ledger reported ENABLED under the delete key`,
    );

    // Scenario 3: disable the key; reads go on until the guard notices, then fail, then recover.
    let disabledAt = 0;
    let inaccessibleAt = 0;
    results.push(
      await readsWhile('3. key disabled', async (live) => {
        timeline.event('disable key');
        disabledAt = timeline.now();
        await clients.kms.send(new sdk.kms.DisableKeyCommand({ KeyId: stack.keys.delete }));
        await waitForLedger(
          'KMS_KEY_INACCESSIBLE',
          (status) => status?.EncryptionStatus === 'KMS_KEY_INACCESSIBLE',
        );
        inaccessibleAt = timeline.now();
        // Go on reading until the callers have seen the refusal, so that the
        // phase shows it; a missing refusal shows in the verdict.
        const failedBefore = live.failed;
        const deadline = Date.now() + Math.min(run.waitTimeout, 10_000);
        while (live.failed < failedBefore + options.concurrency && Date.now() < deadline) {
          await sleep(20);
        }
      }),
    );
    const inaccessible = await ledgerStatus();
    print(
      `4. key disabled: the ledger is ${inaccessible?.EncryptionStatus} since ` +
        `${inaccessible?.InaccessibleKmsKeyDateTime?.toISOString()} ` +
        `(${describeKeyDisabled(timeline.samplesOf('3. key disabled'), disabledAt, inaccessibleAt)})`,
    );
    timeline.event('enable key');
    await clients.kms.send(new sdk.kms.EnableKeyCommand({ KeyId: stack.keys.delete }));
    await withProgress(
      'waiting for the ledger to report ENABLED again',
      () => lastStatus,
      () => waitForLedger('ENABLED', (status) => status?.EncryptionStatus === 'ENABLED'),
      run.progress,
    );
    results.push(await load(run, '3. key enabled again', ids, read, options.concurrency));

    // Scenario 4: a key the service roles may not use.
    timeline.event('update-ledger to no-access key');
    await clients.qldb.send(
      new sdk.qldb.UpdateLedgerCommand({ Name: stack.ledger, KmsKey: stack.keys.noAccess }),
    );
    await withProgress(
      'waiting for the ledger to report ENABLED under the no-access key',
      () => lastStatus,
      () =>
        waitForLedger(
          'ENABLED under the no-access key',
          (status) =>
            status?.KmsKeyArn === stack.arn(stack.keys.noAccess) &&
            status.EncryptionStatus === 'ENABLED',
        ),
      run.progress,
    );
    results.push(await load(run, '4. no-access key', ids.slice(0, 100), read, options.concurrency));

    polling = false;
    await poller;
    const verdicts = [
      expectAllSucceeded(results[0]!),
      expectAllSucceeded(results[1]!),
      expectAllSucceeded(results[2]!),
      expectAllSucceeded(results[3]!),
      judgeKeyDisabled(
        results[4]!,
        timeline.samplesOf(results[4]!.phase),
        disabledAt,
        inaccessibleAt,
      ),
      expectAllSucceeded(results[5]!),
      expectAllDenied(results[6]!),
    ];
    print('');
    printPhaseTable(print, results, verdicts);
    const expected = verdicts.every((phaseVerdict) => phaseVerdict.passed);
    const reportPath = resolve(options.report ?? 'vellum-report.html');
    await writeDemoReport(reportPath, {
      samples: timeline.samples,
      events: timeline.events,
      periods: timeline.periods,
      pollInterval: STATUS_POLL_MS,
      rows: results.map((result, i) => {
        const [p50, p99] = percentiles(result);
        const { passed, expectation, problems } = verdicts[i]!;
        return {
          phase: result.phase,
          requests: result.requests,
          succeeded: result.succeeded,
          failed: result.failed,
          p50,
          p99,
          passed,
          expectation: passed ? expectation : `${expectation}; instead ${problems.join('; ')}`,
          firstError: result.firstError,
        };
      }),
    });
    print(`report: ${reportPath}`);
    if (options.keep !== true) {
      service.kill('SIGTERM');
      await removeStage(sdk, clients, stackName, run);
      removed = true;
    }
    print('');
    const ending =
      options.keep === true ? `5. ${target.keptMessage(stackName)}` : '5. stage removed.';
    print(
      expected
        ? `${ending} Demo finished: every phase behaved as the reference scenario expects.`
        : `${ending} Demo finished, but a phase did not behave as expected; see the FAIL lines above.`,
    );
    return expected;
  } finally {
    polling = false;
    await cleanUp('after the failure');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopWatchingStdout();
  }
}

/**
 * Print the phase table, with a PASS or FAIL column, then one line per phase
 * with the expectation its verdict checked.
 */
function printPhaseTable(
  print: (line: string) => void,
  results: PhaseResult[],
  verdicts: Verdict[],
): void {
  print(
    'phase                          requests  succeeded  failed    p50 ms    p99 ms  verdict  first error',
  );
  results.forEach((result, i) => {
    const [p50, p99] = percentiles(result);
    const mark = verdicts[i]!.passed ? 'PASS' : 'FAIL';
    print(
      `${result.phase.padEnd(30)} ${String(result.requests).padStart(8)}  ${String(result.succeeded).padStart(9)}  ${String(result.failed).padStart(6)}  ${p50.padStart(8)}  ${p99.padStart(8)}  ${mark.padEnd(7)}  ${result.firstError}`,
    );
  });
  print('');
  results.forEach((result, i) => print(formatVerdict(result.phase, verdicts[i]!)));
}

/**
 * Say how long after DisableKey DescribeLedger returned `KMS_KEY_INACCESSIBLE`,
 * the first read failed and the last read to succeed ended.
 */
function describeKeyDisabled(
  samples: RequestSample[],
  disabledAt: number,
  inaccessibleAt: number,
): string {
  const after = (t: number) => formatElapsed((t - disabledAt) * 1000);
  const firstFailure = samples.find((sample) => !sample.ok);
  const lastSuccess = samples.filter((sample) => sample.ok && sample.t >= disabledAt).at(-1);
  return [
    `DescribeLedger returned it ${after(inaccessibleAt)} after DisableKey`,
    firstFailure === undefined
      ? 'no read failed'
      : `the first read failed ${after(firstFailure.t)} after it`,
    lastSuccess === undefined
      ? 'no read succeeded after it'
      : `the last read to succeed ended ${after(lastSuccess.t)} after it`,
  ].join('; ');
}

function checkStage(stage: string): void {
  if (!/^[A-Za-z0-9-]{1,40}$/.test(stage)) {
    throw new Error(
      `--stage must be 1 to 40 letters, digits and hyphens, such as demo, got ${JSON.stringify(stage)}`,
    );
  }
}

/** Return the origin of an `--endpoint` URL, or raise an error naming the invalid value. */
export function parseEndpoint(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(
      `--endpoint must be the http:// address vellum serve printed, such as http://127.0.0.1:8600, got ${JSON.stringify(text)}`,
    );
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new Error(
      `--endpoint must be a server address without a path, query or user, such as ${url.origin}, got ${JSON.stringify(text)}`,
    );
  }
  return url.origin;
}

/** Start `vellum serve` in this process on a free loopback port, with its data in `dataDir` or a temporary directory. */
async function startEmbedded(options: ScenarioDemoOptions): Promise<Target> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'vellum-demo-'));
  const keepData = options.dataDir !== undefined || options.keep === true;
  const removeData = () => {
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
  };
  const vellum = await startVellum({
    host: '127.0.0.1',
    port: options.port ?? 0,
    dataDir,
    accountId: ACCOUNT,
    region: REGION,
    kmsDayLength: 1000,
    keyCheckInterval: options.keyCheckInterval,
    logLevel: 'silent',
    allowRemote: false,
    logger: pino({ level: 'silent' }),
  }).catch((error: unknown) => {
    removeData();
    throw error;
  });
  return {
    url: vellum.url,
    region: REGION,
    account: ACCOUNT,
    credentials: {
      accessKeyId: vellum.rootCredentials.accessKeyId,
      secretAccessKey: vellum.rootCredentials.secretAccessKey,
    },
    // The record service finds its credentials as a user's service would: in the profile.
    serviceEnv: {
      AWS_SHARED_CREDENTIALS_FILE: vellum.profile.credentialsFile,
      AWS_CONFIG_FILE: vellum.profile.configFile,
      AWS_PROFILE: 'vellum',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
    },
    about: `(data in ${dataDir})`,
    keptMessage: (stackName) =>
      `stage ${stackName} kept in ${dataDir}; vellum serve --data-dir ${dataDir} serves it again.`,
    // The embedded server is gone by then: the stage is removed through a server on the same data.
    removeCommand: (stage) =>
      `vellum serve --data-dir ${dataDir}, then vellum remove --stage ${stage} --data-dir ${dataDir}`,
    elsewhere: 'pass another --data-dir',
    close: async () => {
      await vellum.close();
      removeData();
    },
  };
}

/**
 * Check that a running Vellum responds at `url` and accepts the credentials
 * of the AWS profile or environment, and learn its account from
 * GetCallerIdentity. Each failure names the value at fault and the fix.
 */
async function connect(sdk: Clients, url: string, regionOption?: string): Promise<Target> {
  process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  // As the other commands do, use the profile that `vellum serve` wrote into
  // ./.vellum when the environment configures no credentials.
  useServeProfile('./.vellum');
  const probe = new sdk.sts.STSClient({ endpoint: url });
  const region = await resolveRegion(regionOption, () => probe.config.region());
  probe.destroy();
  const sts = new sdk.sts.STSClient({ endpoint: url, region, maxAttempts: 1 });
  try {
    const credentials = await requireCredentials(() => sts.config.credentials(), url);
    const key = credentials.accessKeyId;
    let identity;
    try {
      identity = await sts.send(new sdk.sts.GetCallerIdentityCommand({}), {
        abortSignal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      throw explainConnectError(error as Error & { code?: string }, url, key, region);
    }
    const account = identity.Account ?? '';
    if (!/^\d{12}$/.test(account)) {
      throw new Error(
        `${url} returned no account id from GetCallerIdentity; is it a Vellum endpoint? Pass the address vellum serve printed`,
      );
    }
    return {
      url,
      region,
      account,
      credentials,
      // The record service runs as the same caller, through the environment.
      serviceEnv: {
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_SESSION_TOKEN: credentials.sessionToken ?? '',
      },
      about: `as ${identity.Arn} (region ${region})`,
      keptMessage: (stackName) =>
        `stage ${stackName} kept on ${url}; vellum remove --stage ${stackName.replace(/^qldb-kms-/, '')} --endpoint ${url} removes it.`,
      removeCommand: (stage) => `vellum remove --stage ${stage} --endpoint ${url}`,
      elsewhere: 'use another server',
      close: async () => undefined,
    };
  } finally {
    sts.destroy();
  }
}

function explainConnectError(
  error: Error & { code?: string; $metadata?: { httpStatusCode?: number } },
  url: string,
  accessKey: string,
  region: string,
): Error {
  const explained = explainAccessError(error, url, accessKey, region);
  if (explained !== undefined) return explained;
  if (error.$metadata?.httpStatusCode !== undefined) {
    return new Error(
      `${url} returned a response to GetCallerIdentity that Vellum would not return (HTTP ${error.$metadata.httpStatusCode}, ` +
        `${error.name}: ${error.message.split('\n')[0]}); pass the address vellum serve printed`,
      { cause: error },
    );
  }
  return new Error(`cannot use Vellum at ${url}: ${error.name}: ${error.message}`, {
    cause: error,
  });
}

function makeClients(sdk: Clients, target: Target) {
  const config = { endpoint: target.url, region: target.region, credentials: target.credentials };
  return {
    config,
    cloudformation: new sdk.cloudformation.CloudFormationClient(config),
    kms: new sdk.kms.KMSClient(config),
    qldb: new sdk.qldb.QLDBClient(config),
    iam: new sdk.iam.IAMClient(config),
  };
}

type DemoClients = ReturnType<typeof makeClients>;

/**
 * Refuse a stage whose stack, ledger, alias or roles already exist. The
 * stack would take them over and delete them at the end, so the demo
 * deploys only where it touches nothing that was there before.
 */
async function checkStageIsFree(
  sdk: Clients,
  clients: DemoClients,
  target: Target,
  stage: string,
): Promise<void> {
  const notFound = (pattern: RegExp) => (error: Error) => {
    if (pattern.test(error.name) || pattern.test(error.message)) return undefined;
    throw error;
  };
  const conflicts: string[] = [];
  const stack = await clients.cloudformation
    .send(new sdk.cloudformation.DescribeStacksCommand({ StackName: `qldb-kms-${stage}` }))
    .catch(notFound(/does not exist/));
  if (stack !== undefined) {
    conflicts.push(`stack qldb-kms-${stage} (${stack.Stacks?.[0]?.StackStatus ?? 'unknown'})`);
  }
  const ledger = await clients.qldb
    .send(new sdk.qldb.DescribeLedgerCommand({ Name: `qldb-kms-ledger-${stage}` }))
    .catch(notFound(/ResourceNotFound/));
  if (ledger !== undefined) conflicts.push(`ledger qldb-kms-ledger-${stage}`);
  const alias = await clients.kms
    .send(new sdk.kms.DescribeKeyCommand({ KeyId: `alias/qldb-kms-${stage}` }))
    .catch(notFound(/NotFound/));
  if (alias !== undefined) conflicts.push(`alias alias/qldb-kms-${stage}`);
  for (const role of [ROLES.create, ROLES.get]) {
    const found = await clients.iam
      .send(new sdk.iam.GetRoleCommand({ RoleName: role }))
      .catch(notFound(/NoSuchEntity/));
    if (found !== undefined) conflicts.push(`role ${role}`);
  }
  if (conflicts.length === 0) return;
  let fix: string;
  if (stack !== undefined) {
    fix = `remove it with ${target.removeCommand(stage)}`;
  } else if (conflicts.some((conflict) => conflict.startsWith('role '))) {
    fix =
      'stacks/qldb-kms.yml gives its roles fixed names, so one stage of it fits on a server at a time; ' +
      `remove the deployed one with ${target.removeCommand('<stage>')}, or ${target.elsewhere}`;
  } else fix = 'pass another --stage';
  throw new Error(
    `stage ${stage} cannot be deployed on ${target.url} without taking over what is there: ` +
      `${conflicts.join(', ')} already exist${conflicts.length === 1 ? 's' : ''}. ` +
      `The demo creates these and deletes them at the end, so it runs only where none of them exist: ${fix}`,
  );
}

/**
 * Run one of the original load scripts against the record service. Without
 * `seedTiming`, its phase is scaled to `records` arrivals over a few
 * seconds; the script's processor numbers the records 1, 2, 3, ...
 */
async function scriptPhase(
  run: Run,
  phase: string,
  script: string,
  target: string,
  options: ScenarioDemoOptions,
): Promise<PhaseResult> {
  const file = join(findRepositoryRoot(), 'scripts', script);
  let path = file;
  // The compressed copy of the script, removed once the phase ends.
  let scratch: string | undefined;
  const original = /duration: (\d+)\n\s+arrivalRate: (\d+)/.exec(readFileSync(file, 'utf8'));
  let arrivals = original === null ? 0 : Number(original[1]) * Number(original[2]);
  if (options.seedTiming !== true) {
    // 100 records a second stays below what the record service carries on a
    // 2-core machine (about 150 creates a second), so the latencies shown
    // are the service's own rather than time spent queued behind a backlog.
    const seconds = Math.max(1, Math.ceil(options.records / 100));
    const rate = Math.ceil(options.records / seconds);
    arrivals = seconds * rate;
    const text = readFileSync(file, 'utf8')
      .replace(
        /duration: \d+\n(\s+)arrivalRate: \d+/,
        `duration: ${seconds}\n$1arrivalRate: ${rate}`,
      )
      .replace(
        /processor: '\.\/([^']+)'/,
        (_, name: string) => `processor: '${join(dirname(file), name)}'`,
      );
    scratch = mkdtempSync(join(tmpdir(), 'vellum-demo-load-'));
    run.scratch.add(scratch);
    path = join(scratch, script);
    writeFileSync(path, text);
  }
  const expected = script.startsWith('create') ? 201 : 200;
  let done = 0;
  let failed = 0;
  const summary = await withProgress(
    phase,
    () => `${done} of ${arrivals} requests, ${failed} failed`,
    () =>
      runLoad({
        file: path,
        target: target.replace(/\/record$/, ''),
        quiet: true,
        onResponse: (ms, status) => {
          done++;
          if (status !== expected) failed++;
          run.timeline.samples.push({ t: run.timeline.now(), ms, ok: status < 400, phase });
        },
        onError: () => {
          done++;
          failed++;
        },
      }),
    run.progress,
  ).finally(() => {
    if (scratch === undefined) return;
    rmSync(scratch, { recursive: true, force: true });
    run.scratch.delete(scratch);
  });
  const succeeded = summary.codes[String(expected)] ?? 0;
  const failures = Object.entries(summary.codes).filter(([code]) => code !== String(expected));
  return {
    phase,
    requests: summary.requests,
    succeeded,
    failed: summary.requests - succeeded,
    firstError:
      failures.length > 0 ? `HTTP ${failures.map(([code, n]) => `${code} x${n}`).join(', ')}` : '',
    errors: [],
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
      iam: await import('@aws-sdk/client-iam'),
      sts: await import('@aws-sdk/client-sts'),
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
 * scenario does by hand. `onCreated` runs once the stack exists, so that a
 * failure after it removes the stack.
 */
async function deployStage(
  sdk: Clients,
  clients: DemoClients,
  target: Target,
  stage: string,
  run: Run,
  onCreated: () => void,
) {
  const stackName = `qldb-kms-${stage}`;
  const template = readFileSync(join(findRepositoryRoot(), 'stacks', 'qldb-kms.yml'), 'utf8');
  await clients.cloudformation.send(
    new sdk.cloudformation.CreateStackCommand({
      StackName: stackName,
      TemplateBody: template,
      Parameters: [{ ParameterKey: 'Stage', ParameterValue: stage }],
      Capabilities: ['CAPABILITY_NAMED_IAM'],
    }),
  );
  onCreated();
  let outputs: Record<string, string> = {};
  let status = 'CREATE_IN_PROGRESS';
  await withProgress(
    `deploying stack ${stackName}`,
    () => status,
    () =>
      waitFor(
        async () => {
          const reply = await clients.cloudformation.send(
            new sdk.cloudformation.DescribeStacksCommand({ StackName: stackName }),
          );
          const stack = reply.Stacks![0]!;
          status = stack.StackStatus ?? status;
          if (stack.StackStatus === 'CREATE_FAILED') {
            throw new Error(`stack ${stackName} failed: ${stack.StackStatusReason}`);
          }
          outputs = Object.fromEntries(
            (stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]),
          );
          return stack.StackStatus === 'CREATE_COMPLETE';
        },
        `stack ${stackName} to reach CREATE_COMPLETE`,
        run.waitTimeout,
      ),
    run.progress,
  );
  const ledger = outputs.ledgerName!;
  const driver = new sdk.driver.QldbDriver(ledger, clients.config);
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
  const arn = (keyId: string) => `arn:aws:kms:${target.region}:${target.account}:key/${keyId}`;
  return { ledger, keys, arn, stackName };
}

/** Delete the stack, after any operation on it has ended, and wait until it is gone. */
async function removeStage(
  sdk: Clients,
  clients: DemoClients,
  stackName: string,
  run: Run,
): Promise<void> {
  let status = '';
  const describe = async () => {
    try {
      const reply = await clients.cloudformation.send(
        new sdk.cloudformation.DescribeStacksCommand({ StackName: stackName }),
      );
      status = reply.Stacks?.[0]?.StackStatus ?? '';
      return status;
    } catch (error) {
      if (/does not exist/.test((error as Error).message)) return undefined;
      throw error;
    }
  };
  await withProgress(
    `removing stack ${stackName}`,
    () => status,
    async () => {
      // A stack still being created cannot be deleted yet.
      await waitFor(
        async () => !((await describe()) ?? '').endsWith('_IN_PROGRESS'),
        `stack ${stackName} to finish its operation`,
        run.waitTimeout,
      );
      await clients.cloudformation.send(
        new sdk.cloudformation.DeleteStackCommand({ StackName: stackName }),
      );
      await waitFor(
        async () => {
          const now = await describe();
          if (now === 'DELETE_FAILED') throw new Error(`stack ${stackName} is DELETE_FAILED`);
          return now === undefined;
        },
        `removal of stack ${stackName}`,
        run.waitTimeout,
      );
    },
    run.progress,
  );
}

/**
 * Start the example record service as its own process, as a user would run
 * it, on 127.0.0.1 at `port`, or on a free port when it is 0.
 */
async function startRecordService(
  target: Target,
  stage: string,
  port: number,
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
      ...target.serviceEnv,
      VELLUM_ENDPOINT: target.url,
      AWS_REGION: target.region,
      STAGE: stage,
      CREATE_ROLE_ARN: `arn:aws:iam::${target.account}:role/${ROLES.create}`,
      GET_ROLE_ARN: `arn:aws:iam::${target.account}:role/${ROLES.get}`,
      PORT: String(port),
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
    child.once('exit', (code) => {
      if (port !== 0 && errors.includes('EADDRINUSE')) {
        reject(
          new Error(
            `port ${port} on 127.0.0.1 is already in use, so the record service cannot listen there; ` +
              'stop the process using it or pass another --service-port (0 picks a free port)',
          ),
        );
      } else {
        reject(
          new Error(`the record service exited with code ${code} before it listened:\n${errors}`),
        );
      }
    });
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

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolveWait) => setTimeout(resolveWait, milliseconds));
}

async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${formatElapsed(timeoutMs)} waiting for ${what}; pass a longer --wait-timeout if the server is slow`,
      );
    }
    await sleep(100);
  }
}

/**
 * Send one request per id, `concurrency` at a time, and count the responses
 * with status 200 into `result`.
 */
async function readAll(
  run: Run,
  result: PhaseResult,
  ids: number[],
  send: (id: number) => Promise<Reply>,
  concurrency: number,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      result.requests++;
      const started = performance.now();
      const response = await send(id).catch((error: Error) => error);
      const elapsed = performance.now() - started;
      result.latencies.push(elapsed);
      const ok = !(response instanceof Error) && response.status === 200;
      run.timeline.samples.push({ t: run.timeline.now(), ms: elapsed, ok, phase: result.phase });
      if (ok) {
        result.succeeded++;
      } else {
        result.failed++;
        const error =
          response instanceof Error
            ? response.message
            : `${response.status} ${problemText(response.body)}`;
        result.errors.push(error);
        if (result.firstError === '') result.firstError = error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Response of the record service to a read: its status and body. */
interface Reply {
  status: number;
  body: string;
}

/** Read each id once, `concurrency` at a time, with progress lines. */
async function load(
  run: Run,
  phase: string,
  ids: number[],
  send: (id: number) => Promise<Reply>,
  concurrency: number,
): Promise<PhaseResult> {
  const result = emptyResult(phase);
  await withProgress(
    phase,
    () => `${result.requests} of ${ids.length} reads, ${result.failed} failed`,
    () => readAll(run, result, ids, send, concurrency),
    run.progress,
  );
  return result;
}

/**
 * Read in a loop while `change` runs, then report the reads. `change` receives
 * the counts so far, and the progress lines show them with `extra`.
 */
async function loadWhile(
  run: Run,
  phase: string,
  ids: number[],
  read: (id: number) => Promise<Reply>,
  concurrency: number,
  change: (live: PhaseResult) => Promise<void>,
  extra: () => string,
): Promise<PhaseResult> {
  let done = false;
  const result = emptyResult(phase);
  const loop = (async () => {
    while (!done) await readAll(run, result, ids.slice(0, 50), read, concurrency);
  })();
  await withProgress(
    phase,
    () => {
      const more = extra();
      return `${result.requests} reads, ${result.failed} failed${more === '' ? '' : `; ${more}`}`;
    },
    async () => {
      try {
        await change(result);
      } finally {
        done = true;
        await loop;
      }
    },
    run.progress,
  );
  return result;
}

/**
 * Shorten a record service error body for the phase table: the title and
 * detail of a problem JSON body, or the start of any other body.
 */
function problemText(body: string): string {
  try {
    const problem = JSON.parse(body) as { title?: unknown; detail?: unknown };
    if (typeof problem.title === 'string' && typeof problem.detail === 'string') {
      return `${problem.title}: ${problem.detail}`;
    }
  } catch {
    // Not JSON: show it as it came.
  }
  return body.slice(0, 160);
}
