import { Command, InvalidArgumentError, Option } from 'commander';
import { runDemo } from './demo.js';
import { runScenarioDemo } from './scenario-demo.js';
import { runShell } from './shell.js';
import { runRekey } from './rekey.js';
import { formatSummary, runLoad } from './load.js';
import { runDeploy, runOutputs, runRemove, type StackCommandOptions } from './stacks.js';
import { runVerify } from './verify.js';
import { parseDuration } from './duration.js';
import { runServe, type ServeOptions } from './serve.js';
import { DEFAULT_ENDPOINT, DEFAULT_REGION } from './endpoint.js';
import { watchStdout } from './stdout-closed.js';

watchStdout();

// The AWS SDK warns on every run that its releases from 2027 need Node.js 22.
// The versions in the lockfile support Node.js 20, so the CLI and the
// processes it starts turn the warning off unless the user set the variable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command();

/**
 * Add a mandatory option, checked just before the action, so that a misspelt
 * `--ledgr` gets commander's unknown-option error and not a missing `--ledger`.
 */
function requiredOption(command: Command, flags: string, description: string): Command {
  const option = new Option(flags, description);
  return command.addOption(option).hook('preAction', (self) => {
    if (self.getOptionValue(option.attributeName()) === undefined) {
      self.error(`error: required option '${option.flags}' not specified`, {
        code: 'commander.missingMandatoryOptionValue',
      });
    }
  });
}

const ENDPOINT_HELP = `Vellum's endpoint (default: the AWS profile's endpoint_url, else ${DEFAULT_ENDPOINT})`;
const REGION_HELP = `region (default: the AWS profile's region, else ${DEFAULT_REGION})`;
const PROFILE_DIR_HELP =
  "vellum serve's data directory, whose AWS profile is used when none is configured";

program
  .name('vellum')
  .description('Vellum, a verifiable ledger database with documents encrypted at rest')
  .version('0.1.0');

