/**
 * Policy variables such as `${aws:username}` in the Resource and NotResource
 * elements and in the values of string and ARN conditions. IAM replaces them
 * with the request's value of the condition key only in policies whose
 * Version is 2012-10-17. Other policies keep the text as written.
 *
 * `${*}`, `${?}` and `${$}` stand for the literal characters. A reference may
 * name a default, `${aws:username, 'nobody'}`, for a request without a value
 * (two quotes inside the default stand for one).
 */

/** The request values of a condition key, by lower-case key name. */
export type ValueLookup = (key: string) => string[] | undefined;

const VARIABLE = /\$\{([^}]*)\}/g;
const ESCAPED = new Set(['*', '?', '$']);
const REFERENCE = /^\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$/;

/** Test whether a policy value contains a variable or an escaped character. */
export function hasVariables(text: string): boolean {
  return /\$\{[^}]*\}/.test(text);
}

/**
 * Replace the variables of a policy value with the request's values.
 *
 * In `exact` mode the result is the plain string that StringEquals compares.
 * In `pattern` mode it is a wildcard pattern for `matchesWildcard` with
 * `escapes` on: substituted values and escaped characters are written as
 * `${*}`, `${?}` and `${$}`, so a `*` in a value matches only a `*`.
 * Returns undefined when a variable's key has no single value and no default.
 *
 * @example resolveVariables('arn:aws:iam::*:user/${aws:username}', (k) => k === 'aws:username' ? ['ana'] : undefined, 'pattern')
 *   // => 'arn:aws:iam::*:user/ana'
 */
export function resolveVariables(
  text: string,
  lookup: ValueLookup,
  mode: 'exact' | 'pattern',
): string | undefined {
  let unresolved = false;
  const result = text.replace(VARIABLE, (whole, inner: string) => {
    if (ESCAPED.has(inner)) return mode === 'pattern' ? whole : inner;
    const reference = REFERENCE.exec(inner);
    // Text that is not a key reference stays as written.
    if (!reference) return whole;

    const values = lookup(reference[1]!.toLowerCase());
    let value: string | undefined;
    if (values?.length === 1) value = values[0];
    else if (reference[2] !== undefined) value = reference[2].replaceAll("''", "'");
    if (value === undefined) {
      unresolved = true;
      return '';
    }
    return mode === 'pattern' ? value.replace(/[*?$]/g, (char) => `\${${char}}`) : value;
  });
  return unresolved ? undefined : result;
}
