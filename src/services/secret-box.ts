/**
 * Sealing of service secrets (KMS key material, secret access keys) under
 * the data directory's root key with AES-256-GCM, each bound to a purpose
 * label so that a sealed value cannot be moved to another record.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { loadOrCreateRootKey } from '../engine/keyring/root-key-file.js';
import type { Store } from '../storage/store.js';

const FORMAT_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** Raised when a sealed value fails authentication: wrong root key, wrong purpose or damaged bytes. */
export class SealedValueError extends Error {
  constructor(purpose: string) {
    super(
      `cannot open the sealed value for ${purpose}: the root key does not match or the value is damaged`,
    );
    this.name = 'SealedValueError';
  }
}

export class SecretBox {
  readonly #key: Buffer;

  constructor(rootKey: Uint8Array) {
    if (rootKey.length !== 32) {
      throw new RangeError(`root key must be 32 bytes, got ${rootKey.length}`);
    }
    this.#key = Buffer.from(rootKey);
  }

  /** Encrypt `plaintext` for `purpose`: version byte, 12-byte IV, ciphertext, 16-byte tag. */
  seal(purpose: string, plaintext: Uint8Array): Buffer {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(purpose, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT_VERSION), iv, body, cipher.getAuthTag()]);
  }

  /** Derive a 32-byte key for `label` from the root key with HKDF-SHA256, such as a MAC key. */
  deriveKey(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `vellum ${label}`, 32));
  }

  /** Decrypt a value sealed for `purpose`; raises `SealedValueError` when it does not authenticate. */
  open(purpose: string, sealed: Uint8Array): Buffer {
    const buffer = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buffer.length < 1 + IV_LENGTH + TAG_LENGTH || buffer[0] !== FORMAT_VERSION) {
      throw new SealedValueError(purpose);
    }
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.#key,
        buffer.subarray(1, 1 + IV_LENGTH),
      );
      decipher.setAAD(Buffer.from(purpose, 'utf8'));
      decipher.setAuthTag(buffer.subarray(buffer.length - TAG_LENGTH));
      return Buffer.concat([
        decipher.update(buffer.subarray(1 + IV_LENGTH, buffer.length - TAG_LENGTH)),
        decipher.final(),
      ]);
    } catch {
      throw new SealedValueError(purpose);
    }
  }
}

export interface RootKeyOptions {
  store: Store;
  /** The data directory holding `root.key`; used when `rootKey` is not given. */
  dataDir?: string;
  /** The root key itself, for callers that load it another way (tests, an environment variable). */
  rootKey?: Uint8Array;
  /** The service's namespace for its check record, such as `kms.meta`. */
  metaNamespace: string;
  /** Namespaces whose records were sealed under the root key; when any has records, the key must exist already. */
  sealedNamespaces: string[];
  /** The service's name for error messages, such as `KMS`. */
  service: string;
}

/** The key of each service's root key check record. */
export const ROOT_KEY_CHECK = 'root-key-check';
const CHECK_PURPOSE = 'vellum root key check';

/** True when a service has sealed its state on this store under some root key already. */
export async function hasRootKeyCheck(store: Store, metaNamespace: string): Promise<boolean> {
  return (await store.getState(metaNamespace, ROOT_KEY_CHECK)) !== undefined;
}

/**
 * Open the root key for a service and prove that it is the key the
 * service's stored secrets were sealed with. On first start it creates the
 * key file (when none exists) and writes a check record. When sealed records
 * exist, a missing or different root key stops start-up with an error
 * instead of creating a new key.
 */
export async function openSecretBox(options: RootKeyOptions): Promise<SecretBox> {
  const { store, metaNamespace, service } = options;
  const check = await store.getState(metaNamespace, ROOT_KEY_CHECK);
  let hasSealedRecords = check !== undefined;
  for (const namespace of options.sealedNamespaces) {
    if (hasSealedRecords) break;
    hasSealedRecords = (await store.listState(namespace)).length > 0;
  }

  const rootKey = options.rootKey ?? loadRootKeyFile(options.dataDir, !hasSealedRecords, service);
  const box = new SecretBox(rootKey);
  const mismatch = () =>
    new Error(
      `the ${service} root key does not match the one its stored keys were sealed with; ` +
        'restore the original root.key of this data directory, or, for a store that several ' +
        'servers share, copy root.key from the data directory of a server that already uses it',
    );
  if (check) {
    try {
      box.open(CHECK_PURPOSE, check.value);
    } catch {
      throw mismatch();
    }
    return box;
  }
  if (hasSealedRecords) {
    throw new Error(
      `the ${service} state has sealed records but no root key check record; the data directory is damaged`,
    );
  }
  await store
    .putState(metaNamespace, ROOT_KEY_CHECK, box.seal(CHECK_PURPOSE, randomBytes(32)), 0)
    .catch(async (error: unknown) => {
      // Another process may have written the check record first; it must match.
      const written = await store.getState(metaNamespace, ROOT_KEY_CHECK);
      if (!written) throw error;
      try {
        box.open(CHECK_PURPOSE, written.value);
      } catch {
        throw mismatch();
      }
    });
  return box;
}

function loadRootKeyFile(
  dataDir: string | undefined,
  create: boolean,
  service: string,
): Uint8Array {
  if (dataDir === undefined) {
    throw new Error(`the ${service} needs a root key: pass rootKey or dataDir`);
  }
  try {
    return loadOrCreateRootKey(dataDir, create);
  } catch (error) {
    if (create) throw error;
    throw new Error(
      `the ${service} cannot start: ${(error as Error).message}. Its stored keys are sealed under that root key, so no new key was created`,
      { cause: error },
    );
  }
}
