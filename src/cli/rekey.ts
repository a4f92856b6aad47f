import { SignatureV4 } from '@smithy/signature-v4';
import { request, type Dispatcher } from 'undici';
import { NodeSha256 } from '../server/sigv4/node-sha256.js';
import { explainAccessError, notVellumError, resolveConnection } from './endpoint.js';

export interface RekeyCommandOptions {
  ledger: string;
  /** Vellum's endpoint; when absent, the AWS profile's `endpoint_url`. */
  endpoint?: string;
  region?: string;
  /** The data directory where `vellum serve` wrote the AWS profile, used when no AWS profile is configured. */
  dataDir: string;
  /** Wait for the rekey to finish, showing its progress (the default). */
  wait: boolean;
  /** How often to read the progress, in milliseconds. */
  intervalMs?: number;
  /** Streams for progress and results; standard output and error by default. */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  err?: NodeJS.WritableStream;
}

interface RekeyReply {
  Name: string;
  KeyGeneration: number;
  RetiringKeyGeneration?: number;
  Rekey?: {
    Status: 'RUNNING' | 'DONE' | 'FAILED' | 'STOPPED';
    Phase: string;
    FromKeyGeneration: number;
    ToKeyGeneration: number;
    BlocksDone: number;
    BlocksTotal: number;
    DocumentsReencrypted: number;
    IndexEntriesReplaced: number;
    Error?: string;
  };
}

class RequestFailed extends Error {}

/**
 * `vellum ledger rekey`: start a rekey through the endpoint's RekeyLedger
 * route, then read DescribeLedgerRekey until it ends, showing the progress
 * (one rewritten line on a terminal, plain lines otherwise). Returns the
 * exit code: 0 when the rekey finished (or started, with `wait` false), 1
 * otherwise, with the reason on standard error.
 */
export async function runRekey(options: RekeyCommandOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  try {
    const client = await RestClient.create(options);
    const path = `/ledgers/${encodeURIComponent(options.ledger)}/rekey`;
    const started = await client.send('POST', path);
    const from = started.RetiringKeyGeneration ?? started.Rekey?.FromKeyGeneration;
    out.write(
      `rekey of ledger ${started.Name} started: data key generation ${from} to ${started.KeyGeneration}\n`,
    );
    if (!options.wait) return 0;
    const progress = new ProgressLine(out);
    let reply = started;
    for (;;) {
      const rekey = reply.Rekey;
      if (rekey !== undefined) progress.show(rekey);
      if (rekey === undefined || rekey.Status === 'DONE') break;
      if (rekey.Status === 'FAILED' || rekey.Status === 'STOPPED') {
        progress.end();
        err.write(
          `vellum ledger rekey: the rekey of ledger ${reply.Name} ${rekey.Status === 'FAILED' ? 'failed' : 'stopped'}` +
            `${rekey.Error === undefined ? '' : `: ${rekey.Error}`}; run the command again to resume it\n`,
        );
        return 1;
      }
      await new Promise((done) => setTimeout(done, options.intervalMs ?? 500));
      reply = await client.send('GET', path);
    }
    progress.end();
    out.write(
      `rekey of ledger ${reply.Name} done: data key generation ${reply.KeyGeneration}; the old data key is deleted\n`,
    );
    return 0;
  } catch (error) {
    err.write(`vellum ledger rekey: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** Progress as one line rewritten in place on a terminal, or a line per change otherwise. */
class ProgressLine {
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean };
  #last = '';
  #open = false;

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.#out = out;
  }

  show(rekey: NonNullable<RekeyReply['Rekey']>): void {
    const total = Math.max(rekey.BlocksTotal, 1);
    const percent = Math.min(100, Math.floor((rekey.BlocksDone * 100) / total));
    const text =
      `${rekey.Phase}: ${rekey.BlocksDone}/${rekey.BlocksTotal} blocks (${percent}%), ` +
      `${rekey.DocumentsReencrypted} document revisions re-encrypted, ` +
      `${rekey.IndexEntriesReplaced} index entries rebuilt`;
    if (text === this.#last) return;
    this.#last = text;
    if (this.#out.isTTY === true) {
      this.#out.write(`\r\x1b[2K${text}`);
      this.#open = true;
    } else {
      this.#out.write(`${text}\n`);
    }
  }

  end(): void {
    if (this.#open) this.#out.write('\n');
    this.#open = false;
  }
}

/** Requests to the QLDB control plane, signed with SigV4 and the AWS profile's credentials. */
class RestClient {
  private constructor(
    readonly endpoint: URL,
    readonly signer: SignatureV4,
    readonly accessKey: string,
    readonly region: string,
  ) {}

  static async create(options: RekeyCommandOptions): Promise<RestClient> {
    // The SDK's own chain finds the credentials and the region, as for `vellum shell`.
    const sdk = await import('@aws-sdk/client-qldb-session');
    const { url, region, credentials } = await resolveConnection(
      options,
      (endpoint) => new sdk.QLDBSessionClient({ endpoint }),
    );
    const endpoint = new URL(url);
    const signer = new SignatureV4({
      credentials,
      region,
      service: 'qldb',
      sha256: NodeSha256,
    });
    return new RestClient(endpoint, signer, credentials.accessKeyId, region);
  }

  async send(method: 'GET' | 'POST', path: string): Promise<RekeyReply> {
    const url = new URL(path, this.endpoint);
    const body = method === 'POST' ? '{}' : '';
    const headers: Record<string, string> = { host: url.host };
    if (method === 'POST') headers['content-type'] = 'application/json';
    const signed = await this.signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: url.pathname,
      query: {},
      headers,
      body,
    });
    // undici's request reaches a server on any port, whereas fetch rejects
    // the ports of its blocked list, such as 6000.
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        headers: signed.headers as Record<string, string>,
        body: method === 'POST' ? body : undefined,
      });
    } catch (error) {
      const explained = explainAccessError(
        error as Error,
        this.endpoint.origin,
        this.accessKey,
        this.region,
      );
      if (explained !== undefined) throw explained;
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new Error(
        `cannot reach ${this.endpoint.origin}${cause === undefined ? '' : ` (${cause})`}; is vellum serve running there?`,
        { cause: error },
      );
    }
    const status = response.statusCode;
    const text = await response.body.text();
    const header = (name: string): string | undefined => {
      const value = response.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    if (header('x-amzn-requestid') === undefined) {
      throw notVellumError(this.endpoint.origin, status);
    }
    let reply: Record<string, unknown>;
    try {
      reply = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch (error) {
      throw new RequestFailed(`${this.endpoint.origin} responded with ${status}: ${text}`, {
        cause: error,
      });
    }
    if (status < 200 || status > 299) {
      const type = String(reply.__type ?? header('x-amzn-errortype') ?? '');
      const code = type.split(/[#:]/).filter((part) => part !== '')[0] ?? `HTTP ${status}`;
      const message = String(reply.message ?? reply.Message ?? text);
      const failure = Object.assign(new Error(message), { name: code });
      throw (
        explainAccessError(failure, this.endpoint.origin, this.accessKey, this.region) ??
        new RequestFailed(`${code}: ${message}`)
      );
    }
    return reply as unknown as RekeyReply;
  }
}
