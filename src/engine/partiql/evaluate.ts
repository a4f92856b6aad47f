import { dom, IonTypes } from 'ion-js';
import type { Expr, PathStep, SelectStatement } from './ast.js';
import { PartiqlSemanticError } from './errors.js';
import { AGGREGATES, IS_TYPES, cast, scalarFunction } from './functions.js';
import type { Position } from './lexer.js';
import {
  FALSE,
  MISSING,
  NULL,
  TRUE,
  arithmetic,
  bool,
  compareValues,
  integer,
  isAbsent,
  isNumber,
  isStruct,
  isText,
  negate,
  orderValues,
  toNumber,
  describeValue,
  typeOf,
  valueKey,
  valuesEqual,
  type Value,
  structOf,
} from './values.js';

/**
 * Variables in scope while evaluating an expression: the FROM aliases of
 * the current row and those of enclosing queries. `implicit` contains the row's
 * source values, searched for a bare name that is not a variable, as in
 * `SELECT * FROM Test WHERE id = 1`.
 */
export class Scope {
  constructor(
    readonly names: readonly string[],
    readonly values: readonly Value[],
    readonly implicit: readonly Value[],
    readonly parent?: Scope,
  ) {}

  static readonly EMPTY = new Scope([], [], []);

  /** Return the variable's value, or undefined when no variable has this name. */
  variable(name: string, quoted: boolean): Value | undefined {
    for (let scope: Scope | undefined = this.#self(); scope !== undefined; scope = scope.parent) {
      const exact = scope.names.indexOf(name);
      if (exact >= 0) return scope.values[exact];
      if (!quoted) {
        const lower = name.toLowerCase();
        const loose = scope.names.findIndex((candidate) => candidate.toLowerCase() === lower);
        if (loose >= 0) return scope.values[loose];
      }
    }
    return undefined;
  }

  #self(): Scope {
    return this;
  }

  has(name: string, quoted: boolean): boolean {
    return this.variable(name, quoted) !== undefined;
  }
}

/** The context of an evaluation besides the scope: parameters, subqueries and the current group. */
export interface EvalContext {
  parameters: readonly dom.Value[];
  /** Runs a subquery; set by the statement runner. */
  subquery(query: SelectStatement, scope: Scope): Value[];
  /** Rows of the current group while an aggregate query projects, else undefined. */
  group?: readonly Scope[];
}

function fail(at: Position, message: string): never {
  throw new PartiqlSemanticError(message, at);
}

/**
 * Return the name of the struct field that `name` finds: the field spelt
 * exactly so, else for a bare (unquoted) name the first field that matches it
 * ignoring case. Returns undefined when none does.
 */
export function findFieldName(
  struct: dom.Value,
  name: string,
  quoted: boolean,
): string | undefined {
  if (struct.get(name) !== null) return name;
  if (quoted) return undefined;
  const lower = name.toLowerCase();
  return struct.fieldNames().find((field) => field.toLowerCase() === lower);
}

/** Read a field of a struct: exact name first, then, for a bare name, ignoring case. */
export function getField(value: Value, name: string, quoted: boolean): Value {
  if (!isStruct(value)) return MISSING;
  const struct = value as dom.Value;
  // The exact name first, without the case-insensitive search: most reads take this path.
  const exact = struct.get(name);
  if (exact !== null) return exact;
  const found = findFieldName(struct, name, quoted);
  return found === undefined ? MISSING : struct.get(found)!;
}

function step(value: Value, pathStep: PathStep, scope: Scope, context: EvalContext): Value {
  switch (pathStep.kind) {
    case 'field':
      return getField(value, pathStep.name, pathStep.quoted);
    case 'index': {
      const key = evaluate(pathStep.expr, scope, context);
      if (key === MISSING || value === MISSING || value.isNull()) return MISSING;
      if (isText(key)) return getField(value, key.stringValue()!, true);
      if (!isNumber(key)) return MISSING;
      const type = value.getType();
      if (type !== IonTypes.LIST && type !== IonTypes.SEXP) return MISSING;
      const index = toNumber(key);
      const items = value.elements();
      return Number.isInteger(index) && index >= 0 && index < items.length
        ? items[index]!
        : MISSING;
    }
    default:
      return MISSING;
  }
}

