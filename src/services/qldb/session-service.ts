import { randomBytes } from 'node:crypto';
import { loadAll, type dom } from 'ion-js';
import type { Engine } from '../../engine/engine.js';
import { LedgerError, OccConflictError } from '../../engine/errors.js';
import type { Ledger } from '../../engine/ledger/ledger.js';
import type { Transaction } from '../../engine/ledger/transaction.js';
import {
  executeStatement,
  StatementCache,
  type StatementResult,
} from '../../engine/partiql/index.js';
import { ServiceError, type JsonService, type Principal, type RequestContext } from '../types.js';
import { statementAccess } from './statement-access.js';

/** QLDB's limit on a parameter sent as Ion text; one sent as Ion binary has `MAX_PARAMETER_BYTES`. */
export const MAX_TEXT_PARAMETER_BYTES = 1024 * 1024;
/** Values per page of a result; QLDB does not document its own, and pages of 200 were observed. */
export const PAGE_SIZE = 200;
/** A session ends this long after it started, within QLDB's 13 to 17 minutes. */
export const DEFAULT_SESSION_LIFETIME_MS = 15 * 60_000;
/**
 * Maximum number of active sessions (sessions running a transaction) per
 * ledger, QLDB's quota. Past this many sessions, a new session on the ledger
 * ends the idle session used longest ago.
 */
export const MAX_SESSIONS_PER_LEDGER = 3000;

const TRANSACTION_ID_PATTERN = /^[A-Za-z0-9]{22}$/;
const LEDGER_NAME_PATTERN = /^(?!.*--)(?![0-9]+$)(?!-)(?!.*-$)[A-Za-z0-9-]{1,32}$/;

/** Decides whether a principal's policies allow an action on a resource. */
export interface QldbAuthorizer {
  isAllowed(principal: Principal, action: string, resource: string): Promise<boolean>;
}

/** Hooks a ledger's key state into sessions; the key guard implements it. */
export interface LedgerGate {
  /** Throw the error to send when the ledger may not serve this principal now. */
  check(ledgerName: string, principal: Principal): Promise<void>;
}

export interface SessionServiceOptions {
  engine: Engine;
  /** Account and region that ledger and table ARNs name. */
  accountId: string;
  region: string;
  authorizer?: QldbAuthorizer;
  gate?: LedgerGate;
  sessionLifetimeMs?: number;
  pageSize?: number;
  /** Called after each command with `ok` or the error code returned, such as for metrics. */
  observe?: (command: string, outcome: string, seconds: number) => void;
  /** For tests: the clock. */
  now?: () => number;
}

interface Session {
  id: string;
  token: string;
  ledgerName: string;
  principalArn: string;
  startedAt: number;
  /** Time of the last command the session received. */
  lastUsedAt: number;
  transaction: Transaction | undefined;
  /** The id of a transaction that a failed statement aborted, to name the cause later. */
  failedTransaction?: string;
  /** The ledger's permissions mode, read when the open transaction started. */
  standardMode: boolean;
  pages: Map<string, { transactionId: string; values: Uint8Array[] }>;
  busy: boolean;
}

type Command =
  | 'StartSession'
  | 'StartTransaction'
  | 'ExecuteStatement'
  | 'FetchPage'
  | 'CommitTransaction'
  | 'AbortTransaction'
  | 'EndSession';

const COMMANDS: readonly Command[] = [
  'StartSession',
  'StartTransaction',
  'ExecuteStatement',
  'FetchPage',
  'CommitTransaction',
  'AbortTransaction',
  'EndSession',
];

function badRequest(message: string): ServiceError {
  return new ServiceError('BadRequestException', message);
}

function invalidSession(message: string): ServiceError {
  return new ServiceError('InvalidSessionException', message);
}

/** Map an engine error to the QLDBSession error the driver expects. */
export function sessionError(error: unknown): unknown {
  if (error instanceof ServiceError) return error;
  if (error instanceof LedgerError) {
    const status = error.code === 'CapacityExceededException' ? 503 : 400;
    // QLDBSession's errors have no ResourceNotFoundException, so a missing ledger is a bad request.
    const code = error.code === 'ResourceNotFoundException' ? 'BadRequestException' : error.code;
    return new ServiceError(code, error.message, status);
  }
  return error;
}

