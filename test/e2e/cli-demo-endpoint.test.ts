import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  CreateLedgerCommand,
  DescribeLedgerCommand,
  ListLedgersCommand,
  QLDBClient,
} from '@aws-sdk/client-qldb';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import { tempDir } from '../helpers/backends.js';
import {
  VELLUM_MAIN,
  readProfile,
  startServe,
  type ServeProcess,
} from '../helpers/serve-process.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

interface DemoRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `vellum demo` as a child process with the given environment on top of
 * a clean one. `onStdout` receives the output so far and may signal the child.
 */
function demo(
  env: Record<string, string>,
  args: string[],
  onStdout?: (output: string, child: ReturnType<typeof spawn>) => void,
  cwd?: string,
): Promise<DemoRun> {
  // Load tsx by its resolved URL, which works in any working directory.
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--import', tsx, VELLUM_MAIN, 'demo', ...args], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: env.HOME ?? '/nonexistent',
      AWS_EC2_METADATA_DISABLED: 'true',
      NODE_OPTIONS: process.env.NODE_OPTIONS ?? '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onStdout?.(stdout, child);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  return new Promise((resolve) =>
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    }),
  );
}

/** Return a loopback port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Return the environment that points the SDK at the profile `vellum serve` wrote. */
function profileEnv(dataDir: string): Record<string, string> {
  return {
    AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'),
    AWS_CONFIG_FILE: join(dataDir, 'config'),
    AWS_PROFILE: 'vellum',
  };
}

function clients(serve: ServeProcess, dataDir: string) {
  const config = {
    endpoint: serve.url,
    region: 'us-east-1',
    credentials: readProfile(dataDir),
  };
  return {
    config,
    qldb: new QLDBClient(config),
    cloudformation: new CloudFormationClient(config),
    iam: new IAMClient(config),
  };
}

/** A ledger with one document that the demo must leave as it was. */
async function createNeighbour(config: ReturnType<typeof clients>['config'], name: string) {
  await new QLDBClient(config).send(
    new CreateLedgerCommand({ Name: name, PermissionsMode: 'ALLOW_ALL', DeletionProtection: true }),
  );
  const driver = new QldbDriver(name, config, {}, 2, new RetryConfig(2));
  try {
    await driver.executeLambda(async (txn) => {
      await txn.execute('CREATE TABLE Kept');
      await txn.execute('INSERT INTO Kept ?', { id: 1, note: 'before the demo' });
    });
  } finally {
    driver.close();
  }
}

async function readNeighbour(config: ReturnType<typeof clients>['config'], name: string) {
  const driver = new QldbDriver(name, config, {}, 2, new RetryConfig(2));
  try {
    return await driver.executeLambda(async (txn) =>
      (await txn.execute('SELECT note FROM Kept WHERE id = 1'))
        .getResultList()
        .map((row) => row.get('note')?.stringValue()),
    );
  } finally {
    driver.close();
  }
}

