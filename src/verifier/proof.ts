// QLDB-style proofs: Ion text of a list of 32-byte blobs, ordered from the leaf upward.
import { IonTypes } from 'ion-js';

import type { VerificationErrorDetails } from './errors.js';
import { VerificationError } from './errors.js';
import { ParseContext, loadOne, readBlob } from './ion.js';
import { HASH_LENGTH, describeType, isBytes } from './utils.js';

/**
 * Parses a proof, such as the `Proof.IonText` that QLDB's GetRevision and GetBlock return:
 * an Ion list of 32-byte blobs, for example `[{{aGVsbG8…}}, {{…}}]`. Annotations, other element
 * types and other lengths are rejected.
 * @throws TypeError when `ionText` is not a string; VerificationError with code MALFORMED_PROOF
 *   for anything but a single Ion list of 32-byte blobs.
 */
export function parseProof(ionText: string): Uint8Array[] {
  if (typeof ionText !== 'string') {
    throw new TypeError(`ionText: expected a string, got ${describeType(ionText)}`);
  }
  const context = new ParseContext('MALFORMED_PROOF', 'proof');
  const list = loadOne(ionText, 'ionText', context);
  if (list.getType() !== IonTypes.LIST || list.isNull()) {
    const got = list.isNull() ? `null.${list.getType().name}` : list.getType().name;
    context.fail(`expected an Ion list of blobs, got ${got}`);
  }
  if (list.getAnnotations().length > 0) {
    context.fail(
      `expected an Ion list without annotations, got ${list.getAnnotations().join('::')}::`,
    );
  }
  return list.elements().map((element, index) => {
    if (element.getAnnotations().length > 0) {
      context.fail(`element ${index}: expected a blob without annotations`);
    }
    return readBlob(element, `element ${index}`, context);
  });
}

/**
 * Accepts a proof as Ion text or as an array of hashes. Either way the elements are proof data,
 * so a wrong element raises MALFORMED_PROOF.
 */
export function resolveProof(
  value: unknown,
  subject: string,
  details: VerificationErrorDetails,
): Uint8Array[] {
  if (typeof value === 'string') {
    try {
      return parseProof(value);
    } catch (error) {
      if (error instanceof VerificationError) {
        throw new VerificationError(error.code, `${subject}: ${error.message}`, {
          ...details,
          cause: error,
        });
      }
      throw error;
    }
  }
  if (!Array.isArray(value)) {
    throw new TypeError(
      `proof: expected Ion text or an array of Uint8Array, got ${describeType(value)}`,
    );
  }
  return value.map((element: unknown, index) => {
    if (!isBytes(element) || element.length !== HASH_LENGTH) {
      const got = isBytes(element) ? `${element.length} bytes` : describeType(element);
      throw new VerificationError(
        'MALFORMED_PROOF',
        `${subject}: proof element ${index}: expected ${HASH_LENGTH} bytes, got ${got}`,
        details,
      );
    }
    return element;
  });
}
