import { dom, dumpText, IonTypes } from 'ion-js';
import { LedgerError } from '../errors.js';
import { encodeIonBinary } from '../ion/ion-binary.js';
import { revisionToIon } from '../ledger/ledger.js';
import { Revision } from '../ledger/revision.js';
import type { Transaction } from '../ledger/transaction.js';
import type {
  Expr,
  FromClause,
  FromSource,
  PathStep,
  SelectStatement,
  Statement,
  TableTarget,
  UpdateOp,
} from './ast.js';
import { PartiqlError, PartiqlSemanticError } from './errors.js';
import {
  Scope,
  evaluate,
  findFieldName,
  getField,
  hasAggregate,
  rowReferenceOutsideAggregates,
  holds,
  type EvalContext,
} from './evaluate.js';
import type { Position } from './lexer.js';
import { planAccess, type AccessPlan, type PlanKey } from './plan.js';
import {
  MISSING,
  integer,
  isAbsent,
  isNumber,
  describeValue,
  isStruct,
  isText,
  orderValues,
  toNumber,
  typeOf,
  valueKey,
  type Value,
  allFields,
  structOf,
} from './values.js';

/** QLDB's limit on one statement parameter, as Ion binary. */
export const MAX_PARAMETER_BYTES = 128 * 1024;

/**
 * The values one statement returned, and its cost. Documents returned whole
 * stay in their stored Ion binary until `values` is read, so a caller that
 * only forwards Ion binary (the session API) never decodes them.
 */
export class StatementResult {
  readonly #items: ReadonlyArray<dom.Value | Revision>;
  #values: dom.Value[] | undefined;

  constructor(
    items: ReadonlyArray<dom.Value | Revision>,
    /** Documents read from storage, as QLDB counts `ReadIOs`. */
    readonly readIOs: number,
    /** Documents written. */
    readonly writeIOs: number,
    /** The access plan of each table source, for tests and diagnostics. */
    readonly plans: readonly AccessPlan[],
  ) {
    this.#items = items;
  }

  /** How many values the statement returned. */
  get count(): number {
    return this.#items.length;
  }

  get values(): dom.Value[] {
    this.#values ??= this.#items.map((item) => (item instanceof Revision ? item.data! : item));
    return this.#values;
  }

  /** Return each value as a complete Ion binary stream. */
  ionBinaries(): Uint8Array[] {
    return this.#items.map((item) =>
      item instanceof Revision ? item.dataBinary! : encodeIonBinary(item),
    );
  }
}

/** A row being built by a FROM clause: the variables bound so far and the source values. */
interface Row {
  names: string[];
  values: Value[];
  implicit: Value[];
}

/** The table a FROM source reads, when it reads one. */
type TableSource =
  | { kind: 'user'; table: string; committed: boolean }
  | { kind: 'catalog' }
  | { kind: 'history'; table: string; start?: Expr; end?: Expr };

function fail(at: Position, message: string): never {
  throw new PartiqlSemanticError(message, at);
}

/**
 * Runs parsed statements inside one engine transaction. Writes go through
 * the transaction, so nothing reaches the journal until it commits.
 */
export class StatementRunner {
  readonly #tx: Transaction;
  #readIOs = 0;
  #writeIOs = 0;
  readonly #plans: AccessPlan[] = [];
  readonly #context: EvalContext;

