import type { Expr } from './ast.js';
import type { Scope } from './evaluate.js';

/**
 * The way a table source is read. As in QLDB, only equality (`=` and `IN`)
 * on an indexed top-level field, or on the document id, avoids a scan. Every
 * other predicate scans the table and records the scan for OCC.
 */
export type AccessPlan =
  | { kind: 'scan'; table: string }
  | { kind: 'history'; table: string }
  | { kind: 'documentId'; table: string; keys: PlanKey[]; consumed: Expr }
  | { kind: 'index'; table: string; field: string; keys: PlanKey[]; consumed: Expr };

/** A value to look up; `spread` when it is the right side of IN, a collection of values. */
export interface PlanKey {
  expr: Expr;
  spread: boolean;
}

export interface PlanInput {
  table: string;
  /** The source's alias (its table name when it has none). */
  alias: string | undefined;
  byAlias: string | undefined;
  /** True for `_ql_committed_<table>`, whose rows hold the document under `data`. */
  committed: boolean;
  /** True when this is the only FROM source, so bare names mean its fields. */
  single: boolean;
  indexedFields: readonly string[];
  /** WHERE and ON conditions; only their top-level conjuncts are considered. */
  conditions: readonly Expr[];
  /** Variables already bound (earlier FROM sources, enclosing queries). */
  scope: Scope;
}

export function planAccess(input: PlanInput): AccessPlan {
  const conjuncts: Expr[] = [];
  for (const condition of input.conditions) splitAnd(condition, conjuncts);

  let indexPlan: AccessPlan | undefined;
  for (const conjunct of conjuncts) {
    let target: Expr;
    let key: PlanKey;
    if (conjunct.kind === 'binary' && conjunct.op === '=') {
      if (isIndependent(conjunct.right, input)) {
        target = conjunct.left;
        key = { expr: conjunct.right, spread: false };
      } else if (isIndependent(conjunct.left, input)) {
        target = conjunct.right;
        key = { expr: conjunct.left, spread: false };
      } else continue;
    } else if (conjunct.kind === 'in' && !conjunct.negated && isIndependent(conjunct.set, input)) {
      target = conjunct.arg;
      key = { expr: conjunct.set, spread: true };
    } else continue;

    const reference = referencedField(target, input);
    if (reference === undefined) continue;
    if (reference.kind === 'documentId') {
      return { kind: 'documentId', table: input.table, keys: [key], consumed: conjunct };
    }
    if (indexPlan === undefined && input.indexedFields.includes(reference.field)) {
      indexPlan = {
        kind: 'index',
        table: input.table,
        field: reference.field,
        keys: [key],
        consumed: conjunct,
      };
    }
  }
  return indexPlan ?? { kind: 'scan', table: input.table };
}

function splitAnd(expr: Expr, into: Expr[]): void {
  if (expr.kind === 'binary' && expr.op === 'AND') {
    splitAnd(expr.left, into);
    splitAnd(expr.right, into);
  } else into.push(expr);
}

type Reference = { kind: 'field'; field: string } | { kind: 'documentId' };

/** Return the field of this source that an expression reads directly, if any. */
function referencedField(expr: Expr, input: PlanInput): Reference | undefined {
  const sameName = (name: string, quoted: boolean, wanted: string | undefined) =>
    wanted !== undefined &&
    (quoted ? name === wanted : name.toLowerCase() === wanted.toLowerCase());

  if (expr.kind === 'name') {
    if (sameName(expr.name, expr.quoted, input.byAlias)) return { kind: 'documentId' };
    if (!input.single || input.committed || input.scope.has(expr.name, expr.quoted))
      return undefined;
    if (sameName(expr.name, expr.quoted, input.alias)) return undefined;
    return { kind: 'field', field: expr.name };
  }
  if (expr.kind !== 'path' || expr.base.kind !== 'name') return undefined;
  const steps = expr.steps;
  if (!sameName(expr.base.name, expr.base.quoted, input.alias)) {
    // A bare name with steps on a single source, like `address.city`, is not a top-level field.
    return undefined;
  }
  const fieldNames = steps.map((step) => (step.kind === 'field' ? step.name : undefined));
  if (input.committed) {
    if (fieldNames.length === 2 && fieldNames[0] === 'data' && fieldNames[1] !== undefined) {
      return { kind: 'field', field: fieldNames[1] };
    }
    if (fieldNames.length === 2 && fieldNames[0] === 'metadata' && fieldNames[1] === 'id') {
      return { kind: 'documentId' };
    }
    return undefined;
  }
  if (fieldNames.length === 1 && fieldNames[0] !== undefined)
    return { kind: 'field', field: fieldNames[0] };
  return undefined;
}

/**
 * True when the expression can be evaluated before this source is read: it
 * uses only literals, parameters and variables already bound.
 */
function isIndependent(expr: Expr, input: PlanInput): boolean {
  switch (expr.kind) {
    case 'literal':
    case 'parameter':
    case 'missing':
      return true;
    case 'name':
      return input.scope.has(expr.name, expr.quoted);
    case 'path':
      return (
        isIndependent(expr.base, input) &&
        expr.steps.every((step) => step.kind !== 'index' || isIndependent(step.expr, input))
      );
    case 'unary':
    case 'cast':
      return isIndependent(expr.arg, input);
    case 'binary':
      return isIndependent(expr.left, input) && isIndependent(expr.right, input);
    case 'list':
    case 'bag':
      return expr.items.every((item) => isIndependent(item, input));
    case 'struct':
      return expr.fields.every(([a, b]) => isIndependent(a, input) && isIndependent(b, input));
    case 'call':
      return expr.name !== 'UTCNOW' && expr.args.every((arg) => isIndependent(arg, input));
    default:
      return false;
  }
}
