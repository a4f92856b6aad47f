import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { getCanonicalHeaders, SignatureV4 } from '@smithy/signature-v4';
import type { AccessKeyRecord, CredentialResolver } from '../../services/types.js';
import { AUTH_MESSAGES, AuthFailure } from './auth-failure.js';
import {
  parseAuthorization,
  SIGV4_ALGORITHM,
  type ParsedAuthorization,
} from './authorization-header.js';
import { NodeSha256 } from './node-sha256.js';
import { SigningKeyCache } from './signing-key-cache.js';

/** AWS rejects a signing time more than 5 minutes away from its clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The parts of a received request that its signature covers. */
export interface SignedRequest {
  method: string;
  /** The path as received, still percent-encoded. */
  path: string;
  /** The query string as received, without the `?`. */
  rawQuery: string;
  /** Header names in lower case, as `node:http` delivers them. */
  headers: IncomingHttpHeaders;
  /** The body bytes exactly as received. */
  body: Buffer;
}

export interface VerifierOptions {
  credentials: CredentialResolver;
  /** The region this endpoint serves; requests must be scoped to it. */
  region: string;
  /** Epoch milliseconds; replaceable so tests can move the server's clock. */
  now?: () => number;
}

// Exposes the canonical-request and string-to-sign steps of the SDK's own
// signer, so verification builds them exactly as the clients do. The
// credentials and scope given to the constructor are never used.
class CanonicalRequestBuilder extends SignatureV4 {
  constructor() {
    super({
      credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
      region: 'unused',
      service: 'unused',
      sha256: NodeSha256,
      applyChecksum: false,
    });
  }

  canonicalRequest(
    request: Parameters<SignatureV4['sign']>[0] & { method: string },
    canonicalHeaders: Record<string, string>,
    payloadHash: string,
  ): string {
    return this.createCanonicalRequest(
      request as Parameters<CanonicalRequestBuilder['createCanonicalRequest']>[0],
      canonicalHeaders,
      payloadHash,
    );
  }

  stringToSign(longDate: string, scope: string, canonicalRequest: string): Promise<string> {
    return this.createStringToSign(longDate, scope, canonicalRequest, SIGV4_ALGORITHM);
  }
}

/**
 * Verifies AWS Signature Version 4 `Authorization` headers against the
 * secrets of a `CredentialResolver`, with AWS's checks and error texts:
 * access key, session token and its expiry, credential scope, a 5-minute
 * clock-skew window, the payload hash, then the signature itself.
 */
export class SigV4Verifier {
  readonly #credentials: CredentialResolver;
  readonly #region: string;
  readonly #now: () => number;
  readonly #keys = new SigningKeyCache();
  readonly #builder = new CanonicalRequestBuilder();

  constructor(options: VerifierOptions) {
    this.#credentials = options.credentials;
    this.#region = options.region;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Parse the request's `Authorization` header, or raise `AuthFailure`.
   *
   * NOTE: presigned URLs (`X-Amz-Signature` in the query string) are not
   * accepted; such a request is rejected as missing authentication.
   */
  parse(request: SignedRequest): ParsedAuthorization {
    const header = request.headers.authorization;
    if (header === undefined || header.trim().length === 0) {
      throw new AuthFailure('missing-token', AUTH_MESSAGES.missingTokenJson);
    }
    return parseAuthorization(header);
  }

  /**
   * Check a parsed request and resolve with the signer's access key record.
   * `services` lists the signing names this request may be scoped to; the
   * first is named in the error.
   */
  async verify(
    request: SignedRequest,
    authorization: ParsedAuthorization,
    services: readonly string[],
  ): Promise<AccessKeyRecord> {
    const { longDate, signedAt } = signingTime(request.headers, authorization);

    const record = await this.#credentials.lookupAccessKey(authorization.accessKeyId);
    if (record === undefined) {
      throw new AuthFailure('unrecognized-client', AUTH_MESSAGES.invalidToken);
    }
    this.#checkSessionToken(request.headers, record);
    this.#checkScope(authorization, longDate, services);
    this.#checkClock(longDate, signedAt);
    await this.#checkSignature(request, authorization, longDate, record);
    return record;
  }

  #checkSessionToken(headers: IncomingHttpHeaders, record: AccessKeyRecord): void {
    const sent = headerValue(headers, 'x-amz-security-token');
    const expected = record.sessionToken;
    if (expected === undefined ? sent !== undefined : !sameText(sent, expected)) {
      throw new AuthFailure('unrecognized-client', AUTH_MESSAGES.invalidToken);
    }
    if (record.expiresAt !== undefined && this.#now() >= record.expiresAt) {
      throw new AuthFailure('expired-token', AUTH_MESSAGES.expiredToken);
    }
  }

  #checkScope(auth: ParsedAuthorization, longDate: string, services: readonly string[]): void {
    if (!services.includes(auth.service)) {
      // AWS's message ends with a space after the period; clients show it as sent.
      throw new AuthFailure(
        'invalid-signature',
        `Credential should be scoped to correct service: '${services[0] ?? 'none'}'. `,
      );
    }
    // IAM, and STS at its legacy global endpoint, are signed for us-east-1
    // whatever region the client is configured for.
    const global = auth.service === 'iam' || auth.service === 'sts';
    const regions = global ? [this.#region, 'us-east-1'] : [this.#region];
    if (!regions.includes(auth.region)) {
      throw new AuthFailure(
        'invalid-signature',
        `Credential should be scoped to a valid region. This endpoint serves '${this.#region}', ` +
          `and the request was signed for '${auth.region}'.`,
      );
    }
    if (auth.scopeDate !== longDate.slice(0, 8)) {
      throw new AuthFailure(
        'invalid-signature',
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
          `'${auth.scopeDate}' != '${longDate.slice(0, 8)}', from '${longDate}'.`,
      );
    }
  }

