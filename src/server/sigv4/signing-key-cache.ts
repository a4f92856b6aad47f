import { getSigningKey } from '@smithy/signature-v4';
import { NodeSha256 } from './node-sha256.js';

interface CachedKey {
  secretAccessKey: string;
  key: Uint8Array;
}

/**
 * Derived SigV4 signing keys per access key, scope date, region and service,
 * so that a request costs one HMAC for its signature instead of five. The
 * oldest entry goes first once `maxEntries` is reached.
 */
export class SigningKeyCache {
  readonly #entries = new Map<string, CachedKey>();
  readonly #maxEntries: number;

  constructor(maxEntries = 1024) {
    this.#maxEntries = maxEntries;
  }

  async get(
    accessKeyId: string,
    secretAccessKey: string,
    scopeDate: string,
    region: string,
    service: string,
  ): Promise<Uint8Array> {
    const cacheKey = `${accessKeyId}\n${scopeDate}\n${region}\n${service}`;
    const cached = this.#entries.get(cacheKey);
    // A key id whose secret changed (deleted and created again) must not reuse the old key.
    if (cached !== undefined && cached.secretAccessKey === secretAccessKey) return cached.key;

    const key = await getSigningKey(
      NodeSha256,
      { accessKeyId, secretAccessKey },
      scopeDate,
      region,
      service,
    );
    this.#entries.delete(cacheKey);
    this.#entries.set(cacheKey, { secretAccessKey, key });
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return key;
  }

  get size(): number {
    return this.#entries.size;
  }
}
