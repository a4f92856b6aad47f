import { dom, load } from 'ion-js';
import type { BlockAddress, RevisionMetadata } from '../journal/journal-types.js';

/**
 * A document revision as readers see it. Committed revisions carry their
 * block address and hash; a transaction's own uncommitted writes carry
 * neither. Ion decoding is deferred until `data` is first read, since many
 * callers only pass the Ion binary on.
 */
export class Revision {
  #data: dom.Value | undefined | null = null;

  constructor(
    readonly tableId: string,
    readonly metadata: RevisionMetadata,
    readonly blockAddress: BlockAddress | undefined,
    readonly hash: Uint8Array | undefined,
    /** The document as Ion binary; undefined for a deletion or a redacted revision. */
    readonly dataBinary: Uint8Array | undefined,
    data?: dom.Value,
    /** For a redacted revision, the Ion hash of the data it held; its data is gone. */
    readonly dataHash?: Uint8Array,
  ) {
    if (data !== undefined) this.#data = data;
  }

  get id(): string {
    return this.metadata.id;
  }

  get version(): number {
    return this.metadata.version;
  }

  get deleted(): boolean {
    return this.dataBinary === undefined && this.dataHash === undefined;
  }

  get redacted(): boolean {
    return this.dataHash !== undefined;
  }

  get committed(): boolean {
    return this.blockAddress !== undefined;
  }

  /** The document; undefined for a deletion or a redacted revision. */
  get data(): dom.Value | undefined {
    if (this.#data === null) {
      this.#data = this.dataBinary === undefined ? undefined : (load(this.dataBinary) ?? undefined);
    }
    return this.#data;
  }
}