  #checkClock(longDate: string, signedAt: number): void {
    const now = this.#now();
    if (signedAt < now - MAX_CLOCK_SKEW_MS) {
      throw new AuthFailure(
        'invalid-signature',
        `Signature expired: ${longDate} is now earlier than ${basicIso(now - MAX_CLOCK_SKEW_MS)} ` +
          `(${basicIso(now)} - 5 min.)`,
      );
    }
    if (signedAt > now + MAX_CLOCK_SKEW_MS) {
      throw new AuthFailure(
        'invalid-signature',
        `Signature not yet current: ${longDate} is still later than ${basicIso(now + MAX_CLOCK_SKEW_MS)} ` +
          `(${basicIso(now)} + 5 min.)`,
      );
    }
  }

  async #checkSignature(
    request: SignedRequest,
    auth: ParsedAuthorization,
    longDate: string,
    record: AccessKeyRecord,
  ): Promise<void> {
    const payloadHash = this.#payloadHash(request);
    const headers: Record<string, string> = {};
    for (const name of auth.signedHeaders) {
      const value = headerValue(request.headers, name);
      if (value !== undefined) headers[name] = value;
    }
    const canonicalHeaders = getCanonicalHeaders(
      { headers } as Parameters<typeof getCanonicalHeaders>[0],
      undefined,
      new Set(auth.signedHeaders),
    );
    const canonicalRequest = this.#builder.canonicalRequest(
      {
        method: request.method,
        protocol: 'http:',
        hostname: headers.host ?? '',
        path: request.path,
        query: parseQuery(request.rawQuery),
        headers,
      },
      canonicalHeaders,
      payloadHash,
    );
    const scope = `${auth.scopeDate}/${auth.region}/${auth.service}/aws4_request`;
    const stringToSign = await this.#builder.stringToSign(longDate, scope, canonicalRequest);

    const key = await this.#keys.get(
      record.accessKeyId,
      record.secretAccessKey,
      auth.scopeDate,
      auth.region,
      auth.service,
    );
    const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
    if (!sameText(auth.signature, expected)) {
      throw new AuthFailure('invalid-signature', AUTH_MESSAGES.signatureMismatch);
    }
  }

  #payloadHash(request: SignedRequest): string {
    const computed =
      request.body.length === 0
        ? EMPTY_BODY_SHA256
        : createHash('sha256').update(request.body).digest('hex');
    const declared = headerValue(request.headers, 'x-amz-content-sha256');
    if (declared !== undefined && declared !== computed) {
      throw new AuthFailure(
        'invalid-signature',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    return computed;
  }
}

/** Read the signing time from `X-Amz-Date`, or from `Date` when that is absent. */
function signingTime(
  headers: IncomingHttpHeaders,
  auth: ParsedAuthorization,
): { longDate: string; signedAt: number } {
  if (!auth.signedHeaders.includes('host')) {
    throw new AuthFailure(
      'incomplete-signature',
      "'Host' must be a 'SignedHeader' in the AWS Authorization.",
    );
  }

  const amzDate = headerValue(headers, 'x-amz-date');
  if (amzDate !== undefined) {
    requireSigned(auth, 'x-amz-date');
    const signedAt = parseBasicIso(amzDate);
    if (signedAt === undefined) {
      throw new AuthFailure(
        'incomplete-signature',
        `X-Amz-Date '${amzDate}' must be in ISO 8601 basic format, such as 20261204T192752Z.`,
      );
    }
    return { longDate: amzDate, signedAt };
  }

  const date = headerValue(headers, 'date');
  if (date === undefined) {
    throw new AuthFailure(
      'incomplete-signature',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    );
  }
  requireSigned(auth, 'date');
  const signedAt = Date.parse(date);
  if (Number.isNaN(signedAt)) {
    throw new AuthFailure(
      'incomplete-signature',
      `Date header '${date}' is not a valid HTTP date; send X-Amz-Date in ISO 8601 basic format instead.`,
    );
  }
  return { longDate: basicIso(signedAt), signedAt };
}

function requireSigned(auth: ParsedAuthorization, name: string): void {
  if (!auth.signedHeaders.includes(name)) {
    throw new AuthFailure(
      'incomplete-signature',
      `'${name}' must be a 'SignedHeader' in the AWS Authorization when the request carries it.`,
    );
  }
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseQuery(rawQuery: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (rawQuery.length === 0) return query;
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    const existing = query[name];
    if (existing === undefined) query[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[name] = [existing, value];
  }
  return query;
}

const BASIC_ISO = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Epoch milliseconds of `YYYYMMDDTHHMMSSZ`, or undefined when it is not one. */
export function parseBasicIso(text: string): number | undefined {
  const match = BASIC_ISO.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as number[];
  const time = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  const check = new Date(time);
  // Date.UTC rolls 20261332 over into the next year; a real date survives the round trip.
  if (check.getUTCMonth() !== month! - 1 || check.getUTCDate() !== day! || hour! > 23) {
    return undefined;
  }
  return time;
}

/** `YYYYMMDDTHHMMSSZ` of an epoch-millisecond time. */
export function basicIso(time: number): string {
  return new Date(time)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function sameText(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
