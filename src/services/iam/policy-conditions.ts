/**
 * The Condition element of a policy statement: parsing and evaluation of the
 * string, ARN, Bool and Null operators, with the `...IfExists` suffix and the
 * `ForAnyValue:` and `ForAllValues:` set prefixes. Values of one key are
 * OR'ed; keys and operators are AND'ed. Condition key names are compared
 * without regard to case.
 */
import { isObject, MalformedPolicyError } from './policy.js';
import { resolveVariables } from './policy-variables.js';
import { matchesWildcard } from './wildcard.js';

type BaseOperator =
  | 'StringEquals'
  | 'StringNotEquals'
  | 'StringEqualsIgnoreCase'
  | 'StringNotEqualsIgnoreCase'
  | 'StringLike'
  | 'StringNotLike'
  | 'ArnEquals'
  | 'ArnLike'
  | 'ArnNotEquals'
  | 'ArnNotLike'
  | 'Bool'
  | 'Null';

const BASE_OPERATORS = new Set<string>([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Bool',
  'Null',
]);

/** AWS's numeric, date, binary and IP address operators, which Vellum does not evaluate. */
const UNSUPPORTED_OPERATORS =
  /^((Numeric|Date)(Equals|NotEquals|LessThan|LessThanEquals|GreaterThan|GreaterThanEquals)|BinaryEquals|IpAddress|NotIpAddress)$/;

/** Operators that hold when none of the values match, including when the key is absent. */
const NEGATED = new Set<BaseOperator>([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'ArnNotEquals',
  'ArnNotLike',
]);

/** One operator applied to one condition key. */
export interface ConditionClause {
  operator: BaseOperator;
  ifExists: boolean;
  set?: 'ForAnyValue' | 'ForAllValues';
  /** The condition key in lower case, such as `kms:encryptioncontext:purpose`. */
  key: string;
  values: string[];
  /** True when the values contain policy variables, resolved for each request. */
  variables?: boolean;
  /** True when the values are resolved patterns whose `${*}`-style escapes are literal. */
  escapes?: boolean;
}

/** Condition keys of a request; a list for multi-valued keys. */
export type ConditionValues = Record<string, string | string[] | undefined>;

export function parseConditionBlock(raw: unknown, where: string): ConditionClause[] {
  if (!isObject(raw)) {
    throw new MalformedPolicyError(
      `Syntax errors in policy: Condition of ${where} must be an object of operators.`,
    );
  }
  const clauses: ConditionClause[] = [];
  for (const [name, block] of Object.entries(raw)) {
    const { operator, ifExists, set } = parseOperator(name, where);
    if (!isObject(block)) {
      throw new MalformedPolicyError(
        `Syntax errors in policy: condition ${name} of ${where} must map condition keys to values.`,
      );
    }
    for (const [key, value] of Object.entries(block)) {
      const clause: ConditionClause = {
        operator,
        ifExists,
        key: key.toLowerCase(),
        values: conditionValues(value, `${name} ${key} of ${where}`),
      };
      if (set) clause.set = set;
      clauses.push(clause);
    }
  }
  return clauses;
}

function parseOperator(
  name: string,
  where: string,
): { operator: BaseOperator; ifExists: boolean; set?: 'ForAnyValue' | 'ForAllValues' } {
  let rest = name;
  let set: 'ForAnyValue' | 'ForAllValues' | undefined;
  for (const prefix of ['ForAnyValue', 'ForAllValues'] as const) {
    if (rest.startsWith(`${prefix}:`)) {
      set = prefix;
      rest = rest.slice(prefix.length + 1);
    }
  }
  const ifExists = rest.endsWith('IfExists') && rest !== 'IfExists';
  if (ifExists) rest = rest.slice(0, -'IfExists'.length);

  if (UNSUPPORTED_OPERATORS.test(rest)) {
    throw new MalformedPolicyError(
      `Condition operator ${name} in ${where} is valid in AWS policies but not supported by Vellum. Supported: String(Not)Equals, String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool and Null, with an optional IfExists suffix.`,
    );
  }
  if (!BASE_OPERATORS.has(rest) || (ifExists && rest === 'Null')) {
    throw new MalformedPolicyError(
      `Invalid Condition type: ${name} in ${where}. Supported: String(Not)Equals, String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool and Null, with an optional IfExists suffix.`,
    );
  }
  return set
    ? { operator: rest as BaseOperator, ifExists, set }
    : { operator: rest as BaseOperator, ifExists };
}

function conditionValues(value: unknown, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    throw new MalformedPolicyError(`Syntax errors in policy: ${what} has an empty list of values.`);
  }
  return list.map((item) => {
    if (typeof item === 'string') return item;
    if (typeof item === 'boolean' || (typeof item === 'number' && Number.isFinite(item))) {
      return String(item);
    }
    throw new MalformedPolicyError(
      `Syntax errors in policy: ${what} has the value ${JSON.stringify(item)}; use strings, numbers or booleans.`,
    );
  });
}

