import { AuthFailure } from './auth-failure.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

/** The parts of a SigV4 `Authorization` header. */
export interface ParsedAuthorization {
  accessKeyId: string;
  /** `YYYYMMDD` from the credential scope. */
  scopeDate: string;
  region: string;
  service: string;
  /** Lower-case header names in the order the client listed them. */
  signedHeaders: string[];
  /** The signature as sent: 64 hex digits for a well-formed request. */
  signature: string;
}

/**
 * Parse `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
 * SignedHeaders=<a;b>, Signature=<hex>`. Raises `AuthFailure` of kind
 * `incomplete-signature` with every problem found, as AWS lists them.
 *
 * @example
 * parseAuthorization('AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab…')
 * // => { accessKeyId: 'AKID', scopeDate: '20261204', region: 'us-east-1', service: 'kms', signedHeaders: ['host', 'x-amz-date'], signature: 'ab…' }
 */
export function parseAuthorization(header: string): ParsedAuthorization {
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new AuthFailure(
      'incomplete-signature',
      `Unsupported Authorization algorithm '${algorithm}'; sign the request with ${SIGV4_ALGORITHM}.`,
    );
  }

  const fields = parseFields(space < 0 ? '' : trimmed.slice(space + 1), header);
  const problems: string[] = [];
  for (const name of ['Credential', 'Signature', 'SignedHeaders']) {
    if (!fields.has(name)) problems.push(`Authorization header requires '${name}' parameter.`);
  }
  if (problems.length > 0) throw new AuthFailure('incomplete-signature', problems.join(' '));

  const credential = parseCredential(fields.get('Credential') ?? '');
  const signedHeaders = (fields.get('SignedHeaders') ?? '')
    .split(';')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
  if (signedHeaders.length === 0) {
    throw new AuthFailure(
      'incomplete-signature',
      "Authorization header's 'SignedHeaders' parameter is empty; it must list at least 'host'.",
    );
  }
  return { ...credential, signedHeaders, signature: fields.get('Signature') ?? '' };
}

function parseFields(text: string, header: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item.length === 0) continue;
    const equals = item.indexOf('=');
    if (equals < 0) {
      throw new AuthFailure(
        'incomplete-signature',
        `'${item}' not a valid key=value pair (missing equal-sign) in Authorization header: '${header}'.`,
      );
    }
    fields.set(item.slice(0, equals).trim(), item.slice(equals + 1).trim());
  }
  return fields;
}

function parseCredential(
  credential: string,
): Pick<ParsedAuthorization, 'accessKeyId' | 'scopeDate' | 'region' | 'service'> {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((part) => part.length === 0)) {
    throw new AuthFailure(
      'incomplete-signature',
      `Credential '${credential}' is malformed; expected <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request.`,
    );
  }
  const [accessKeyId, scopeDate, region, service, terminator] = parts as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (terminator !== 'aws4_request') {
    throw new AuthFailure(
      'incomplete-signature',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`,
    );
  }
  if (!/^\d{8}$/.test(scopeDate)) {
    throw new AuthFailure(
      'incomplete-signature',
      `Credential scope date '${scopeDate}' is malformed; expected YYYYMMDD.`,
    );
  }
  return { accessKeyId, scopeDate, region, service };
}
