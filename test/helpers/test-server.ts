import { pino, type Logger } from 'pino';
import { createServer, type VellumServer } from '../../src/server/index.js';
import {
  ServiceError,
  type AccessKeyRecord,
  type CredentialResolver,
  type JsonService,
  type RequestContext,
} from '../../src/services/types.js';
import type { QueryService } from '../../src/server/registrations.js';
import { StorageUnavailableError } from '../../src/engine/errors.js';
import { StoreUnavailableError } from '../../src/storage/store.js';

export const ACCOUNT_ID = '000000000000';

/** Access keys held in memory, for server tests that do not need IAM. */
export class MemoryCredentials implements CredentialResolver {
  readonly records = new Map<string, AccessKeyRecord>();
  /** When set, every lookup fails with it, as a store that cannot be reached does. */
  failure: Error | undefined;

  add(record: Omit<AccessKeyRecord, 'principal'> & { arn?: string }): AccessKeyRecord {
    const full: AccessKeyRecord = {
      ...record,
      principal: {
        accountId: ACCOUNT_ID,
        arn: record.arn ?? `arn:aws:iam::${ACCOUNT_ID}:root`,
        userId: ACCOUNT_ID,
        accessKeyId: record.accessKeyId,
      },
    };
    this.records.set(record.accessKeyId, full);
    return full;
  }

  async lookupAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    if (this.failure !== undefined) throw this.failure;
    return this.records.get(accessKeyId);
  }
}

/**
 * A JSON service with state that tests can inspect: `Increment` adds `By`
 * to a counter, `Get` returns it, `Crash` raises a plain `Error`,
 * `Reject` a `ServiceError` and `Unavailable` the engine's error for a store
 * that cannot be reached.
 */
export class CounterService implements JsonService {
  count = 0;
  readonly callers: string[] = [];

  async handle(
    operation: string,
    input: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    this.callers.push(context.principal.arn);
    switch (operation) {
      case 'Increment':
        this.count += typeof input.By === 'number' ? input.By : 1;
        return { Count: this.count };
      case 'Get':
        return { Count: this.count, Caller: context.principal.arn, RequestId: context.requestId };
      case 'Crash':
        throw new Error('counter exploded');
      case 'Reject':
        throw new ServiceError('DisabledException', 'the counter is disabled.');
      case 'Unavailable':
        throw new StorageUnavailableError(new StoreUnavailableError('the counter store is down'));
      default:
        throw new ServiceError('UnknownOperationException', `unknown operation ${operation}`);
    }
  }
}

/** A query-protocol service that stores form values: `PutValue`, `ListValues`. */
export class ValueStoreService implements QueryService {
  readonly values: string[] = [];

  async handle(action: string, params: Record<string, string>): Promise<Record<string, unknown>> {
    if (action === 'PutValue') {
      this.values.push(params.Value ?? '');
      return {};
    }
    if (action === 'ListValues') {
      return { Values: [...this.values], Count: this.values.length, When: new Date(0) };
    }
    throw new ServiceError(
      'InvalidAction',
      `Could not find operation ${action} for version 2010-05-08`,
    );
  }
}

export const ROOT = { accessKeyId: 'AKIAROOTTEST00000001', secretAccessKey: 'root-secret-key' };

export interface TestServer {
  server: VellumServer;
  url: string;
  credentials: MemoryCredentials;
  counter: CounterService;
  values: ValueStoreService;
  ledgers: Map<string, Record<string, unknown>>;
  close(): Promise<void>;
}

/** A server on 127.0.0.1 with a free port and the fixture services registered. */
export async function startTestServer(
  options: { bodyLimit?: number; now?: () => number; logger?: Logger; region?: string } = {},
): Promise<TestServer> {
  const credentials = new MemoryCredentials();
  credentials.add(ROOT);
  const counter = new CounterService();
  const values = new ValueStoreService();
  const ledgers = new Map<string, Record<string, unknown>>();
  const server = createServer({
    credentials,
    ...options,
    region: options.region ?? 'us-east-1',
    logger: options.logger ?? pino({ level: 'silent' }),
  });
  server.registerJsonService({
    targetPrefix: 'CounterService',
    signingName: 'kms',
    jsonVersion: '1.1',
    name: 'counter',
    unavailableCode: 'DependencyTimeoutException',
    service: counter,
  });
  server.registerQueryService({
    signingName: 'iam',
    xmlNamespace: 'https://iam.amazonaws.com/doc/2010-05-08/',
    service: values,
  });
  server.registerRestService({
    name: 'qldb',
    signingName: 'qldb',
    routes: [
      {
        method: 'POST',
        path: '/ledgers',
        operation: 'CreateLedger',
        async handle(request) {
          const name = String(request.body?.Name);
          ledgers.set(name, { Name: name });
          return { body: { Name: name, State: 'ACTIVE' } };
        },
      },
      {
        method: 'GET',
        path: '/ledgers/{name}',
        operation: 'DescribeLedger',
        async handle(request) {
          const ledger = ledgers.get(request.params.name!);
          if (ledger === undefined) {
            throw new ServiceError(
              'ResourceNotFoundException',
              `Ledger ${request.params.name} not found`,
              404,
            );
          }
          return { body: ledger };
        },
      },
    ],
  });
  const url = await server.listen();
  return { server, url, credentials, counter, values, ledgers, close: () => server.close() };
}
