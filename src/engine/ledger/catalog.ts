import type { StoredCatalogObject } from '../../storage/store.js';
import type { PayloadCipher } from '../keyring/ledger-cipher.js';

export type TableStatus = 'ACTIVE' | 'INACTIVE';

export interface TableDefinition {
  kind: 'table';
  tableId: string;
  name: string;
  status: TableStatus;
}

export interface IndexDefinition {
  kind: 'index';
  indexId: string;
  tableId: string;
  /** The indexed top-level field name. */
  field: string;
  unique: boolean;
  /**
   * How values become keys: `equality` for keys that follow PartiQL's `=`
   * (1 and 1.0 are one key); absent for indexes made before, whose keys are
   * Ion Hashes, so exact Ion values.
   */
  keys?: 'equality';
  /** True once `DROP INDEX` removed it; lookups and writes no longer use it. */
  dropped?: boolean;
}

export type CatalogObject = TableDefinition | IndexDefinition;

/** QLDB's quotas on tables and indexes. */
export const MAX_ACTIVE_TABLES = 20;
export const MAX_TABLES = 40;
export const MAX_INDEXES_PER_TABLE = 5;

/**
 * The tables and indexes of a ledger. Definitions are stored sealed, since
 * table and field names are user data; this in-memory copy is the only
 * plaintext form.
 */
export class Catalog {
  readonly #objects = new Map<string, CatalogObject>();
  readonly #activeByName = new Map<string, TableDefinition>();
  readonly #indexesByTable = new Map<string, IndexDefinition[]>();

  static decode(rows: StoredCatalogObject[], cipher: PayloadCipher): Catalog {
    const catalog = new Catalog();
    for (const row of rows) {
      const json = Buffer.from(cipher.open(row.payload, catalogContext(row.objectId))).toString(
        'utf8',
      );
      catalog.put(JSON.parse(json) as CatalogObject);
    }
    return catalog;
  }

  static encode(
    object: CatalogObject,
    blockSeq: number,
    cipher: PayloadCipher,
  ): StoredCatalogObject {
    const objectId = object.kind === 'table' ? object.tableId : object.indexId;
    return {
      objectId,
      kind: object.kind,
      blockSeq,
      payload: cipher.seal(Buffer.from(JSON.stringify(object), 'utf8'), catalogContext(objectId)),
    };
  }

  /** Copy the catalog with stored objects applied over it, such as those changed by other processes. */
  withStored(rows: StoredCatalogObject[], cipher: PayloadCipher): Catalog {
    const copy = this.clone();
    for (const object of Catalog.decode(rows, cipher).#objects.values()) copy.put(object);
    return copy;
  }

  put(object: CatalogObject): void {
    if (object.kind === 'table') {
      const previous = this.#objects.get(object.tableId) as TableDefinition | undefined;
      if (previous !== undefined && this.#activeByName.get(previous.name) === previous) {
        this.#activeByName.delete(previous.name);
      }
      this.#objects.set(object.tableId, object);
      if (object.status === 'ACTIVE') this.#activeByName.set(object.name, object);
    } else {
      this.#objects.set(object.indexId, object);
      const indexes = (this.#indexesByTable.get(object.tableId) ?? []).filter(
        (index) => index.indexId !== object.indexId,
      );
      if (object.dropped !== true) indexes.push(object);
      this.#indexesByTable.set(object.tableId, indexes);
    }
  }

  activeTable(name: string): TableDefinition | undefined {
    return this.#activeByName.get(name);
  }

  get(objectId: string): CatalogObject | undefined {
    return this.#objects.get(objectId);
  }

  tables(): TableDefinition[] {
    return [...this.#objects.values()].filter((o): o is TableDefinition => o.kind === 'table');
  }

  indexesOf(tableId: string): readonly IndexDefinition[] {
    return this.#indexesByTable.get(tableId) ?? [];
  }

  /** Copy the catalog, so a transaction can change it without touching the committed one. */
  clone(): Catalog {
    const copy = new Catalog();
    for (const object of this.#objects.values()) copy.put(object);
    return copy;
  }
}

export function catalogContext(objectId: string): string {
  return `catalog:${objectId}`;
}
