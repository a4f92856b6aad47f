import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { QldbDriver, RetryConfig } from 'amazon-qldb-driver-nodejs';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { dom } from 'ion-js';

/** The error a GET raises inside its transaction when no record has the id. */
export class RecordNotFoundError extends Error {
  readonly status = 400;
  readonly title = 'Record Not Found Error';

  constructor(id: number) {
    super(`Record with id ${id} does not exist`);
    this.name = 'RecordNotFoundError';
  }
}

export interface RecordServiceOptions {
  /** The stage, the first segment of every path: `/<stage>/record`. */
  stage: string;
  /** The ledger the records go to, `qldb-kms-ledger-<stage>` in the reference stack. */
  ledgerName: string;
  /** Vellum's endpoint, such as `http://127.0.0.1:8600`. */
  endpoint: string;
  region: string;
  /** Credentials of the role that creates records (`qldb:PartiQLInsert`). */
  createCredentials: AwsCredentialIdentityProvider;
  /** Credentials of the role that reads records (`qldb:PartiQLSelect`). */
  getCredentials: AwsCredentialIdentityProvider;
  /** Sessions each driver pools, 10 as in the reference stack's functions. */
  maxConcurrentTransactions?: number;
}

const RECORD_FIELDS = ['id', 'firstName', 'lastName', 'email', 'street', 'postcode'] as const;

/**
 * The reference scenario's record service: `POST /<stage>/record` inserts a
 * record and `GET /<stage>/record/<id>` reads one, each route through its
 * own QLDB driver with its own role, like one Lambda function per route.
 */
export function createRecordService(options: RecordServiceOptions): {
  server: Server;
  close(): Promise<void>;
} {
  const poolSize = options.maxConcurrentTransactions ?? 10;
  const driver = (credentials: AwsCredentialIdentityProvider) =>
    new QldbDriver(
      options.ledgerName,
      { endpoint: options.endpoint, region: options.region, credentials },
      {},
      poolSize,
      new RetryConfig(4),
    );
  const createDriver = driver(options.createCredentials);
  const getDriver = driver(options.getCredentials);
  // The driver throws at once when all its sessions are busy; requests wait
  // for a free session instead, as Lambda queues events for a busy function.
  const createSlots = new Slots(poolSize);
  const getSlots = new Slots(poolSize);
  const recordPath = new RegExp(`^/${escapeRegExp(options.stage)}/record(?:/([^/]+))?/?$`);

  const server = createServer((request, response) => {
    void route(request, response).catch((error: unknown) => sendProblem(response, error));
  });

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const match = recordPath.exec(new URL(request.url ?? '/', 'http://localhost').pathname);
    if (match === null) {
      return send(response, 404, {
        status: 404,
        title: 'Not Found',
        detail: `No route for ${request.url}`,
      });
    }
    const id = match[1];
    if (request.method === 'POST' && id === undefined) {
      const body = JSON.parse(await readBody(request)) as Record<string, unknown>;
      const record: Record<string, unknown> = {};
      for (const field of RECORD_FIELDS) record[field] = body[field];
      await createSlots.run(() =>
        createDriver.executeLambda(async (txn) => {
          await txn.execute('INSERT INTO Test ?', record);
        }),
      );
      return send(response, 201, 'Success');
    }
    if (request.method === 'GET' && id !== undefined) {
      const number = Number.parseInt(id, 10);
      const document = await getSlots.run(() =>
        getDriver.executeLambda(async (txn) => {
          const result = await txn.execute('SELECT * FROM Test WHERE id = ?', number);
          const rows = result.getResultList();
          if (rows.length === 0) throw new RecordNotFoundError(number);
          return rows[0]!;
        }),
      );
      return send(response, 200, toJson(document));
    }
    return send(response, 405, {
      status: 405,
      title: 'Method Not Allowed',
      detail: `Use POST /${options.stage}/record or GET /${options.stage}/record/<id>`,
    });
  }

  return {
    server,
    close: async () => {
      createDriver.close();
      getDriver.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** At most `size` tasks at a time; the rest wait in order. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

function sendProblem(response: ServerResponse, error: unknown): void {
  if (error instanceof RecordNotFoundError) {
    return send(response, 400, { status: 400, title: error.title, detail: error.message });
  }
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  send(response, 500, { status: 500, title: name, detail: message });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** A document as plain JSON, as the reference handler returns it. */
function toJson(value: dom.Value): unknown {
  return JSON.parse(JSON.stringify(value));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