/** Evaluate an expression to a value. */
export function evaluate(expr: Expr, scope: Scope, context: EvalContext): Value {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'missing':
      return MISSING;
    case 'parameter': {
      const value = context.parameters[expr.index];
      if (value === undefined) fail(expr.at, `No value was given for parameter ${expr.index + 1}`);
      return value;
    }
    case 'name': {
      // Exact matches first, variables before fields; then, for a bare name,
      // matches regardless of case. So in `FROM Shelf WHERE shelf = 'A'`,
      // `shelf` is the document's field, not the table's alias.
      const exact = scope.variable(expr.name, true);
      if (exact !== undefined) return exact;
      if (expr.variable === true) {
        const alias = scope.variable(expr.name, false);
        if (alias === undefined) fail(expr.at, `@${expr.name} names no alias of this query`);
        return alias;
      }
      const field = implicitField(scope, expr.name, true);
      if (field !== MISSING || expr.quoted) return field;
      const loose = scope.variable(expr.name, false);
      if (loose !== undefined) return loose;
      return implicitField(scope, expr.name, false);
    }
    case 'path': {
      let value = evaluate(expr.base, scope, context);
      for (let i = 0; i < expr.steps.length; i++) {
        const pathStep = expr.steps[i]!;
        if (pathStep.kind === 'wildcard') {
          // `a[*].b` collects `b` from every element, as a list.
          const items = wildcardItems(value);
          const rest = expr.steps.slice(i + 1);
          const collected: dom.Value[] = [];
          for (const item of items) {
            let inner: Value = item;
            for (const next of rest) {
              if (next.kind === 'wildcard') {
                fail(expr.at, 'Only one [*] or .* is supported in a path');
              }
              inner = step(inner, next, scope, context);
            }
            if (inner !== MISSING) collected.push(inner);
          }
          return new dom.List(collected);
        }
        value = step(value, pathStep, scope, context);
        if (value === MISSING) return MISSING;
      }
      return value;
    }
    case 'unary': {
      const arg = evaluate(expr.arg, scope, context);
      if (expr.op === 'NOT') {
        const truth = truthOf(arg);
        if (truth !== null) return bool(!truth);
        return arg === MISSING ? MISSING : NULL;
      }
      if (isAbsent(arg)) return arg === MISSING ? MISSING : NULL;
      if (!isNumber(arg as dom.Value))
        fail(expr.at, `Unary ${expr.op} expects a number, got ${describeValue(arg)}`);
      return expr.op === '-' ? negate(arg as dom.Value) : arg;
    }
    case 'binary':
      return binary(expr, scope, context);
    case 'like':
      return like(expr, scope, context);
    case 'between': {
      const value = evaluate(expr.arg, scope, context);
      const low = evaluate(expr.low, scope, context);
      const high = evaluate(expr.high, scope, context);
      if (isAbsent(value) || isAbsent(low) || isAbsent(high)) return NULL;
      const a = compareValues(value as dom.Value, low as dom.Value);
      const b = compareValues(value as dom.Value, high as dom.Value);
      if (a === undefined || b === undefined) return NULL;
      return bool((a >= 0 && b <= 0) !== expr.negated);
    }
    case 'in': {
      const value = evaluate(expr.arg, scope, context);
      const set = evaluate(expr.set, scope, context);
      if (isAbsent(value)) return NULL;
      if (set === MISSING || set.isNull()) return NULL;
      const items =
        set.getType() === IonTypes.LIST || set.getType() === IonTypes.SEXP ? set.elements() : [set];
      let sawNull = false;
      for (const item of items) {
        if (item.isNull()) sawNull = true;
        else if (valuesEqual(value as dom.Value, item)) return bool(!expr.negated);
      }
      return sawNull ? NULL : bool(expr.negated);
    }
    case 'is': {
      const value = evaluate(expr.arg, scope, context);
      let result: boolean;
      if (expr.test === 'MISSING') result = value === MISSING;
      else if (expr.test === 'NULL') result = isAbsent(value);
      else result = value !== MISSING && !value.isNull() && value.getType() === IS_TYPES[expr.test];
      return bool(result !== expr.negated);
    }
    case 'call':
      return call(expr, scope, context);
    case 'cast':
      return cast(evaluate(expr.arg, scope, context), expr.type, expr.at);
    case 'case': {
      const subject =
        expr.subject === undefined ? undefined : evaluate(expr.subject, scope, context);
      for (const [when, then] of expr.whens) {
        const condition = evaluate(when, scope, context);
        const matched =
          subject === undefined
            ? truthOf(condition) === true
            : !isAbsent(subject) &&
              !isAbsent(condition) &&
              valuesEqual(subject as dom.Value, condition as dom.Value);
        if (matched) return evaluate(then, scope, context);
      }
      return expr.otherwise === undefined ? NULL : evaluate(expr.otherwise, scope, context);
    }
    case 'struct': {
      const fields: Array<[string, dom.Value]> = [];
      for (const [keyExpr, valueExpr] of expr.fields) {
        // A bare name that is not a variable names the field, as in Ion: {a: 1}.
        const key =
          keyExpr.kind === 'name' && !scope.has(keyExpr.name, keyExpr.quoted)
            ? new dom.String(keyExpr.name)
            : evaluate(keyExpr, scope, context);
        if (key === MISSING || !isText(key)) {
          fail(keyExpr.at, `A struct field name must be a string, got ${typeOf(key)}`);
        }
        const value = evaluate(valueExpr, scope, context);
        if (value !== MISSING) fields.push([key.stringValue()!, value]);
      }
      return structOf(fields);
    }
    case 'list':
    case 'bag': {
      const items: dom.Value[] = [];
      for (const item of expr.items) {
        const value = evaluate(item, scope, context);
        if (value !== MISSING) items.push(value);
      }
      return new dom.List(items);
    }
    case 'subquery':
      return new dom.List(
        context.subquery(expr.query, scope).filter((v): v is dom.Value => v !== MISSING),
      );
  }
}

