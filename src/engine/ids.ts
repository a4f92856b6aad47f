import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 22;

/**
 * Create a 22-character base62 id from 128 random bits, the form QLDB uses
 * for document, transaction, strand and table ids (62^22 > 2^128).
 */
export function newId(): string {
  const bytes = randomBytes(16);
  let value = (bytes.readBigUInt64BE(0) << 64n) | bytes.readBigUInt64BE(8);
  const chars = new Array<string>(ID_LENGTH);
  for (let i = ID_LENGTH - 1; i >= 0; i--) {
    chars[i] = ALPHABET[Number(value % 62n)]!;
    value /= 62n;
  }
  return chars.join('');
}

const ID_PATTERN = /^[0-9A-Za-z]{22}$/;

export function isId(value: string): boolean {
  return ID_PATTERN.test(value);
}
