/**
 * The ciphertext blob of symmetric Encrypt and GenerateDataKey.
 *
 * Layout, version 1 (all integers big-endian):
 *
 *     0x01                   format version
 *     u8   n                 key id length
 *     n bytes                key id (ASCII UUID)
 *     u32                    key material version
 *     12 bytes               AES-GCM nonce
 *     ...                    ciphertext
 *     16 bytes               AES-GCM tag
 *
 * The authenticated data is the header (everything before the nonce)
 * followed by the encoded encryption context, so neither the key, the
 * material version nor the context can be swapped without failing the tag.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { pooledRandomBytes } from '../../engine/random.js';

const FORMAT_VERSION = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;

export interface CiphertextHeader {
  keyId: string;
  materialVersion: number;
  /** The header bytes, which are part of the authenticated data. */
  header: Buffer;
  nonce: Buffer;
  body: Buffer;
  tag: Buffer;
}

/**
 * Encode an encryption context without ambiguity: the pair count, then each
 * pair sorted by the UTF-8 bytes of its key, every key and value prefixed by
 * its byte length (u32). `{"ab":"c"}` and `{"a":"bc"}` therefore differ.
 */
export function encodeEncryptionContext(context: Record<string, string> | undefined): Buffer {
  const pairs = Object.entries(context ?? {}).map(
    ([key, value]) => [Buffer.from(key, 'utf8'), Buffer.from(value, 'utf8')] as const,
  );
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));

  const parts: Buffer[] = [u32(pairs.length)];
  for (const [key, value] of pairs) parts.push(u32(key.length), key, u32(value.length), value);
  return Buffer.concat(parts);
}

export function encryptBlob(
  material: Uint8Array,
  keyId: string,
  materialVersion: number,
  plaintext: Uint8Array,
  context: Record<string, string> | undefined,
): Buffer {
  const idBytes = Buffer.from(keyId, 'ascii');
  const header = Buffer.concat([
    Buffer.of(FORMAT_VERSION, idBytes.length),
    idBytes,
    u32(materialVersion),
  ]);
  const nonce = Buffer.from(pooledRandomBytes(NONCE_LENGTH));
  const cipher = createCipheriv('aes-256-gcm', material, nonce);
  cipher.setAAD(Buffer.concat([header, encodeEncryptionContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
}

/** Split a blob into its parts, or return undefined when it is not a version 1 blob. */
export function parseBlob(blob: Uint8Array): CiphertextHeader | undefined {
  const buffer = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buffer.length < 2 || buffer[0] !== FORMAT_VERSION) return undefined;
  const idLength = buffer[1]!;
  const headerLength = 2 + idLength + 4;
  if (idLength === 0 || buffer.length < headerLength + NONCE_LENGTH + TAG_LENGTH) return undefined;

  const keyId = buffer.toString('ascii', 2, 2 + idLength);
  if (!/^[0-9a-f-]+$/.test(keyId)) return undefined;
  return {
    keyId,
    materialVersion: buffer.readUInt32BE(2 + idLength),
    header: buffer.subarray(0, headerLength),
    nonce: buffer.subarray(headerLength, headerLength + NONCE_LENGTH),
    body: buffer.subarray(headerLength + NONCE_LENGTH, buffer.length - TAG_LENGTH),
    tag: buffer.subarray(buffer.length - TAG_LENGTH),
  };
}

/** Decrypt a parsed blob; undefined when the tag does not verify (wrong material, context or bytes). */
export function decryptBlob(
  material: Uint8Array,
  parsed: CiphertextHeader,
  context: Record<string, string> | undefined,
): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', material, parsed.nonce);
    decipher.setAAD(Buffer.concat([parsed.header, encodeEncryptionContext(context)]));
    decipher.setAuthTag(parsed.tag);
    return Buffer.concat([decipher.update(parsed.body), decipher.final()]);
  } catch {
    return undefined;
  }
}

function u32(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(value);
  return buffer;
}
