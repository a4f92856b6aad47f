import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Engine } from '../../engine/engine.js';
import { LedgerError } from '../../engine/errors.js';
import type { KeyProvider } from '../../engine/keyring/key-provider.js';
import { RootKeyProvider } from '../../engine/keyring/root-key-file.js';
import { StateConflictError, type StateRecord, type Store } from '../../storage/store.js';
import type { IdentityService } from '../iam/identity.js';
import type { KmsService } from '../kms/kms-service.js';
import type { OwnedKey } from '../kms/owned-keys.js';
import { KeyedQueue } from '../keyed-queue.js';
import { ServiceError, type Principal, type RequestContext } from '../types.js';
import { qldbError } from './control-plane.js';
import type { LedgerGate } from './session-service.js';

/** The wrapping of a ledger's data key, and the state of its KMS key as QLDB reports it. */
export interface LedgerKeyConfig {
  ledgerName: string;
  /** The `KmsKey` as the user gave it: `AWS_OWNED_KMS_KEY`, a key id or ARN, an alias name or ARN. */
  kmsKey: string;
  /** The alias the ledger follows, when `kmsKey` named one. */
  followAlias?: string;
  /** ARN of the customer managed key; undefined for the Vellum-owned key. */
  keyArn?: string;
  /** The ledger's grant on `keyArn`, used for every KMS call the ledger makes. */
  grantId?: string;
  grantToken?: string;
  status: 'ENABLED' | 'UPDATING' | 'KMS_KEY_INACCESSIBLE';
  /** When the key first became inaccessible, epoch ms. */
  inaccessibleAt?: number;
  /** The key change in progress while `status` is `UPDATING`. */
  pending?: Omit<
    LedgerKeyConfig,
    | 'ledgerName'
    | 'status'
    | 'pending'
    | 'inaccessibleAt'
    | 'staleGrants'
    | 'retireAt'
    | 'preparedAt'
  >;
  /**
   * Grants the ledger no longer needs once its key change finishes: those of
   * changes that a newer change replaced before they finished. The data key
   * may still be wrapped under such a key, so they are retired only once a
   * change finishes and the data key is wrapped under its key. On a shared
   * store they also hold the grant on the key before the finished change,
   * and are retired at `retireAt`.
   */
  staleGrants?: GrantRef[];
  /**
   * On a shared store, when the key guard retires `staleGrants`, epoch ms: a
   * few guard intervals after the key change finished, once every server has
   * read the change.
   */
  retireAt?: number;
  /** When CreateLedger stored this configuration for a new ledger, epoch ms. */
  preparedAt?: number;
}

/** One grant the ledger holds on a customer managed key. */
export interface GrantRef {
  keyArn: string;
  grantId: string;
}

export interface LedgerKeyServiceOptions {
  store: Store;
  kms: KmsService;
  identity: IdentityService;
  /**
   * The root key file's key. Data keys wrapped by it directly come from
   * ledgers created before the Vellum-owned KMS key existed. They are read
   * with it once and then re-wrapped under the ledger's KMS key.
   */
  rootKey: Uint8Array;
  accountId: string;
  region: string;
  /** How often the key guard checks each ledger's key. */
  checkIntervalMs: number;
  /**
   * On a shared store, how long after a key change finishes the grants it
   * made unneeded are retired. Default: five guard intervals.
   */
  grantRetirementDelayMs?: number;
  logger: Logger;
}

/** The state namespace of the ledger key configurations, one record per ledger name. */
export const LEDGER_KEY_NAMESPACE = 'qldb.ledgerKey';
const NAMESPACE = LEDGER_KEY_NAMESPACE;
export const AWS_OWNED_KMS_KEY = 'AWS_OWNED_KMS_KEY';
/** The service whose Vellum-owned KMS key wraps the data keys of ledgers without a customer key. */
export const OWNED_KEY_SERVICE = 'qldb';

/**
 * The first byte of a data key wrapped by the KMS, under the ledger's
 * customer managed key or the Vellum-owned key. A data key wrapped by the
 * root key file directly starts with 1 instead.
 */
export const KMS_WRAPPED = 0x4b;

/** QLDB's message for a ledger whose key it cannot use, naming Vellum where QLDB named itself. */
export const NO_GRANT_MESSAGE =
  'Vellum does not have grant access on the KMS customer managed key of the ledger. Restore the grant on the key for the ledger.';

/** The operations of the ledger's grant: enough to wrap, unwrap and re-wrap its data keys. */
const GRANT_OPERATIONS = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'DescribeKey',
  'RetireGrant',
];

/**
 * How many times in a row key work decides again after another server changed
 * the wrapped key or the configuration first, before leaving it to the guard.
 */
const REWRAP_ATTEMPTS = 5;

/**
 * How many times UpdateLedger writes its key change again after other writers
 * changed the ledger's key configuration first, before it gives up.
 */
const CHANGE_ATTEMPTS = 20;

/**
 * How long a new ledger's configuration belongs to the CreateLedger call
 * that stored it. Creating a ledger takes milliseconds; a configuration
 * older than this without its ledger is a leftover.
 */
const CREATION_WINDOW_MS = 60_000;

/** Wraps one stored form of a ledger's data key again, or returns it unchanged. */
type Rewrap = (wrapped: Uint8Array, ledgerId: string) => Promise<Uint8Array>;

function rewrapContended(ledgerName: string): Error {
  return new Error(
    `the data key of ledger ${ledgerName} kept changing while it was re-wrapped ` +
      `(${REWRAP_ATTEMPTS} attempts). The key guard tries again at its next check.`,
  );
}