  constructor(tx: Transaction, parameters: readonly dom.Value[]) {
    this.#tx = tx;
    this.#context = {
      parameters,
      subquery: (query, scope) => this.#selectSync(query, scope),
    };
  }

  /** True once the statement has written something to the transaction. */
  get wrote(): boolean {
    return this.#writeIOs > 0;
  }

  async run(statement: Statement): Promise<StatementResult> {
    const values = await this.#dispatch(statement);
    return new StatementResult(values, this.#readIOs, this.#writeIOs, this.#plans);
  }

  async #dispatch(statement: Statement): Promise<Array<dom.Value | Revision>> {
    const tx = this.#tx;
    switch (statement.kind) {
      case 'select': {
        const documents = await this.#wholeDocuments(statement);
        if (documents !== undefined) return documents;
        return (await this.#select(statement, Scope.EMPTY)).filter(
          (value): value is dom.Value => value !== MISSING,
        );
      }
      case 'createTable':
        if (statement.tags !== undefined) {
          fail(
            statement.at,
            'Table tags (WITH (aws_tags = ...)) are not supported; create the table without them',
          );
        }
        return [
          tableIdResult(this.#engineCall(statement.at, () => tx.createTable(statement.table))),
        ];
      case 'dropTable':
        return [tableIdResult(this.#engineCall(statement.at, () => tx.dropTable(statement.table)))];
      case 'undropTable':
        return [
          tableIdResult(this.#engineCall(statement.at, () => tx.undropTable(statement.tableId))),
        ];
      case 'dropIndex':
        return [
          tableIdResult(
            this.#engineCall(statement.at, () => tx.dropIndex(statement.table, statement.indexId)),
          ),
        ];
      case 'createIndex': {
        const table = this.#requireTable(statement.table, statement.at);
        await this.#engineCallAsync(statement.at, () =>
          tx.createIndex(statement.table, statement.field, { unique: statement.unique }),
        );
        return [tableIdResult(table)];
      }
      case 'insert':
        return this.#insert(statement);
      case 'update':
      case 'delete':
        return this.#modify(statement);
      case 'exec':
        return [await this.#exec(statement)];
    }
  }

  /** Run `EXEC redact_revision <block address>, '<table id>', '<document id>'`. */
  async #exec(statement: Extract<Statement, { kind: 'exec' }>): Promise<dom.Value> {
    if (statement.procedure.toLowerCase() !== 'redact_revision') {
      fail(
        statement.at,
        `Unknown stored procedure ${statement.procedure}; the one stored procedure is redact_revision`,
      );
    }
    const [addressArg, tableArg, documentArg] = statement.args;
    if (statement.args.length !== 3) {
      fail(
        statement.args[3]?.at ?? statement.at,
        `redact_revision takes 3 arguments, got ${statement.args.length}: the block address of ` +
          'the revision, its table id and its document id, as in EXEC redact_revision ' +
          "`{strandId: \"<strandId>\", sequenceNo: 12}`, '<tableId>', '<documentId>'",
      );
    }
    const address = evaluate(addressArg!, Scope.EMPTY, this.#context);
    const struct = isStruct(address) ? (address as dom.Value) : undefined;
    const strandId = struct?.get('strandId');
    const sequenceNo = struct?.get('sequenceNo');
    if (
      strandId?.getType() !== IonTypes.STRING ||
      strandId.isNull() ||
      sequenceNo?.getType() !== IonTypes.INT ||
      sequenceNo.isNull()
    ) {
      fail(
        addressArg!.at,
        `The first argument of redact_revision must be a block address, a struct such as ` +
          `{strandId: "<strandId>", sequenceNo: 12}; got ${typeOf(address)}`,
      );
    }
    // Ion allows repeated field names, but an address with either field twice names no single block.
    for (const [field, values] of struct!.allFields()) {
      if (values.length > 1 && (field === 'strandId' || field === 'sequenceNo')) {
        fail(
          addressArg!.at,
          `The block address of redact_revision has ${field} ${values.length} times; give strandId and sequenceNo once each`,
        );
      }
    }
    const sequence = sequenceNo.bigIntValue()!;
    if (sequence < 0n || sequence > BigInt(Number.MAX_SAFE_INTEGER)) {
      fail(
        addressArg!.at,
        `The sequenceNo of a block address is a block's position in the journal, got ${sequence}`,
      );
    }
    const text = (expr: Expr, what: string): string => {
      const value = evaluate(expr, Scope.EMPTY, this.#context);
      if (value === MISSING || value.getType() !== IonTypes.STRING) {
        fail(
          expr.at,
          `The ${what} argument of redact_revision must be a string, got ${typeOf(value)}`,
        );
      }
      return value.stringValue()!;
    };
    const tableId = text(tableArg!, 'table id');
    const documentId = text(documentArg!, 'document id');
    const blockAddress = {
      strandId: strandId.stringValue()!,
      sequenceNo: Number(sequence),
    };
    const info = await this.#engineCallAsync(statement.at, () =>
      this.#tx.redactRevision(blockAddress, tableId, documentId),
    );
    this.#writeIOs += 1;
    return dom.Value.from({
      blockAddress: info.blockAddress,
      tableId: info.tableId,
      documentId: info.documentId,
      version: info.version,
    });
  }

  #requireTable(name: string, at: Position): string {
    const table = this.#tx.findTable(name);
    if (table === undefined) {
      if (name.startsWith('_ql_committed_')) {
        fail(
          at,
          `${name} is the committed view of a table, which is read-only; write to the table`,
        );
      }
      fail(at, `No active table named '${name}'${this.#droppedHint(name)}`);
    }
    return table.tableId;
  }

  /** Say how to restore a table of this name that was dropped, if there is one. */
  #droppedHint(name: string): string {
    const dropped = this.#tx
      .tables()
      .find((table) => table.name === name && table.status === 'INACTIVE');
    return dropped === undefined
      ? ''
      : `; it was dropped, and UNDROP TABLE "${dropped.tableId}" restores it`;
  }

  /** Run an engine call, adding the statement position to the engine's message. */
  #engineCall<T>(at: Position, body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw withPosition(error, at);
    }
  }

  async #engineCallAsync<T>(at: Position, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw withPosition(error, at);
    }
  }

  // INSERT.

  async #insert(statement: Extract<Statement, { kind: 'insert' }>): Promise<dom.Value[]> {
    this.#requireTable(statement.table, statement.at);
    const value = evaluate(statement.value, Scope.EMPTY, this.#context);
    let documents: dom.Value[];
    if (statement.single || isStruct(value)) documents = [value as dom.Value];
    else if (value !== MISSING && !value.isNull() && value.getType() === IonTypes.LIST) {
      documents = value.elements();
    } else documents = [value as dom.Value];
    for (const document of documents) {
      if (!isStruct(document)) {
        fail(
          statement.value.at,
          `INSERT INTO ${statement.table} takes a struct, or a bag or list of structs; got ${typeOf(document)}`,
        );
      }
    }
    const results: dom.Value[] = [];
    for (const document of documents) {
      const id = await this.#engineCallAsync(statement.at, () =>
        this.#tx.insert(statement.table, document),
      );
      this.#writeIOs++;
      results.push(documentIdResult(id));
    }
    return results;
  }

  // UPDATE, FROM ... SET/REMOVE/INSERT and DELETE.

  async #modify(
    statement: Extract<Statement, { kind: 'update' | 'delete' }>,
  ): Promise<dom.Value[]> {
    if (statement.kind === 'update' && statement.nested !== undefined) {
      return this.#modifyNested(statement, statement.nested);
    }
    const { target } = statement;
    const alias = target.alias ?? target.table;
    const results: dom.Value[] = [];
    for (const { row, docId } of await this.#targetRows(target, [], statement.where)) {
      // REMOVE of the alias itself removes the whole document, as DELETE does.
      const removesDocument =
        statement.kind === 'update' &&
        statement.ops.some(
          (op) => op.kind === 'remove' && targetSteps(op.target, alias).length === 0,
        );
      if (statement.kind === 'delete' || removesDocument) {
        await this.#engineCallAsync(statement.at, () => this.#tx.delete(target.table, docId));
      } else {
        let document = row.values[0] as dom.Value;
        for (const op of statement.ops) {
          const opScope = new Scope(
            [alias, ...row.names.slice(1)],
            [document, ...row.values.slice(1)],
            [document],
          );
          document = this.#applyOp(document, op, alias, opScope);
        }
        await this.#engineCallAsync(statement.at, () =>
          this.#tx.update(target.table, docId, document),
        );
      }
      this.#writeIOs++;
      results.push(documentIdResult(docId));
    }
    return results;
  }

  /**
   * Read the rows of a DML statement's table, joined with its nested
   * sources, that meet the condition, each with its document id.
   */
  async #targetRows(
    target: TableTarget,
    nested: readonly FromSource[],
    where: Expr | undefined,
  ): Promise<Array<{ row: Row; docId: string }>> {
    this.#requireTable(target.table, target.at);
    const table: FromSource = {
      expr: { kind: 'name', name: target.table, quoted: true, at: target.at },
      alias: target.alias ?? target.table,
      byAlias: target.byAlias,
      at: target.at,
    };
    const clause: FromClause = { sources: [table, ...nested], conditions: [] };
    const matching: Array<{ row: Row; docId: string }> = [];
    for (const row of await this.#fromRows(clause, where, Scope.EMPTY)) {
      const scope = new Scope(row.names, row.values, row.implicit);
      if (where !== undefined && !holds(where, scope, this.#context)) continue;
      const docId = (row.values[row.names.indexOf(BY_ID)] as dom.Value).stringValue()!;
      matching.push({ row, docId });
    }
    return matching;
  }

  /**
   * Run a FROM update over nested collections, such as `FROM t AS a,
   * a.items AS i WHERE ... REMOVE i`. Each matching row changes its document
   * at the path its nested aliases are bound to, and a document is written
   * once, however many rows match it.
   */
  async #modifyNested(
    statement: Extract<Statement, { kind: 'update' }>,
    nested: readonly FromSource[],
  ): Promise<dom.Value[]> {
    const { target } = statement;
    const alias = target.alias ?? target.table;
    const paths = nestedPaths(alias, nested);
    const sources = paths.map((path) => path.source);
    const byDocument = new Map<string, Row[]>();
    for (const { row, docId } of await this.#targetRows(target, sources, statement.where)) {
      const rows = byDocument.get(docId) ?? [];
      rows.push(row);
      byDocument.set(docId, rows);
    }
    const results: dom.Value[] = [];
    for (const [docId, rows] of byDocument) {
      const written = this.#applyNested(rows, statement.ops, alias, paths);
      await this.#engineCallAsync(statement.at, () =>
        this.#tx.update(target.table, docId, written),
      );
      this.#writeIOs++;
      results.push(documentIdResult(docId));
    }
    return results;
  }

  /**
   * Apply the operations of a nested FROM update to one document, once per
   * distinct change. Rows that name the same element change it once, with
   * values read from the first such row as it was before the statement. An
   * INSERT INTO adds each distinct value once.
   * SET and INSERT INTO go first, in row order; REMOVE goes last, deepest
   * and highest position first, so each removal leaves the others' paths.
   */
  #applyNested(
    rows: readonly Row[],
    ops: readonly UpdateOp[],
    alias: string,
    paths: readonly NestedPath[],
  ): dom.Value {
    const changes: Array<{ op: UpdateOp; steps: PathStep[]; scope: Scope; path: ResolvedStep[] }> =
      [];
    const seen = new Set<string>();
    for (const row of rows) {
      const steps = nestedSteps(paths, positionsOf(row, paths));
      const scope = new Scope(row.names, row.values, row.implicit);
      ops.forEach((op, index) => {
        const base = op.target.kind === 'path' ? op.target.base : op.target;
        const nested = base.kind === 'name' ? findNested(paths, base.name, base.quoted) : undefined;
        const rest = op.target.kind === 'path' ? op.target.steps : [];
        const target =
          nested === undefined ? targetSteps(op.target, alias) : [...steps.get(nested)!, ...rest];
        const path = resolveSteps(target, scope, this.#context, op.target.at);
        const where = path.map((step) =>
          step.kind === 'field' ? `.${step.name}` : `[${step.index}]`,
        );
        // A SET takes its first row's value, and an INSERT INTO inserts each distinct value.
        let key = `${index} ${where.join('')}`;
        if (op.kind === 'remove') key = `remove ${where.join('')}`;
        if (op.kind === 'insertInto') {
          for (const part of [op.value, op.key]) {
            const evaluated = part === undefined ? MISSING : evaluate(part, scope, this.#context);
            key += ` ${evaluated === MISSING ? '' : dumpText(evaluated)}`;
          }
        }
        if (seen.has(key)) return;
        seen.add(key);
        changes.push({ op, steps: target, scope, path });
      });
    }
    let document = rows[0]!.values[0] as dom.Value;
    for (const change of changes) {
      if (change.op.kind === 'remove') continue;
      document = this.#applyOp(document, change.op, alias, change.scope, change.steps);
    }
    const removals = changes.filter((change) => change.op.kind === 'remove');
    removals.sort((a, b) => compareResolved(b.path, a.path));
    for (const removal of removals) {
      document = this.#applyOp(document, removal.op, alias, removal.scope, removal.steps);
    }
    return document;
  }

  #applyOp(
    document: dom.Value,
    op: UpdateOp,
    alias: string,
    scope: Scope,
    resolved?: PathStep[],
  ): dom.Value {
    const steps = resolved ?? targetSteps(op.target, alias);
    // INSERT INTO the alias adds a top-level field (AT 'name'); SET needs a field to assign.
    if (steps.length === 0 && op.kind === 'set') {
      fail(op.target.at, 'SET must name a field of the document, as in SET t.field = value');
    }
    switch (op.kind) {
      case 'set': {
        const value = evaluate(op.value, scope, this.#context);
        if (value === MISSING) return removeAt(document, steps, scope, this.#context, op.target.at);
        return setAt(document, steps, value, scope, this.#context, op.target.at);
      }
      case 'remove':
        return removeAt(document, steps, scope, this.#context, op.target.at);
      case 'insertInto': {
        const value = evaluate(op.value, scope, this.#context);
        if (value === MISSING) fail(op.value.at, 'INSERT INTO needs a value, got MISSING');
        const key = op.key === undefined ? undefined : evaluate(op.key, scope, this.#context);
        return insertAt(document, steps, value, key, scope, this.#context, op.target.at);
      }
    }
  }

  // SELECT.

  /**
   * `SELECT * FROM t WHERE <indexed field or id> = <value>` and its `IN`
   * form return the matching documents as stored, with nothing left to
   * evaluate: a match in the index is a match of `=`, since equal Ion values
   * are equal PartiQL values. Returns undefined for any other query.
   */
  async #wholeDocuments(query: SelectStatement): Promise<Revision[] | undefined> {
    const from = query.from;
    if (
      from === undefined ||
      from.sources.length !== 1 ||
      from.conditions.length > 0 ||
      query.where === undefined ||
      query.projection.kind !== 'star' ||
      query.distinct ||
      query.orderBy !== undefined ||
      query.limit !== undefined ||
      query.offset !== undefined
    ) {
      return undefined;
    }
    const source = from.sources[0]!;
    const table = source.unpivot ? undefined : tableSourceOf(source.expr, Scope.EMPTY);
    if (table?.kind !== 'user' || table.committed) return undefined;
    const definition = this.#tx.findTable(table.table);
    if (definition === undefined) return undefined;
    const indexes = this.#tx.indexes(definition.tableId);
    // The plan depends only on the statement and the table's indexes, so it
    // is kept with the parsed statement until the indexes change.
    let cached = wholeDocumentPlans.get(query);
    if (
      cached === undefined ||
      cached.tableId !== definition.tableId ||
      cached.indexes !== indexes
    ) {
      const planned = planAccess({
        table: table.table,
        alias: source.alias ?? defaultAlias(source.expr),
        byAlias: source.byAlias,
        committed: false,
        single: true,
        indexedFields: indexes.map((index) => index.field),
        conditions: [query.where],
        scope: Scope.EMPTY,
      });
      const usable =
        (planned.kind === 'index' || planned.kind === 'documentId') &&
        planned.consumed === query.where;
      cached = { tableId: definition.tableId, indexes, plan: usable ? planned : undefined };
      wholeDocumentPlans.set(query, cached);
    }
    const plan = cached.plan;
    if (plan === undefined) return undefined;
    const keys = this.#planKeys(plan.keys, Scope.EMPTY);
    // NaN is the one Ion value that is not equal to itself.
    if (keys.some((key) => key.getType() === IonTypes.FLOAT && Number.isNaN(key.numberValue()))) {
      return undefined;
    }
    this.#plans.push(plan);
    const revisions = await this.#readPlanned(plan, keys, table.table, source.at);
    this.#readIOs += revisions.length;
    return revisions;
  }

  async #readPlanned(
    plan: Extract<AccessPlan, { kind: 'index' | 'documentId' }>,
    keys: dom.Value[],
    table: string,
    at: Position,
  ): Promise<Revision[]> {
    const tx = this.#tx;
    if (keys.length === 1 && plan.kind === 'index') {
      return this.#engineCallAsync(at, () => tx.lookup(table, plan.field, keys[0]!));
    }
    const revisions: Revision[] = [];
    const seen = new Set<string>();
    for (const key of keys) {
      let found: Revision[];
      if (plan.kind === 'documentId') {
        if (!isText(key)) continue;
        const revision = await tx.get(table, key.stringValue()!);
        found = revision === undefined ? [] : [revision];
      } else {
        found = await this.#engineCallAsync(at, () => tx.lookup(table, plan.field, key));
      }
      for (const revision of found) {
        if (seen.has(revision.id)) continue;
        seen.add(revision.id);
        revisions.push(revision);
      }
    }
    return revisions;
  }

  async #select(query: SelectStatement, outer: Scope): Promise<Value[]> {
    const rows =
      query.from === undefined
        ? [{ names: [], values: [], implicit: [] }]
        : await this.#fromRows(query.from, query.where, outer);
    return this.#finishSelect(query, rows, outer);
  }

  /** A subquery in an expression: its FROM sources must be values, not tables. */
  #selectSync(query: SelectStatement, outer: Scope): Value[] {
    let rows: Row[] = [{ names: [], values: [], implicit: [] }];
    for (const source of query.from?.sources ?? []) {
      const next: Row[] = [];
      for (const row of rows) {
        const scope = new Scope(row.names, row.values, row.implicit, outer);
        if (!source.unpivot && tableSourceOf(source.expr, scope) !== undefined) {
          fail(source.at, 'A subquery can range over values such as lists, not over tables');
        }
        for (const item of sourceItems(source, scope, this.#context)) {
          next.push(bindItem(row, source, item.value, item.at));
        }
      }
      rows = next;
    }
    return this.#finishSelect(query, rows, outer);
  }

  #finishSelect(query: SelectStatement, rows: Row[], outer: Scope): Value[] {
    const conditions = [...(query.from?.conditions ?? [])];
    if (query.where !== undefined) conditions.push(query.where);
    const scopes: Scope[] = [];
    for (const row of rows) {
      const scope = new Scope(row.names, row.values, row.implicit, outer);
      if (conditions.every((condition) => holds(condition, scope, this.#context)))
        scopes.push(scope);
    }

    const aggregated = projectionHasAggregate(query);
    let results: Array<{ value: Value; scope: Scope }>;
    if (aggregated) {
      const context: EvalContext = { ...this.#context, group: scopes };
      const scope = scopes[0] ?? outer;
      results = [{ value: this.#project(query, scope, context), scope }];
    } else {
      results = scopes.map((scope) => ({
        value: this.#project(query, scope, this.#context),
        scope,
      }));
    }

    if (query.distinct) {
      const seen = new Set<string>();
      results = results.filter(({ value }) => {
        const key = valueKey(value);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    }
    if (query.orderBy !== undefined && !aggregated) {
      const order = query.orderBy;
      const keyed = results.map((result) => {
        // ORDER BY reads the row's variables and, after them, the projected fields.
        const scope = new Scope([], [], [result.value], result.scope);
        return { result, keys: order.map((item) => evaluate(item.expr, scope, this.#context)) };
      });
      keyed.sort((a, b) => {
        for (let i = 0; i < order.length; i++) {
          const item = order[i]!;
          const x = a.keys[i]!;
          const y = b.keys[i]!;
          const absentX = isAbsent(x);
          const absentY = isAbsent(y);
          if (absentX || absentY) {
            if (absentX && absentY) continue;
            // NULLs sort first ascending and last descending unless NULLS FIRST or NULLS LAST is given.
            const nullsFirst = item.nullsFirst ?? !item.descending;
            return absentX === nullsFirst ? -1 : 1;
          }
          const compared = orderValues(x, y);
          if (compared !== 0) return item.descending ? -compared : compared;
        }
        return 0;
      });
      results = keyed.map(({ result }) => result);
    }
    const offset = query.offset === undefined ? 0 : this.#count(query.offset, 'OFFSET', outer);
    const limit = query.limit === undefined ? Infinity : this.#count(query.limit, 'LIMIT', outer);
    if (offset > 0 || limit !== Infinity) results = results.slice(offset, offset + limit);
    return results.map(({ value }) => value);
  }

  #count(expr: Expr, clause: string, scope: Scope): number {
    const value = evaluate(expr, scope, this.#context);
    if (
      value === MISSING ||
      value.isNull() ||
      value.getType() !== IonTypes.INT ||
      toNumber(value) < 0
    ) {
      fail(expr.at, `${clause} takes a non-negative integer, got ${typeOf(value)}`);
    }
    return toNumber(value);
  }

  #project(query: SelectStatement, scope: Scope, context: EvalContext): Value {
    const { projection } = query;
    switch (projection.kind) {
      case 'value':
        return evaluate(projection.expr, scope, context);
      case 'star': {
        const values = scope.implicit;
        if (values.length === 1 && isStruct(values[0]!)) return values[0]!;
        const fields: Array<[string, dom.Value]> = [];
        values.forEach((value, i) => {
          if (isStruct(value)) fields.push(...allFields(value as dom.Value));
          else if (value !== MISSING) fields.push([`_${i + 1}`, value]);
        });
        return structOf(fields);
      }
      case 'items': {
        const fields: Array<[string, dom.Value]> = [];
        projection.items.forEach((item, i) => {
          const value = evaluate(item.expr, scope, context);
          if (item.kind === 'all') {
            if (isStruct(value)) fields.push(...allFields(value as dom.Value));
            return;
          }
          if (value === MISSING) return;
          fields.push([item.alias ?? impliedName(item.expr, i), value]);
        });
        return structOf(fields);
      }
    }
  }

  // FROM.

  /**
   * Bind the FROM sources left to right (nested loops). Each table source is
   * read through an index or by document id when a condition allows it,
   * else scanned.
   */
  async #fromRows(clause: FromClause, where: Expr | undefined, outer: Scope): Promise<Row[]> {
    const conditions = [...clause.conditions];
    if (where !== undefined) conditions.push(where);
    let rows: Row[] = [{ names: [], values: [], implicit: [] }];
    const single = clause.sources.length === 1;
    for (const source of clause.sources) {
      const next: Row[] = [];
      for (const row of rows) {
        const scope = new Scope(row.names, row.values, row.implicit, outer);
        const table = source.unpivot ? undefined : tableSourceOf(source.expr, scope);
        if (table === undefined) {
          for (const item of sourceItems(source, scope, this.#context)) {
            next.push(bindItem(row, source, item.value, item.at));
          }
          continue;
        }
        for (const item of await this.#tableItems(table, source, scope, conditions, single)) {
          next.push(bindItem(row, source, item.value, undefined, item.docId));
        }
      }
      rows = next;
    }
    return rows;
  }

  async #tableItems(
    table: TableSource,
    source: FromSource,
    scope: Scope,
    conditions: readonly Expr[],
    single: boolean,
  ): Promise<Array<{ value: Value; docId?: string }>> {
    const tx = this.#tx;
    if (table.kind === 'catalog') {
      return this.#engineCall(source.at, () => tx.tables()).map((definition) => ({
        value: new dom.Struct([
          ['name', new dom.String(definition.name)],
          ['tableId', new dom.String(definition.tableId)],
          ['status', new dom.String(definition.status)],
          [
            'indexes',
            new dom.List(
              tx.indexes(definition.tableId).map(
                (index) =>
                  new dom.Struct([
                    ['indexId', new dom.String(index.indexId)],
                    ['expr', new dom.String(`[${index.field}]`)],
                    ['status', new dom.String('ONLINE')],
                  ]),
              ),
            ),
          ],
        ]),
      }));
    }
    if (table.kind === 'history') {
      const startBound = this.#historyBound(table.start, scope, 'start');
      const endBound = this.#historyBound(table.end, scope, 'end');
      const start = startBound?.millis;
      const end = endBound?.millis;
      const now = Date.now();
      if (endBound !== undefined && endBound.millis > now) {
        fail(
          table.end!.at,
          `The end time of history() must not be in the future, got ${endBound.text}`,
        );
      }
      // Without an end time the window ends now, so a start in the future is after it too.
      if (startBound !== undefined && startBound.millis > (endBound?.millis ?? now)) {
        fail(
          table.start!.at,
          endBound === undefined
            ? `The start time of history() must not be in the future, got ${startBound.text}`
            : `The start time of history() ${startBound.text} is after its end time ${endBound.text}`,
        );
      }
      const revisions = await this.#engineCallAsync(source.at, () =>
        tx.history(table.table, start, end),
      );
      this.#readIOs += revisions.length;
      this.#plans.push({ table: table.table, kind: 'history' });
      return revisions.map((revision) => ({ value: revisionToIon(revision), docId: revision.id }));
    }

    const definition = tx.findTable(table.table);
    if (definition === undefined) {
      fail(
        source.at,
        `No such variable or table named '${table.table}'${this.#droppedHint(table.table)}`,
      );
    }
    const alias = source.alias ?? defaultAlias(source.expr);
    const plan = planAccess({
      table: table.table,
      alias,
      byAlias: source.byAlias,
      committed: table.committed,
      single,
      indexedFields: tx.indexes(definition.tableId).map((index) => index.field),
      conditions,
      scope,
    });
    this.#plans.push(plan);
    const revisions =
      plan.kind === 'scan' || plan.kind === 'history'
        ? await this.#engineCallAsync(source.at, () => tx.scan(table.table))
        : await this.#readPlanned(plan, this.#planKeys(plan.keys, scope), table.table, source.at);
    this.#readIOs += revisions.length;
    if (table.committed) {
      return revisions
        .filter((revision) => revision.committed)
        .map((revision) => ({ value: revisionToIon(revision), docId: revision.id }));
    }
    return revisions.map((revision) => ({ value: revision.data ?? MISSING, docId: revision.id }));
  }

  /** The distinct, non-absent values that an index or id plan looks up. */
  #planKeys(keys: readonly PlanKey[], scope: Scope): dom.Value[] {
    const values: dom.Value[] = [];
    for (const key of keys) {
      const value = evaluate(key.expr, scope, this.#context);
      if (value === MISSING || value.isNull()) continue;
      const type = value.getType();
      if (key.spread && (type === IonTypes.LIST || type === IonTypes.SEXP)) {
        for (const item of value.elements()) if (!item.isNull()) values.push(item);
      } else values.push(value);
    }
    if (values.length === 1) return values;
    const seen = new Set<string>();
    return values.filter((value) => {
      const key = valueKey(value) + value.getType().name;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  #historyBound(
    expr: Expr | undefined,
    scope: Scope,
    what: string,
  ): { millis: number; text: string } | undefined {
    if (expr === undefined) return undefined;
    const value = evaluate(expr, scope, this.#context);
    if (value === MISSING || value.isNull() || value.getType() !== IonTypes.TIMESTAMP) {
      fail(
        expr.at,
        `The ${what} time of history() must be an Ion timestamp such as \`2024-01-02T\`, got ${describeValue(value)}`,
      );
    }
    const timestamp = value.timestampValue()!;
    return { millis: timestamp.getDate().getTime(), text: timestamp.toString() };
  }
}

/** Plans of whole-document selects, by parsed statement; see `#wholeDocuments`. */
const wholeDocumentPlans = new WeakMap<
  SelectStatement,
  {
    tableId: string;
    indexes: readonly unknown[];
    plan: Extract<AccessPlan, { kind: 'index' | 'documentId' }> | undefined;
  }
>();

/** The variable name under which a table row carries its document id. */
const BY_ID = '\u0000id';

function bindItem(
  row: Row,
  source: FromSource,
  value: Value,
  at: Value | undefined,
  docId?: string,
): Row {
  const names = [...row.names];
  const values = [...row.values];
  const alias = source.alias ?? defaultAlias(source.expr);
  if (alias !== undefined) {
    names.push(alias);
    values.push(value);
  }
  if (source.atAlias !== undefined) {
    names.push(source.atAlias);
    values.push(at ?? MISSING);
  }
  if (docId !== undefined) {
    if (source.byAlias !== undefined) {
      names.push(source.byAlias);
      values.push(new dom.String(docId));
    }
    names.push(BY_ID);
    values.push(new dom.String(docId));
  } else if (source.byAlias !== undefined) {
    names.push(source.byAlias);
    values.push(MISSING);
  }
  // The internal id binding goes first for DML, which reads it by name.
  return { names, values, implicit: [...row.implicit, value] };
}

function defaultAlias(expr: Expr): string | undefined {
  if (expr.kind === 'name') return expr.name;
  if (expr.kind === 'path') {
    const last = expr.steps.at(-1);
    return last?.kind === 'field' ? last.name : undefined;
  }
  return undefined;
}

/** Return the items a value source binds: the elements of a collection, or the fields of an UNPIVOT. */
function sourceItems(
  source: FromSource,
  scope: Scope,
  context: EvalContext,
): Array<{ value: Value; at?: Value }> {
  if (!source.unpivot) return valueItems(evaluate(source.expr, scope, context));
  // A name that is not a variable of the query would be read as a table.
  if (tableSourceOf(source.expr, scope) !== undefined) {
    const example = source.expr.kind === 'name' ? source.expr.name : 'T';
    fail(
      source.at,
      `UNPIVOT ranges over the fields of a struct, not over a table; for the fields of each document, write FROM ${example} AS d, UNPIVOT d AS v AT k`,
    );
  }
  return unpivotItems(evaluate(source.expr, scope, context));
}

/**
 * Return the fields of a struct as UNPIVOT binds them, each value with its
 * name as the AT variable. PartiQL reads any other value as a struct with
 * the one field `_1`, and missing as no fields.
 */
function unpivotItems(value: Value): Array<{ value: Value; at?: Value }> {
  if (value === MISSING) return [];
  if (!isStruct(value)) return [{ value, at: new dom.String('_1') }];
  return allFields(value as dom.Value).map(([name, item]) => ({
    value: item,
    at: new dom.String(name),
  }));
}

function valueItems(value: Value): Array<{ value: Value; at?: Value }> {
  if (value === MISSING || value.isNull()) return [];
  const type = value.getType();
  if (type === IonTypes.LIST || type === IonTypes.SEXP) {
    return value.elements().map((item, i) => ({ value: item, at: integer(i) }));
  }
  return [{ value }];
}

function tableSourceOf(expr: Expr, scope: Scope): TableSource | undefined {
  if (expr.kind === 'name') {
    if (scope.has(expr.name, expr.quoted)) return undefined;
    if (expr.name.startsWith('_ql_committed_')) {
      return { kind: 'user', table: expr.name.slice('_ql_committed_'.length), committed: true };
    }
    return { kind: 'user', table: expr.name, committed: false };
  }
  if (
    expr.kind === 'path' &&
    expr.base.kind === 'name' &&
    expr.base.name.toLowerCase() === 'information_schema' &&
    !scope.has(expr.base.name, expr.base.quoted)
  ) {
    const step = expr.steps[0];
    if (
      expr.steps.length === 1 &&
      step?.kind === 'field' &&
      step.name.toLowerCase() === 'user_tables'
    ) {
      return { kind: 'catalog' };
    }
    fail(expr.at, 'information_schema has one view: information_schema.user_tables');
  }
  if (expr.kind === 'call' && expr.name === 'HISTORY') {
    const [table, start, end] = expr.args;
    if (table === undefined || expr.args.length > 3) {
      fail(expr.at, 'history() takes a table name or id, then an optional start and end time');
    }
    let name: string;
    if (table.kind === 'name') name = table.name;
    else if (table.kind === 'literal' && isText(table.value)) name = table.value.stringValue()!;
    else return fail(table.at, 'history() takes a table name or a table id in single quotes');
    return { kind: 'history', table: name, start, end };
  }
  return undefined;
}

/**
 * Return true when the SELECT list aggregates. Without GROUP BY, such a list
 * may read the rows only through aggregates, because a name read outside
 * them has no single row to come from; QLDB rejects it too.
 */
function projectionHasAggregate(query: SelectStatement): boolean {
  const { projection } = query;
  const exprs =
    projection.kind === 'value'
      ? [projection.expr]
      : projection.kind === 'items'
        ? projection.items.map((item) => item.expr)
        : [];
  if (!exprs.some(hasAggregate)) return false;
  for (const expr of exprs) {
    const outside = rowReferenceOutsideAggregates(expr);
    if (outside !== undefined) {
      fail(
        outside.at,
        `${nameOf(outside)} is read outside an aggregate in a SELECT list with aggregates; ` +
          'there is no GROUP BY, so use it inside an aggregate such as MAX, or query it separately',
      );
    }
  }
  return true;
}

/** Write a name or a path of field names as the statement spells it, such as `a.id`. */
function nameOf(expr: Expr): string {
  if (expr.kind === 'name') return expr.name;
  if (expr.kind !== 'path') return 'a value';
  const steps = expr.steps.map((step) => (step.kind === 'field' ? `.${step.name}` : '[...]'));
  return `${nameOf(expr.base)}${steps.join('')}`;
}

function impliedName(expr: Expr, index: number): string {
  if (expr.kind === 'name') return expr.name;
  if (expr.kind === 'path') {
    const last = expr.steps.at(-1);
    if (last?.kind === 'field') return last.name;
  }
  return `_${index + 1}`;
}

function tableIdResult(tableId: string): dom.Value {
  return new dom.Struct([['tableId', new dom.String(tableId)]]);
}

function documentIdResult(documentId: string): dom.Value {
  return new dom.Struct([['documentId', new dom.String(documentId)]]);
}

function withPosition(error: unknown, at: Position): unknown {
  if (
    error instanceof LedgerError &&
    !(error instanceof PartiqlError) &&
    error.code === 'BadRequestException'
  ) {
    return new PartiqlSemanticError(error.message, at);
  }
  return error;
}

// Paths of SET, REMOVE and INSERT INTO.

/** A step of an update target; a bare field name (`exact` false) matches a field ignoring case. */
type ResolvedStep =
  { kind: 'field'; name: string; exact: boolean } | { kind: 'index'; index: number };

/** A nested collection of a FROM update, with the AT alias that reads element positions. */
interface NestedPath {
  alias: string;
  /** The alias of the table or nested collection it ranges over. */
  parent: string;
  steps: PathStep[];
  source: FromSource;
}

/** Check the nested sources of a FROM update and name the position of each element. */
function nestedPaths(tableAlias: string, nested: readonly FromSource[]): NestedPath[] {
  const paths: NestedPath[] = [];
  const known = [tableAlias];
  nested.forEach((source, i) => {
    const expr = source.expr;
    const base = expr.kind === 'path' ? expr.base : undefined;
    const alias = source.alias ?? defaultAlias(expr);
    const parent =
      base?.kind === 'name'
        ? known.find((name) =>
            base.quoted ? name === base.name : name.toLowerCase() === base.name.toLowerCase(),
          )
        : undefined;
    if (expr.kind !== 'path' || parent === undefined || alias === undefined) {
      fail(
        source.at,
        `A second source of a FROM update must be a collection nested in the table, named ` +
          `from an earlier alias and given an alias of its own, as in ` +
          `FROM <table> AS ${tableAlias}, @${tableAlias}.items AS item; ` +
          'the documents of another table cannot be updated here',
      );
    }
    if (expr.steps.some((step) => step.kind === 'wildcard')) {
      fail(source.at, 'A nested collection of a FROM update cannot contain [*] or .*');
    }
    if (source.unpivot) {
      fail(source.at, 'UNPIVOT cannot be a source of a FROM update; name a nested list instead');
    }
    if (source.byAlias !== undefined) {
      fail(source.at, 'BY names the document id of the table only, not of a nested collection');
    }
    known.push(alias);
    paths.push({
      alias,
      parent,
      steps: expr.steps,
      source: { ...source, alias, atAlias: source.atAlias ?? `\u0000at${i}` },
    });
  });
  return paths;
}

function findNested(
  paths: readonly NestedPath[],
  name: string,
  quoted: boolean,
): string | undefined {
  return paths.find((path) =>
    quoted ? path.alias === name : path.alias.toLowerCase() === name.toLowerCase(),
  )?.alias;
}

/** Return the position of each nested element of a row in its list, undefined where it is no list element. */
function positionsOf(row: Row, paths: readonly NestedPath[]): Array<number | undefined> {
  return paths.map((path) => {
    const value = row.values[row.names.lastIndexOf(path.source.atAlias!)];
    return value === undefined || value === MISSING ? undefined : Number(value.numberValue());
  });
}

/** Compare paths step by step, so that a path sorts after its own prefix. */
function compareResolved(a: readonly ResolvedStep[], b: readonly ResolvedStep[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind === 'index' && y.kind === 'index') {
      if (x.index !== y.index) return x.index - y.index;
    } else if (x.kind === 'field' && y.kind === 'field') {
      if (x.name !== y.name) return x.name < y.name ? -1 : 1;
    } else return x.kind === 'index' ? 1 : -1;
  }
  return a.length - b.length;
}

/** Build the path from the document to each nested alias's element in one row. */
function nestedSteps(
  paths: readonly NestedPath[],
  positions: ReadonlyArray<number | undefined>,
): Map<string, PathStep[]> {
  const steps = new Map<string, PathStep[]>();
  paths.forEach((path, i) => {
    const position = positions[i];
    const element: PathStep[] =
      position === undefined
        ? []
        : [
            {
              kind: 'index',
              expr: { kind: 'literal', value: integer(position), at: path.source.at },
            },
          ];
    steps.set(path.alias, [...(steps.get(path.parent) ?? []), ...path.steps, ...element]);
  });
  return steps;
}

/** Return the path steps below the document that an update target names. */
function targetSteps(target: Expr, alias: string): PathStep[] {
  const base = target.kind === 'path' ? target.base : target;
  const steps = target.kind === 'path' ? target.steps : [];
  if (base.kind !== 'name')
    fail(target.at, 'An update target must be a path such as t.field or field');
  const isAlias = base.quoted
    ? base.name === alias
    : base.name.toLowerCase() === alias.toLowerCase();
  if (isAlias) return [...steps];
  return [{ kind: 'field', name: base.name, quoted: base.quoted }, ...steps];
}

function resolveSteps(
  steps: PathStep[],
  scope: Scope,
  context: EvalContext,
  at: Position,
): ResolvedStep[] {
  return steps.map((pathStep) => {
    if (pathStep.kind === 'field') {
      return { kind: 'field', name: pathStep.name, exact: pathStep.quoted };
    }
    if (pathStep.kind === 'wildcard') return fail(at, 'An update target cannot contain [*] or .*');
    const key = evaluate(pathStep.expr, scope, context);
    if (key !== MISSING && isText(key)) {
      return { kind: 'field', name: key.stringValue()!, exact: true };
    }
    if (
      key === MISSING ||
      !isNumber(key) ||
      !Number.isInteger(toNumber(key)) ||
      toNumber(key) < 0
    ) {
      return fail(at, `A list position must be a non-negative integer, got ${typeOf(key)}`);
    }
    return { kind: 'index', index: toNumber(key) };
  });
}

/**
 * Return the name of the field an update step writes: the field a read of
 * the same path finds, else the name as written, for a new field.
 */
function fieldNameIn(struct: dom.Value, step: { name: string; exact: boolean }): string {
  return findFieldName(struct, step.name, step.exact) ?? step.name;
}

/**
 * Return the struct with field `name` set to `value`, or removed when
 * `value` is undefined. A name the struct repeats is left with one value;
 * every other field, repeated names included, stays as it is.
 */
function replaceField(struct: dom.Value, name: string, value: dom.Value | undefined): dom.Value {
  const fields: Array<[string, dom.Value]> = [];
  let replaced = false;
  for (const [field, item] of allFields(struct)) {
    if (field === name) {
      if (!replaced && value !== undefined) fields.push([field, value]);
      replaced = true;
    } else fields.push([field, item]);
  }
  if (!replaced && value !== undefined) fields.push([name, value]);
  return structOf(fields, struct.getAnnotations());
}

function rebuildList(list: dom.Value, items: dom.Value[]): dom.Value {
  return list.getType() === IonTypes.SEXP
    ? new dom.SExpression(items, list.getAnnotations())
    : new dom.List(items, list.getAnnotations());
}

function isList(value: Value): boolean {
  return (
    value !== MISSING &&
    !value.isNull() &&
    (value.getType() === IonTypes.LIST || value.getType() === IonTypes.SEXP)
  );
}

function setAt(
  container: dom.Value,
  steps: PathStep[],
  value: dom.Value,
  scope: Scope,
  context: EvalContext,
  at: Position,
): dom.Value {
  const resolved = resolveSteps(steps, scope, context, at);
  const write = (node: Value, depth: number): dom.Value => {
    if (depth === resolved.length) return value;
    const current = resolved[depth]!;
    if (current.kind === 'field') {
      // A missing parent struct is created, so SET a.b.c = 1 works on a new path.
      const struct = isStruct(node)
        ? (node as dom.Value)
        : node === MISSING
          ? new dom.Struct([])
          : undefined;
      if (struct === undefined) {
        fail(at, `Cannot set field '${current.name}' in a value of type ${typeOf(node)}`);
      }
      const name = fieldNameIn(struct, current);
      return replaceField(struct, name, write(getField(struct, name, true), depth + 1));
    }
    if (!isList(node)) fail(at, `Cannot set position ${current.index} in a ${typeOf(node)}`);
    const items = [...(node as dom.Value).elements()];
    if (current.index > items.length) {
      fail(at, `Position ${current.index} is past the end of a list of ${items.length}`);
    }
    items[current.index] = write(items[current.index] ?? MISSING, depth + 1);
    return rebuildList(node as dom.Value, items);
  };
  return write(container, 0);
}

function removeAt(
  container: dom.Value,
  steps: PathStep[],
  scope: Scope,
  context: EvalContext,
  at: Position,
): dom.Value {
  const resolved = resolveSteps(steps, scope, context, at);
  const remove = (node: dom.Value, depth: number): dom.Value => {
    const current = resolved[depth]!;
    const last = depth === resolved.length - 1;
    if (current.kind === 'field') {
      if (!isStruct(node)) return node;
      const name = fieldNameIn(node, current);
      const child = getField(node, name, true);
      if (child === MISSING) return node;
      return replaceField(node, name, last ? undefined : remove(child, depth + 1));
    }
    if (!isList(node) || current.index >= node.elements().length) return node;
    const items = [...(node as dom.Value).elements()];
    if (last) items.splice(current.index, 1);
    else items[current.index] = remove(items[current.index]!, depth + 1);
    return rebuildList(node as dom.Value, items);
  };
  return remove(container, 0);
}

function insertAt(
  container: dom.Value,
  steps: PathStep[],
  value: dom.Value,
  key: Value | undefined,
  scope: Scope,
  context: EvalContext,
  at: Position,
): dom.Value {
  const resolved = resolveSteps(steps, scope, context, at);
  const insert = (node: Value, depth: number): dom.Value => {
    if (depth === resolved.length) {
      if (isList(node)) {
        const items = [...(node as dom.Value).elements()];
        let position = items.length;
        if (key !== undefined) {
          if (key === MISSING || !isNumber(key) || !Number.isInteger(toNumber(key))) {
            fail(at, `INSERT INTO a list takes an integer position after AT, got ${typeOf(key)}`);
          }
          position = toNumber(key);
          if (position < 0 || position > items.length) {
            fail(at, `Position ${position} is outside a list of ${items.length}`);
          }
        }
        items.splice(position, 0, value);
        return rebuildList(node as dom.Value, items);
      }
      if (isStruct(node)) {
        if (key === undefined || key === MISSING || !isText(key)) {
          fail(at, "INSERT INTO a struct takes the field name after AT, as in AT 'name'");
        }
        const name = key.stringValue()!;
        if (getField(node, name, true) !== MISSING)
          fail(at, `The struct already has a field '${name}'`);
        return replaceField(node as dom.Value, name, value);
      }
      return fail(at, `INSERT INTO needs a list or struct to insert into, got ${typeOf(node)}`);
    }
    const current = resolved[depth]!;
    if (current.kind === 'field') {
      if (!isStruct(node)) fail(at, `No field '${current.name}' in a ${typeOf(node)}`);
      const name = fieldNameIn(node as dom.Value, current);
      const child = getField(node, name, true);
      if (child === MISSING) fail(at, `No field '${current.name}' to insert into`);
      return replaceField(node as dom.Value, name, insert(child, depth + 1));
    }
    if (!isList(node) || current.index >= (node as dom.Value).elements().length) {
      fail(at, `No position ${current.index} to insert into`);
    }
    const items = [...(node as dom.Value).elements()];
    items[current.index] = insert(items[current.index]!, depth + 1);
    return rebuildList(node as dom.Value, items);
  };
  return insert(container, 0);
}

/** Measure a parameter's Ion binary size, for QLDB's 128 KB limit. */
export function parameterSize(value: dom.Value): number {
  return encodeIonBinary(value).length;
}
