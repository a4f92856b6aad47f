import { pooledRandomBytes } from '../random.js';
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  type KeyObject,
  createSecretKey,
} from 'node:crypto';

/** Layout 1: `1 || iv || ciphertext || tag`, sealed by generation 0 (every key before rekeys existed). */
const FORMAT_V1 = 1;
/** Layout 2: `2 || generation (uint32 big-endian) || iv || ciphertext || tag`. */
const FORMAT_V2 = 2;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const V1_HEADER = 1;
const V2_HEADER = 5;
/** Generations are uint32 in layout 2. */
export const MAX_KEY_GENERATION = 0xffff_ffff;

/** Raised when a sealed payload fails authentication: wrong key, wrong place or changed bytes. */
export class PayloadIntegrityError extends Error {
  constructor(readonly context: string) {
    super(`${describeContext(context)} failed authentication: it was changed or belongs elsewhere`);
    this.name = 'PayloadIntegrityError';
  }
}

/**
 * Name what a sealing context binds, for people: the context itself lists
 * every column of the row, hashes included, which is too long to read.
 */
function describeContext(context: string): string {
  const [kind, ...parts] = context.split(':');
  if (kind === 'block' && parts.length >= 1) return `the stored body of block ${parts[0]}`;
  if (kind === 'rev' && parts.length >= 4)
    return `revision ${parts[1]} of document ${parts[0]} in block ${parts[3]}`;
  if (kind === 'catalog') return `the catalog entry ${parts.join(':')}`;
  return `the stored payload for ${context}`;
}

/**
 * Raised when a payload was sealed by a data key generation that the
 * keyring does not hold: a newer key another process began a rekey with, or
 * a key already retired while the payload was being read. Reading the
 * stored row again with the ledger's current keys resolves either case.
 */
export class KeyGenerationError extends Error {
  constructor(
    readonly generation: number,
    readonly held: readonly number[],
  ) {
    super(
      `the payload was sealed by data key generation ${generation}, but the ledger holds generation ${held.join(' and ')}`,
    );
    this.name = 'KeyGenerationError';
  }
}

/**
 * Return the data key generation that sealed a payload: 0 for layout 1,
 * the stored number for layout 2, undefined for bytes in neither layout.
 */
export function sealedGeneration(sealed: Uint8Array): number | undefined {
  if (sealed.length >= V1_HEADER + IV_LENGTH + TAG_LENGTH && sealed[0] === FORMAT_V1) return 0;
  if (sealed.length >= V2_HEADER + IV_LENGTH + TAG_LENGTH && sealed[0] === FORMAT_V2) {
    return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length).readUInt32BE(1);
  }
  return undefined;
}

/** The operations the journal and catalog code use on a ledger's keys. */
export interface PayloadCipher {
  seal(plaintext: Uint8Array, context: string): Uint8Array;
  open(sealed: Uint8Array, context: string): Uint8Array;
  mac(scope: string, message: Uint8Array): Uint8Array;
}

/**
 * The cipher of one data key of a ledger. Everything a user wrote passes
 * through `seal` before it reaches a store, and indexed values through `mac`.
 *
 * Two subkeys are derived from the 256-bit data key with HKDF-SHA256
 * (RFC 5869): one for AES-256-GCM payloads and one for HMAC-SHA256 index keys,
 * so an index MAC never reuses the encryption key.
 *
 * Each data key has a generation: 0 for a ledger's first key, one more for
 * each rekey. Generation 0 seals in layout 1, `1 || iv (12) || ciphertext ||
 * tag (16)`, the layout of stores from before rekeys. Later generations seal
 * in layout 2, `2 || generation (uint32 BE) || iv || ciphertext || tag`, so
 * a reader can tell which key to use; the 5-byte header is authenticated
 * with the context. The context string (for example `rev:<docId>:<version>`)
 * is the GCM additional data, so a payload copied to another row fails to open.
 */
export class LedgerCipher implements PayloadCipher {
  readonly #payloadKey: KeyObject;
  readonly #macKey: KeyObject;
  readonly #header: Buffer;

  constructor(
    dataKey: Uint8Array,
    readonly generation = 0,
  ) {
    if (!(dataKey instanceof Uint8Array)) throw new TypeError('data key must be a Uint8Array');
    if (dataKey.length !== 32) {
      throw new RangeError(`data key must be 32 bytes, got ${dataKey.length}`);
    }
    if (!Number.isInteger(generation) || generation < 0 || generation > MAX_KEY_GENERATION) {
      throw new RangeError(
        `a data key generation is an integer from 0 to ${MAX_KEY_GENERATION}, got ${generation}`,
      );
    }
    this.#payloadKey = createSecretKey(derive(dataKey, 'vellum payload aes-256-gcm'));
    this.#macKey = createSecretKey(derive(dataKey, 'vellum index hmac-sha256'));
    if (generation === 0) {
      this.#header = Buffer.of(FORMAT_V1);
    } else {
      this.#header = Buffer.alloc(V2_HEADER);
      this.#header[0] = FORMAT_V2;
      this.#header.writeUInt32BE(generation, 1);
    }
  }