/** Find a field of the current row's sources, from the last source bound to the first. */
function implicitField(scope: Scope, name: string, exact: boolean): Value {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    for (let i = s.implicit.length - 1; i >= 0; i--) {
      const found = exact
        ? exactField(s.implicit[i]!, name)
        : getField(s.implicit[i]!, name, false);
      if (found !== MISSING) return found;
    }
  }
  return MISSING;
}

function exactField(value: Value, name: string): Value {
  if (!isStruct(value)) return MISSING;
  return (value as dom.Value).get(name) ?? MISSING;
}

function wildcardItems(value: Value): dom.Value[] {
  if (value === MISSING || value.isNull()) return [];
  const type = value.getType();
  if (type === IonTypes.LIST || type === IonTypes.SEXP) return value.elements();
  if (type === IonTypes.STRUCT) return value.fields().map(([, item]) => item);
  return [];
}

/** Three-valued truth: true, false, or null for NULL, MISSING and non-booleans. */
export function truthOf(value: Value): boolean | null {
  if (value === MISSING || value.isNull() || value.getType() !== IonTypes.BOOL) return null;
  return value.booleanValue();
}

/** True when the condition holds; NULL, MISSING and false all filter a row out. */
export function holds(expr: Expr, scope: Scope, context: EvalContext): boolean {
  if (expr.kind === 'binary' && expr.op === 'AND') {
    return holds(expr.left, scope, context) && holds(expr.right, scope, context);
  }
  return truthOf(evaluate(expr, scope, context)) === true;
}

function binary(
  expr: Extract<Expr, { kind: 'binary' }>,
  scope: Scope,
  context: EvalContext,
): Value {
  if (expr.op === 'AND' || expr.op === 'OR') {
    const left = truthOf(evaluate(expr.left, scope, context));
    if (expr.op === 'AND' && left === false) return FALSE;
    if (expr.op === 'OR' && left === true) return TRUE;
    const right = truthOf(evaluate(expr.right, scope, context));
    if (expr.op === 'AND') {
      if (right === false) return FALSE;
      return left === true && right === true ? TRUE : NULL;
    }
    if (right === true) return TRUE;
    return left === false && right === false ? FALSE : NULL;
  }
  const left = evaluate(expr.left, scope, context);
  const right = evaluate(expr.right, scope, context);
  if (left === MISSING || right === MISSING) return MISSING;
  if (left.isNull() || right.isNull()) return NULL;
  switch (expr.op) {
    case '=':
      return bool(valuesEqual(left, right));
    case '<>':
      return bool(!valuesEqual(left, right));
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const order = compareValues(left, right);
      if (order === undefined) return NULL;
      if (expr.op === '<') return bool(order < 0);
      if (expr.op === '<=') return bool(order <= 0);
      if (expr.op === '>') return bool(order > 0);
      return bool(order >= 0);
    }
    case '||':
      if (!isText(left) || !isText(right)) {
        fail(expr.at, `|| joins strings, got ${describeValue(left)} and ${describeValue(right)}`);
      }
      return new dom.String(left.stringValue()! + right.stringValue()!);
    default: {
      if (!isNumber(left) || !isNumber(right)) {
        fail(
          expr.at,
          `${expr.op} expects numbers, got ${describeValue(left)} and ${describeValue(right)}`,
        );
      }
      try {
        return arithmetic(expr.op, left, right);
      } catch (error) {
        return fail(expr.at, (error as Error).message);
      }
    }
  }
}

