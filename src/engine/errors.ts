/**
 * Errors the engine raises. Each carries the AWS error type (`code`) that the
 * QLDB APIs send for it, so the protocol layer maps them without guessing.
 */
export type LedgerErrorCode =
  | 'OccConflictException'
  | 'BadRequestException'
  | 'InvalidSessionException'
  | 'LimitExceededException'
  | 'CapacityExceededException'
  | 'ResourceNotFoundException'
  | 'ResourceAlreadyExistsException'
  | 'ResourceInUseException'
  | 'ResourcePreconditionNotMetException'
  | 'InvalidParameterException';

export class LedgerError extends Error {
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export class OccConflictError extends LedgerError {
  constructor(
    readonly transactionId: string,
    message = 'Optimistic concurrency control (OCC) failure encountered while committing the transaction',
  ) {
    super('OccConflictException', message);
  }
}

export class TransactionExpiredError extends LedgerError {
  constructor(readonly transactionId: string) {
    super('InvalidSessionException', `Transaction ${transactionId} has expired`);
  }
}

export class TransactionClosedError extends LedgerError {
  constructor(
    readonly transactionId: string,
    state: string,
  ) {
    super(
      'BadRequestException',
      `Transaction ${transactionId} is ${state}; start a new transaction`,
    );
  }
}

export class QuotaExceededError extends LedgerError {
  constructor(message: string) {
    super('LimitExceededException', message);
  }
}

/**
 * A storage failure: the store could not be reached or a write failed. The
 * transactions involved may be retried; a write that failed this way wrote
 * nothing, unless the connection broke while the store committed it.
 */
export class StorageUnavailableError extends LedgerError {
  constructor(cause: unknown, operation: 'read' | 'write' = 'write') {
    super(
      'CapacityExceededException',
      `Storage ${operation} failed, retry the request: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.cause = cause;
  }
}

/** A stored block or one of its revisions failed authentication: the store was changed. */
export class JournalIntegrityError extends Error {
  constructor(
    readonly ledgerName: string,
    readonly blockSeq: number,
    cause: Error,
  ) {
    super(`block ${blockSeq} of ledger ${ledgerName} is corrupt: ${cause.message}`);
    this.name = 'JournalIntegrityError';
    this.cause = cause;
  }
}