test('demo --endpoint runs the scenario', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path, '--key-check-interval', '300ms', '--log-level', 'warn');
  try {
    const aws = clients(serve, dir.path);
    await createNeighbour(aws.config, 'neighbour');
    const report = join(dir.path, 'report.html');
    const servicePort = await freePort();
    const run = await demo(profileEnv(dir.path), [
      '--endpoint',
      serve.url,
      '--service-port',
      String(servicePort),
      '--records',
      '60',
      '--report',
      report,
      '--progress-interval',
      '50ms',
    ]);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`against ${serve.url} as arn:aws:iam::000000000000:root`));
    assert.match(
      run.stdout,
      new RegExp(`record service on http://127\\.0\\.0\\.1:${servicePort}/`),
    );
    assert.match(run.stdout, /1\. create records +60 +60 +0/);
    assert.match(run.stdout, /2\. alias re-pointed +\d+ +\d+ +0/);
    assert.match(run.stdout, /3\. key disabled .*does not have grant access/);
    assert.match(run.stdout, /DescribeLedger returned it \d+\.\d s after DisableKey/);
    assert.match(run.stdout, /^PASS 3\. key disabled: /m);
    assert.doesNotMatch(run.stdout, /^FAIL /m);
    assert.match(run.stdout, /4\. no-access key +\d+ +0 +\d+ .*AccessDeniedException/);
    assert.match(
      run.stdout,
      /5\. stage removed\. .*every phase behaved as the reference scenario expects/,
    );
    // Standard error is not a terminal here, so progress comes as lines.
    assert.match(run.stderr, /^1\. create records: \d+ of 60 requests, \d+ failed, \d+\.\d s$/m);
    // A phase that reads while the key changes shows the ledger's status. The
    // key guard may notice a disabled key within one line interval, so any such
    // phase will do.
    assert.match(
      run.stderr,
      /^[23]\. [\w -]+: \d+ reads, \d+ failed; ledger \w+ under the \w+ key, /m,
    );
    assert.ok(!run.stderr.includes('\r'), 'no carriage returns in a log');
    assert.ok(!run.stderr.includes('\x1b['), 'no terminal control codes in a log');

    const html = readFileSync(report, 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /disable key/);
    assert.doesNotMatch(html, /FAIL/);

    // The stage is gone, and what was on the server before is as it was.
    await assert.rejects(
      aws.cloudformation.send(new DescribeStacksCommand({ StackName: 'qldb-kms-demo' })),
      /does not exist/,
    );
    await assert.rejects(
      aws.iam.send(new GetRoleCommand({ RoleName: 'qldb-kms-create-record-role' })),
      /NoSuchEntity|cannot be found/,
    );
    const ledgers = await aws.qldb.send(new ListLedgersCommand({}));
    assert.deepEqual(
      ledgers.Ledgers?.map((ledger) => ledger.Name),
      ['neighbour'],
    );
    const neighbour = await aws.qldb.send(new DescribeLedgerCommand({ Name: 'neighbour' }));
    assert.equal(neighbour.State, 'ACTIVE');
    assert.equal(neighbour.DeletionProtection, true);
    assert.deepEqual(await readNeighbour(aws.config, 'neighbour'), ['before the demo']);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('demo --endpoint explains connection failures', async () => {
  // Nothing listens on this port.
  const port = await freePort();
  const dir = tempDir();
  const serve = await startServe(dir.path, '--log-level', 'warn');
  try {
    const unreachable = await demo(profileEnv(dir.path), [
      '--endpoint',
      `http://127.0.0.1:${port}`,
    ]);
    assert.equal(unreachable.status, 1);
    assert.match(
      unreachable.stderr,
      new RegExp(
        `cannot reach Vellum at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): start it with vellum serve`,
      ),
    );

    const missing = await demo(
      {
        AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'no-such-file'),
        AWS_CONFIG_FILE: join(dir.path, 'no-such-config'),
      },
      ['--endpoint', serve.url],
    );
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no AWS credentials for http:\/\/127\.0\.0\.1:\d+/);
    assert.match(missing.stderr, /profile default in .*no-such-file/);
    assert.match(missing.stderr, /AWS_PROFILE=vellum/);

    const unknownKey = await demo(
      { AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN12', AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
      ['--endpoint', serve.url],
    );
    assert.equal(unknownKey.status, 1);
    assert.match(
      unknownKey.stderr,
      /rejected access key AKIAUNKNOWNUNKNOWN12 from AWS_ACCESS_KEY_ID in the environment: it is not a key of that server/,
    );

    const { accessKeyId } = readProfile(dir.path);
    const wrongSecret = await demo(
      { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
      ['--endpoint', serve.url],
    );
    assert.equal(wrongSecret.status, 1);
    assert.match(
      wrongSecret.stderr,
      new RegExp(
        `rejected the signature of access key ${accessKeyId} .*the secret key does not match`,
      ),
    );

    const wrongRegion = await demo(profileEnv(dir.path), [
      '--endpoint',
      serve.url,
      '--region',
      'eu-west-1',
    ]);
    assert.equal(wrongRegion.status, 1);
    assert.match(wrongRegion.stderr, /does not serve region eu-west-1 .*pass --region/);

    const notAUrl = await demo(profileEnv(dir.path), ['--endpoint', '127.0.0.1:8600']);
    assert.equal(notAUrl.status, 1);
    assert.match(
      notAUrl.stderr,
      /--endpoint must be the http:\/\/ address .*got "127\.0\.0\.1:8600"/,
    );

    const clash = await demo(profileEnv(dir.path), [
      '--endpoint',
      serve.url,
      '--key-check-interval',
      '1s',
    ]);
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /--key-check-interval does not go with --endpoint/);

    const portClash = await demo(profileEnv(dir.path), ['--endpoint', serve.url, '--port', '0']);
    assert.equal(portClash.status, 1);
    assert.match(
      portClash.stderr,
      /--port does not go with --endpoint: .*--service-port still applies/,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('demo --endpoint uses ./.vellum profile', async () => {
  // vellum serve with its default data directory, ./.vellum, below the working directory.
  const dir = tempDir();
  const dataDir = join(dir.path, '.vellum');
  const serve = await startServe(dataDir, '--log-level', 'warn');
  try {
    // A ledger that stops the run once the demo has checked the caller.
    await createNeighbour(clients(serve, dataDir).config, 'qldb-kms-ledger-taken');
    // The runner's NODE_OPTIONS load tsx by a name that resolves only in the repository.
    const run = await demo(
      { NODE_OPTIONS: '' },
      ['--endpoint', serve.url, '--stage', 'taken'],
      undefined,
      dir.path,
    );
    assert.equal(run.status, 1);
    assert.doesNotMatch(run.stderr, /no AWS credentials/);
    assert.match(
      run.stderr,
      /stage taken cannot be deployed .*ledger qldb-kms-ledger-taken already exists/,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('demo --endpoint leaves existing resources alone', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path, '--key-check-interval', '300ms', '--log-level', 'warn');
  try {
    const aws = clients(serve, dir.path);
    // A ledger with the name the stage would give its ledger: the stack would take it over.
    await createNeighbour(aws.config, 'qldb-kms-ledger-taken');
    const takenStage = await demo(profileEnv(dir.path), [
      '--endpoint',
      serve.url,
      '--stage',
      'taken',
    ]);
    assert.equal(takenStage.status, 1);
    assert.match(
      takenStage.stderr,
      /stage taken cannot be deployed .*ledger qldb-kms-ledger-taken already exists.*pass another --stage/,
    );
    await assert.rejects(
      aws.cloudformation.send(new DescribeStacksCommand({ StackName: 'qldb-kms-taken' })),
      /does not exist/,
    );
    assert.deepEqual(await readNeighbour(aws.config, 'qldb-kms-ledger-taken'), ['before the demo']);

    // Interrupted once the record service runs: the stage goes, the other ledger stays.
    let interrupted = false;
    const scratch = tempDir();
    const env = { ...profileEnv(dir.path), TMPDIR: scratch.path };
    const run = await demo(env, ['--endpoint', serve.url], (output, child) => {
      if (!interrupted && /2\. record service on/.test(output)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    assert.equal(interrupted, true, run.stdout + run.stderr);
    assert.equal(run.status, 130, run.stdout + run.stderr);
    assert.match(run.stderr, /SIGINT: stopping the demo/);
    assert.match(run.stderr, /removing stack qldb-kms-demo after the interruption/);
    // The copy of the load script that the running phase made is gone too.
    const left = readdirSync(scratch.path).filter((name) => name.startsWith('vellum-demo-load-'));
    assert.deepEqual(left, []);
    scratch.remove();
    await assert.rejects(
      aws.cloudformation.send(new DescribeStacksCommand({ StackName: 'qldb-kms-demo' })),
      /does not exist/,
    );
    const ledgers = await aws.qldb.send(new ListLedgersCommand({}));
    assert.deepEqual(
      ledgers.Ledgers?.map((ledger) => ledger.Name),
      ['qldb-kms-ledger-taken'],
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('demo removes its stage when stdout closes', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path, '--key-check-interval', '300ms', '--log-level', 'warn');
  try {
    const aws = clients(serve, dir.path);
    // The reader of the output goes away once the record service runs, as `| head -3` does.
    let servicePort: number | undefined;
    const run = await demo(
      profileEnv(dir.path),
      ['--endpoint', serve.url, '--records', '50'],
      (output, child) => {
        const port = /2\. record service on http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1];
        if (servicePort === undefined && port !== undefined) {
          servicePort = Number(port);
          child.stdout!.destroy();
        }
      },
    );
    assert.ok(servicePort !== undefined, run.stdout + run.stderr);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /standard output was closed: stopping the demo/);
    assert.match(run.stderr, /removing stack qldb-kms-demo after standard output was closed/);
    await assert.rejects(
      aws.cloudformation.send(new DescribeStacksCommand({ StackName: 'qldb-kms-demo' })),
      /does not exist/,
    );
    // The record service stopped with the demo.
    await assert.rejects(fetch(`http://127.0.0.1:${servicePort}/demo/record/1`), /fetch failed/);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('demo --endpoint wait timeout', async () => {
  const dir = tempDir();
  // The key guard checks once an hour, so the ledger never follows the alias during the run.
  const serve = await startServe(dir.path, '--key-check-interval', '1h', '--log-level', 'warn');
  try {
    const aws = clients(serve, dir.path);
    const run = await demo(profileEnv(dir.path), [
      '--endpoint',
      serve.url,
      '--records',
      '20',
      '--wait-timeout',
      '2s',
    ]);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /ledger qldb-kms-ledger-demo still reports ENABLED under the main key after 2\.0 s of waiting for the alias change to the rotate key/,
    );
    assert.match(run.stderr, /pass a longer --wait-timeout/);
    assert.match(run.stderr, /removing stack qldb-kms-demo after the failure/);
    await assert.rejects(
      aws.cloudformation.send(new DescribeStacksCommand({ StackName: 'qldb-kms-demo' })),
      /does not exist/,
    );
    const ledgers = await aws.qldb.send(new ListLedgersCommand({}));
    assert.deepEqual(ledgers.Ledgers ?? [], []);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});

test('demo --keep blocks a rerun', async () => {
  const dir = tempDir();
  try {
    const report = join(dir.path, 'report.html');
    const args = ['--records', '20', '--data-dir', dir.path, '--report', report];
    const kept = await demo({}, [...args, '--keep']);
    assert.equal(kept.status, 0, kept.stdout + kept.stderr);
    assert.match(kept.stdout, /5\. stage qldb-kms-demo kept in /);

    // The kept stage is still in the data directory, so a second run there stops before deploying.
    const again = await demo({}, args);
    assert.equal(again.status, 1, again.stdout + again.stderr);
    assert.match(again.stderr, /stack qldb-kms-demo \(CREATE_COMPLETE\)/);
    assert.match(
      again.stderr,
      new RegExp(
        `remove it with vellum serve --data-dir ${dir.path}, then vellum remove --stage demo --data-dir ${dir.path}`,
      ),
    );
    assert.doesNotMatch(again.stdout, /1\. deployed/);
  } finally {
    dir.remove();
  }
});