program
  .command('demo')
  .description(
    'Run the reference scenario: start vellum serve (or use the one at --endpoint), deploy a stage, ' +
      'load the record service, then rotate, disable and swap the ledger key under load and report each phase. ' +
      'With --engine-only, run the workload on an embedded ledger and verify its journal',
  )
  .option(
    '--data-dir <dir>',
    'data directory to use and keep (default: a new temporary directory, removed afterwards)',
  )
  .option('--records <count>', 'records to create and read back', parseCount, 1500)
  .option('--concurrency <count>', 'concurrent requests or writers', parseCount, 10)
  .option(
    '--writers <count>',
    'concurrent writers with --engine-only (default: --concurrency)',
    parseCount,
  )
  .option('--stage <name>', 'stage name of the deployed stack', 'demo')
  .option(
    '--endpoint <url>',
    'run against this running vellum serve instead of an embedded one, with the credentials ' +
      'of the AWS profile or environment, else the profile in ./.vellum; it must not have the ' +
      'stage, its ledger, alias or roles yet',
  )
  .option('--region <region>', "with --endpoint, the server's region (default: the profile region)")
  .option(
    '--port <port>',
    'TCP port of the embedded server on 127.0.0.1; 0 picks a free port',
    parsePort,
    0,
  )
  .option(
    '--service-port <port>',
    'TCP port of the record service on 127.0.0.1; 0 picks a free port',
    parsePort,
    0,
  )
  .addOption(
    new Option(
      '--key-check-interval <duration>',
      "how often the embedded server's key guard checks the ledger key; the grace period after " +
        "a key is disabled (with --endpoint, the server's own interval applies)",
    )
      .argParser(parseDuration)
      .default(parseDuration('1s'), '1s'),
  )
  .addOption(
    new Option(
      '--wait-timeout <duration>',
      'how long to wait for the stack or the ledger to reach a state, such as ENABLED after a key change ' +
        '(at least 4 key check intervals of the embedded server unless given)',
    )
      .argParser(parseDuration)
      .default(parseDuration('2m'), '2m'),
  )
  .addOption(
    new Option(
      '--progress-interval <duration>',
      'how often a long step prints a progress line when standard error is not a terminal',
    )
      .argParser(parseDuration)
      .default(parseDuration('5s'), '5s'),
  )
  .option('--keep', 'keep the deployed stage at the end instead of removing it', false)
  .option('--report <file>', 'where to write the HTML report', 'vellum-report.html')
  .option(
    '--seed-timing',
    "run phase 1 at the original scripts' rates: 5 creates a second for 300 s, then 10 reads a second for 150 s",
    false,
  )
  .option('--engine-only', 'run the embedded engine workload only, without a server', false)
  .action(
    async (
      options: {
        dataDir?: string;
        records: number;
        concurrency: number;
        writers?: number;
        stage: string;
        endpoint?: string;
        region?: string;
        port: number;
        servicePort: number;
        keyCheckInterval: number;
        waitTimeout: number;
        progressInterval: number;
        engineOnly: boolean;
        keep: boolean;
        seedTiming: boolean;
        report: string;
      },
      command: Command,
    ) => {
      const setOnCommandLine = (name: string) => command.getOptionValueSource(name) === 'cli';
      if (options.endpoint !== undefined) {
        const clash = [
          ['engineOnly', '--engine-only runs without a server'],
          ['dataDir', 'the server at --endpoint keeps its data in its own --data-dir'],
          [
            'port',
            'the server at --endpoint listens on its own port; --service-port still applies',
          ],
          [
            'keyCheckInterval',
            "the server at --endpoint checks keys at its own interval (vellum serve --key-check-interval); the demo's waits follow it",
          ],
        ].find(([name]) => setOnCommandLine(name!));
        if (clash !== undefined) {
          throw new Error(
            `--${clash[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} does not go with --endpoint: ${clash[1]}`,
          );
        }
      } else if (setOnCommandLine('region')) {
        throw new Error('--region goes with --endpoint; the embedded server serves us-east-1');
      }
      if (options.engineOnly) {
        const serverOption = ['port', 'servicePort'].find(setOnCommandLine);
        if (serverOption !== undefined) {
          throw new Error(
            `--${serverOption === 'port' ? 'port' : 'service-port'} does not go with --engine-only: it starts no server and no record service`,
          );
        }
        await runDemo({
          dataDir: options.dataDir,
          records: options.records,
          writers: options.writers ?? options.concurrency,
        });
        return;
      }
      // The embedded server's key changes take up to a few key check intervals.
      const waitTimeout =
        options.endpoint === undefined && !setOnCommandLine('waitTimeout')
          ? Math.max(options.waitTimeout, 4 * options.keyCheckInterval)
          : options.waitTimeout;
      const expected = await runScenarioDemo({ ...options, waitTimeout });
      if (!expected) process.exitCode = 1;
    },
  );

requiredOption(
  program
    .command('shell')
    .description(
      'A PartiQL shell on a ledger over the QLDB session API, with the AWS profile credentials. ' +
        'Statements end with ";"; each runs in its own transaction unless "start transaction;" opened one, ' +
        'which "commit;" or "abort;" ends. Reads statements from -e, stdin, or a prompt',
    ),
  '--ledger <name>',
  'the ledger to open a session on',
)
  .option('--endpoint <url>', ENDPOINT_HELP)
  .option('--region <region>', REGION_HELP)
  .option('--data-dir <dir>', PROFILE_DIR_HELP, './.vellum')
  .option('-e, --execute <statements>', 'run these statements, then exit')
  .option('--format <format>', 'result format: ion or json', parseFormat, 'ion')
  .action(
    async (options: {
      ledger: string;
      endpoint?: string;
      region?: string;
      dataDir: string;
      execute?: string;
      format: 'ion' | 'json';
    }) => {
      process.exitCode = await runShell(options);
    },
  );

const ledgerCommand = program
  .command('ledger')
  .description('Ledger operations on a running endpoint that QLDB does not offer');
