export {
  Engine,
  type EngineOptions,
  type LedgerDescription,
  type LedgerSettings,
  type LedgerKeyStatus,
} from './engine.js';
export { Ledger, revisionToIon, type Digest } from './ledger/ledger.js';
export type { RekeyOptions, RekeyStatus, RekeyState, RekeyPhase } from './ledger/rekey.js';
export { Transaction, type CommitResult, type DocumentInput } from './ledger/transaction.js';
export type { DocumentObject } from './ion/index.js';
export { Revision } from './ledger/revision.js';
export * from './errors.js';
export type { BlockAddress, RevisionMetadata } from './journal/journal-types.js';
export {
  executeStatement,
  parse,
  StatementCache,
  PartiqlError,
  PartiqlSyntaxError,
  PartiqlSemanticError,
  MAX_STATEMENT_LENGTH,
  MAX_PARAMETER_BYTES,
  StatementResult,
  type AccessPlan,
  type ExecuteOptions,
} from './partiql/index.js';
export { openStore, type OpenStoreOptions } from '../storage/open-store.js';
export { PostgresStore, type PostgresStoreOptions } from '../storage/postgres/postgres-store.js';
export { SqliteStore, type SqliteStoreOptions } from '../storage/sqlite/sqlite-store.js';
export { StoreClosedError, type Store } from '../storage/store.js';
/** The engine's own ion-js, for Ion values it takes as its own (a second copy's are refused). */
export * as ion from 'ion-js';
