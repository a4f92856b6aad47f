/**
 * The key management service, spoken as AWS KMS's JSON 1.1 protocol
 * (`TrentService.<Operation>`) through `handle`, and callable in-process
 * through `invoke` and the typed shortcuts. Only symmetric
 * `SYMMETRIC_DEFAULT` keys (AES-256-GCM) exist; other key specs are
 * rejected with UnsupportedOperationException.
 */
import { pino, type Logger } from 'pino';
import type { Store } from '../../storage/store.js';
import type { IdentityService } from '../iam/identity.js';
import { openSecretBox } from '../secret-box.js';
import type { JsonService, RequestContext } from '../types.js';
import * as aliasGrant from './alias-grant-operations.js';
import * as crypto from './crypto-operations.js';
import type { Operation } from './crypto-operations.js';
import * as keys from './key-operations.js';
import { keyArn, NS } from './key-records.js';
import { KmsCore } from './kms-core.js';
import { kmsError } from './kms-errors.js';
import { InputReader, memberPath } from './kms-input.js';
import { loadSeedFile } from './kms-seed.js';
import { loadOwnedKey, OwnedKey, readOwnedKey } from './owned-keys.js';

const OPERATIONS = {
  CreateKey: keys.createKey,
  DescribeKey: keys.describeKey,
  ListKeys: keys.listKeys,
  UpdateKeyDescription: keys.updateKeyDescription,
  EnableKey: keys.enableKey,
  DisableKey: keys.disableKey,
  ScheduleKeyDeletion: keys.scheduleKeyDeletion,
  CancelKeyDeletion: keys.cancelKeyDeletion,
  GetKeyPolicy: keys.getKeyPolicy,
  PutKeyPolicy: keys.putKeyPolicy,
  ListKeyPolicies: keys.listKeyPolicies,
  TagResource: keys.tagResource,
  UntagResource: keys.untagResource,
  ListResourceTags: keys.listResourceTags,
  EnableKeyRotation: keys.enableKeyRotation,
  DisableKeyRotation: keys.disableKeyRotation,
  GetKeyRotationStatus: keys.getKeyRotationStatus,
  RotateKeyOnDemand: keys.rotateKeyOnDemand,
  ListKeyRotations: keys.listKeyRotations,
  CreateAlias: aliasGrant.createAlias,
  UpdateAlias: aliasGrant.updateAlias,
  DeleteAlias: aliasGrant.deleteAlias,
  ListAliases: aliasGrant.listAliases,
  CreateGrant: aliasGrant.createGrant,
  ListGrants: aliasGrant.listGrants,
  ListRetirableGrants: aliasGrant.listRetirableGrants,
  RetireGrant: aliasGrant.retireGrant,
  RevokeGrant: aliasGrant.revokeGrant,
  Encrypt: crypto.encrypt,
  Decrypt: crypto.decrypt,
  ReEncrypt: crypto.reEncrypt,
  GenerateDataKey: crypto.generateDataKey,
  GenerateDataKeyWithoutPlaintext: crypto.generateDataKeyWithoutPlaintext,
  GenerateRandom: crypto.generateRandom,
} satisfies Record<string, Operation>;

