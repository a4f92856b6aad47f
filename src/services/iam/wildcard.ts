/**
 * IAM wildcard patterns: `*` matches any run of characters and `?` exactly
 * one, as in Action, Resource and the `...Like` condition operators.
 */
const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 10_000;

/** Test `value` against a wildcard pattern; `ignoreCase` for action names. */
export function matchesWildcard(pattern: string, value: string, ignoreCase = false): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) {
    return ignoreCase ? pattern.toLowerCase() === value.toLowerCase() : pattern === value;
  }
  return compile(pattern, ignoreCase).test(value);
}

function compile(pattern: string, ignoreCase: boolean): RegExp {
  const cacheKey = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = cache.get(cacheKey);
  if (regex) return regex;

  const source = pattern
    .split('')
    .map((char) => {
      if (char === '*') return '.*';
      if (char === '?') return '.';
      return char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    })
    .join('');
  regex = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(cacheKey, regex);
  return regex;
}
