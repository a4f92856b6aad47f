import { createInterface } from 'node:readline';
import { dom, dumpPrettyText, loadAll } from 'ion-js';
import { dot } from '../engine/ion/dot.js';
import { hashString } from '../engine/ion/ion-hash.js';
import { explainAccessError, resolveConnection } from './endpoint.js';
import { ionToJson } from './ion-json.js';

export interface ShellOptions {
  ledger: string;
  /** Vellum's endpoint; when absent, the AWS profile's `endpoint_url`, then the default. */
  endpoint?: string;
  /** The region; when absent, the AWS profile's, then the default. */
  region?: string;
  /** The data directory whose AWS profile is used when none is configured. */
  dataDir?: string;
  /** Statements to run instead of reading them from stdin or a prompt. */
  execute?: string;
  format: 'ion' | 'json';
}

type SessionClient = import('@aws-sdk/client-qldb-session').QLDBSessionClient;
type SendCommandInput = import('@aws-sdk/client-qldb-session').SendCommandCommandInput;

/**
 * A PartiQL shell over QLDBSession, like the QLDB shell: statements end with
 * `;` and may span lines; each runs in its own transaction unless one was
 * opened with `start transaction;`, which `commit;` or `abort;` ends.
 * Returns the exit code: 0, or 1 when a statement failed.
 */
export async function runShell(options: ShellOptions): Promise<number> {
  const sdk = await import('@aws-sdk/client-qldb-session');
  const { url, region, credentials } = await resolveConnection(
    options,
    (endpoint) => new sdk.QLDBSessionClient({ endpoint }),
  );
  const client: SessionClient = new sdk.QLDBSessionClient({
    endpoint: url,
    region,
    credentials,
    maxAttempts: 1,
  });
  const send = async (input: Omit<SendCommandInput, 'SessionToken'>, token?: string) =>
    client.send(new sdk.SendCommandCommand({ ...input, SessionToken: token }));

  let started;
  try {
    started = await send({ StartSession: { LedgerName: options.ledger } });
  } catch (error) {
    client.destroy();
    throw explainAccessError(error as Error, url, credentials.accessKeyId, region) ?? error;
  }
  const token = started.StartSession!.SessionToken!;
  let transaction: { id: string; digest: Uint8Array } | undefined;
  let explicit = false;
  let failed = false;
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const err = (text: string) => process.stderr.write(`${text}\n`);
  // In JSON, stdout carries only the results, one value a line, for JSON tools to read.
  const note = options.format === 'json' ? err : out;
  const report = (error: unknown) => {
    const { name, message } = error as Error;
    err(`${name}: ${message}`);
  };

  const begin = async () => {
    const reply = await send({ StartTransaction: {} }, token);
    const id = reply.StartTransaction!.TransactionId!;
    transaction = { id, digest: hashString(id) };
  };
  const commit = async () => {
    const current = transaction!;
    await send(
      { CommitTransaction: { TransactionId: current.id, CommitDigest: current.digest } },
      token,
    );
    transaction = undefined;
  };
  const abort = async () => {
    transaction = undefined;
    await send({ AbortTransaction: {} }, token);
  };

  /** Return whether the server still has the session's transaction open: it then rejects a second one. */
  const serverHasTransaction = async (): Promise<boolean> => {
    try {
      await send({ StartTransaction: {} }, token);
    } catch (error) {
      if ((error as Error).name === 'BadRequestException') return true;
      throw error;
    }
    await send({ AbortTransaction: {} }, token);
    return false;
  };

  /**
   * After a failure inside `start transaction`, keep the transaction while the
   * server has it open, as the QLDB driver does, and report whether it is still open.
   */
  const reportTransaction = async () => {
    const id = transaction!.id;
    if (await serverHasTransaction()) {
      err(`transaction ${id} is still open: commit or abort it`);
      return;
    }
    transaction = undefined;
    explicit = false;
    err(
      `transaction ${id} was aborted by the server and none of its statements will commit. ` +
        'Statements now run in their own transactions.',
    );
  };

  const run = async (statement: string): Promise<void> => {
    const command = statement.trim().replace(/\s+/g, ' ').toLowerCase();
    if (command === 'start transaction' || command === 'begin') {
      if (explicit) throw new Error('a transaction is already open; commit or abort it first');
      await begin();
      explicit = true;
      note(`transaction ${transaction!.id} started`);
      return;
    }
    if (command === 'commit' || command === 'abort') {
      if (!explicit)
        throw new Error(`no transaction is open; ${command} ends one begun with start transaction`);
      if (command === 'abort') {
        explicit = false;
        await abort();
        note('aborted');
        return;
      }
      // A commit that fails keeps the transaction, which the server may still have open.
      await commit();
      explicit = false;
      note('committed');
      return;
    }
    if (transaction === undefined) await begin();
    const current = transaction!;
    // Every statement sent counts in the commit digest, failed or not, as in the QLDB driver.
    current.digest = dot(current.digest, hashString(statement));
    const values: dom.Value[] = [];
    let reads = 0;
    try {
      const reply = await send(
        { ExecuteStatement: { TransactionId: current.id, Statement: statement, Parameters: [] } },
        token,
      );
      let page = reply.ExecuteStatement!.FirstPage;
      reads += reply.ExecuteStatement!.ConsumedIOs?.ReadIOs ?? 0;
      for (;;) {
        for (const value of page?.Values ?? []) values.push(...loadAll(value.IonBinary!));
        if (page?.NextPageToken === undefined) break;
        const next = await send(
          { FetchPage: { TransactionId: current.id, NextPageToken: page.NextPageToken } },
          token,
        );
        page = next.FetchPage!.Page;
        reads += next.FetchPage!.ConsumedIOs?.ReadIOs ?? 0;
      }
      if (!explicit) await commit();
    } catch (error) {
      if (!explicit) await abort().catch(() => undefined);
      throw error;
    }
    for (const value of values) {
      out(options.format === 'json' ? ionToJson(value) : dumpPrettyText(value));
    }
    note(`${counted(values.length, 'document')}, ${counted(reads, 'read IO')}`);
  };

  const runText = async (statements: string[]) => {
    for (const statement of statements) {
      try {
        await run(statement);
      } catch (error) {
        failed = true;
        report(error);
        if (explicit && transaction !== undefined) await reportTransaction().catch(report);
      }
    }
  };

  const interactive = options.execute === undefined && process.stdin.isTTY === true;
  let interrupted = false;
  let exited = false;
  try {
    if (options.execute !== undefined) {
      const { statements, rest } = splitStatements(options.execute);
      await runText(rest.trim() === '' ? statements : [...statements, rest]);
    } else {
      const lines = createInterface({
        input: process.stdin,
        output: interactive ? process.stdout : undefined,
        prompt: `${options.ledger}> `,
        historySize: 1000,
        terminal: interactive,
      });
      let buffer = '';
      const pending = () => buffer.trim() !== '';
      // The prompt shows an open transaction, whose statements wait for commit.
      const prompt = () =>
        pending()
          ? '...> '
          : explicit
            ? `${options.ledger} (transaction)> `
            : `${options.ledger}> `;
      // Ctrl-C throws away the line and any unfinished statement. With
      // nothing to throw away, it leaves the shell.
      lines.on('SIGINT', () => {
        if (!pending() && lines.line === '') {
          interrupted = true;
          process.stdout.write('\n');
          lines.close();
          return;
        }
        buffer = '';
        // Empty the line being typed. Simulated Ctrl-E and Ctrl-U keys
        // (`lines.write(null, key)`) leave it as it is inside this handler.
        const typing = lines as unknown as { line: string; cursor: number };
        typing.line = '';
        typing.cursor = 0;
        process.stdout.write('^C\n');
        lines.setPrompt(prompt());
        lines.prompt();
      });
      if (interactive) lines.prompt();
      for await (const line of lines) {
        const command = pending() ? undefined : shellCommand(line);
        if (command === 'exit') {
          exited = true;
          break;
        }
        if (command === 'help') note(SHELL_HELP);
        else {
          buffer += `${line}\n`;
          const { statements, rest } = splitStatements(buffer);
          buffer = rest;
          await runText(statements);
        }
        if (interactive) {
          lines.setPrompt(prompt());
          lines.prompt();
        }
      }
      // Breaking out of the loop leaves the interface open, and its stdin keeps the process alive.
      lines.close();
      // Piped input may end without a final `;`, so the rest runs. An
      // interrupted statement is dropped instead.
      if (pending() && !interrupted) await runText([buffer]);
    }
    if (explicit) {
      await abort();
      err(
        interrupted
          ? 'the open transaction was aborted: Ctrl-C left the shell before commit'
          : exited
            ? 'the open transaction was aborted: exit left the shell before commit'
            : 'the open transaction was aborted: the input ended without commit',
      );
      failed = true;
    }
  } finally {
    await send({ EndSession: {} }, token).catch(() => undefined);
    client.destroy();
  }
  return failed ? 1 : 0;
}

