/**
 * The contract between the HTTP layer and the services. The services (KMS, IAM and
 * STS, QLDB, stacks) run in-process without HTTP; the server verifies the
 * caller, builds a `RequestContext` and calls them with decoded input.
 */

/** The verified caller of a request. */
export interface Principal {
  /** The 12-digit account the principal belongs to. */
  accountId: string;
  /**
   * The ARN that policies match: `arn:aws:iam::<account>:root`,
   * `arn:aws:iam::<account>:user/<name>`, or for a role session
   * `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
   */
  arn: string;
  /** For a role session, the role's ARN: `arn:aws:iam::<account>:role/<name>`. */
  roleArn?: string;
  /** The `UserId` that `GetCallerIdentity` returns. */
  userId: string;
  /** The access key that signed the request. */
  accessKeyId: string;
}

/** One request as a service receives it. */
export interface RequestContext {
  principal: Principal;
  /** Echoed in `x-amzn-RequestId` and in every log line of the request. */
  requestId: string;
  /** The region of the request's credential scope, such as `us-east-1`. */
  region: string;
  /**
   * Set when a Vellum service calls the KMS on a caller's behalf, such as
   * `qldb.us-east-1.amazonaws.com`; policies see it as `kms:ViaService`.
   */
  viaService?: string;
}

/**
 * An error with the AWS error code and HTTP status that clients expect.
 * The server writes it in the protocol's error shape.
 */
export class ServiceError extends Error {
  constructor(
    /** The AWS error code, such as `NotFoundException`. */
    readonly code: string,
    message: string,
    /** HTTP status; 400 unless AWS uses another for this code. */
    readonly status = 400,
    /** Extra members of the error body, such as QLDB's `ResourceType` and `ResourceName`. */
    readonly fields: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = code;
  }
}

/** The secret behind an access key, for signature verification. */
export interface AccessKeyRecord {
  accessKeyId: string;
  secretAccessKey: string;
  /** Present for temporary credentials; the request must carry the same token. */
  sessionToken?: string;
  /** Epoch milliseconds after which temporary credentials are refused. */
  expiresAt?: number;
  principal: Principal;
}

/** Resolves access keys to their secrets and principals. */
export interface CredentialResolver {
  /** The key's record, or undefined when no such key exists (or it was deleted). */
  lookupAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined>;
}

/**
 * A service spoken in the AWS JSON protocols (1.0 and 1.1): the server
 * decodes the body, and `handle` returns the output shape as plain JSON.
 */
export interface JsonService {
  handle(
    operation: string,
    input: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>>;
}
