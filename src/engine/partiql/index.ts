import { IonTypes, dom } from 'ion-js';
import { FOREIGN_ION_VALUE, describeJsValue, isForeignIonValue } from '../ion/js-value.js';
import type { Transaction } from '../ledger/transaction.js';
import { PartiqlError } from './errors.js';
import {
  MAX_PARAMETER_BYTES,
  StatementRunner,
  parameterSize,
  type StatementResult,
} from './execute.js';
import { parse, type ParsedStatement } from './parser.js';
import { QuotaExceededError } from '../errors.js';

export { parse, MAX_STATEMENT_LENGTH, type ParsedStatement } from './parser.js';
export { PartiqlError, PartiqlSyntaxError, PartiqlSemanticError } from './errors.js';
export { MAX_PARAMETER_BYTES, StatementResult } from './execute.js';
export type { AccessPlan } from './plan.js';

/**
 * Parsed statements by text. Applications send the same few statements
 * with different parameters, so parsing is paid once per text.
 */
export class StatementCache {
  readonly #entries = new Map<string, ParsedStatement>();

  constructor(readonly capacity = 1000) {}

  get(text: string): ParsedStatement {
    let parsed = this.#entries.get(text);
    if (parsed !== undefined) return parsed;
    parsed = parse(text);
    // When full, the oldest entry goes. Applications use a small, fixed set
    // of statements, so insertion order serves as well as recency here.
    if (this.#entries.size >= this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(text, parsed);
    return parsed;
  }

  get size(): number {
    return this.#entries.size;
  }
}

const sharedCache = new StatementCache();

export interface ExecuteOptions {
  /** The parse cache; a process-wide one by default. */
  cache?: StatementCache;
  /**
   * Ion binary sizes of the parameters when the caller already has them
   * (the session API receives parameters as Ion binary); measured otherwise.
   * `null` marks a parameter that the caller checked against the limit of
   * the form it arrived in, such as Ion text.
   */
  parameterSizes?: ReadonlyArray<number | null | undefined>;
}

/** Only text, lobs and containers can exceed the parameter limit; numbers and times cannot. */
function mayBeLarge(value: dom.Value): boolean {
  switch (value.getType()) {
    case IonTypes.STRING:
    case IonTypes.SYMBOL:
    case IonTypes.BLOB:
    case IonTypes.CLOB:
    case IonTypes.LIST:
    case IonTypes.SEXP:
    case IonTypes.STRUCT:
      return !value.isNull();
    default:
      return value.getAnnotations().length > 0;
  }
}

/**
 * Run one PartiQL statement in a transaction, recording it (with its
 * parameters) in the transaction's journal entry and commit digest.
 *
 * A statement that fails before changing anything leaves the transaction
 * usable. One that fails after some of its writes aborts the transaction,
 * so a statement never lands half-applied.
 *
 * ```ts
 * const tx = ledger.begin();
 * await executeStatement(tx, 'INSERT INTO Test ?', [dom.Value.from({ id: 1 })]);
 * const { values } = await executeStatement(tx, 'SELECT * FROM Test WHERE id = ?', [dom.Value.from(1)]);
 * await tx.commit();
 * ```
 */
export async function executeStatement(
  tx: Transaction,
  text: string,
  parameters: readonly dom.Value[] = [],
  options: ExecuteOptions = {},
): Promise<StatementResult> {
  const parsed = (options.cache ?? sharedCache).get(text);
  if (parameters.length !== parsed.parameterCount) {
    throw new PartiqlError(
      `The statement has ${parsed.parameterCount} parameter${parsed.parameterCount === 1 ? '' : 's'} (?), but ${parameters.length} value${parameters.length === 1 ? ' was' : 's were'} given`,
      undefined,
    );
  }
  parameters.forEach((parameter, i) => {
    if (!((parameter as unknown) instanceof dom.Value)) {
      throw new PartiqlError(
        isForeignIonValue(parameter)
          ? `Parameter ${i + 1} ${FOREIGN_ION_VALUE}, such as ion.dom.Value.from(value)`
          : `Parameter ${i + 1} is ${describeJsValue(parameter)}, not an Ion value: wrap it, such as ion.dom.Value.from(value) with \`import { ion } from 'vellum'\``,
        undefined,
      );
    }
    const known = options.parameterSizes?.[i];
    if (known === null) return;
    if (known === undefined && !mayBeLarge(parameter)) return;
    const size = known ?? parameterSize(parameter);
    if (size > MAX_PARAMETER_BYTES) {
      throw new QuotaExceededError(
        `Parameter ${i + 1} is ${size} bytes of Ion binary, more than the limit of ${MAX_PARAMETER_BYTES}`,
      );
    }
  });
  tx.recordStatement(text, parameters);
  const runner = new StatementRunner(tx, parameters);
  try {
    return await runner.run(parsed.statement);
  } catch (error) {
    if (runner.wrote) tx.abort();
    throw error;
  }
}