/**
 * QLDBSession's `SendCommand`: sessions on ledgers, one open transaction per
 * session, PartiQL statements with Ion parameters, paged results, and
 * commits checked against the digest the client computed.
 */
export class SessionService implements JsonService {
  readonly #engine: Engine;
  readonly #options: SessionServiceOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #sessionsByLedger = new Map<string, Set<Session>>();
  readonly #cache = new StatementCache();
  readonly #lifetimeMs: number;
  readonly #pageSize: number;
  readonly #now: () => number;

  constructor(options: SessionServiceOptions) {
    this.#engine = options.engine;
    this.#options = options;
    this.#lifetimeMs = options.sessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    this.#pageSize = options.pageSize ?? PAGE_SIZE;
    this.#now = options.now ?? Date.now;
  }

  /** Sessions currently open, for metrics. */
  get openSessions(): number {
    return this.#sessions.size;
  }

  async handle(
    operation: string,
    input: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    if (operation !== 'SendCommand') {
      throw new ServiceError(
        'UnknownOperationException',
        `QLDBSession has no operation ${operation}; the only one is SendCommand`,
      );
    }
    const started = performance.now();
    const commands = COMMANDS.filter((name) => input[name] !== undefined && input[name] !== null);
    if (commands.length !== 1) {
      throw badRequest(
        commands.length === 0
          ? `SendCommand needs exactly one command, one of ${COMMANDS.join(', ')}`
          : `SendCommand takes exactly one command, got ${commands.join(' and ')}`,
      );
    }
    const command = commands[0]!;
    const body = input[command];
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(`${command} must be a JSON object`);
    }
    const observe = this.#options.observe;
    try {
      const result = await this.#run(command, body as Record<string, unknown>, input, context);
      const elapsed = performance.now() - started;
      observe?.(command, 'ok', elapsed / 1000);
      const timing = { ProcessingTimeMilliseconds: Math.round(elapsed) };
      return { [command]: { ...result, TimingInformation: timing } };
    } catch (error) {
      const failure = sessionError(error);
      const outcome = failure instanceof ServiceError ? failure.code : 'InternalFailure';
      observe?.(command, outcome, (performance.now() - started) / 1000);
      throw failure;
    }
  }

  async #run(
    command: Command,
    body: Record<string, unknown>,
    input: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    if (command === 'StartSession') return this.#startSession(body, context);
    const session = this.#session(input.SessionToken, context);
    session.lastUsedAt = this.#now();
    // Every SendCommand call is authorized, as in QLDB, so a Deny added while
    // a session is open applies to its next command.
    await this.#authorize(
      context.principal,
      'qldb:SendCommand',
      this.#ledgerArn(session.ledgerName),
    );
    if (session.busy) {
      throw badRequest(
        'The session is running another command; send commands of one session in order',
      );
    }
    session.busy = true;
    try {
      switch (command) {
        case 'StartTransaction':
          return await this.#startTransaction(session, context);
        case 'ExecuteStatement':
          return await this.#execute(session, body, context);
        case 'FetchPage':
          return this.#fetchPage(session, body);
        case 'CommitTransaction':
          await this.#options.gate?.check(session.ledgerName, context.principal);
          return await this.#commit(session, body);
        case 'AbortTransaction':
          session.transaction?.abort();
          session.transaction = undefined;
          session.pages.clear();
          return {};
        default:
          this.#removeSession(session);
          return {};
      }
    } finally {
      session.busy = false;
    }
  }

  async #startSession(
    body: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = body.LedgerName;
    if (typeof name !== 'string' || !LEDGER_NAME_PATTERN.test(name)) {
      throw badRequest(
        `Invalid LedgerName ${JSON.stringify(name)}: use 1 to 32 letters, digits and hyphens`,
      );
    }
    await this.#authorize(context.principal, 'qldb:SendCommand', this.#ledgerArn(name));
    await this.#options.gate?.check(name, context.principal);
    try {
      await this.#engine.ledger(name);
    } catch (error) {
      if (error instanceof LedgerError && error.code === 'ResourceNotFoundException') {
        throw badRequest(`Ledger ${name} does not exist`);
      }
      throw error;
    }
    this.#expireSessions();
    // The quota applies at StartTransaction, as in QLDB, because the QLDB driver loses a pooled
    // session for good when StartSession fails. A dropped idle session is replaced by the driver.
    const peers = this.#sessionsByLedger.get(name);
    if (peers !== undefined && peers.size >= MAX_SESSIONS_PER_LEDGER) {
      let leastRecent: Session | undefined;
      for (const peer of peers) {
        if (peer.busy || this.#running(peer)) continue;
        if (leastRecent === undefined || peer.lastUsedAt < leastRecent.lastUsedAt)
          leastRecent = peer;
      }
      if (leastRecent !== undefined) this.#removeSession(leastRecent);
    }
    const token = randomBytes(48).toString('base64');
    const session: Session = {
      id: randomBytes(16).toString('base64url').slice(0, 22),
      token,
      ledgerName: name,
      principalArn: context.principal.arn,
      startedAt: this.#now(),
      lastUsedAt: this.#now(),
      transaction: undefined,
      standardMode: false,
      pages: new Map(),
      busy: false,
    };
    this.#sessions.set(token, session);
    let sessions = this.#sessionsByLedger.get(name);
    if (sessions === undefined) this.#sessionsByLedger.set(name, (sessions = new Set()));
    sessions.add(session);
    return { SessionToken: token };
  }

  /** Return whether the session has an open transaction that has not expired. */
  #running(session: Session): boolean {
    const transaction = session.transaction;
    return transaction !== undefined && transaction.state === 'open' && !transaction.expired;
  }

  /** End a session: abort its transaction and remove it. */
  #removeSession(session: Session): void {
    session.transaction?.abort();
    this.#sessions.delete(session.token);
    const peers = this.#sessionsByLedger.get(session.ledgerName);
    peers?.delete(session);
    if (peers?.size === 0) this.#sessionsByLedger.delete(session.ledgerName);
  }

  #session(token: unknown, context: RequestContext): Session {
    if (typeof token !== 'string' || token.length === 0) {
      throw badRequest('SessionToken is required for every command but StartSession');
    }
    const session = this.#sessions.get(token);
    // A token used by another principal is treated as unknown, so tokens cannot be shared.
    if (session === undefined || session.principalArn !== context.principal.arn) {
      throw invalidSession('No such session');
    }
    if (this.#now() - session.startedAt > this.#lifetimeMs) {
      this.#removeSession(session);
      throw invalidSession(`Session ${session.id} has expired`);
    }
    return session;
  }

  #expireSessions(): void {
    const now = this.#now();
    for (const session of this.#sessions.values()) {
      if (now - session.startedAt > this.#lifetimeMs && !session.busy) this.#removeSession(session);
    }
  }

  async #startTransaction(
    session: Session,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    await this.#options.gate?.check(session.ledgerName, context.principal);
    if (session.transaction !== undefined && session.transaction.state === 'open') {
      if (!session.transaction.expired) throw badRequest('Transaction already open');
      session.transaction.abort();
    }
    const peers = this.#sessionsByLedger.get(session.ledgerName);
    if (peers !== undefined && peers.size > MAX_SESSIONS_PER_LEDGER) {
      let running = 0;
      for (const peer of peers) if (peer !== session && this.#running(peer)) running++;
      if (running >= MAX_SESSIONS_PER_LEDGER) {
        throw new ServiceError(
          'LimitExceededException',
          `Ledger ${session.ledgerName} has ${running} active sessions, each running a ` +
            `transaction, and the limit is ${MAX_SESSIONS_PER_LEDGER}; retry when one of them ends`,
        );
      }
    }
    session.pages.clear();
    // The ledger is looked up for each transaction: the key guard may have
    // closed it, and the engine opens it again with a fresh data key.
    const ledger: Ledger = await this.#engine.ledger(session.ledgerName);
    // On a store that other servers write, catch up first, so the transaction
    // sees the tables and indexes they created. Nothing happens on SQLite.
    await ledger.sync();
    // The mode is read once per transaction rather than once per statement.
    if (this.#options.authorizer !== undefined) {
      const description = await this.#engine.describeLedger(session.ledgerName);
      session.standardMode = description.permissionsMode === 'STANDARD';
    }
    session.transaction = ledger.begin();
    return { TransactionId: session.transaction.id };
  }

  /** The session's open transaction with this id; an expired one ends the session, as QLDB does. */
  #transaction(session: Session, transactionId: unknown): Transaction {
    if (typeof transactionId !== 'string' || !TRANSACTION_ID_PATTERN.test(transactionId)) {
      throw badRequest(
        `Invalid TransactionId ${JSON.stringify(transactionId)}: expected 22 letters and digits`,
      );
    }
    const transaction = session.transaction;
    if (transaction === undefined || transaction.id !== transactionId) {
      if (session.failedTransaction === transactionId) {
        throw badRequest(
          `Transaction ${transactionId} was aborted when one of its statements failed after ` +
            'writing, so that no statement lands half-applied; start a new transaction',
        );
      }
      throw badRequest(`Transaction ${transactionId} is not the open transaction of this session`);
    }
    if (transaction.expired) {
      this.#removeSession(session);
      throw invalidSession(`Transaction ${transactionId} has expired`);
    }
    if (transaction.state !== 'open') {
      throw badRequest(
        `Transaction ${transactionId} is ${transaction.state}; start a new transaction`,
      );
    }
    return transaction;
  }

  async #execute(
    session: Session,
    body: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    await this.#options.gate?.check(session.ledgerName, context.principal);
    const transaction = this.#transaction(session, body.TransactionId);
    const statement = body.Statement;
    if (typeof statement !== 'string' || statement.length === 0) {
      throw badRequest('Statement must be a non-empty string');
    }
    const { values: parameters, sizes } = decodeParameters(body.Parameters);
    const recorded = transaction.statements.length;

    let result: StatementResult;
    try {
      const parsed = this.#cache.get(statement);
      await this.#authorizeStatement(session, transaction, parsed.statement, parameters, context);
      result = await executeStatement(transaction, statement, parameters, {
        cache: this.#cache,
        parameterSizes: sizes,
      });
    } catch (error) {
      // A statement that failed after writing leaves an aborted transaction; forget it.
      if (transaction.state !== 'open') {
        session.transaction = undefined;
        session.failedTransaction = transaction.id;
      }
      // The QLDB driver folds every statement it sends into its commit digest, so
      // one refused before it ran (unparsable or denied, say) is recorded too.
      else if (transaction.statements.length === recorded) {
        transaction.recordStatement(statement, parameters);
      }
      throw error;
    }
    const page = this.#page(session, transaction.id, result.ionBinaries());
    return {
      FirstPage: page,
      ConsumedIOs: { ReadIOs: result.readIOs, WriteIOs: result.writeIOs },
    };
  }

  /** The first page of values, keeping the rest under a page token for FetchPage. */
  #page(session: Session, transactionId: string, values: Uint8Array[]): Record<string, unknown> {
    const first = values.slice(0, this.#pageSize);
    const page: Record<string, unknown> = {
      Values: first.map((binary) => ({ IonBinary: Buffer.from(binary).toString('base64') })),
    };
    if (values.length > this.#pageSize) {
      const token = randomBytes(24).toString('base64');
      session.pages.set(token, { transactionId, values: values.slice(this.#pageSize) });
      page.NextPageToken = token;
    }
    return page;
  }

  #fetchPage(session: Session, body: Record<string, unknown>): Record<string, unknown> {
    const transaction = this.#transaction(session, body.TransactionId);
    const token = body.NextPageToken;
    const rest = typeof token === 'string' ? session.pages.get(token) : undefined;
    if (rest === undefined || rest.transactionId !== transaction.id) {
      throw badRequest(
        `Unknown NextPageToken ${JSON.stringify(token)} for transaction ${transaction.id}`,
      );
    }
    session.pages.delete(token as string);
    return {
      Page: this.#page(session, transaction.id, rest.values),
      ConsumedIOs: { ReadIOs: 0, WriteIOs: 0 },
    };
  }

  async #commit(session: Session, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const transaction = this.#transaction(session, body.TransactionId);
    const digest = decodeBlob(body.CommitDigest, 'CommitDigest');
    if (digest.length !== 32) {
      throw badRequest(`CommitDigest must be 32 bytes, got ${digest.length}`);
    }
    session.pages.clear();
    try {
      const result = await transaction.commit({ commitDigest: digest });
      return {
        TransactionId: result.transactionId,
        CommitDigest: Buffer.from(result.commitDigest).toString('base64'),
        ConsumedIOs: { ReadIOs: 0, WriteIOs: 0 },
      };
    } catch (error) {
      // OCC closes the transaction; the driver starts a new one without aborting.
      if (error instanceof OccConflictError || transaction.state !== 'open') {
        session.transaction = undefined;
      }
      throw error;
    } finally {
      if (transaction.state === 'committed') session.transaction = undefined;
    }
  }

  async #authorize(principal: Principal, action: string, resource: string): Promise<void> {
    const authorizer = this.#options.authorizer;
    if (authorizer === undefined) return;
    if (!(await authorizer.isAllowed(principal, action, resource))) {
      throw new ServiceError(
        'AccessDeniedException',
        `User: ${principal.arn} is not authorized to perform: ${action} on resource: ${resource}`,
        403,
      );
    }
  }

  async #authorizeStatement(
    session: Session,
    transaction: Transaction,
    statement: Parameters<typeof statementAccess>[0],
    parameters: readonly dom.Value[],
    context: RequestContext,
  ): Promise<void> {
    if (this.#options.authorizer === undefined) return;
    if (!session.standardMode) return;
    const ledgerArn = this.#ledgerArn(session.ledgerName);
    for (const access of statementAccess(statement, parameters)) {
      let resource: string;
      if (access.catalog) resource = `${ledgerArn}/information_schema/user_tables`;
      else if (access.tableId !== undefined) resource = `${ledgerArn}/table/${access.tableId}`;
      else if (access.table === '*' || access.table === undefined)
        resource = `${ledgerArn}/table/*`;
      else {
        const table = transaction.findTable(access.table);
        if (table !== undefined) {
          resource = `${ledgerArn}/table/${table.tableId}`;
        } else if (access.action === 'qldb:PartiQLHistoryFunction') {
          // history() takes a table id where no active table has the name,
          // dropped tables included, so the id is the resource.
          resource = `${ledgerArn}/table/${access.table}`;
        } else {
          // An alias or a missing table: the statement itself reports it.
          continue;
        }
      }
      await this.#authorize(context.principal, access.action, resource);
    }
  }

  #ledgerArn(name: string): string {
    return `arn:aws:qldb:${this.#options.region}:${this.#options.accountId}:ledger/${name}`;
  }

  /** Abort every open transaction and forget every session, as on shutdown. */
  close(): void {
    for (const session of this.#sessions.values()) session.transaction?.abort();
    this.#sessions.clear();
    this.#sessionsByLedger.clear();
  }
}

