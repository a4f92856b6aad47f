/**
 * Unwrapping ledger data keys while no server runs, for tools such as
 * `vellum verify` that open a data directory with its root key. Data keys
 * under a KMS key are opened through the store's KMS exactly as the server
 * opens them: as the QLDB service principal, with the ledger's grant. A key
 * that is disabled, pending deletion or deleted, or a revoked grant, still
 * stops the read. The KMS is opened only for the first such data key, so a
 * data directory of the embedded engine alone is not changed.
 * The KMS is opened without its due work: a key whose deletion date has
 * passed reads as deleted but stays stored, and no key is rotated.
 */
import { pino } from 'pino';
import type { KeyProvider } from '../../engine/keyring/key-provider.js';
import { RootKeyProvider } from '../../engine/keyring/root-key-file.js';
import type { Store } from '../../storage/store.js';
import { IdentityService } from '../iam/identity.js';
import { KmsService } from '../kms/kms-service.js';
import { ServiceError } from '../types.js';
import { KMS_WRAPPED, LEDGER_KEY_NAMESPACE, LedgerKeyService } from './ledger-keys.js';

/** A read-only key provider; `close` stops the KMS it opened. */
export interface OfflineKeyProvider extends KeyProvider {
  close(): void;
}

const DEFAULT_ACCOUNT = '000000000000';
const DEFAULT_REGION = 'us-east-1';

/**
 * Create a key provider that unwraps the data keys of `store()`, which the
 * engine opens, with `rootKey`. Wrapping is rejected: the provider only reads.
 */
export function offlineKeyProvider(rootKey: Uint8Array, store: () => Store): OfflineKeyProvider {
  const root = new RootKeyProvider(rootKey);
  let kms: KmsService | undefined;
  let opening: Promise<LedgerKeyService> | undefined;

  const open = async (): Promise<LedgerKeyService> => {
    const { accountId, region } = await accountAndRegion(store());
    const identity = await IdentityService.open({ store: store(), accountId, rootKey });
    kms = await KmsService.open({
      store: store(),
      identity,
      rootKey,
      scheduleInterval: 0,
      runDueWork: false,
    });
    const keys = new LedgerKeyService({
      store: store(),
      kms,
      identity,
      rootKey,
      accountId,
      region,
      checkIntervalMs: 0,
      logger: pino({ level: 'silent' }),
    });
    await keys.load();
    return keys;
  };

  const readOnly = (): never => {
    throw new Error(
      'this key provider only reads existing ledgers; start vellum serve to create one',
    );
  };

  return {
    wrap: async () => readOnly(),
    generate: async () => readOnly(),
    async unwrap(ledgerId, wrapped, ledgerName) {
      if (wrapped[0] !== KMS_WRAPPED) return root.unwrap(ledgerId, wrapped);
      opening ??= open();
      const keys = await opening;
      try {
        return await keys.keyProvider.unwrap(ledgerId, wrapped, ledgerName);
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        throw new Error(
          `cannot unwrap the data key of ledger ${ledgerName ?? ledgerId}: the KMS rejected it with ${error.code}: ${error.message} ` +
            'A disabled key or one pending deletion must be enabled first; a deleted key cannot be recovered',
          { cause: error },
        );
      }
    },
    close() {
      kms?.close();
    },
  };
}

/** Read the account and region of the ledgers' customer managed keys from their configurations. */
async function accountAndRegion(store: Store): Promise<{ accountId: string; region: string }> {
  for (const record of await store.listState(LEDGER_KEY_NAMESPACE)) {
    const config = JSON.parse(Buffer.from(record.value).toString('utf8')) as {
      keyArn?: string;
      pending?: { keyArn?: string };
    };
    const arn = config.keyArn ?? config.pending?.keyArn;
    const match = arn === undefined ? null : /^arn:aws[a-z-]*:kms:([^:]+):(\d{12}):key\//.exec(arn);
    if (match !== null) return { region: match[1]!, accountId: match[2]! };
  }
  return { accountId: DEFAULT_ACCOUNT, region: DEFAULT_REGION };
}
