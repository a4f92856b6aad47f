import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LedgerExistsError, type LedgerRecord, type Store } from '../storage/store.js';
import { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import { LedgerError } from './errors.js';
import { newId } from './ids.js';
import type { KeyProvider } from './keyring/key-provider.js';
import { LedgerCipher } from './keyring/ledger-cipher.js';
import { loadOrCreateRootKey, RootKeyProvider } from './keyring/root-key-file.js';
import { Ledger } from './ledger/ledger.js';
import { lockDataDir } from './data-dir-lock.js';
import { DEFAULT_TRANSACTION_TIMEOUT_MS } from './ledger/transaction.js';
import { mapStoreErrors } from './store-errors.js';

export const DATABASE_FILE = 'vellum.db';

/** QLDB's ledger name rule: 1 to 32 letters, digits and single inner hyphens, not all digits. */
const LEDGER_NAME_PATTERN = /^(?!.*--)(?![0-9]+$)(?!-)(?!.*-$)[A-Za-z0-9-]{1,32}$/;

export interface EngineOptions {
  /** Directory for the SQLite database and the root key file. */
  dataDir: string;
  /**
   * A store to use instead of the SQLite file in `dataDir`, such as a
   * PostgreSQL store from `openStore(url)`. Engines in several processes may
   * share a PostgreSQL store; they need the same key provider (the same root
   * key) to read each other's ledgers. The engine closes the store.
   */
  store?: Store;
  /** The wrapper of ledger data keys; defaults to the root key file in `dataDir`. */
  keyProvider?: KeyProvider;
  /** Transaction lifetime; QLDB's is 30 s. */
  transactionTimeoutMs?: number;
  /**
   * Create the root key file when it is missing (the default). Tools that
   * only read an existing data directory pass false, so a missing key is an
   * error instead of a new key that cannot unwrap anything.
   */
  createRootKey?: boolean;
}

export interface LedgerSettings {
  state: 'CREATING' | 'ACTIVE' | 'DELETING';
  permissionsMode: 'ALLOW_ALL' | 'STANDARD';
  deletionProtection: boolean;
  tags: Record<string, string>;
}

export interface LedgerDescription extends LedgerSettings {
  name: string;
  id: string;
  createdAt: number;
}

/**
 * The embedded ledger engine: ledgers on a store, each with its own data key
 * and committer. Usable in-process without any server.
 */
export class Engine {
  readonly #store: Store;
  readonly #keys: KeyProvider;
  readonly #timeoutMs: number;
  readonly #open = new Map<string, Promise<Ledger>>();
  readonly #unlock: () => void;

  private constructor(store: Store, keys: KeyProvider, timeoutMs: number, unlock: () => void) {
    this.#store = store;
    this.#keys = keys;
    this.#timeoutMs = timeoutMs;
    this.#unlock = unlock;
  }

  static async open(options: EngineOptions): Promise<Engine> {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const unlock = options.store === undefined ? lockDataDir(options.dataDir) : () => undefined;
    try {
      const keys =
        options.keyProvider ??
        new RootKeyProvider(loadOrCreateRootKey(options.dataDir, options.createRootKey ?? true));
      const given = options.store;
      // A store with a single writer is the SQLite store, whose errors need
      // no mapping; skipping the wrapper keeps its calls direct.
      const store =
        given === undefined
          ? SqliteStore.open({ path: join(options.dataDir, DATABASE_FILE) })
          : given.singleWriter
            ? given
            : mapStoreErrors(given);
      const timeoutMs = options.transactionTimeoutMs ?? DEFAULT_TRANSACTION_TIMEOUT_MS;
      return new Engine(store, keys, timeoutMs, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  get store(): Store {
    return this.#store;
  }

  /**
   * Create a ledger with a new data key and write its first block, so that
   * every ledger has a digest from the start.
   */
  async createLedger(
    name: string,
    settings: Partial<LedgerSettings> = {},
  ): Promise<LedgerDescription> {
    if (typeof name !== 'string' || !LEDGER_NAME_PATTERN.test(name)) {
      throw new LedgerError(
        'InvalidParameterException',
        `Invalid ledger name ${JSON.stringify(name)}: use 1 to 32 letters, digits and hyphens, not all digits, with no leading, trailing or double hyphen`,
      );
    }
    const id = newId();
    let wrappedKey: Uint8Array;
    if (this.#keys.generate !== undefined) {
      wrappedKey = (await this.#keys.generate(id, name)).wrapped;
    } else {
      wrappedKey = await this.#keys.wrap(id, randomBytes(32), name);
    }
    const record: LedgerRecord = {
      name,
      id,
      createdAt: Date.now(),
      settings: JSON.stringify({
        state: 'ACTIVE',
        permissionsMode: settings.permissionsMode ?? 'ALLOW_ALL',
        deletionProtection: settings.deletionProtection ?? true,
        tags: settings.tags ?? {},
      } satisfies LedgerSettings),
      wrappedKey,
    };
    try {
      await this.#store.createLedger(record);
    } catch (error) {
      if (error instanceof LedgerExistsError) {
        throw new LedgerError('ResourceAlreadyExistsException', `Ledger ${name} already exists`);
      }
      throw error;
    }

    const ledger = await this.ledger(name);
    const genesis = ledger.begin();
    genesis.journalEvenIfEmpty();
    await genesis.commit();
    return describe(record);
  }

  async describeLedger(name: string): Promise<LedgerDescription> {
    return describe(await this.#record(name));
  }

  async listLedgers(): Promise<LedgerDescription[]> {
    return (await this.#store.listLedgers()).map(describe);
  }

  async updateLedger(name: string, patch: Partial<LedgerSettings>): Promise<LedgerDescription> {
    const record = await this.#record(name);
    const settings = { ...(JSON.parse(record.settings) as LedgerSettings), ...patch };
    await this.#store.updateLedgerSettings(name, JSON.stringify(settings));
    return describe({ ...record, settings: JSON.stringify(settings) });
  }

  /** Delete a ledger and all its data; refused while deletion protection is on. */
  async deleteLedger(name: string): Promise<void> {
    const description = describe(await this.#record(name));
    if (description.deletionProtection) {
      throw new LedgerError(
        'ResourcePreconditionNotMetException',
        `Ledger ${name} has deletion protection on; turn it off with UpdateLedger before deleting`,
      );
    }
    this.#open.delete(name);
    await this.#store.deleteLedger(name);
  }

  /**
   * Drop the open ledger and with it the plaintext data key. The next use
   * unwraps the key again, so a key provider that refuses (a disabled KMS
   * key) keeps the ledger closed. Transactions already begun keep working
   * until they end, so callers gate new work before they forget.
   */
  forget(name: string): void {
    this.#open.delete(name);
  }

  /**
   * Replace a ledger's wrapped data key with `rewrap(current)`, which must
   * wrap the same data key (under another key-encryption key). The data key
   * and everything it encrypts stay as they are, so the cost does not depend
   * on the ledger's size.
   */
  async rewrapLedgerKey(
    name: string,
    rewrap: (wrapped: Uint8Array, ledgerId: string) => Promise<Uint8Array>,
  ): Promise<void> {
    const record = await this.#record(name);
    const wrapped = await rewrap(record.wrappedKey, record.id);
    await this.#store.updateLedgerKey(name, wrapped);
  }

  /** Return the ledger's id and its wrapped data key as stored. */
  async ledgerKeyRecord(name: string): Promise<{ id: string; wrappedKey: Uint8Array }> {
    const record = await this.#record(name);
    return { id: record.id, wrappedKey: record.wrappedKey };
  }

  /** Return the open ledger with this name, opening it on first use. */
  ledger(name: string): Promise<Ledger> {
    let ledger = this.#open.get(name);
    if (ledger === undefined) {
      ledger = this.#openLedger(name);
      this.#open.set(name, ledger);
      ledger.catch(() => this.#open.delete(name));
    }
    return ledger;
  }

  async close(): Promise<void> {
    this.#open.clear();
    try {
      await this.#store.close();
    } finally {
      this.#unlock();
    }
  }

  async #openLedger(name: string): Promise<Ledger> {
    const record = await this.#record(name);
    const dataKey = await this.#keys.unwrap(record.id, record.wrappedKey, record.name);
    return Ledger.open(name, record.id, this.#store, new LedgerCipher(dataKey), {
      transactionTimeoutMs: this.#timeoutMs,
    });
  }

  async #record(name: string): Promise<LedgerRecord> {
    const record = await this.#store.getLedger(name);
    if (record === undefined) {
      throw new LedgerError('ResourceNotFoundException', `Ledger ${name} does not exist`);
    }
    return record;
  }
}

function describe(record: LedgerRecord): LedgerDescription {
  return {
    name: record.name,
    id: record.id,
    createdAt: record.createdAt,
    ...(JSON.parse(record.settings) as LedgerSettings),
  };
}
