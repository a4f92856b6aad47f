// Reference computations for the Ion tests, built only on node:crypto and ion-hash-js.
import { createHash } from 'node:crypto';

import * as ion from 'ion-js';
import { cryptoHasherProvider, makeHashWriter } from 'ion-hash-js';

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** Returns the Ion hash (SHA-256) of a dom value, computed by ion-hash-js. */
export function referenceIonHash(value: ion.dom.Value): Uint8Array {
  const writer = makeHashWriter(ion.makeBinaryWriter(), cryptoHasherProvider('sha256'));
  value.writeTo(writer);
  return new Uint8Array(writer.digest());
}

/** Returns the Ion hash (SHA-256) of a string value, computed by ion-hash-js. */
export function referenceHashString(text: string): Uint8Array {
  const writer = makeHashWriter(ion.makeBinaryWriter(), cryptoHasherProvider('sha256'));
  writer.writeString(text);
  return new Uint8Array(writer.digest());
}

/**
 * Combines two hashes by QLDB's rule, written out plainly: Int8Array reads the bytes as signed,
 * and the last index compares first.
 */
export function referenceDot(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const signedA = new Int8Array(a.buffer, a.byteOffset, 32);
  const signedB = new Int8Array(b.buffer, b.byteOffset, 32);
  let aFirst = false;
  for (let index = 31; index >= 0; index--) {
    if (signedA[index] !== signedB[index]) {
      aFirst = signedA[index]! < signedB[index]!;
      break;
    }
  }
  return aFirst ? sha256(a, b) : sha256(b, a);
}
