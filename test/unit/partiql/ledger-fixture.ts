import { dom, dumpText, load, loadAll } from 'ion-js';
import {
  Engine,
  executeStatement,
  type Ledger,
  type StatementResult,
} from '../../../src/engine/index.js';
import { tempDir } from '../../helpers/backends.js';

/** A real engine on a temporary data directory with one ledger. */
export interface LedgerFixture {
  engine: Engine;
  ledger: Ledger;
  /** Run one statement in its own transaction and commit it. */
  run(text: string, ...parameters: unknown[]): Promise<StatementResult>;
  close(): Promise<void>;
}

export async function openLedger(name = 'partiql'): Promise<LedgerFixture> {
  const dir = tempDir('vellum-partiql-');
  const engine = await Engine.open({ dataDir: dir.path, createRootKey: true });
  await engine.createLedger(name);
  const ledger = await engine.ledger(name);
  return {
    engine,
    ledger,
    run: (text, ...parameters) =>
      ledger.run((tx) => executeStatement(tx, text, parameters.map(toIon)), { retryLimit: 0 }),
    close: async () => {
      await engine.close();
      dir.remove();
    },
  };
}

/**
 * Convert a test parameter to Ion: a `dom.Value` as is, a string of the form
 * `ion:<text>` parsed as Ion text, anything else through `dom.Value.from`.
 */
export function toIon(value: unknown): dom.Value {
  if (value instanceof dom.Value) return value as dom.Value;
  if (typeof value === 'string' && value.startsWith('ion:')) return ion(value.slice(4));
  return dom.Value.from(value as Parameters<typeof dom.Value.from>[0]);
}

export function ion(text: string): dom.Value {
  const value = load(text);
  if (value === null) throw new Error(`not one Ion value: ${text}`);
  return value;
}

/**
 * Canonical Ion text of a value: struct fields sorted by name, so two values
 * that Ion considers equal print the same.
 */
export function canonicalText(value: dom.Value): string {
  if (value.isNull()) return dumpText(value);
  const type = value.getType().name;
  const annotations = value
    .getAnnotations()
    .map((a) => `'${a}'::`)
    .join('');
  if (type === 'struct') {
    const fields = value
      .fields()
      .map(([name, item]) => `${JSON.stringify(name)}:${canonicalText(item)}`)
      .sort();
    return `${annotations}{${fields.join(',')}}`;
  }
  if (type === 'list') return `${annotations}[${value.elements().map(canonicalText).join(',')}]`;
  if (type === 'sexp') return `${annotations}(${value.elements().map(canonicalText).join(' ')})`;
  return dumpText(value);
}

/** Canonical texts of a result, sorted, since result order is unspecified without ORDER BY. */
export function sortedTexts(values: readonly dom.Value[]): string[] {
  return values.map(canonicalText).sort();
}

/** Canonical texts of every value in an Ion text stream, sorted. */
export function expectedTexts(text: string): string[] {
  return loadAll(text).map(canonicalText).sort();
}

/** List the canonical texts of `values` in order, for results whose order is defined. */
export function orderedTexts(values: readonly dom.Value[]): string[] {
  return values.map(canonicalText);
}