function like(expr: Extract<Expr, { kind: 'like' }>, scope: Scope, context: EvalContext): Value {
  const value = evaluate(expr.arg, scope, context);
  const pattern = evaluate(expr.pattern, scope, context);
  const escape = expr.escape === undefined ? undefined : evaluate(expr.escape, scope, context);
  if (isAbsent(value) || isAbsent(pattern) || (escape !== undefined && isAbsent(escape)))
    return NULL;
  if (!isText(value as dom.Value) || !isText(pattern as dom.Value)) {
    fail(
      expr.at,
      `LIKE compares strings, got ${describeValue(value)} and ${describeValue(pattern)}`,
    );
  }
  let escapeChar: string | undefined;
  if (escape !== undefined) {
    if (!isText(escape as dom.Value)) {
      fail(expr.at, `LIKE ESCAPE takes a one-character string, got ${typeOf(escape)}`);
    }
    const text = (escape as dom.Value).stringValue()!;
    if ([...text].length !== 1) fail(expr.at, `LIKE ESCAPE takes one character, got '${text}'`);
    escapeChar = text;
  }
  const matched = likeMatches(
    [...(value as dom.Value).stringValue()!],
    [...(pattern as dom.Value).stringValue()!],
    escapeChar,
    expr.at,
  );
  return bool(matched !== expr.negated);
}

/** Match `%` (any run) and `_` (one character) without building a regular expression. */
function likeMatches(
  text: string[],
  pattern: string[],
  escape: string | undefined,
  at: Position,
): boolean {
  // Compile the pattern into tokens first, so a dangling escape is reported.
  const tokens: Array<{ any: boolean; one: boolean; char?: string }> = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === escape) {
      const next = pattern[i + 1];
      if (next === undefined) fail(at, 'LIKE pattern ends with its escape character');
      tokens.push({ any: false, one: false, char: next });
      i++;
    } else if (ch === '%') tokens.push({ any: true, one: false });
    else if (ch === '_') tokens.push({ any: false, one: true });
    else tokens.push({ any: false, one: false, char: ch });
  }
  // Greedy matching with backtracking to the last `%`: linear in practice.
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const token = tokens[p];
    if (token !== undefined && !token.any && (token.one || token.char === text[t])) {
      t++;
      p++;
    } else if (token !== undefined && token.any) {
      starP = p++;
      starT = t;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else return false;
  }
  while (p < tokens.length && tokens[p]!.any) p++;
  return p === tokens.length;
}

function call(expr: Extract<Expr, { kind: 'call' }>, scope: Scope, context: EvalContext): Value {
  if (AGGREGATES.has(expr.name)) return aggregate(expr, context);
  if (expr.name === 'EXISTS') {
    const value = evaluate(expr.args[0]!, scope, context);
    if (value === MISSING || value.isNull()) return FALSE;
    const type = value.getType();
    if (type === IonTypes.LIST || type === IonTypes.SEXP) return bool(value.elements().length > 0);
    if (type === IonTypes.STRUCT) return bool(value.fields().length > 0);
    // QLDB's EXISTS is false for a value that is not a collection.
    return FALSE;
  }
  const fn = scalarFunction(expr.name);
  if (fn === undefined) {
    if (expr.name === 'HISTORY') fail(expr.at, 'history() can only be used as a FROM source');
    fail(expr.at, `Unknown function ${expr.name}`);
  }
  return fn(
    expr.args.map((arg) => evaluate(arg, scope, context)),
    expr.at,
  );
}