ledgerCommand
  .command('rekey')
  .description(
    'Give a ledger a new data key: new writes use it at once, existing data is re-encrypted in the ' +
      'background while the ledger serves, and the old data key is deleted when done. ' +
      'Shows the progress until then, unless --no-wait',
  )
  .argument('<name>', 'the ledger')
  .option('--endpoint <url>', ENDPOINT_HELP)
  .option('--region <region>', REGION_HELP)
  .option('--data-dir <dir>', PROFILE_DIR_HELP, './.vellum')
  .option('--no-wait', 'start the rekey and exit without waiting for it')
  .action(
    async (
      name: string,
      options: { endpoint?: string; region?: string; dataDir: string; wait: boolean },
    ) => {
      process.exitCode = await runRekey({ ledger: name, ...options });
    },
  );

const stackCommand = (name: string, description: string) =>
  requiredOption(
    program.command(name).description(description),
    '--stage <stage>',
    'the stage; the stack is named <file name>-<stage>',
  )
    .option('--file <path>', 'the stack file', 'stacks/qldb-kms.yml')
    .option('--endpoint <url>', ENDPOINT_HELP)
    .option('--region <region>', REGION_HELP)
    .option('--data-dir <dir>', PROFILE_DIR_HELP, './.vellum');

stackCommand(
  'deploy',
  'Deploy a stack file to a running endpoint: create the stack, or update it; an unchanged stack stays as it is',
)
  .option('--json', 'print the outputs as a JSON object', false)
  .option(
    '--parameter <key=value>',
    'a value for a parameter of the stack file (repeatable); others keep their deployed values, or take their defaults',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .action(async (options: StackCommandOptions) => {
    process.exitCode = await runDeploy(options);
  });
stackCommand('outputs', "Print a deployed stack's outputs")
  .option('--json', 'print the outputs as a JSON object', false)
  .action(async (options: StackCommandOptions) => {
    process.exitCode = await runOutputs(options);
  });
stackCommand(
  'remove',
  "Remove a stack: delete its ledgers, aliases and roles, and schedule its keys for deletion after each key's PendingWindowInDays (7 days when it has none)",
).action(async (options: StackCommandOptions) => {
  process.exitCode = await runRemove(options);
});

program
  .command('load')
  .description(
    "Run an Artillery script without Artillery, then print a summary like Artillery's. " +
      'The script is checked first: a key or template outside the subset below ends the run with exit code 1',
  )
  .addHelpText(
    'after',
    `
Supported subset of the Artillery script format:
  config.target              the base URL; --target overrides it
  config.phases[]            duration (seconds, a number), then arrivalRate (virtual users
                             a second) or arrivalCount (virtual users in the phase); name
  config.processor           a CommonJS or ES module; flow functions get (context, events, done)
  config.variables           values for templates; a list gives each virtual user one value
                             picked at random
  scenarios[]                flow, name, weight (scenarios are picked in proportion to weight)
  flow steps                 function, get, post, put, delete, log, think (seconds)
  request keys               url (a path after the target, or an absolute http(s) URL),
                             json, headers
  templates                  {{ name }} for a variable, {{ $target }} for the target

A script that uses more of the format can still run with Artillery. A processor function
that fails and a template variable that no step set count as errors.<message>, and the run
then exits with code 1.`,
  )
  .argument('<file>', 'the script, such as scripts/create-record.yml')
  .option('--target <url>', "the address requests go to, instead of the script's config.target")
  .option('--output <file>', 'also write the summary as JSON to this file')
  .option('--quiet', 'print only the summary', false)
  .action(async (file: string, options: { target?: string; output?: string; quiet: boolean }) => {
    // The first Ctrl-C ends the run with a summary of what was sent; a second one quits at once.
    const stop = new AbortController();
    const onInterrupt = () => {
      if (stop.signal.aborted) process.exit(130);
      process.stderr.write('stopping: no new requests; Ctrl-C again to quit without a summary\n');
      stop.abort();
    };
    process.on('SIGINT', onInterrupt);
    try {
      const summary = await runLoad({ file, ...options, signal: stop.signal });
      process.stdout.write(formatSummary(summary));
      if (summary.requests > 0 && summary.responses === 0) {
        const errors = Object.entries(summary.errors)
          .map(([code, count]) => `${code} x${count}`)
          .join(', ');
        process.stderr.write(
          `vellum load: none of the ${summary.requests} requests got a response (${errors}); ` +
            'check that the service runs and that --target or config.target is its address\n',
        );
        process.exitCode = 1;
      } else if (Object.keys(summary.scriptErrors).length > 0) {
        const errors = Object.entries(summary.scriptErrors)
          .map(([message, count]) => `${message} x${count}`)
          .join(', ');
        process.stderr.write(
          `vellum load: virtual users stopped on errors in the script or its processor (${errors}); ` +
            'fix the processor function or set the variable, then run again\n',
        );
        process.exitCode = 1;
      } else if (summary.stopped) process.exitCode = 130;
    } finally {
      process.off('SIGINT', onInterrupt);
    }
  });

program
  .command('verify')
  .description(
    'Verify ledger journals with the standalone verifier: block hashes, the hash chain, the digest and the block tree. ' +
      'Exits 0 when all verify, 1 when one fails, 2 when one could not be checked and none failed',
  )
  .option('--ledger <name>', 'ledger to verify (default: every ledger in the data directory)')
  .option('--data-dir <dir>', 'data directory', './.vellum')
  .option(
    '--store <url>',
    'a postgres:// URL of a shared store to verify, with root.key from --data-dir (default: VELLUM_STORE)',
  )
  .action(async (options: { ledger?: string; dataDir: string; store?: string }) => {
    process.exitCode = await runVerify(options);
  });

program
  .command('serve')
  .description(
    'Serve the QLDB, KMS, IAM and STS APIs over HTTP with SigV4 authentication. ' +
      'The first start creates root credentials and writes them as AWS profile "vellum" into the data directory',
  )
  .option(
    '--host <address>',
    'address to listen on; loopback only unless --allow-remote',
    '127.0.0.1',
  )
  .option('--port <port>', 'TCP port to listen on; 0 picks a free port', parsePort, 8600)
  .option('--data-dir <dir>', 'data directory for the store, keys and credentials', './.vellum')
  .option(
    '--store <url>',
    'a postgres:// URL of a store shared by several servers (default: SQLite in the data directory, or VELLUM_STORE)',
  )
  .option('--account-id <id>', '12-digit AWS account id of the principals', '000000000000')
  .option('--region <region>', 'the AWS region this endpoint serves', 'us-east-1')
  .addOption(
    new Option(
      '--kms-day-length <duration>',
      'length of a KMS day, which scales key deletion windows and rotation periods (500ms, 10s, 5m, 24h)',
    )
      .argParser(parseDuration)
      .default(parseDuration('24h'), '24h'),
  )
  .addOption(
    new Option(
      '--key-check-interval <duration>',
      'how often the key guard checks each ledger KMS key (500ms, 10s, 5m)',
    )
      .argParser(parseDuration)
      .default(parseDuration('10s'), '10s'),
  )
  .option(
    '--log-level <level>',
    'pino log level: fatal, error, warn, info, debug, trace or silent',
    parseLogLevel,
    'info',
  )
  .option('--allow-remote', 'allow a --host that is not a loopback address', false)
  .action(async (options: ServeOptions) => {
    await runServe(options);
  });

function parseFormat(text: string): 'ion' | 'json' {
  if (text !== 'ion' && text !== 'json') {
    throw new InvalidArgumentError(`expected ion or json, got ${JSON.stringify(text)}`);
  }
  return text;
}

function parsePort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new InvalidArgumentError(
      `expected a TCP port from 0 to 65535, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseLogLevel(text: string): string {
  if (!LOG_LEVELS.includes(text)) {
    throw new InvalidArgumentError(
      `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

function parseCount(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

await program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`vellum: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