/** Evaluate every clause; all must hold. `lookup` returns a key's request values by lower-case name. */
export function conditionsHold(
  clauses: ConditionClause[],
  lookup: (key: string) => string[] | undefined,
): boolean {
  for (const clause of clauses) {
    const resolved = clause.variables ? withVariablesResolved(clause, lookup) : clause;
    if (resolved === undefined || !clauseHolds(resolved, lookup(clause.key))) return false;
  }
  return true;
}

const PATTERN_OPERATORS = new Set<BaseOperator>([
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
]);

/**
 * Resolve the policy variables of a clause's values for one request. A value
 * whose variable has no value in the request is dropped, and a clause left
 * with no value is false (returned as undefined), whatever its operator.
 * NOTE: AWS documents only that an unresolved variable may make the statement
 * invalid, so the false result for negated operators is an estimate.
 */
function withVariablesResolved(
  clause: ConditionClause,
  lookup: (key: string) => string[] | undefined,
): ConditionClause | undefined {
  const mode = PATTERN_OPERATORS.has(clause.operator) ? 'pattern' : 'exact';
  const values: string[] = [];
  for (const value of clause.values) {
    const resolved = resolveVariables(value, lookup, mode);
    if (resolved !== undefined) values.push(resolved);
  }
  if (values.length === 0) return undefined;
  return { ...clause, values, escapes: mode === 'pattern' };
}

function clauseHolds(clause: ConditionClause, requestValues: string[] | undefined): boolean {
  const present = requestValues !== undefined && requestValues.length > 0;
  if (clause.operator === 'Null') {
    const wantsAbsent = clause.values.some((value) => value.toLowerCase() === 'true');
    return wantsAbsent ? !present : present;
  }
  if (clause.set === 'ForAllValues') {
    if (!present) return true;
    return requestValues.every((value) => valueMatches(clause, value));
  }
  // ForAnyValue needs a request value that matches, so an absent key fails
  // it even with a negated operator or IfExists.
  if (clause.set === 'ForAnyValue') {
    return present && requestValues.some((value) => valueMatches(clause, value));
  }
  if (!present) return clause.ifExists || NEGATED.has(clause.operator);
  if (!NEGATED.has(clause.operator)) {
    return requestValues.some((value) => valueMatches(clause, value));
  }
  return requestValues.every((value) => valueMatches(clause, value));
}

/** For a negated operator, true when the value matches none of the policy values. */
function valueMatches(clause: ConditionClause, value: string): boolean {
  const { operator, values } = clause;
  switch (operator) {
    case 'StringEquals':
      return values.includes(value);
    case 'StringNotEquals':
      return !values.includes(value);
    case 'StringEqualsIgnoreCase':
      return values.some((expected) => expected.toLowerCase() === value.toLowerCase());
    case 'StringNotEqualsIgnoreCase':
      return !values.some((expected) => expected.toLowerCase() === value.toLowerCase());
    case 'StringLike':
      return values.some((pattern) => matchesWildcard(pattern, value, false, clause.escapes));
    case 'StringNotLike':
      return !values.some((pattern) => matchesWildcard(pattern, value, false, clause.escapes));
    case 'ArnEquals':
    case 'ArnLike':
      return values.some((pattern) => arnMatches(pattern, value, clause.escapes));
    case 'ArnNotEquals':
    case 'ArnNotLike':
      return !values.some((pattern) => arnMatches(pattern, value, clause.escapes));
    case 'Bool':
      return values.some((expected) => expected.toLowerCase() === value.toLowerCase());
    case 'Null':
      return false;
  }
}

/**
 * Match an ARN against an ARN pattern part by part, as the Arn operators do:
 * the six colon-separated parts (the last one keeps any further colons) are
 * compared separately, so a wildcard does not reach across a colon. A
 * pattern with fewer parts is matched against the whole value.
 *
 * @example arnMatches('arn:aws:iam::*:role/app', 'arn:aws:iam::111122223333:role/app') // => true
 * @example arnMatches('arn:aws:iam::*:role/app', 'arn:aws:iam::1:x:role/app') // => false
 */
function arnMatches(pattern: string, value: string, escapes: boolean | undefined): boolean {
  const patternParts = arnParts(pattern);
  if (patternParts === undefined) return matchesWildcard(pattern, value, false, escapes);
  const valueParts = arnParts(value);
  if (valueParts === undefined) return false;
  return patternParts.every((part, i) => matchesWildcard(part, valueParts[i]!, false, escapes));
}

/** Split an ARN into its six parts, or return undefined when it has fewer. */
function arnParts(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}
