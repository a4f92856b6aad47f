import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyProvider } from './key-provider.js';

export const ROOT_KEY_FILE = 'root.key';
/** The SQLite database file of a data directory, next to its root key. */
export const DATABASE_FILE = 'vellum.db';
const KEY_LENGTH = 32;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const WRAP_VERSION = 1;

/**
 * Load the 256-bit root key from `<dataDir>/root.key`, creating it with mode
 * 0600 when it does not exist and `create` is true. A file that others can
 * read is rejected, since anyone who reads it can unwrap every ledger's data
 * key. A new key is never made next to an existing database, whose data
 * only the original key opens.
 */
export function loadOrCreateRootKey(dataDir: string, create = true): Uint8Array {
  const path = join(dataDir, ROOT_KEY_FILE);
  if (!existsSync(path)) {
    if (!create) {
      throw new Error(
        `root key file ${path} is missing; it is created with the database and must stay next to it: restore it from where you keep its copy`,
      );
    }
    const database = join(dataDir, DATABASE_FILE);
    if (existsSync(database)) {
      throw new Error(
        `root key file ${path} is missing, but the database ${database} exists, and only its ` +
          'original root key opens it. Restore root.key (mode 0600) from where you keep its copy; ' +
          'no new key was made',
      );
    }
  }
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(KEY_LENGTH));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }

  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `root key file ${path} has mode ${mode.toString(8)}; run "chmod 600 ${path}" so only its owner can read it`,
    );
  }
  const key = readFileSync(path);
  if (key.length !== KEY_LENGTH) {
    throw new Error(
      `root key file ${path} must hold ${KEY_LENGTH} bytes, found ${key.length}: restore the original root.key of this data directory`,
    );
  }
  return key;
}

/** True for a data key that the root key file wrapped directly, not a KMS. */
export function isRootWrapped(wrapped: Uint8Array): boolean {
  return wrapped.length === 1 + IV_LENGTH + KEY_LENGTH + TAG_LENGTH && wrapped[0] === WRAP_VERSION;
}

/** Wraps data keys with AES-256-GCM under the root key, bound to the ledger id. */
export class RootKeyProvider implements KeyProvider {
  readonly #rootKey: Uint8Array;

  constructor(rootKey: Uint8Array) {
    if (rootKey.length !== KEY_LENGTH) {
      throw new RangeError(`root key must be ${KEY_LENGTH} bytes, got ${rootKey.length}`);
    }
    this.#rootKey = rootKey;
  }

  async wrap(ledgerId: string, dataKey: Uint8Array): Promise<Uint8Array> {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#rootKey, iv);
    cipher.setAAD(additionalData(ledgerId));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return Buffer.concat([Buffer.of(WRAP_VERSION), iv, body, cipher.getAuthTag()]);
  }

  async unwrap(ledgerId: string, wrapped: Uint8Array): Promise<Uint8Array> {
    const buffer = Buffer.from(wrapped);
    if (buffer.length !== 1 + IV_LENGTH + KEY_LENGTH + TAG_LENGTH || buffer[0] !== WRAP_VERSION) {
      throw new Error(`wrapped data key of ledger ${ledgerId} is malformed`);
    }
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.#rootKey,
        buffer.subarray(1, 1 + IV_LENGTH),
      );
      decipher.setAAD(additionalData(ledgerId));
      decipher.setAuthTag(buffer.subarray(buffer.length - TAG_LENGTH));
      return Buffer.concat([
        decipher.update(buffer.subarray(1 + IV_LENGTH, buffer.length - TAG_LENGTH)),
        decipher.final(),
      ]);
    } catch {
      throw new Error(
        `cannot unwrap the data key of ledger ${ledgerId}: the root key file does not match this data directory; restore its original root.key`,
      );
    }
  }
}

function additionalData(ledgerId: string): Buffer {
  return Buffer.from(`vellum ledger data key ${ledgerId}`, 'utf8');
}