/** Request members that are blobs, base64 in JSON. */
const BLOB_INPUTS: Record<string, string[]> = {
  Encrypt: ['Plaintext'],
  Decrypt: ['CiphertextBlob'],
  ReEncrypt: ['CiphertextBlob'],
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export type KmsOperationName = keyof typeof OPERATIONS;

export interface KmsOptions {
  store: Store;
  identity: IdentityService;
  /** Data directory whose `root.key` seals key material; or pass `rootKey`. */
  dataDir?: string;
  rootKey?: Uint8Array;
  /** Clock, epoch milliseconds. */
  now?: () => number;
  /** Length of a KMS day in milliseconds (default 24 h); scales deletion windows and rotation periods. */
  kmsDayLength?: number;
  /** How often deletion and rotation deadlines are checked, in milliseconds; default a 24th of a day, at most 60 s. */
  scheduleInterval?: number;
  /**
   * Delete and rotate the keys that are due, when the service opens and when
   * a key past its deletion date is read (default true). A tool that only
   * reads a data directory passes false, with `scheduleInterval: 0`, so that
   * the KMS changes no key. A key past its deletion date then reads as
   * deleted but stays stored.
   */
  runDueWork?: boolean;
  logger?: Logger;
  /** A YAML seed file of keys and aliases, loaded at start-up (see docs/kms.md). */
  seedFile?: string;
  /** Region of seeded keys; default `us-east-1`. */
  seedRegion?: string;
}

export class KmsService implements JsonService {
  readonly #core: KmsCore;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #owned = new Map<string, Promise<OwnedKey>>();

  private constructor(core: KmsCore, scheduleInterval: number | undefined) {
    this.#core = core;
    if (scheduleInterval !== undefined && scheduleInterval > 0) {
      this.#timer = setInterval(() => {
        core.runDueWork().catch((error: unknown) => {
          core.logger.error(
            { err: error },
            'KMS scheduled deletion or rotation failed; retrying at the next interval',
          );
        });
      }, scheduleInterval);
      this.#timer.unref();
    }
  }

  /**
   * Open the KMS over a store. A missing or different root key while sealed
   * keys exist stops start-up with an error and creates nothing.
   */
  static async open(options: KmsOptions): Promise<KmsService> {
    const box = await openSecretBox({
      store: options.store,
      dataDir: options.dataDir,
      rootKey: options.rootKey,
      metaNamespace: NS.meta,
      sealedNamespaces: [NS.key, NS.owned],
      service: 'KMS',
    });
    const dayLength = options.kmsDayLength ?? 24 * 3600 * 1000;
    if (!(dayLength > 0))
      throw new RangeError(
        `kmsDayLength must be a positive number of milliseconds, got ${dayLength}`,
      );
    const logger = options.logger ?? pino({ level: 'silent' });
    const core = new KmsCore({
      store: options.store,
      identity: options.identity,
      box,
      now: options.now ?? Date.now,
      dayLength,
      logger,
      deleteDueKeys: options.runDueWork ?? true,
    });

    if (options.runDueWork ?? true) await core.runDueWork();
    if (options.seedFile !== undefined) {
      await loadSeedFile(core, options.seedFile, options.seedRegion ?? 'us-east-1');
    }
    const interval = options.scheduleInterval ?? Math.min(60_000, Math.max(50, dayLength / 24));
    logger.info({ dayLength }, 'KMS started');
    return new KmsService(core, interval);
  }

  /** Stop the deletion and rotation timer. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * The key ARN that an alias targets now, or undefined when the alias does
   * not exist. A trusted in-process lookup, without authorization, for
   * services that follow an alias on a user's behalf.
   */
  async aliasTargetArn(region: string, aliasName: string): Promise<string | undefined> {
    const alias = await this.#core.getAlias(region, aliasName);
    if (alias === undefined) return undefined;
    const key = await this.#core.getKey(alias.targetKeyId);
    return key === undefined ? undefined : keyArn(key);
  }

  /**
   * The Vellum-owned key of `service` (such as `qldb`), created on first use.
   * It is a trusted in-process handle: no principal of the account can see or
   * use the key through the KMS API (see owned-keys.ts).
   */
  ownedKey(service: string): Promise<OwnedKey> {
    let key = this.#owned.get(service);
    if (key === undefined) {
      key = loadOwnedKey(this.#core, service).then((record) => new OwnedKey(this.#core, record));
      this.#owned.set(service, key);
      key.catch(() => this.#owned.delete(service));
    }
    return key;
  }

  /**
   * The Vellum-owned key of `service` if it exists, without creating it, for
   * tools that read a data directory and must not change it.
   */
  async existingOwnedKey(service: string): Promise<OwnedKey | undefined> {
    const record = await readOwnedKey(this.#core, service);
    return record === undefined ? undefined : new OwnedKey(this.#core, record);
  }

  /** Delete keys whose waiting period ended and rotate keys that are due; the timer calls this too. */
  runDueWork(): Promise<void> {
    return this.#core.runDueWork();
  }

  /**
   * Run `TrentService.<operation>` with its JSON input. Blob members arrive
   * and leave as base64 strings; timestamps leave as epoch seconds.
   */
  async handle(
    operation: string,
    input: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const run = lookupOperation(operation);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw kmsError('SerializationException', 'The request body must be a JSON object.');
    }
    const decoded = decodeBlobs(operation, input);
    const output = await run(this.#core, new InputReader(decoded), context);
    return encodeBlobs(output);
  }

  /**
   * Run an operation in-process. Blob members are `Uint8Array` in the input
   * and `Buffer` in the output.
   *
   * @example await kms.invoke('GenerateDataKey', { KeyId: 'alias/ledger', KeySpec: 'AES_256' }, context)
   *   // => { CiphertextBlob: Buffer, Plaintext: Buffer, KeyId: 'arn:aws:kms:...', KeyMaterialId: '...' }
   */
  async invoke(
    operation: KmsOperationName,
    input: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const run = lookupOperation(operation);
    return run(this.#core, new InputReader(input), context);
  }

  async encrypt(
    input: {
      KeyId: string;
      Plaintext: Uint8Array;
      EncryptionContext?: Record<string, string>;
      GrantTokens?: string[];
    },
    context: RequestContext,
  ): Promise<{ CiphertextBlob: Buffer; KeyId: string; EncryptionAlgorithm: string }> {
    return (await this.invoke('Encrypt', input, context)) as never;
  }

  async decrypt(
    input: {
      CiphertextBlob: Uint8Array;
      KeyId?: string;
      EncryptionContext?: Record<string, string>;
      GrantTokens?: string[];
    },
    context: RequestContext,
  ): Promise<{
    Plaintext: Buffer;
    KeyId: string;
    EncryptionAlgorithm: string;
    KeyMaterialId: string;
  }> {
    return (await this.invoke('Decrypt', input, context)) as never;
  }

  async generateDataKey(
    input: {
      KeyId: string;
      NumberOfBytes?: number;
      KeySpec?: 'AES_256' | 'AES_128';
      EncryptionContext?: Record<string, string>;
      GrantTokens?: string[];
    },
    context: RequestContext,
  ): Promise<{ CiphertextBlob: Buffer; Plaintext: Buffer; KeyId: string; KeyMaterialId: string }> {
    return (await this.invoke('GenerateDataKey', input, context)) as never;
  }

  async describeKey(
    input: { KeyId: string },
    context: RequestContext,
  ): Promise<{ KeyMetadata: Record<string, unknown> }> {
    return (await this.invoke('DescribeKey', input, context)) as never;
  }

  async createKey(
    input: {
      Policy?: string;
      Description?: string;
      Tags?: Array<{ TagKey: string; TagValue: string }>;
      BypassPolicyLockoutSafetyCheck?: boolean;
    },
    context: RequestContext,
  ): Promise<{ KeyMetadata: Record<string, unknown> & { KeyId: string; Arn: string } }> {
    return (await this.invoke('CreateKey', input, context)) as never;
  }
}

function lookupOperation(operation: string): Operation {
  if (!Object.hasOwn(OPERATIONS, operation)) {
    throw kmsError('UnknownOperationException', `Unknown operation ${operation}.`);
  }
  return OPERATIONS[operation as KmsOperationName];
}

function decodeBlobs(operation: string, input: Record<string, unknown>): Record<string, unknown> {
  const members = BLOB_INPUTS[operation];
  if (!members) return input;
  const decoded = { ...input };
  for (const member of members) {
    const value = input[member];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !BASE64.test(value)) {
      throw kmsError(
        'SerializationException',
        `Member '${memberPath(member)}' must be a base64-encoded string.`,
      );
    }
    decoded[member] = Buffer.from(value, 'base64');
  }
  return decoded;
}

function encodeBlobs(output: Record<string, unknown>): Record<string, unknown> {
  const encoded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(output)) {
    encoded[name] = value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value;
  }
  return encoded;
}
