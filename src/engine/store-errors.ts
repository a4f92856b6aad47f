import { StoreUnavailableError, type Store } from '../storage/store.js';
import { StorageUnavailableError } from './errors.js';

/** Store methods that change what is stored; the others only read. */
const WRITES = new Set<string | symbol>([
  'appendBlocks',
  'createLedger',
  'updateLedgerSettings',
  'updateLedgerKey',
  'beginRekey',
  'finishRekey',
  'replaceSealed',
  'replaceIndexEntries',
  'deleteLedger',
  'putState',
  'deleteState',
]);

/**
 * Wrap a store so that `StoreUnavailableError` from any of its methods
 * reaches engine callers as `StorageUnavailableError`, the retryable error
 * that the QLDB APIs send as `CapacityExceededException`. Other errors pass
 * through unchanged.
 */
export function mapStoreErrors(store: Store): Store {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      const operation = WRITES.has(property) ? 'write' : 'read';
      return (...args: unknown[]) => {
        const result = method.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          if (error instanceof StoreUnavailableError) {
            throw new StorageUnavailableError(error, operation);
          }
          throw error;
        });
      };
    },
  });
}