  seal(plaintext: Uint8Array, context: string): Uint8Array {
    const header = this.#header;
    const iv = pooledRandomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#payloadKey, iv, {
      authTagLength: TAG_LENGTH,
    });
    cipher.setAAD(this.#additionalData(context));
    const body = cipher.update(plaintext);
    const final = cipher.final();
    const start = header.length + IV_LENGTH;
    const out = Buffer.allocUnsafe(start + body.length + final.length + TAG_LENGTH);
    header.copy(out, 0);
    iv.copy(out, header.length);
    body.copy(out, start);
    final.copy(out, start + body.length);
    cipher.getAuthTag().copy(out, out.length - TAG_LENGTH);
    return out;
  }

  open(sealed: Uint8Array, context: string): Uint8Array {
    const header = this.#header;
    const buffer = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length);
    if (
      buffer.length < header.length + IV_LENGTH + TAG_LENGTH ||
      !buffer.subarray(0, header.length).equals(header)
    ) {
      throw new PayloadIntegrityError(context);
    }
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.#payloadKey,
        buffer.subarray(header.length, header.length + IV_LENGTH),
        { authTagLength: TAG_LENGTH },
      );
      decipher.setAAD(this.#additionalData(context));
      decipher.setAuthTag(buffer.subarray(buffer.length - TAG_LENGTH));
      const body = decipher.update(
        buffer.subarray(header.length + IV_LENGTH, buffer.length - TAG_LENGTH),
      );
      const final = decipher.final();
      return final.length === 0 ? body : Buffer.concat([body, final]);
    } catch {
      throw new PayloadIntegrityError(context);
    }
  }

  /** Compute the keyed MAC of an index key, so equal values match without being stored. */
  mac(scope: string, message: Uint8Array): Uint8Array {
    return createHmac('sha256', this.#macKey).update(scope, 'latin1').update(message).digest();
  }

  #additionalData(context: string): Buffer {
    // Layout 1 authenticates the context alone, as it always has.
    const text = Buffer.from(context, 'utf8');
    return this.generation === 0 ? text : Buffer.concat([this.#header, text]);
  }
}

/**
 * The data keys a ledger holds: the one that seals every new write, and
 * during a rekey the previous one, which still opens what it sealed until
 * the rekey has sealed everything again. Immutable: a rekey's steps replace
 * the ledger's keyring.
 */
export class LedgerKeyring implements PayloadCipher {
  constructor(
    readonly current: LedgerCipher,
    readonly retiring?: LedgerCipher,
  ) {
    if (retiring !== undefined && retiring.generation === current.generation) {
      throw new RangeError(`a keyring contains generation ${current.generation} only once`);
    }
  }

  /** The generation of the key that seals new writes. */
  get generation(): number {
    return this.current.generation;
  }

  /** The generations held, the current one first. */
  get generations(): number[] {
    return this.retiring === undefined
      ? [this.current.generation]
      : [this.current.generation, this.retiring.generation];
  }

  /** Return the cipher of a generation in this keyring. */
  cipher(generation: number): LedgerCipher | undefined {
    if (generation === this.current.generation) return this.current;
    if (generation === this.retiring?.generation) return this.retiring;
    return undefined;
  }

  seal(plaintext: Uint8Array, context: string): Uint8Array {
    return this.current.seal(plaintext, context);
  }

  /**
   * Open a payload with the key that sealed it. Throws `KeyGenerationError`
   * when that key is not held, and `PayloadIntegrityError` when the bytes
   * are in no known layout or fail authentication.
   */
  open(sealed: Uint8Array, context: string): Uint8Array {
    const generation = sealedGeneration(sealed);
    if (generation === undefined) throw new PayloadIntegrityError(context);
    const cipher = this.cipher(generation);
    if (cipher === undefined) throw new KeyGenerationError(generation, this.generations);
    return cipher.open(sealed, context);
  }

  /** The MAC under the current key, which new index entries carry. */
  mac(scope: string, message: Uint8Array): Uint8Array {
    return this.current.mac(scope, message);
  }

  /** The MAC under every key held, the current one first, for lookups during a rekey. */
  macs(scope: string, message: Uint8Array): Array<{ generation: number; mac: Uint8Array }> {
    const macs = [{ generation: this.current.generation, mac: this.current.mac(scope, message) }];
    if (this.retiring !== undefined) {
      macs.push({ generation: this.retiring.generation, mac: this.retiring.mac(scope, message) });
    }
    return macs;
  }
}

function derive(dataKey: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), info, 32));
}
