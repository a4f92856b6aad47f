import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CreateLedgerCommand, QLDBClient } from '@aws-sdk/client-qldb';
import { tempDir } from '../helpers/backends.js';
import { VELLUM_MAIN, readProfile, startServe } from '../helpers/serve-process.js';
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

test('shell runs statements against vellum serve', async () => {
  const dir = tempDir();
  const serve = await startServe(dir.path);
  try {
    const credentials = readProfile(dir.path);
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    await new QLDBClient({ endpoint: serve.url, region: 'us-east-1', credentials }).send(
      new CreateLedgerCommand({ Name: 'shell', PermissionsMode: 'ALLOW_ALL' }),
    );
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
          env: {
            ...process.env,
            AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'credentials'),
            AWS_CONFIG_FILE: join(dir.path, 'config'),
            AWS_PROFILE: 'vellum',
            AWS_ACCESS_KEY_ID: '',
            AWS_SECRET_ACCESS_KEY: '',
          },
        },
      );
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };

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
    assert.match(session.stdout, /committed/);
    assert.match(session.stdout, /\{"name":"two"\}/);
    assert.match(session.stdout, /1 document, 1 read IOs/);

    const aborted = shell(
      "start transaction;\nINSERT INTO Test VALUE {'id': 3};\nabort;\nSELECT * FROM Test WHERE id = 3;",
    );
    assert.equal(aborted.status, 0, aborted.stderr);
    assert.match(aborted.stdout, /0 documents/);

    const failed = shell('', '-e', 'SELEC * FROM Test;');
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /BadRequestException: .*Errors at: line 1, column 1/);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
    dir.remove();
  }
});
