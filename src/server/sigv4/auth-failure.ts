/**
 * The reason a request failed SigV4 verification. Each protocol names the same
 * failure differently, so the kind is mapped to a code and status only when
 * the error is written (see `authErrorCode`).
 */
export type AuthFailureKind =
  /** No `Authorization` header. */
  | 'missing-token'
  /** An `Authorization` header that cannot be parsed, or a missing date header. */
  | 'incomplete-signature'
  /** An unknown access key, or a session token that does not belong to it. */
  | 'unrecognized-client'
  /** A wrong signature, credential scope, date or payload hash. */
  | 'invalid-signature'
  /** Temporary credentials past their expiry. */
  | 'expired-token';

/** A request that failed verification; nothing of it was executed. */
export class AuthFailure extends Error {
  constructor(
    readonly kind: AuthFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'AuthFailure';
  }
}

/** The wire protocols whose error shapes differ. */
export type Protocol = 'json' | 'rest-json' | 'query';

export interface AuthErrorCode {
  code: string;
  status: number;
}

const JSON_CODES: Record<AuthFailureKind, AuthErrorCode> = {
  'missing-token': { code: 'MissingAuthenticationTokenException', status: 400 },
  'incomplete-signature': { code: 'IncompleteSignatureException', status: 400 },
  'unrecognized-client': { code: 'UnrecognizedClientException', status: 400 },
  'invalid-signature': { code: 'InvalidSignatureException', status: 400 },
  'expired-token': { code: 'ExpiredTokenException', status: 400 },
};

// REST-JSON has no reference status for these, so they use HTTP's 403 for
// refused credentials, except for a malformed header, which is a 400 syntax error.
const REST_JSON_CODES: Record<AuthFailureKind, AuthErrorCode> = {
  'missing-token': { code: 'MissingAuthenticationTokenException', status: 403 },
  'incomplete-signature': { code: 'IncompleteSignatureException', status: 400 },
  'unrecognized-client': { code: 'UnrecognizedClientException', status: 403 },
  'invalid-signature': { code: 'InvalidSignatureException', status: 403 },
  'expired-token': { code: 'ExpiredTokenException', status: 403 },
};

const QUERY_CODES: Record<AuthFailureKind, AuthErrorCode> = {
  'missing-token': { code: 'MissingAuthenticationToken', status: 403 },
  'incomplete-signature': { code: 'IncompleteSignature', status: 400 },
  'unrecognized-client': { code: 'InvalidClientTokenId', status: 403 },
  'invalid-signature': { code: 'SignatureDoesNotMatch', status: 403 },
  'expired-token': { code: 'ExpiredToken', status: 403 },
};

/** Every verification failure by protocol and kind; docs/http.md lists them all. */
export const AUTH_ERROR_CODES: Record<Protocol, Record<AuthFailureKind, AuthErrorCode>> = {
  json: JSON_CODES,
  'rest-json': REST_JSON_CODES,
  query: QUERY_CODES,
};

/** Look up the AWS error code and HTTP status of a verification failure in one protocol. */
export function authErrorCode(protocol: Protocol, kind: AuthFailureKind): AuthErrorCode {
  return AUTH_ERROR_CODES[protocol][kind];
}

/** AWS's messages for the failures whose text clients and users recognise. */
export const AUTH_MESSAGES = {
  missingTokenJson: 'Missing Authentication Token',
  missingTokenQuery: 'Request is missing Authentication Token',
  invalidToken: 'The security token included in the request is invalid.',
  expiredToken: 'The security token included in the request is expired',
  signatureMismatch:
    'The request signature we calculated does not match the signature you provided. ' +
    'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
} as const;