/** True when two pending key changes are the same change (one grant names it). */
function samePending(a: LedgerKeyConfig['pending'], b: LedgerKeyConfig['pending']): boolean {
  return a?.kmsKey === b?.kmsKey && a?.keyArn === b?.keyArn && a?.grantId === b?.grantId;
}

/** Return the grant of a configuration or a pending change, as a list of zero or one. */
function grantOf(holder: { keyArn?: string; grantId?: string } | undefined): GrantRef[] {
  return holder?.keyArn === undefined || holder.grantId === undefined
    ? []
    : [{ keyArn: holder.keyArn, grantId: holder.grantId }];
}

/** Return every grant of a configuration: its own, its pending change's and the stale ones. */
function grantsHeldBy(config: LedgerKeyConfig | undefined): GrantRef[] {
  return [...grantOf(config), ...grantOf(config?.pending), ...(config?.staleGrants ?? [])];
}

/** Decode a stored ledger key configuration. */
function decodeConfig(record: StateRecord): LedgerKeyConfig {
  return JSON.parse(Buffer.from(record.value).toString('utf8')) as LedgerKeyConfig;
}

/** Return true for the engine's error for a ledger that does not exist. */
function isLedgerGone(error: unknown): boolean {
  return error instanceof LedgerError && error.code === 'ResourceNotFoundException';
}

function isAlias(kmsKey: string): boolean {
  return kmsKey.startsWith('alias/') || /^arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias\//.test(kmsKey);
}

function aliasName(kmsKey: string): string {
  return kmsKey.startsWith('alias/') ? kmsKey : kmsKey.slice(kmsKey.indexOf(':alias/') + 1);
}

/**
 * The KMS keys of ledgers. The data key of each ledger is wrapped by its KMS
 * key: a customer managed key, through a grant the ledger holds, or, for a
 * ledger created without one or with `AWS_OWNED_KMS_KEY`, the Vellum-owned
 * key of the embedded KMS, which no principal of the account can see or use.
 * A guard checks each customer managed key at an interval. When the key
 * becomes unusable the ledger turns `KMS_KEY_INACCESSIBLE`, drops its
 * plaintext data key and rejects all work, and when the key is usable again
 * the ledger returns to `ENABLED` by itself. Key changes re-wrap the data key
 * in the background while the ledger serves. A change still pending when the
 * server stops is finished when it starts again. The guard also keeps the
 * stored wrapping in line with the configuration, which moves data keys
 * wrapped by the root key file directly under the Vellum-owned key.
 */
