/**
 * Keys that Vellum owns in its KMS, the counterpart of AWS owned keys: a
 * Vellum service such as QLDB uses one for the resources of callers who
 * chose no customer managed key. An owned key lives in its own namespace
 * (`kms.owned/<service>`), so the account's operations never see it: ListKeys
 * and ListAliases leave it out, and DescribeKey, Encrypt, CreateGrant,
 * DisableKey, ScheduleKeyDeletion and the rest raise `NotFoundException`
 * for its id or ARN, as KMS does for a key that does not exist. Decrypt of a
 * blob it made raises the usual ciphertext `AccessDeniedException`. No key
 * policy or grant applies; only the service that holds the `OwnedKey` object
 * uses it, in-process. Its material is sealed under the root key like every
 * other key's, and it is never disabled, rotated or deleted.
 */
import { StateConflictError } from '../../storage/store.js';
import { decryptBlob, encryptBlob, parseBlob } from './ciphertext.js';
import { decodeRecord, encodeRecord, NS, type MaterialRecord } from './key-records.js';
import type { KmsCore } from './kms-core.js';
import { invalidCiphertext } from './kms-errors.js';
import { freshRandomBytes } from './crypto-operations.js';

/** The stored form of an owned key. */
export interface OwnedKeyRecord {
  keyId: string;
  /** The Vellum service the key belongs to, such as `qldb`. */
  service: string;
  createdAt: number;
  materials: MaterialRecord[];
}

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** One service's owned key: GenerateDataKey, Encrypt and Decrypt without authorization. */
export class OwnedKey {
  readonly #core: KmsCore;
  readonly #record: OwnedKeyRecord;

  constructor(core: KmsCore, record: OwnedKeyRecord) {
    this.#core = core;
    this.#record = record;
  }

  get keyId(): string {
    return this.#record.keyId;
  }

  get service(): string {
    return this.#record.service;
  }

  /** True when `blob` is a ciphertext blob that names this key. */
  owns(blob: Uint8Array): boolean {
    return parseBlob(blob)?.keyId === this.#record.keyId;
  }

  /** A new data key of `bytes` bytes and its blob under this key, bound to `context`. */
  generateDataKey(
    context: Record<string, string>,
    bytes = 32,
  ): { plaintext: Buffer; blob: Buffer; materialId: string } {
    const plaintext = freshRandomBytes(bytes);
    return { plaintext, ...this.encrypt(plaintext, context) };
  }

  encrypt(
    plaintext: Uint8Array,
    context: Record<string, string>,
  ): { blob: Buffer; materialId: string } {
    const current = this.#record.materials[this.#record.materials.length - 1]!;
    const material = this.#core.material(this.#record, current.version)!;
    return {
      blob: encryptBlob(material, this.#record.keyId, current.version, plaintext, context),
      materialId: current.id,
    };
  }

  /**
   * Decrypt a blob this key made under the same context. A blob of another
   * key, a changed bit or another context raises InvalidCiphertextException.
   */
  decrypt(blob: Uint8Array, context: Record<string, string>): Buffer {
    const parsed = parseBlob(blob);
    if (parsed === undefined || parsed.keyId !== this.#record.keyId) throw invalidCiphertext();
    const material = this.#core.material(this.#record, parsed.materialVersion);
    const plaintext = material === undefined ? undefined : decryptBlob(material, parsed, context);
    if (plaintext === undefined) throw invalidCiphertext();
    return plaintext;
  }
}

/** Read the owned key of `service`; undefined when it was never created. */
export async function readOwnedKey(
  core: KmsCore,
  service: string,
): Promise<OwnedKeyRecord | undefined> {
  const stored = await core.store.getState(NS.owned, service);
  return stored === undefined ? undefined : decodeRecord<OwnedKeyRecord>(stored.value);
}

/**
 * Read the owned key of `service`, creating it when it does not exist yet.
 * Servers sharing a store may call this at the same moment: the record is
 * written only when absent, and a writer that loses the race reads the
 * winner's key, so every server ends with the same key.
 */
export async function loadOwnedKey(core: KmsCore, service: string): Promise<OwnedKeyRecord> {
  if (!SERVICE_NAME.test(service)) {
    throw new RangeError(
      `owned key service name ${JSON.stringify(service)} must be lower-case letters, digits and hyphens, starting with a letter`,
    );
  }
  for (;;) {
    const stored = await readOwnedKey(core, service);
    if (stored !== undefined) return stored;
    const keyId = core.newKeyId();
    const record: OwnedKeyRecord = {
      keyId,
      service,
      createdAt: core.now(),
      materials: [core.newMaterial(keyId, 1)],
    };
    try {
      await core.store.putState(NS.owned, service, encodeRecord(record), 0);
      core.logger.info({ keyId, ownerService: service }, 'Vellum-owned KMS key created');
      return record;
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
    }
  }
}

/** Return the key ids of every owned key, so that a seeded account key cannot take one of them. */
export async function ownedKeyIds(core: KmsCore): Promise<Set<string>> {
  const records = await core.store.listState(NS.owned);
  return new Set(records.map((record) => decodeRecord<OwnedKeyRecord>(record.value).keyId));
}
