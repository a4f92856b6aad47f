/**
 * IAM wildcard patterns: `*` matches any run of characters and `?` exactly
 * one, as in Action, Resource and the `...Like` condition operators. With
 * `escapes`, the policy-variable escapes `${*}`, `${?}` and `${$}` match the
 * literal character.
 */
const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 10_000;

/** Test `value` against a wildcard pattern; `ignoreCase` for action names. */
export function matchesWildcard(
  pattern: string,
  value: string,
  ignoreCase = false,
  escapes = false,
): boolean {
  if (!pattern.includes('*') && !pattern.includes('?') && !(escapes && pattern.includes('${'))) {
    return ignoreCase ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  return compile(pattern, ignoreCase, escapes).test(value);
}

function compile(pattern: string, ignoreCase: boolean, escapes: boolean): RegExp {
  const cacheKey = `${ignoreCase ? 'i' : 's'}${escapes ? 'e' : 'p'}${pattern}`;
  let regex = cache.get(cacheKey);
  if (regex) return regex;

  const tokens = pattern.match(escapes ? /\$\{[*?$]\}|[\s\S]/gu : /[\s\S]/gu) ?? [];
  const source = tokens
    .map((token) => {
      // An escape such as `${*}` stands for its middle character.
      const char = token.startsWith('${') ? token.charAt(2) : token;
      if (token === '*') return '.*';
      if (token === '?') return '.';
      return char.replace(/[\\^$.|+*?()[\]{}]/g, '\\$&');
    })
    .join('');
  regex = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(cacheKey, regex);
  return regex;
}