/** Write a count with its noun, such as `1 document` or `2 documents`. */
function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Return the shell command that a line of input is, or undefined for statement text. */
function shellCommand(line: string): 'exit' | 'help' | undefined {
  if (/^\s*(exit|quit)\s*;?\s*$/i.test(line)) return 'exit';
  if (/^\s*help\s*;?\s*$/i.test(line)) return 'help';
  return undefined;
}

const SHELL_HELP = `PartiQL statements end with ";" and may span lines; each runs in its own
transaction and commits at once, unless one is open.
  start transaction;   open a transaction for the statements that follow
  commit;              commit it
  abort;               abort it
  help                 show this text
  exit, quit, Ctrl-D   leave the shell, aborting an open transaction
  Ctrl-C               throw away the statement being typed; at an empty prompt, leave`;

/**
 * Split text into statements at `;`, ignoring semicolons inside 'strings',
 * "names", `Ion literals`, `--` line comments and block comments. Returns the
 * complete statements and the unfinished rest.
 */
export function splitStatements(text: string): { statements: string[]; rest: string } {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    if (text[i] !== ';') {
      i = skipToken(text, i);
      continue;
    }
    const statement = text.slice(start, i).trim();
    if (statement !== '') statements.push(statement);
    start = i + 1;
    i = start;
  }
  return { statements, rest: text.slice(start) };
}

/**
 * Return the index just past the quoted text or comment that starts at
 * `i`, or `i + 1` when none starts there. An unterminated one runs to the
 * end of the text, so its statement stays unfinished.
 */
function skipToken(text: string, i: number): number {
  const ch = text[i]!;
  if (ch === "'" || ch === '"' || ch === '`') return indexAfter(text, ch, i + 1);
  if (text.startsWith('--', i)) return indexAfter(text, '\n', i + 2);
  if (text.startsWith('/*', i)) return indexAfter(text, '*/', i + 2);
  return i + 1;
}

/** Return the index just past the first `close` at or after `from`, or the text's length. */
function indexAfter(text: string, close: string, from: number): number {
  const end = text.indexOf(close, from);
  return end < 0 ? text.length : end + close.length;
}
