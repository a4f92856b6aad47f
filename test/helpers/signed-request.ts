import { request as httpRequest } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../src/server/sigv4/node-sha256.js';

export interface TestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RawRequest {
  method?: string;
  /** Path with optional query, such as `/ledgers?max_results=2`. */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SignOptions {
  credentials: TestCredentials;
  service: string;
  region?: string;
  signingDate?: Date;
  /** Add `x-amz-content-sha256`, as the JS SDKs do; the CLI does not. */
  payloadHash?: boolean;
}

/**
 * Sign a request with the SDK's SigV4 signer, as a client would, and return
 * its headers, so a test can change them before sending.
 */
export async function signRequest(
  baseUrl: string,
  raw: RawRequest,
  options: SignOptions,
): Promise<Record<string, string>> {
  const url = new URL(raw.path ?? '/', baseUrl);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = value;
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region ?? 'us-east-1',
    service: options.service,
    sha256: NodeSha256,
    applyChecksum: options.payloadHash ?? true,
  });
  const body = raw.body ?? '';
  const signed = await signer.sign(
    {
      method: raw.method ?? 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: {
        host: url.host,
        ...(Buffer.byteLength(body) > 0
          ? { 'content-length': String(Buffer.byteLength(body)) }
          : {}),
        ...raw.headers,
      },
      body,
    },
    { signingDate: options.signingDate ?? new Date() },
  );
  return signed.headers as Record<string, string>;
}

/** Send a request with exactly the given headers and body over `node:http`. */
export function sendRaw(baseUrl: string, raw: RawRequest): Promise<RawResponse> {
  const url = new URL(raw.path ?? '/', baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: raw.method ?? 'POST',
        path: url.pathname + url.search,
        headers: raw.headers,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    if (raw.body !== undefined) request.write(raw.body);
    request.end();
  });
}

/** Sign, then send. */
export async function sendSigned(
  baseUrl: string,
  raw: RawRequest,
  options: SignOptions,
): Promise<RawResponse> {
  const headers = await signRequest(baseUrl, raw, options);
  return sendRaw(baseUrl, { ...raw, headers });
}
