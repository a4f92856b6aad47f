import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CreateLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { tempDir } from '../helpers/backends.js';
import {
  VELLUM_MAIN,
  readProfile,
  startServe,
  type ServeProcess,
} from '../helpers/serve-process.js';
import { splitStatements } from '../../src/cli/shell.js';

test('shell statements split at semicolons outside quotes', () => {
  const { statements, rest } = splitStatements(
    "SELECT 'a;b' FROM t; -- a; comment\nINSERT INTO t VALUE {'x': `\"q;\"`};\nSELECT",
  );
  assert.deepEqual(statements, [
    "SELECT 'a;b' FROM t",
    '-- a; comment\nINSERT INTO t VALUE {\'x\': `"q;"`}',
  ]);
  assert.equal(rest.trim(), 'SELECT');
});

describe('shell on vellum serve', () => {
  let dir: ReturnType<typeof tempDir>;
  let serve: ServeProcess;

  before(async () => {
    dir = tempDir();
    serve = await startServe(dir.path);
    const credentials = readProfile(dir.path);
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    await new QLDBClient({ endpoint: serve.url, region: 'us-east-1', credentials }).send(
      new CreateLedgerCommand({ Name: 'shell', PermissionsMode: 'ALLOW_ALL' }),
    );
  });

  after(async () => {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  });

  const profileEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'credentials'),
    AWS_CONFIG_FILE: join(dir.path, 'config'),
    AWS_PROFILE: 'vellum',
  });

  /** Run `vellum shell` on the ledger with this stdin and these arguments. */
  const shell = (input: string, ...args: string[]) => {
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        VELLUM_MAIN,
        'shell',
        '--ledger',
        'shell',
        '--endpoint',
        serve.url,
        ...args,
      ],
      {
        input,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...profileEnv(), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
      },
    );
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  /** Start `vellum shell` on the ledger at a terminal. */
  const terminal = () =>
    new Terminal(
      `${shQuote(process.execPath)} --import tsx ${shQuote(VELLUM_MAIN)} shell --ledger shell --endpoint ${serve.url}`,
      profileEnv(),
    );

  test('shell runs statements against vellum serve', async () => {
    const setup = shell('', '-e', 'CREATE TABLE Test; CREATE INDEX ON Test (id);');
    assert.equal(setup.status, 0, setup.stderr);
    assert.match(setup.stdout, /tableId/);

    // Statements from stdin, spanning lines, in an explicit transaction.
    const session = shell(
      [
        'start transaction;',
        "INSERT INTO Test VALUE {'id': 1,",
        "  'name': 'one'};",
        "INSERT INTO Test VALUE {'id': 2, 'name': 'two'};",
        'commit;',
        'SELECT name FROM Test WHERE id = 2;',
      ].join('\n'),
      '--format',
      'json',
    );
    assert.equal(session.status, 0, session.stderr);
    assert.match(session.stderr, /committed/);
    assert.match(session.stdout, /\{"name":"two"\}/);
    assert.match(session.stderr, /1 document, 1 read IO\n/);

    const aborted = shell(
      "start transaction;\nINSERT INTO Test VALUE {'id': 3};\nabort;\nSELECT * FROM Test WHERE id = 3;",
    );
    assert.equal(aborted.status, 0, aborted.stderr);
    assert.match(aborted.stdout, /0 documents/);

    const failed = shell('', '-e', 'SELEC * FROM Test;');
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /BadRequestException: .*Errors at: line 1, column 1/);

    // At a terminal (util-linux `script` gives the shell one), Ctrl-C throws
    // away an unfinished statement, and at an empty prompt leaves the shell.
    const tty = terminal();
    try {
      await tty.expect(/shell> $/);
      tty.type('help\r');
      await tty.expect(/start transaction; +open a transaction.*\r?\nshell> $/s);
      tty.type('start transaction;\r');
      await tty.expect(/shell \(transaction\)> $/);
      tty.type('abort;\r');
      await tty.expect(/aborted\r?\nshell> $/);
      tty.type("INSERT INTO Test VALUE {'id': 77}\r");
      await tty.expect(/\.\.\.> $/);
      tty.type('\x03');
      await tty.expect(/\^C\r?\nshell> $/);
      tty.type("SELECT 'half typed' FROM Test\x03");
      await tty.expect(/\^C\r?\nshell> $/);
      tty.type('SELECT * FROM Test WHERE id = 77;\r');
      await tty.expect(/0 documents, .*\r?\nshell> $/s);
      tty.type('\x03');
      assert.equal(await tty.exited, 0, tty.output);
    } finally {
      tty.kill();
    }
    // With no AWS settings at all, the profile of --data-dir; with a profile
    // that does not exist, a message that names it and the fix.
    const bare = (args: string[], extra: NodeJS.ProcessEnv) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', VELLUM_MAIN, 'shell', '--ledger', 'shell', ...args],
        {
          encoding: 'utf8',
          timeout: 60_000,
          env: {
            ...Object.fromEntries(
              Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')),
            ),
            HOME: dir.path,
            ...extra,
          },
        },
      );
    const fromDataDir = bare(
      ['--data-dir', dir.path, '-e', 'SELECT * FROM Test WHERE id = 2;'],
      {},
    );
    assert.equal(fromDataDir.status, 0, fromDataDir.stderr);
    assert.match(fromDataDir.stdout, /1 document/);
    const noProfile = bare(['--data-dir', dir.path, '-e', 'SELECT 1 FROM Test;'], {
      AWS_PROFILE: 'nope',
    });
    assert.equal(noProfile.status, 1);
    assert.match(noProfile.stderr, /no AWS credentials for http:.*profile nope in .*credentials/);

    const untouched = shell('', '-e', 'SELECT * FROM Test WHERE id = 77;');
    assert.equal(untouched.status, 0, untouched.stderr);
    assert.match(untouched.stdout, /0 documents/);
  });

  test('shell explains an https endpoint', () => {
    const tls = serve.url.replace(/^http:/, 'https:');
    const result = shell('', '--endpoint', tls, '-e', 'SELECT 1 FROM Test;');
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `Vellum at ${tls.replace(/\./g, '\\.')} did not respond over TLS \\(EPROTO\\): ` +
          `vellum serve listens on plain HTTP, so use ${serve.url.replace(/\./g, '\\.')},`,
      ),
    );
  });

  test('shell names a missing secret key', () => {
    const { accessKeyId } = readProfile(dir.path);
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', VELLUM_MAIN, 'shell', '--ledger', 'shell', '--endpoint', serve.url],
      {
        input: 'SELECT 1 FROM Test;\n',
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...Object.fromEntries(
            Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')),
          ),
          HOME: dir.path,
          AWS_ACCESS_KEY_ID: accessKeyId,
        },
      },
    );
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /no AWS credentials for http:.*: AWS_ACCESS_KEY_ID is set in the environment but AWS_SECRET_ACCESS_KEY is not; set both, or unset AWS_ACCESS_KEY_ID to use a profile/,
    );
    assert.doesNotMatch(result.stderr, /or in AWS_ACCESS_KEY_ID in the environment/);
  });

  test('shell exits at exit and quit', async () => {
    for (const command of ['exit', 'quit', 'EXIT;']) {
      const tty = terminal();
      try {
        await tty.expect(/shell> $/);
        tty.type(`${command}\r`);
        assert.equal(await tty.exitCode(), 0, `${command}: ${tty.output}`);
      } finally {
        tty.kill();
      }
    }
  });

  test('shell reads commands after statements', async () => {
    const setup = shell('', '-e', 'CREATE TABLE Commands;');
    assert.equal(setup.status, 0, setup.stderr);

    const piped = shell(
      "SELECT COUNT(*) AS c FROM Commands;\nhelp\nexit\nSELECT 'after exit' FROM Commands;\n",
    );
    assert.equal(piped.status, 0, piped.stderr);
    assert.match(piped.stdout, /c: 0/);
    assert.match(piped.stdout, /start transaction; +open a transaction/);
    assert.doesNotMatch(piped.stdout, /after exit/);

    const tty = terminal();
    try {
      await tty.expect(/shell> $/);
      tty.type('SELECT COUNT(*) AS c FROM Commands;\r');
      await tty.expect(/1 document, .*\r?\nshell> $/s);
      tty.type('help\r');
      await tty.expect(/start transaction; +open a transaction.*\r?\nshell> $/s);
      tty.type('quit\r');
      assert.equal(await tty.exitCode(), 0, tty.output);
    } finally {
      tty.kill();
    }
  });

  test('shell json output is only JSON', () => {
    const setup = shell('', '-e', "CREATE TABLE Json; INSERT INTO Json VALUE {'id': 'a'};");
    assert.equal(setup.status, 0, setup.stderr);

    const json = shell(
      [
        'start transaction;',
        "SELECT VALUE `[0d5, -0d2, 0.0d2, 5d3, -0d10]` FROM Json WHERE id = 'a';",
        'SELECT id FROM Json;',
        'commit;',
        'help',
      ].join('\n'),
      '--format',
      'json',
    );
    assert.equal(json.status, 0, json.stderr);
    const values = json.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    assert.deepEqual(values, [[0, -0, 0, 5000, -0], { id: 'a' }]);
    assert.match(json.stderr, /transaction \w+ started/);
    assert.match(json.stderr, /^1 document, 1 read IO$/m);
    assert.match(json.stderr, /committed/);
    assert.match(json.stderr, /start transaction; +open a transaction/);

    const ion = shell('', '-e', 'SELECT id FROM Json;');
    assert.equal(ion.status, 0, ion.stderr);
    assert.match(ion.stdout, /^1 document, 1 read IO$/m);
  });

  test('shell keeps transactions after failed statements', () => {
    const setup = shell(
      '',
      '-e',
      "CREATE TABLE Txn; CREATE INDEX ON Txn (sku); INSERT INTO Txn << {'sku': 1, 'tags': [0, 0]}, {'sku': 2, 'tags': [0]} >>;",
    );
    assert.equal(setup.status, 0, setup.stderr);

    // A statement that fails before it writes leaves the transaction open on the server.
    const stillOpen = shell(
      [
        'start transaction;',
        "INSERT INTO Txn VALUE {'sku': 10};",
        "INSERT INTO Nope VALUE {'sku': 0};",
        "INSERT INTO Txn VALUE {'sku': 11};",
        'commit;',
        'SELECT sku FROM Txn WHERE sku IN (10, 11);',
      ].join('\n'),
    );
    assert.equal(stillOpen.status, 1);
    assert.match(stillOpen.stderr, /No active table named 'Nope'/);
    assert.match(stillOpen.stderr, /transaction \w+ is still open: commit or abort it/);
    assert.doesNotMatch(stillOpen.stderr, /aborted/);
    assert.match(stillOpen.stdout, /committed/);
    assert.match(stillOpen.stdout, /2 documents/);

    // One that fails after writing sku 1 (sku 2 has no tags[3]) makes the server abort it.
    const serverAborted = shell(
      [
        'start transaction;',
        "INSERT INTO Txn VALUE {'sku': 20};",
        'UPDATE Txn AS t SET t.tags[CASE WHEN t.sku = 2 THEN 3 ELSE 1 END] = 0 WHERE t.sku IN (1, 2);',
        'SELECT sku FROM Txn WHERE sku = 20;',
      ].join('\n'),
    );
    assert.equal(serverAborted.status, 1);
    assert.match(serverAborted.stderr, /past the end/);
    assert.match(serverAborted.stderr, /transaction \w+ was aborted by the server/);
    assert.doesNotMatch(serverAborted.stderr, /the input ended without commit/);
    assert.match(serverAborted.stdout, /0 documents/);
  });
});

function shQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** A command run at a pseudo-terminal by util-linux `script`, typed into and read like a user would. */
class Terminal {
  readonly #child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;
  #waiting: (() => void) | undefined;

  constructor(command: string, env: NodeJS.ProcessEnv) {
    this.#child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { ...env, TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      this.#waiting?.();
    };
    this.#child.stdout!.on('data', collect);
    this.#child.stderr!.on('data', collect);
    this.exited = new Promise((resolve) => this.#child.once('exit', resolve));
  }

  type(text: string): void {
    this.output = '';
    this.#child.stdin!.write(text);
  }

  /** Wait until the output since the last `type` matches, for at most 30 s. */
  async expect(pattern: RegExp): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!pattern.test(this.output)) {
      if (Date.now() > deadline) {
        throw new Error(
          `the terminal never showed ${pattern}; it showed ${JSON.stringify(this.output)}`,
        );
      }
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  /** Wait for the command to exit, for at most 10 s, and return its exit code. */
  async exitCode(): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out after 10 s waiting for the command to exit. The terminal showed ${JSON.stringify(this.output)}`,
            ),
          ),
        10_000,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}
