import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LedgerExistsError, type LedgerRecord, type Store } from '../storage/store.js';
import { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import { LedgerError } from './errors.js';
import { newId } from './ids.js';
import type { KeyProvider } from './keyring/key-provider.js';
import { LedgerCipher, LedgerKeyring, MAX_KEY_GENERATION } from './keyring/ledger-cipher.js';
import {
  DATABASE_FILE,
  isRootWrapped,
  loadOrCreateRootKey,
  ROOT_KEY_FILE,
  RootKeyProvider,
} from './keyring/root-key-file.js';
import { Ledger } from './ledger/ledger.js';
import { lockDataDir, makeDataDir } from './data-dir-lock.js';
import { DEFAULT_TRANSACTION_TIMEOUT_MS } from './ledger/transaction.js';
import { mapStoreErrors } from './store-errors.js';
import {
  DEFAULT_REKEY_OPTIONS,
  deleteProgress,
  LedgerRekey,
  readProgress,
  writeProgress,
  type RekeyOptions,
  type RekeyProgress,
  type RekeyStatus,
} from './ledger/rekey.js';
import { RekeyConflictError } from '../storage/store.js';

export { DATABASE_FILE };

/** QLDB's ledger name rule: 1 to 32 letters, digits and single inner hyphens, not all digits. */
const LEDGER_NAME_PATTERN = /^(?!.*--)(?![0-9]+$)(?!-)(?!.*-$)[A-Za-z0-9-]{1,32}$/;

/**
 * How long an open ledger is used without checking that a shared store
 * still contains it under its name, in milliseconds. Another server's DeleteLedger
 * reaches this one within that time.
 */
const LEDGER_CHECK_MS = 1_000;

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
  /** Batch sizes and pacing of rekeys; see `rekeyLedger`. */
  rekey?: Partial<RekeyOptions>;
}

/** A ledger's data key generations and its rekey, as `rekeyStatus` reports them. */
export interface LedgerKeyStatus {
  name: string;
  /** The generation of the data key that seals new writes. */
  keyGeneration: number;
  /** The generation being replaced while a rekey runs. */
  retiringGeneration?: number;
  /** The rekey that runs, or the last one this engine ran; undefined when there is none to report. */
  rekey?: RekeyStatus;
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
  /** When each open ledger was last found in a shared store under its name. */
  readonly #checkedAt = new Map<string, number>();
  readonly #unlock: () => void;
  readonly #rekeyOptions: RekeyOptions;
  /** Rekeys this engine runs or ran last, by ledger name. */
  readonly #rekeys = new Map<string, LedgerRekey>();

  private constructor(
    store: Store,
    keys: KeyProvider,
    timeoutMs: number,
    unlock: () => void,
    rekeyOptions: RekeyOptions,
  ) {
    this.#store = store;
    this.#keys = keys;
    this.#timeoutMs = timeoutMs;
    this.#unlock = unlock;
    this.#rekeyOptions = rekeyOptions;
  }