export class LedgerKeyService implements LedgerGate {
  readonly #options: LedgerKeyServiceOptions;
  readonly #root: RootKeyProvider;
  readonly #configs = new Map<string, LedgerKeyConfig>();
  /** The stored version of each configuration in `#configs`, for compare-and-set writes. */
  readonly #versions = new Map<string, number>();
  /** Callers' `kms:Decrypt` permission on a key, by principal and key ARN, with the check time. */
  readonly #callers = new Map<string, { at: number; error?: ServiceError }>();
  /** Each ledger's queue of re-wrapping work, which runs one job at a time. */
  readonly #jobs = new KeyedQueue();
  /** Ledgers whose key change is queued or running. */
  readonly #updating = new Set<string>();
  #owned: OwnedKey | undefined;
  #engine: Engine | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(options: LedgerKeyServiceOptions) {
    this.#options = options;
    this.#root = new RootKeyProvider(options.rootKey);
  }

  /** The service principal the ledger's own KMS calls run as. */
  get #service(): Principal {
    return this.#options.identity.servicePrincipal('qldb.amazonaws.com');
  }

  get #viaService(): string {
    return `qldb.${this.#options.region}.amazonaws.com`;
  }

  #serviceContext(): RequestContext {
    return {
      principal: this.#service,
      requestId: randomUUID(),
      region: this.#options.region,
      viaService: this.#viaService,
    };
  }

  #callerContext(principal: Principal, requestId: string = randomUUID()): RequestContext {
    return { principal, requestId, region: this.#options.region, viaService: this.#viaService };
  }

  /**
   * Load the stored configurations, resume pending key changes, move data
   * keys off the root key file, then start the guard. Call once the engine
   * is open. The Vellum-owned key is created here on the first start.
   */
  async start(engine: Engine): Promise<void> {
    this.#engine = engine;
    this.#owned = await this.#options.kms.ownedKey(OWNED_KEY_SERVICE);
    await this.#reload();
    await this.checkAll();
    await this.#healUnconfigured();
    this.#timer = setInterval(() => {
      this.checkAll().catch((error: unknown) =>
        this.#options.logger.error(
          { err: error },
          'key guard check failed; retrying at the next interval',
        ),
      );
    }, this.#options.checkIntervalMs);
    this.#timer.unref();
  }

  /**
   * Load the stored configurations and the Vellum-owned key, without the
   * guard and without creating anything, for tools that read ledgers while no
   * server runs. The key provider then unwraps data keys but moves none.
   */
  async load(): Promise<void> {
    this.#owned = await this.#options.kms.existingOwnedKey(OWNED_KEY_SERVICE);
    await this.#reload();
  }

  async #reload(): Promise<void> {
    const stored = new Map<string, StateRecord>();
    for (const record of await this.#options.store.listState(NAMESPACE)) {
      stored.set(record.key, record);
    }
    for (const name of this.#configs.keys()) {
      if (!stored.has(name)) this.#forgetConfig(name);
    }
    for (const record of stored.values()) this.#adopt(record);
  }

  /** Take a stored configuration as this server's view of the ledger. */
  #adopt(record: StateRecord): LedgerKeyConfig {
    const config = decodeConfig(record);
    const before = this.#configs.get(config.ledgerName);
    this.#configs.set(config.ledgerName, config);
    this.#versions.set(config.ledgerName, record.version);
    // Another server found the key unusable: drop this server's plaintext data key too.
    if (config.status === 'KMS_KEY_INACCESSIBLE' && before?.status !== 'KMS_KEY_INACCESSIBLE') {
      this.#engine?.forget(config.ledgerName);
    }
    return config;
  }

  #forgetConfig(ledgerName: string): void {
    this.#configs.delete(ledgerName);
    this.#versions.delete(ledgerName);
  }

  /** Read one ledger's configuration from the store into this server's view. */
  async #readConfig(ledgerName: string): Promise<LedgerKeyConfig | undefined> {
    return (await this.#read(ledgerName)).config;
  }

  /** Read one ledger's configuration into this server's view, with the version it was read at. */
  async #read(
    ledgerName: string,
  ): Promise<{ config: LedgerKeyConfig | undefined; version: number }> {
    const record = await this.#options.store.getState(NAMESPACE, ledgerName);
    if (record === undefined) {
      this.#forgetConfig(ledgerName);
      return { config: undefined, version: 0 };
    }
    return { config: this.#adopt(record), version: record.version };
  }

  /**
   * The ledger's configuration as stored now. Servers that share a store
   * change it for each other, so key work there decides on a fresh read.
   */
  async #fresh(ledgerName: string): Promise<LedgerKeyConfig | undefined> {
    return (await this.#freshVersioned(ledgerName)).config;
  }

  /**
   * The ledger's configuration as stored now, with the version it was read
   * at, for a compare-and-set write derived from it. The two come from one
   * read: on a shared store, reads of this server that finish out of order
   * may replace the version in this server's view at any await.
   */
  async #freshVersioned(
    ledgerName: string,
  ): Promise<{ config: LedgerKeyConfig | undefined; version: number }> {
    if (this.#options.store.singleWriter) {
      return {
        config: this.#configs.get(ledgerName),
        version: this.#versions.get(ledgerName) ?? 0,
      };
    }
    return this.#read(ledgerName);
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#checking;
    await this.#jobs.drain();
  }

  // The engine's key provider.

  /** The provider the engine wraps and unwraps data keys with. */
  readonly keyProvider: KeyProvider = {
    wrap: async (ledgerId, dataKey, ledgerName) => {
      const config = ledgerName === undefined ? undefined : this.#configs.get(ledgerName);
      return this.#wrapUnder(config?.keyArn, config?.grantToken, ledgerId, dataKey);
    },
    unwrap: async (ledgerId, wrapped, ledgerName) => {
      const dataKey = await this.#unwrap(ledgerId, wrapped, this.#grantTokensOf(ledgerName));
      // A data key from before the Vellum-owned key: move it under the ledger's KMS key.
      if (wrapped[0] !== KMS_WRAPPED && ledgerName !== undefined && this.#engine !== undefined) {
        this.#serial(ledgerName, () => this.#heal(ledgerName)).catch((error: unknown) =>
          this.#options.logger.warn(
            { err: error, ledger: ledgerName },
            'moving the ledger data key off the root key file failed; the next start retries it',
          ),
        );
      }
      return dataKey;
    },
    generate: async (ledgerId, ledgerName) => {
      const config = this.#configs.get(ledgerName);
      if (config?.keyArn === undefined) {
        const generated = this.#requireOwned().generateDataKey(encryptionContext(ledgerId));
        return { dataKey: generated.plaintext, wrapped: kmsWrapped(generated.blob) };
      }
      const reply = await this.#options.kms.generateDataKey(
        {
          KeyId: config.keyArn,
          KeySpec: 'AES_256',
          EncryptionContext: encryptionContext(ledgerId),
          GrantTokens: config.grantToken === undefined ? undefined : [config.grantToken],
        },
        this.#serviceContext(),
      );
      return { dataKey: reply.Plaintext, wrapped: kmsWrapped(reply.CiphertextBlob) };
    },
  };

  async #wrapUnder(
    keyArn: string | undefined,
    grantToken: string | undefined,
    ledgerId: string,
    dataKey: Uint8Array,
  ): Promise<Uint8Array> {
    if (keyArn === undefined) {
      return kmsWrapped(this.#requireOwned().encrypt(dataKey, encryptionContext(ledgerId)).blob);
    }
    const reply = await this.#options.kms.encrypt(
      {
        KeyId: keyArn,
        Plaintext: dataKey,
        EncryptionContext: encryptionContext(ledgerId),
        GrantTokens: grantToken === undefined ? undefined : [grantToken],
      },
      this.#serviceContext(),
    );
    return kmsWrapped(reply.CiphertextBlob);
  }

  async #unwrap(ledgerId: string, wrapped: Uint8Array, tokens?: string[]): Promise<Uint8Array> {
    if (wrapped[0] !== KMS_WRAPPED) return this.#root.unwrap(ledgerId, wrapped);
    const blob = wrapped.subarray(1);
    const owned = this.#owned;
    if (owned?.owns(blob)) return owned.decrypt(blob, encryptionContext(ledgerId));
    const grantTokens = tokens ?? [];
    const reply = await this.#options.kms.decrypt(
      {
        CiphertextBlob: blob,
        EncryptionContext: encryptionContext(ledgerId),
        GrantTokens: grantTokens.length === 0 ? undefined : grantTokens.slice(0, 10),
      },
      this.#serviceContext(),
    );
    return reply.Plaintext;
  }

  /** The grant tokens of one ledger: its current grant's, and during a key change the new grant's. */
  #grantTokensOf(ledgerName: string | undefined): string[] {
    const config = ledgerName === undefined ? undefined : this.#configs.get(ledgerName);
    const tokens: string[] = [];
    if (config?.grantToken !== undefined) tokens.push(config.grantToken);
    if (config?.pending?.grantToken !== undefined) tokens.push(config.pending.grantToken);
    return tokens;
  }

  // Control-plane hooks.

  /**
   * Check a `KmsKey` for a new ledger with the caller's permissions and give
   * the ledger its grant, as QLDB does at CreateLedger. Call before the
   * engine creates the ledger.
   */
  async prepareLedger(
    ledgerName: string,
    kmsKey: string | undefined,
    caller: RequestContext,
  ): Promise<void> {
    const target = await this.#resolveTarget(ledgerName, kmsKey ?? AWS_OWNED_KMS_KEY, caller);
    const config: LedgerKeyConfig = {
      ledgerName,
      ...target,
      status: 'ENABLED',
      preparedAt: Date.now(),
    };
    try {
      await this.#saveNew(config);
    } catch (error) {
      await this.#retireGrants(ledgerName, grantOf(target));
      throw error;
    }
  }

  /**
   * Store a new ledger's first configuration. Servers sharing a store do
   * not share their queues of CreateLedger calls, so a configuration that
   * another creation stored moments ago is left to it, and this creation
   * fails. An older one is a leftover of a creation that stopped midway
   * and is replaced.
   */
  async #saveNew(config: LedgerKeyConfig): Promise<void> {
    const name = config.ledgerName;
    const inUse = () =>
      qldbError(
        'ResourceInUseException',
        `Ledger ${name} is being created by another request; if that request ` +
          `failed, send CreateLedger again after ${CREATION_WINDOW_MS / 1000} s`,
        { ResourceType: 'LEDGER', ResourceName: name },
      );
    const stored = await this.#options.store.getState(NAMESPACE, name);
    let leftover: LedgerKeyConfig | undefined;
    if (stored !== undefined) {
      leftover = decodeConfig(stored);
      const since = leftover.preparedAt;
      if (since !== undefined && Date.now() - since < CREATION_WINDOW_MS) throw inUse();
    }
    const value = Buffer.from(JSON.stringify(config), 'utf8');
    let version: number;
    try {
      version = await this.#options.store.putState(NAMESPACE, name, value, stored?.version ?? 0);
    } catch (error) {
      if (error instanceof StateConflictError) throw inUse();
      throw error;
    }
    this.#configs.set(name, config);
    this.#versions.set(name, version);
    await this.#retireGrants(name, grantsHeldBy(leftover));
  }

  /**
   * Forget the configuration of a ledger whose creation failed or that was
   * deleted, and retire the grants it held.
   */
  async dropLedger(ledgerName: string): Promise<void> {
    this.#forgetConfig(ledgerName);
    const record = await this.#options.store.getState(NAMESPACE, ledgerName);
    if (record === undefined) return;
    try {
      await this.#options.store.deleteState(NAMESPACE, ledgerName, record.version);
    } catch (error) {
      // Another server dropped it first, and retires its grants.
      if (error instanceof StateConflictError) return;
      throw error;
    }
    const config = decodeConfig(record);
    await this.#retireGrants(ledgerName, grantsHeldBy(config));
  }

  /**
   * Change a ledger's key, as UpdateLedger with a `KmsKey` does: the ledger
   * reports `UPDATING` with the new key at once and re-wraps its data key in
   * the background, then reports `ENABLED`.
   */
  async changeKey(ledgerName: string, kmsKey: string, caller: RequestContext): Promise<void> {
    const target = await this.#resolveTarget(ledgerName, kmsKey, caller);
    // The caller's change wins over whatever it meets, so it is made on the
    // stored configuration, read again whenever another writer came first.
    try {
      for (let attempt = 1; attempt <= CHANGE_ATTEMPTS; attempt++) {
        const stored = await this.#freshVersioned(ledgerName);
        const config = stored.config ?? {
          ledgerName,
          kmsKey: AWS_OWNED_KMS_KEY,
          status: 'ENABLED' as const,
        };
        if (await this.#startUpdate(config, target, stored.version)) return;
      }
    } catch (error) {
      await this.#retireGrants(ledgerName, grantOf(target));
      throw error;
    }
    await this.#retireGrants(ledgerName, grantOf(target));
    throw qldbError(
      'ResourceInUseException',
      `The key configuration of ledger ${ledgerName} changed ${CHANGE_ATTEMPTS} times while ` +
        'this update was written, by other updates or key checks. Send the update again.',
      { ResourceType: 'LEDGER', ResourceName: ledgerName },
    );
  }

  /**
   * `EncryptionDescription` for DescribeLedger and UpdateLedger, as QLDB
   * reports it: undefined for a ledger under the Vellum-owned key, and
   * `AWS_OWNED_KMS_KEY` as the key while a change to that key is pending.
   */
  async encryptionDescription(ledgerName: string): Promise<Record<string, unknown> | undefined> {
    // Read again on a shared store, so that a key change made through
    // another server shows at once rather than at this server's next check.
    const config = await this.#fresh(ledgerName);
    if (config === undefined) return undefined;
    const shown =
      config.status === 'UPDATING' && config.pending !== undefined ? config.pending : config;
    if (shown.keyArn === undefined && config.status !== 'UPDATING') return undefined;
    const description: Record<string, unknown> = {
      KmsKeyArn: shown.keyArn ?? AWS_OWNED_KMS_KEY,
      EncryptionStatus: config.status,
    };
    if (config.inaccessibleAt !== undefined && config.status === 'KMS_KEY_INACCESSIBLE') {
      description.InaccessibleKmsKeyDateTime = Math.floor(config.inaccessibleAt / 1000);
    }
    return description;
  }

  /** List each ledger this server tracks with its `EncryptionStatus`, for metrics. */
  encryptionStatuses(): Array<{ ledger: string; status: string }> {
    return [...this.#configs.values()].map((config) => ({
      ledger: config.ledgerName,
      status: config.status,
    }));
  }

  /** Return the key ARN that CreateLedger reports. */
  keyArnOf(ledgerName: string): string | undefined {
    return this.#configs.get(ledgerName)?.keyArn;
  }

  /** Resolve and check a `KmsKey` with the caller's permissions; for a customer key, create the ledger's grant. */
  async #resolveTarget(
    ledgerName: string,
    kmsKey: string,
    caller: RequestContext,
  ): Promise<NonNullable<LedgerKeyConfig['pending']>> {
    if (kmsKey === AWS_OWNED_KMS_KEY) return { kmsKey };
    const context = this.#callerContext(caller.principal, caller.requestId);
    let keyArn: string;
    try {
      const described = await this.#options.kms.describeKey({ KeyId: kmsKey }, context);
      keyArn = described.KeyMetadata.Arn as string;
      const metadata = described.KeyMetadata;
      if (metadata.KeySpec !== undefined && metadata.KeySpec !== 'SYMMETRIC_DEFAULT') {
        throw qldbError(
          'InvalidParameterException',
          `KmsKey ${kmsKey} is not a symmetric encryption key`,
          {
            ParameterName: 'KmsKey',
          },
        );
      }
      if (metadata.KeyState !== 'Enabled') {
        throw qldbError(
          'InvalidParameterException',
          `KmsKey ${kmsKey} is ${String(metadata.KeyState).toLowerCase()}; enable it or choose another key`,
          { ParameterName: 'KmsKey' },
        );
      }
    } catch (error) {
      throw this.#kmsProblem(error, kmsKey);
    }
    let grant: { GrantId?: unknown; GrantToken?: unknown };
    try {
      grant = await this.#options.kms.invoke(
        'CreateGrant',
        {
          KeyId: keyArn,
          GranteePrincipal: this.#service.arn,
          RetiringPrincipal: this.#service.arn,
          Operations: GRANT_OPERATIONS,
          // A name of its own: CreateGrant returns the existing grant for
          // the same parameters, and a grant left for retiring must never
          // become the one a newer change or a new ledger holds.
          Name: `vellum-ledger-${ledgerName}-${randomUUID().slice(0, 8)}`,
        },
        context,
      );
    } catch (error) {
      throw this.#kmsProblem(error, kmsKey);
    }
    return {
      kmsKey,
      keyArn,
      ...(isAlias(kmsKey) ? { followAlias: aliasName(kmsKey) } : {}),
      grantId: String(grant.GrantId),
      grantToken: String(grant.GrantToken),
    };
  }

  #kmsProblem(error: unknown, kmsKey: string): unknown {
    if (!(error instanceof ServiceError) || error.code === 'InvalidParameterException')
      return error;
    if (error.code === 'AccessDeniedException') {
      return qldbError(
        'AccessDeniedException',
        `The caller may not use KMS key ${kmsKey} for a ledger: ${error.message}`,
      );
    }
    return qldbError(
      'InvalidParameterException',
      `KmsKey ${kmsKey} cannot be used: ${error.message}`,
      {
        ParameterName: 'KmsKey',
      },
    );
  }

  /**
   * Write a configuration derived from the one stored at `version`, only if
   * that one is still stored. Resolves false when another writer came first.
   * The stored configuration is then read into this server's view, and the
   * caller decides again or leaves the change to the next guard check.
   */
  async #saveIfUnchanged(config: LedgerKeyConfig, version: number): Promise<boolean> {
    const value = Buffer.from(JSON.stringify(config), 'utf8');
    try {
      const written = await this.#options.store.putState(
        NAMESPACE,
        config.ledgerName,
        value,
        version,
      );
      this.#configs.set(config.ledgerName, config);
      this.#versions.set(config.ledgerName, written);
      return true;
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
      await this.#readConfig(config.ledgerName);
      return false;
    }
  }

  /**
   * Mark the ledger `UPDATING` towards `target` and start the re-wrap.
   * Resolves false when `version` is stale.
   */
  async #startUpdate(
    config: LedgerKeyConfig,
    target: NonNullable<LedgerKeyConfig['pending']>,
    version: number,
  ): Promise<boolean> {
    // A change this one replaces may have wrapped the data key under its key
    // already, so its grant stays until this change has wrapped it again.
    const replaced =
      config.status === 'UPDATING'
        ? grantOf(config.pending).filter(
            (grant) => grant.grantId !== config.grantId && grant.grantId !== target.grantId,
          )
        : [];
    const staleGrants = [...(config.staleGrants ?? []), ...replaced];
    // Grants left for later by an earlier change are retired when this one finishes.
    const updating: LedgerKeyConfig = {
      ...config,
      status: 'UPDATING',
      pending: target,
      staleGrants: staleGrants.length === 0 ? undefined : staleGrants,
      retireAt: undefined,
    };
    if (!(await this.#saveIfUnchanged(updating, version))) return false;
    this.#runUpdate(config.ledgerName);
    return true;
  }

  #runUpdate(ledgerName: string, round = 1): void {
    if (this.#updating.has(ledgerName)) return;
    this.#updating.add(ledgerName);
    let again = false;
    this.#serial(ledgerName, async () => {
      again = await this.#finishUpdate(ledgerName);
    })
      .catch(async (error: unknown) => {
        if (isLedgerGone(error) && (await this.#dropDeletedChange(ledgerName))) return;
        this.#options.logger.warn(
          { err: error, ledger: ledgerName },
          'ledger key change failed; the key guard retries it at the next interval',
        );
      })
      .finally(() => {
        this.#updating.delete(ledgerName);
        // A newer change stored while this one ran is taken up at once
        // rather than at the next guard check.
        if (again && round < REWRAP_ATTEMPTS) this.#runUpdate(ledgerName, round + 1);
      });
  }

  /**
   * Drop a pending key change whose ledger was deleted: an UpdateLedger that
   * crossed a DeleteLedger stores one after the configuration was dropped.
   * Only the stored change that was read is deleted, and only while no
   * ledger of that name exists, so a new ledger's configuration is never
   * touched. Resolves true when the change was dropped.
   */
  async #dropDeletedChange(ledgerName: string): Promise<boolean> {
    const record = await this.#options.store.getState(NAMESPACE, ledgerName);
    if (record === undefined) return true;
    const config = decodeConfig(record);
    if (config.status !== 'UPDATING') return false;
    const ledgers = await this.#requireEngine().listLedgers();
    if (ledgers.some((ledger) => ledger.name === ledgerName)) return false;
    try {
      await this.#options.store.deleteState(NAMESPACE, ledgerName, record.version);
    } catch (error) {
      if (error instanceof StateConflictError) return false;
      throw error;
    }
    this.#forgetConfig(ledgerName);
    await this.#retireGrants(ledgerName, grantsHeldBy(config));
    this.#options.logger.info(
      { ledger: ledgerName },
      'dropped the key change of a ledger that was deleted meanwhile',
    );
    return true;
  }

  /**
   * Run `work` once the ledger's earlier re-wrapping work has ended, so that
   * in this process two re-wrappings of one data key never interleave.
   */
  #serial(ledgerName: string, work: () => Promise<void>): Promise<void> {
    return this.#jobs.run(ledgerName, work);
  }

  /**
   * Re-wrap the stored data key under the ledger's current KMS key when it is
   * wrapped under anything else. That is the root key file for a ledger from
   * before the Vellum-owned key, or another KMS key when a re-wrapping by
   * another server on a shared store crossed a key change. Ledgers with a key
   * change pending are left to the change, and a ledger without a
   * configuration belongs under the Vellum-owned key.
   */
  async #heal(ledgerName: string): Promise<void> {
    const engine = this.#requireEngine();
    const cached = this.#configs.get(ledgerName);
    if (cached?.status === 'UPDATING') return;
    const { wrappedKey } = await engine.ledgerKeyRecord(ledgerName);
    if (this.#isWrappedUnder(wrappedKey, cached?.keyArn)) return;
    const fromRootKey = wrappedKey[0] !== KMS_WRAPPED;
    let keyArn = cached?.keyArn;
    let moved = false;
    await this.#rewrapUntilSettled(ledgerName, () => {
      moved = false;
      // The configuration is read after the engine read the wrapped key, so
      // a key change by another server that re-wrapped it first shows here
      // (as UPDATING, or its new key) and is not undone.
      return async (wrapped, ledgerId) => {
        const config = await this.#fresh(ledgerName);
        keyArn = config?.keyArn;
        if (config?.status === 'UPDATING' || this.#isWrappedUnder(wrapped, keyArn)) return wrapped;
        const dataKey = await this.#unwrap(ledgerId, wrapped, this.#grantTokensOf(ledgerName));
        moved = true;
        return this.#wrapUnder(keyArn, config?.grantToken, ledgerId, dataKey);
      };
    });
    if (!moved) return;
    this.#options.logger.info(
      { ledger: ledgerName, keyArn: keyArn ?? AWS_OWNED_KMS_KEY, fromRootKey },
      fromRootKey
        ? 'ledger data key moved off the root key file'
        : 'ledger data key re-wrapped under its current KMS key',
    );
  }

  /**
   * Re-wrap the ledger's data keys with the function `next` returns. When
   * another server replaced a wrapped key first, start over with a new
   * function from `next`, so that the decision is taken again on what is
   * stored now.
   */
  async #rewrapUntilSettled(ledgerName: string, next: () => Rewrap): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (await this.#requireEngine().rewrapLedgerKey(ledgerName, next())) return;
      if (attempt === REWRAP_ATTEMPTS) throw rewrapContended(ledgerName);
    }
  }

  /** Heal the ledgers that have no configuration: those the engine created before a server ran. */
  async #healUnconfigured(): Promise<void> {
    for (const ledger of await this.#requireEngine().listLedgers()) {
      if (this.#configs.has(ledger.name)) continue;
      await this.#serial(ledger.name, () => this.#heal(ledger.name)).catch((error: unknown) =>
        this.#options.logger.error(
          { err: error, ledger: ledger.name },
          'moving the ledger data key off the root key file failed; the next start retries it',
        ),
      );
    }
  }

  /** True when the wrapped key is already in the form the target key produces. */
  #isWrappedUnder(wrapped: Uint8Array, keyArn: string | undefined): boolean {
    if (wrapped[0] !== KMS_WRAPPED) return false;
    const blob = wrapped.subarray(1);
    if (keyArn === undefined) return this.#requireOwned().owns(blob);
    // A KMS ciphertext blob starts with its format version, the key id's length and the key id.
    if (blob.length < 2) return false;
    const keyId = Buffer.from(blob.subarray(2, 2 + blob[1]!)).toString('ascii');
    return keyArn.endsWith(`/${keyId}`);
  }

  #requireOwned(): OwnedKey {
    if (this.#owned === undefined) throw new Error('the ledger key service has not been started');
    return this.#owned;
  }

  /**
   * Re-wrap the data key under the pending key, then make the pending key
   * current. Resolves true when another change was stored meanwhile and is
   * still to be done.
   */
  async #finishUpdate(ledgerName: string): Promise<boolean> {
    const { config, version } = await this.#freshVersioned(ledgerName);
    const pending = config?.pending;
    if (config?.status !== 'UPDATING' || pending === undefined) return false;
    // Another server may finish this change, or replace it with a newer one,
    // at the same time. The wrapped key is replaced only if it is still what
    // was read, and only while this change is still the stored one.
    let superseded = false;
    await this.#rewrapUntilSettled(ledgerName, () => async (wrapped, ledgerId) => {
      const now = await this.#fresh(ledgerName);
      if (now?.status !== 'UPDATING' || !samePending(now.pending, pending)) {
        superseded = true;
        return wrapped;
      }
      if (this.#isWrappedUnder(wrapped, pending.keyArn)) return wrapped;
      const dataKey = await this.#unwrap(ledgerId, wrapped, this.#grantTokensOf(ledgerName));
      return this.#wrapUnder(pending.keyArn, pending.grantToken, ledgerId, dataKey);
    });
    if (superseded) return this.#configs.get(ledgerName)?.status === 'UPDATING';
    // The data key is wrapped under the new key alone now, so the grants on
    // the earlier keys are no longer needed.
    const finished = [...grantOf(config), ...(config.staleGrants ?? [])].filter(
      (grant) => grant.grantId !== pending.grantId,
    );
    // Servers sharing a store retire them later. Another server may still
    // use the grant it knew before this change, until its guard reads the
    // change.
    const later = !this.#options.store.singleWriter && finished.length > 0;
    // Every key field comes from the change, so a change to the Vellum-owned
    // key leaves no customer key ARN or grant behind.
    const saved = await this.#saveIfUnchanged(
      {
        ledgerName,
        kmsKey: pending.kmsKey,
        followAlias: pending.followAlias,
        keyArn: pending.keyArn,
        grantId: pending.grantId,
        grantToken: pending.grantToken,
        status: 'ENABLED',
        ...(later ? { staleGrants: finished, retireAt: Date.now() + this.#retirementDelayMs } : {}),
      },
      version,
    );
    // Not saved: a newer change, or another server's finish of this one, was
    // stored meanwhile. The stored configuration now shows what is left to do.
    if (!saved) return this.#configs.get(ledgerName)?.status === 'UPDATING';
    this.#options.logger.info(
      { ledger: ledgerName, keyArn: pending.keyArn },
      'ledger key change finished',
    );
    if (!later) await this.#retireGrants(ledgerName, finished);
    return false;
  }

  get #retirementDelayMs(): number {
    return this.#options.grantRetirementDelayMs ?? 5 * this.#options.checkIntervalMs;
  }

  /**
   * Retire the grants a finished key change left for later, once their time
   * has come. Only the server that clears them from the stored configuration
   * retires them.
   */
  async #retireStaleGrants(ledgerName: string): Promise<void> {
    const config = this.#configs.get(ledgerName);
    if (config?.retireAt === undefined || config.status === 'UPDATING') return;
    if (Date.now() < config.retireAt) return;
    const version = this.#versions.get(ledgerName) ?? 0;
    const { staleGrants, retireAt: _due, ...rest } = config;
    void _due;
    if (await this.#saveIfUnchanged(rest, version)) {
      await this.#retireGrants(ledgerName, staleGrants ?? []);
    }
  }

  /**
   * Retire grants the ledger no longer needs. A grant already gone (revoked,
   * or its key deleted) is skipped. Any other failure is logged, and the
   * grant stays for an administrator to retire or revoke.
   */
  async #retireGrants(ledgerName: string, grants: GrantRef[]): Promise<void> {
    for (const { keyArn, grantId } of grants) {
      try {
        await this.#options.kms.invoke(
          'RetireGrant',
          { KeyId: keyArn, GrantId: grantId },
          this.#serviceContext(),
        );
      } catch (error) {
        if (error instanceof ServiceError && error.code === 'NotFoundException') continue;
        this.#options.logger.warn(
          { err: error, ledger: ledgerName, keyArn, grantId },
          'retiring a grant the ledger no longer needs failed; retire or revoke it by hand',
        );
      }
    }
  }

  #requireEngine(): Engine {
    if (this.#engine === undefined) throw new Error('the ledger key service has not been started');
    return this.#engine;
  }

  // The key guard.

  /** Check every ledger's key once: follow aliases, finish key changes, and mark inaccessible keys. */
  checkAll(): Promise<void> {
    this.#checking ??= this.#checkAll().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #checkAll(): Promise<void> {
    this.#callers.clear();
    // Other servers on a shared store create ledgers and change key states;
    // read the configurations again so this server reports what they did.
    if (!this.#options.store.singleWriter) await this.#reload();
    for (const config of [...this.#configs.values()]) {
      try {
        await this.#check(config.ledgerName);
        await this.#retireStaleGrants(config.ledgerName);
      } catch (error) {
        this.#options.logger.error(
          { err: error, ledger: config.ledgerName },
          'key guard check of a ledger failed',
        );
      }
    }
  }

  async #check(ledgerName: string): Promise<void> {
    const config = this.#configs.get(ledgerName);
    if (config === undefined) return;
    // What the guard writes below derives from this version of the
    // configuration, and is written only while it is still the stored one.
    const version = this.#versions.get(ledgerName) ?? 0;
    if (config.status === 'UPDATING') {
      this.#runUpdate(ledgerName);
      return;
    }
    if (config.followAlias !== undefined) {
      const target = await this.#options.kms.aliasTargetArn(
        this.#options.region,
        config.followAlias,
      );
      if (target === undefined) {
        this.#options.logger.warn(
          { ledger: ledgerName, alias: config.followAlias },
          'the alias the ledger followed was deleted; the ledger keeps its last key',
        );
        await this.#saveIfUnchanged({ ...config, followAlias: undefined }, version);
      } else if (target !== config.keyArn) {
        const grant = await this.#resolveTarget(ledgerName, target, this.#serviceContext()).catch(
          (error: unknown) => {
            this.#options.logger.warn(
              { err: error, ledger: ledgerName, keyArn: target },
              'the ledger cannot use the new target of its alias; it keeps its current key',
            );
            return undefined;
          },
        );
        if (grant !== undefined) {
          const target = { ...grant, kmsKey: config.kmsKey, followAlias: config.followAlias };
          // Not started: another writer changed the configuration first, and
          // the next check decides again, with a grant of its own.
          if (!(await this.#startUpdate(config, target, version))) {
            await this.#retireGrants(ledgerName, grantOf(target));
          }
          return;
        }
      }
    }
    if (config.keyArn === undefined) {
      // The Vellum-owned key is never inaccessible; only the wrapping may need moving under it.
      await this.#serial(ledgerName, () => this.#heal(ledgerName));
      return;
    }
    const engine = this.#requireEngine();
    let usable = true;
    try {
      await this.#serial(ledgerName, () => this.#heal(ledgerName));
      const { id, wrappedKey } = await engine.ledgerKeyRecord(ledgerName);
      await this.#unwrap(
        id,
        wrappedKey,
        config.grantToken === undefined ? [] : [config.grantToken],
      );
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      usable = false;
      if (config.status !== 'KMS_KEY_INACCESSIBLE') {
        this.#options.logger.warn(
          { ledger: ledgerName, keyArn: config.keyArn, code: error.code },
          'the ledger key is inaccessible; the ledger refuses work until it is usable again',
        );
      }
    }
    if (!usable && config.status !== 'KMS_KEY_INACCESSIBLE') {
      engine.forget(ledgerName);
      const inaccessible = { ...config, status: 'KMS_KEY_INACCESSIBLE' as const };
      await this.#saveIfUnchanged({ ...inaccessible, inaccessibleAt: Date.now() }, version);
    } else if (usable && config.status === 'KMS_KEY_INACCESSIBLE') {
      const { inaccessibleAt: _cleared, ...rest } = config;
      void _cleared;
      if (await this.#saveIfUnchanged({ ...rest, status: 'ENABLED' }, version)) {
        this.#options.logger.info({ ledger: ledgerName }, 'the ledger key is usable again');
      }
    }
  }

  // The session gate.

  /**
   * Refuse session work on a ledger whose key is inaccessible, and callers
   * that may not `kms:Decrypt` with the ledger's customer managed key. A
   * caller's permission is checked again after each guard interval.
   */
  async check(ledgerName: string, principal?: Principal): Promise<void> {
    const config = this.#configs.get(ledgerName);
    if (config === undefined) return;
    if (config.status === 'KMS_KEY_INACCESSIBLE') {
      throw new ServiceError('BadRequestException', NO_GRANT_MESSAGE);
    }
    const keyArn = config.keyArn;
    if (keyArn === undefined || principal === undefined) return;
    const cacheKey = `${principal.arn}\n${keyArn}`;
    const cached = this.#callers.get(cacheKey);
    if (cached !== undefined && Date.now() - cached.at < this.#options.checkIntervalMs) {
      if (cached.error !== undefined) throw cached.error;
      return;
    }
    const requestId = randomUUID();
    let denied: ServiceError | undefined;
    try {
      const { id, wrappedKey } = await this.#requireEngine().ledgerKeyRecord(ledgerName);
      if (wrappedKey[0] === KMS_WRAPPED) {
        await this.#options.kms.decrypt(
          { CiphertextBlob: wrappedKey.subarray(1), EncryptionContext: encryptionContext(id) },
          this.#callerContext(principal, requestId),
        );
      }
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      if (error.code === 'AccessDeniedException') {
        denied = new ServiceError(
          'AccessDeniedException',
          `The user does not have permissions to use the customer managed KMS key of the ledger (KMS Request ID: ${requestId}) : ${error.message}`,
        );
      } else {
        // Disabled, pending deletion or gone: the guard marks the ledger; refuse as it will.
        throw new ServiceError('BadRequestException', NO_GRANT_MESSAGE);
      }
    }
    this.#callers.set(cacheKey, { at: Date.now(), error: denied });
    if (denied !== undefined) throw denied;
  }
}

function encryptionContext(ledgerId: string): Record<string, string> {
  return { 'key-hierarchy-node-id': ledgerId, 'key-hierarchy-node-version': '1' };
}

function kmsWrapped(blob: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.of(KMS_WRAPPED), blob]);
}