function decodeBlob(value: unknown, name: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw badRequest(`${name} must be base64`);
  }
  return Buffer.from(value, 'base64');
}

/** Decode `Parameters`: each a ValueHolder with `IonBinary` (base64) or `IonText`. */
function decodeParameters(raw: unknown): {
  values: dom.Value[];
  sizes: Array<number | null>;
} {
  if (raw === undefined || raw === null) return { values: [], sizes: [] };
  if (!Array.isArray(raw)) throw badRequest('Parameters must be a list of value holders');
  const values: dom.Value[] = [];
  const sizes: Array<number | null> = [];
  raw.forEach((holder: unknown, i) => {
    const where = `Parameters[${i}]`;
    if (typeof holder !== 'object' || holder === null) {
      throw badRequest(`${where} must be an object with IonBinary or IonText`);
    }
    const { IonBinary: binary, IonText: text } = holder as Record<string, unknown>;
    let source: Buffer | string;
    if (binary !== undefined) source = decodeBlob(binary, `${where}.IonBinary`);
    else if (typeof text === 'string') source = text;
    else throw badRequest(`${where} needs IonBinary or IonText`);
    if (typeof source === 'string') {
      const bytes = Buffer.byteLength(source, 'utf8');
      if (bytes > MAX_TEXT_PARAMETER_BYTES) {
        throw new ServiceError(
          'LimitExceededException',
          `${where} is ${bytes} bytes of Ion text, more than the limit of ${MAX_TEXT_PARAMETER_BYTES}`,
        );
      }
    }
    let loaded: dom.Value[];
    try {
      loaded = loadAll(source);
    } catch (error) {
      throw badRequest(`${where} is not valid Ion: ${(error as Error).message}`);
    }
    if (loaded.length !== 1) {
      throw badRequest(`${where} must hold exactly one Ion value, got ${loaded.length}`);
    }
    values.push(loaded[0]!);
    // executeStatement checks the binary size against its limit. Text was checked above.
    sizes.push(typeof source === 'string' ? null : source.length);
  });
  return { values, sizes };
}
