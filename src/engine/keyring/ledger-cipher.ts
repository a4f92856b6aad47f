import { pooledRandomBytes } from '../random.js';
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  type KeyObject,
  createSecretKey,
} from 'node:crypto';

const FORMAT_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + IV_LENGTH;

/** Raised when a sealed payload fails authentication: wrong key, wrong place or changed bytes. */
export class PayloadIntegrityError extends Error {
  constructor(readonly context: string) {
    super(
      `stored payload for ${context} failed authentication: it was changed or belongs elsewhere`,
    );
    this.name = 'PayloadIntegrityError';
  }
}

/**
 * The cipher boundary of one ledger. Everything a user wrote passes through
 * `seal` before it reaches a store, and indexed values through `mac`.
 *
 * Two subkeys are derived from the ledger's 256-bit data key with HKDF-SHA256
 * (RFC 5869): one for AES-256-GCM payloads and one for HMAC-SHA256 index keys,
 * so an index MAC never reuses the encryption key.
 *
 * Sealed layout: `version (1) || iv (12) || ciphertext || tag (16)`. The
 * context string (for example `rev:<docId>:<version>`) is the GCM additional
 * data, so a payload copied to another row fails to open.
 */
export class LedgerCipher {
  readonly #payloadKey: KeyObject;
  readonly #macKey: KeyObject;

  constructor(dataKey: Uint8Array) {
    if (!(dataKey instanceof Uint8Array)) throw new TypeError('data key must be a Uint8Array');
    if (dataKey.length !== 32) {
      throw new RangeError(`data key must be 32 bytes, got ${dataKey.length}`);
    }
    this.#payloadKey = createSecretKey(derive(dataKey, 'vellum payload aes-256-gcm'));
    this.#macKey = createSecretKey(derive(dataKey, 'vellum index hmac-sha256'));
  }

  seal(plaintext: Uint8Array, context: string): Uint8Array {
    const iv = pooledRandomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#payloadKey, iv, {
      authTagLength: TAG_LENGTH,
    });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = cipher.update(plaintext);
    const final = cipher.final();
    const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length + final.length + TAG_LENGTH);
    out[0] = FORMAT_VERSION;
    iv.copy(out, 1);
    body.copy(out, HEADER_LENGTH);
    final.copy(out, HEADER_LENGTH + body.length);
    cipher.getAuthTag().copy(out, out.length - TAG_LENGTH);
    return out;
  }

  open(sealed: Uint8Array, context: string): Uint8Array {
    if (sealed.length < HEADER_LENGTH + TAG_LENGTH || sealed[0] !== FORMAT_VERSION) {
      throw new PayloadIntegrityError(context);
    }
    const buffer = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length);
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        this.#payloadKey,
        buffer.subarray(1, HEADER_LENGTH),
        { authTagLength: TAG_LENGTH },
      );
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(buffer.subarray(buffer.length - TAG_LENGTH));
      const body = decipher.update(buffer.subarray(HEADER_LENGTH, buffer.length - TAG_LENGTH));
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
}

function derive(dataKey: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), info, 32));
}