function aggregate(expr: Extract<Expr, { kind: 'call' }>, context: EvalContext): Value {
  const group = context.group;
  if (group === undefined) {
    fail(expr.at, `${expr.name} is an aggregate: use it in the SELECT list of a query`);
  }
  if (expr.star) return integer(group.length);
  if (expr.args.length !== 1)
    fail(expr.at, `${expr.name} takes 1 argument, got ${expr.args.length}`);
  const inner: EvalContext = { ...context, group: undefined };
  let values: dom.Value[] = [];
  for (const row of group) {
    const value = evaluate(expr.args[0]!, row, inner);
    if (!isAbsent(value)) values.push(value as dom.Value);
  }
  if (expr.distinct) {
    const seen = new Set<string>();
    values = values.filter((value) => {
      const key = valueKey(value);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  switch (expr.name) {
    case 'COUNT':
      return integer(values.length);
    case 'MIN':
    case 'MAX': {
      if (values.length === 0) return NULL;
      let best = values[0]!;
      for (const value of values) {
        const order = orderValues(value, best);
        if (expr.name === 'MIN' ? order < 0 : order > 0) best = value;
      }
      return best;
    }
    default: {
      if (values.length === 0) return NULL;
      let sum: dom.Value = integer(0);
      for (const value of values) {
        if (!isNumber(value))
          fail(expr.at, `${expr.name} expects numbers, got ${describeValue(value)}`);
        sum = arithmetic('+', sum, value);
      }
      // QLDB documents SUM and AVG of decimals or floats as decimals: 1.5e0
      // and 2 sum to 3.5 and average to 1.75. AVG of integers is a decimal
      // too, so 1 and 2 average to 1.5. A float sum that is not finite has
      // no decimal, so it stays a float.
      const finite = sum.getType() !== IonTypes.FLOAT || Number.isFinite(sum.numberValue());
      if (expr.name === 'SUM') {
        return finite && sum.getType() === IonTypes.FLOAT ? cast(sum, 'DECIMAL', expr.at) : sum;
      }
      const divisor = integer(values.length);
      const dividend = finite ? cast(sum, 'DECIMAL', expr.at) : sum;
      return arithmetic('/', dividend as dom.Value, divisor);
    }
  }
}

/** True when the expression contains an aggregate call outside any subquery. */
export function hasAggregate(expr: Expr): boolean {
  return findNode(expr, isAggregateCall) !== undefined;
}

/**
 * Find the first name or path that reads the current row outside every
 * aggregate call, such as `p.name` in `SELECT p.name, COUNT(*) FROM People p`.
 */
export function rowReferenceOutsideAggregates(expr: Expr): Expr | undefined {
  return findNode(expr, (node) =>
    isAggregateCall(node)
      ? 'skip'
      : node.kind === 'name' || (node.kind === 'path' && node.base.kind === 'name'),
  );
}

function isAggregateCall(expr: Expr): boolean {
  return expr.kind === 'call' && AGGREGATES.has(expr.name);
}

/**
 * Find the first node, parents before children and outside any subquery,
 * for which `pick` returns true. When `pick` returns `'skip'`, the node and
 * its children are left out.
 */
function findNode(expr: Expr, pick: (node: Expr) => boolean | 'skip'): Expr | undefined {
  const verdict = pick(expr);
  if (verdict === true) return expr;
  if (verdict === 'skip') return undefined;
  for (const child of childrenOf(expr)) {
    const found = findNode(child, pick);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Return the direct subexpressions of an expression, leaving out subqueries. */
function childrenOf(expr: Expr): Expr[] {
  switch (expr.kind) {
    case 'call':
      return expr.args;
    case 'path':
      return [
        expr.base,
        ...expr.steps.flatMap((step) => (step.kind === 'index' ? [step.expr] : [])),
      ];
    case 'unary':
    case 'cast':
    case 'is':
      return [expr.arg];
    case 'binary':
      return [expr.left, expr.right];
    case 'like':
      return [expr.arg, expr.pattern];
    case 'between':
      return [expr.arg, expr.low, expr.high];
    case 'in':
      return [expr.arg, expr.set];
    case 'case':
      return [
        ...(expr.subject === undefined ? [] : [expr.subject]),
        ...expr.whens.flat(),
        ...(expr.otherwise === undefined ? [] : [expr.otherwise]),
      ];
    case 'struct':
      return expr.fields.flat();
    case 'list':
    case 'bag':
      return expr.items;
    default:
      return [];
  }
}