  static async open(options: EngineOptions): Promise<Engine> {
    checkOpenOptions(options);
    makeDataDir(options.dataDir);
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
      const rekey = { ...DEFAULT_REKEY_OPTIONS, ...options.rekey };
      for (const [name, value] of Object.entries(rekey)) {
        if (!Number.isFinite(value) || value < (name === 'pauseMs' ? 0 : 1)) {
          throw new RangeError(`rekey option ${name} must be a positive number, got ${value}`);
        }
      }
      const engine = new Engine(store, keys, timeoutMs, unlock, rekey);
      if (options.keyProvider === undefined) {
        await engine.#checkRootKey(options.dataDir).catch(async (error: unknown) => {
          await engine.close();
          throw error;
        });
      }
      return engine;
    } catch (error) {
      unlock();
      throw error;
    }
  }

  /**
   * Refuse a root key file that does not open the data keys it wrapped, so
   * that a wrong key never gets ledgers of its own in the same database.
   */
  async #checkRootKey(dataDir: string): Promise<void> {
    const record = (await this.#store.listLedgers()).find((ledger) =>
      isRootWrapped(ledger.wrappedKey),
    );
    if (record === undefined) return;
    try {
      await this.#keys.unwrap(record.id, record.wrappedKey, record.name);
    } catch {
      throw new Error(
        `root key file ${join(dataDir, ROOT_KEY_FILE)} does not open the data key of ledger ` +
          `${record.name} in ${join(dataDir, DATABASE_FILE)}: it is not the key this database ` +
          'was made with. Restore the original root.key of this data directory',
      );
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
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
      throw new LedgerError(
        'InvalidParameterException',
        `createLedger takes settings as an object, such as { permissionsMode: 'STANDARD' }, got ${JSON.stringify(settings)}`,
      );
    }
    const settable = ['permissionsMode', 'deletionProtection', 'tags'];
    const unknown = Object.keys(settings).find((key) => !settable.includes(key));
    if (unknown !== undefined) {
      throw new LedgerError(
        'InvalidParameterException',
        `createLedger has no setting ${unknown}; its settings are ${settable.join(', ')}`,
      );
    }
    const mode = settings.permissionsMode;
    if (mode !== undefined && mode !== 'ALLOW_ALL' && mode !== 'STANDARD') {
      throw new LedgerError(
        'InvalidParameterException',
        `permissionsMode must be ALLOW_ALL or STANDARD, got ${JSON.stringify(mode)}`,
      );
    }
    const protection = settings.deletionProtection;
    if (protection !== undefined && typeof protection !== 'boolean') {
      throw new LedgerError(
        'InvalidParameterException',
        `deletionProtection must be true or false, got ${JSON.stringify(protection)}`,
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
    await this.#stopRekey(name);
    this.#rekeys.delete(name);
    this.#open.delete(name);
    const { id } = await this.#record(name);
    await this.#store.deleteLedger(name);
    await deleteProgress(this.#store, id);
  }

  /**
   * Drop the open ledger and with it the plaintext data key. The next use
   * unwraps the key again, so a key provider that refuses (a disabled KMS
   * key) keeps the ledger closed. Transactions already begun keep working
   * until they end, so callers gate new work before they forget.
   */
  forget(name: string): void {
    this.#open.delete(name);
    this.#checkedAt.delete(name);
    // A running rekey keeps both keys in memory, so it stops here and resumes
    // when the ledger opens again.
    void this.#stopRekey(name);
  }

  /**
   * Replace a ledger's wrapped data key with `rewrap(current)`, which must
   * wrap the same data key (under another key-encryption key). The data key
   * and everything it encrypts stay as they are, so the cost does not depend
   * on the ledger's size.
   *
   * Each stored form is replaced only if it is still the one given to
   * `rewrap`. Resolves false when another process replaced one meanwhile.
   * That one stays as the other process wrote it, and the caller decides
   * again from a fresh read.
   */
  async rewrapLedgerKey(
    name: string,
    rewrap: (wrapped: Uint8Array, ledgerId: string) => Promise<Uint8Array>,
  ): Promise<boolean> {
    const record = await this.#record(name);
    // Each key is replaced by generation, wherever the record holds it by
    // then: a rekey that starts meanwhile turns the current key into the
    // retiring one, and one that finishes deletes the retiring key (and
    // then nothing is left to replace, which is not a conflict).
    let unchanged = true;
    const wrapped = await rewrap(record.wrappedKey, record.id);
    if (wrapped !== record.wrappedKey) {
      const generation = record.keyGeneration ?? 0;
      if (!(await this.#store.updateLedgerKey(name, wrapped, generation, record.wrappedKey))) {
        unchanged = !(await this.#holdsGeneration(name, generation));
      }
    }
    if (record.retiringKey !== undefined) {
      const { generation, wrappedKey } = record.retiringKey;
      const retiring = await rewrap(wrappedKey, record.id);
      if (
        retiring !== wrappedKey &&
        !(await this.#store.updateLedgerKey(name, retiring, generation, wrappedKey)) &&
        (await this.#holdsGeneration(name, generation))
      ) {
        unchanged = false;
      }
    }
    return unchanged;
  }

  /** True when the ledger still has a data key of this generation, current or retiring. */
  async #holdsGeneration(name: string, generation: number): Promise<boolean> {
    const record = await this.#store.getLedger(name);
    return (
      (record?.keyGeneration ?? 0) === generation || record?.retiringKey?.generation === generation
    );
  }

  /**
   * Replace the ledger's data key: create a new one (from the key provider,
   * as a KMS's GenerateDataKey does) that seals every write from now on,
   * seal the stored data again under it in the background, and delete the
   * old key once nothing needs it. Reads and writes go on meanwhile. A
   * rekey interrupted by a restart resumes when the ledger next opens.
   * Resolves with the status once the new key is in use; `rekeyStatus`
   * reports the progress and `waitForRekey` waits for the end.
   *
   * Rejects with `ResourceInUseException` while a rekey of the ledger runs.
   * Calling it for a ledger whose rekey stopped or failed resumes that rekey.
   */
  async rekeyLedger(name: string): Promise<LedgerKeyStatus> {
    const record = await this.#record(name);
    const running = this.#rekeys.get(name);
    if (record.retiringKey !== undefined) {
      if (running?.status.state === 'RUNNING') throw this.#rekeyRunning(record);
      // Stopped or failed here, or begun by a process that ended: resume it.
      const ledger = await this.ledger(name);
      await ledger.reloadKeys();
      await this.#startRekey(name, ledger, record);
      return this.rekeyStatus(name);
    }
    const ledger = await this.ledger(name);
    const from = record.keyGeneration ?? 0;
    // On a shared store another process may have rekeyed since this one loaded the keys.
    await ledger.reloadKeys();
    const current = ledger.cipher.cipher(from);
    if (current === undefined || ledger.cipher.retiring !== undefined) {
      throw new LedgerError(
        'ResourcePreconditionNotMetException',
        `The data keys of ledger ${name} changed while the rekey started; retry`,
      );
    }
    if (from >= MAX_KEY_GENERATION) {
      throw new LedgerError(
        'ResourcePreconditionNotMetException',
        `Ledger ${name} is at data key generation ${from}, the last one`,
      );
    }
    const to = from + 1;
    let dataKey: Uint8Array;
    let wrappedKey: Uint8Array;
    if (this.#keys.generate !== undefined) {
      ({ dataKey, wrapped: wrappedKey } = await this.#keys.generate(record.id, name));
    } else {
      dataKey = randomBytes(32);
      wrappedKey = await this.#keys.wrap(record.id, dataKey, name);
    }
    const next = new LedgerCipher(dataKey, to);
    try {
      await this.#store.beginRekey(name, from, { generation: to, wrappedKey });
    } catch (error) {
      if (!(error instanceof RekeyConflictError)) throw error;
      const now = await this.#store.getLedger(name);
      if (now?.retiringKey !== undefined) throw this.#rekeyRunning(now);
      throw new LedgerError('ResourcePreconditionNotMetException', `${error.message}; retry`);
    }
    // From here on every new write is sealed and MACed under the new key.
    ledger.useKeys(new LedgerKeyring(next, current));
    const progress: RekeyProgress = {
      fromGeneration: from,
      toGeneration: to,
      startedAt: Date.now(),
      blockCursor: 0,
      documentsResealed: 0,
      indexEntriesReplaced: 0,
    };
    await writeProgress(this.#store, record.id, progress);
    this.#runRekey(name, ledger, progress);
    return this.rekeyStatus(name);
  }

  /** Report a ledger's data key generations and its rekey's progress. */
  async rekeyStatus(name: string): Promise<LedgerKeyStatus> {
    const record = await this.#record(name);
    const status: LedgerKeyStatus = { name, keyGeneration: record.keyGeneration ?? 0 };
    if (record.retiringKey !== undefined) {
      status.retiringGeneration = record.retiringKey.generation;
    }
    const local = this.#rekeys.get(name);
    if (local !== undefined) {
      status.rekey = { ...local.status };
    } else if (record.retiringKey !== undefined) {
      // Run by another process on the shared store, or not resumed yet.
      const progress = await readProgress(this.#store, record.id);
      status.rekey = {
        state: 'RUNNING',
        phase: 'journal',
        fromGeneration: record.retiringKey.generation,
        toGeneration: record.keyGeneration ?? 0,
        startedAt: progress?.startedAt ?? 0,
        blocksDone: progress?.blockCursor ?? 0,
        blocksTotal: ((await this.#store.lastBlock(record.id))?.seq ?? -1) + 1,
        documentsResealed: progress?.documentsResealed ?? 0,
        indexEntriesReplaced: progress?.indexEntriesReplaced ?? 0,
      };
    }
    return status;
  }

  /** Wait until the ledger's rekey in this engine ends, and return its status. */
  async waitForRekey(name: string): Promise<LedgerKeyStatus> {
    await this.#rekeys.get(name)?.done;
    return this.rekeyStatus(name);
  }

  #rekeyRunning(record: LedgerRecord): LedgerError {
    return new LedgerError(
      'ResourceInUseException',
      `A rekey of ledger ${record.name} is already running, from data key generation ${record.retiringKey?.generation} to ${record.keyGeneration ?? 0}; wait for it to finish`,
    );
  }

  /** Resume the rekey of a ledger whose record has a retiring key. */
  async #startRekey(name: string, ledger: Ledger, record: LedgerRecord): Promise<void> {
    const stored = await readProgress(this.#store, record.id);
    const from = record.retiringKey!.generation;
    const to = record.keyGeneration ?? 0;
    const progress: RekeyProgress =
      stored !== undefined && stored.fromGeneration === from && stored.toGeneration === to
        ? stored
        : {
            fromGeneration: from,
            toGeneration: to,
            startedAt: Date.now(),
            blockCursor: 0,
            documentsResealed: 0,
            indexEntriesReplaced: 0,
          };
    this.#runRekey(name, ledger, progress);
  }

  #runRekey(name: string, ledger: Ledger, progress: RekeyProgress): void {
    const previous = this.#rekeys.get(name);
    if (previous?.status.state === 'RUNNING') return;
    this.#rekeys.set(name, new LedgerRekey(ledger, this.#store, progress, this.#rekeyOptions));
  }

  async #stopRekey(name: string): Promise<void> {
    await this.#rekeys.get(name)?.stop();
  }

  /** Return the ledger's id and its wrapped data key as stored. */
  async ledgerKeyRecord(name: string): Promise<{ id: string; wrappedKey: Uint8Array }> {
    const record = await this.#record(name);
    return { id: record.id, wrappedKey: record.wrappedKey };
  }

  /** Return the open ledger with this name, opening it on first use. */
  ledger(name: string): Promise<Ledger> {
    const opened = this.#open.get(name);
    if (opened === undefined) {
      const ledger = this.#openLedger(name);
      this.#open.set(name, ledger);
      ledger.catch(() => this.#open.delete(name));
      return ledger;
    }
    if (this.#store.singleWriter) return opened;
    const checkedAt = this.#checkedAt.get(name);
    if (checkedAt !== undefined && Date.now() - checkedAt < LEDGER_CHECK_MS) return opened;
    return this.#stillStored(name, opened);
  }

  /**
   * Return `opened` while the store still contains that ledger under its name.
   * On a shared store another process may have deleted it, and perhaps
   * created a new ledger of the same name, which is opened instead.
   * `ledger()` calls this at most once per `LEDGER_CHECK_MS` for each ledger,
   * so that a transaction does not pay a store round trip for it.
   */
  async #stillStored(name: string, opened: Promise<Ledger>): Promise<Ledger> {
    const checkedAt = Date.now();
    const [ledger, record] = await Promise.all([opened, this.#store.getLedger(name)]);
    if (record?.id === ledger.id) {
      if (this.#open.get(name) === opened) this.#checkedAt.set(name, checkedAt);
      return ledger;
    }
    if (this.#open.get(name) === opened) this.forget(name);
    if (record === undefined) {
      throw new LedgerError('ResourceNotFoundException', `Ledger ${name} does not exist`);
    }
    return this.ledger(name);
  }

  /**
   * Close the engine: stop rekeys, wait for the commits already submitted,
   * then close the store. Any later use of the engine or its ledgers fails
   * with `StoreClosedError`.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#rekeys.values()].map((rekey) => rekey.stop()));
    const ledgers = await Promise.allSettled([...this.#open.values()]);
    await Promise.all(
      ledgers.map((opened) => (opened.status === 'fulfilled' ? opened.value.close() : undefined)),
    );
    this.#open.clear();
    try {
      await this.#store.close();
    } finally {
      this.#unlock();
    }
  }

  async #openLedger(name: string): Promise<Ledger> {
    const record = await this.#record(name);
    const ledger = await Ledger.open(name, record.id, this.#store, await this.#keyring(record), {
      transactionTimeoutMs: this.#timeoutMs,
      loadKeys: async (current) => this.#keyring(await this.#record(name), current),
    });
    // A rekey that a restart or a lost key interrupted goes on.
    if (record.retiringKey !== undefined && this.#rekeys.get(name)?.status.state !== 'RUNNING') {
      await this.#startRekey(name, ledger, record);
    }
    return ledger;
  }

  /**
   * Build the keyring of a ledger record: its current key and, during a
   * rekey, its retiring key. Keys that `current` holds are reused, others
   * unwrapped by the key provider.
   */
  async #keyring(record: LedgerRecord, current?: LedgerKeyring): Promise<LedgerKeyring> {
    const generation = record.keyGeneration ?? 0;
    const retiring = record.retiringKey;
    if (
      current !== undefined &&
      current.generation === generation &&
      current.retiring?.generation === retiring?.generation
    ) {
      return current;
    }
    const cipherOf = async (keyGeneration: number, wrapped: Uint8Array) =>
      current?.cipher(keyGeneration) ??
      new LedgerCipher(await this.#keys.unwrap(record.id, wrapped, record.name), keyGeneration);
    return new LedgerKeyring(
      await cipherOf(generation, record.wrappedKey),
      retiring === undefined ? undefined : await cipherOf(retiring.generation, retiring.wrappedKey),
    );
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

/** Refuse options `Engine.open` cannot use, naming the option, before anything is made. */
function checkOpenOptions(options: EngineOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError("Engine.open takes an options object, such as { dataDir: './data' }");
  }
  const known = [
    'dataDir',
    'store',
    'keyProvider',
    'transactionTimeoutMs',
    'createRootKey',
    'rekey',
  ];
  const unknown = Object.keys(options).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw new TypeError(
      `Engine.open has no option ${unknown}; its options are ${known.join(', ')}`,
    );
  }
  if (typeof options.dataDir !== 'string' || options.dataDir.trim() === '') {
    throw new TypeError(
      `Engine.open needs dataDir, the data directory's path as a string, got ${JSON.stringify(options.dataDir) ?? 'undefined'}`,
    );
  }
  const timeout = options.transactionTimeoutMs;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) {
    throw new TypeError(
      `transactionTimeoutMs must be a positive number of milliseconds, got ${typeof timeout === 'number' ? timeout : JSON.stringify(timeout)}`,
    );
  }
}
