import { PartiqlSyntaxError } from './errors.js';

/** Where a token starts in the statement; lines and columns count from 1. */
export interface Position {
  line: number;
  column: number;
}

export type TokenKind =
  | 'identifier' // bare name, case-insensitive
  | 'quoted' // "double-quoted" name, case-sensitive
  | 'keyword'
  | 'string' // 'single-quoted'
  | 'integer'
  | 'decimal'
  | 'exponent'
  | 'ion' // `backtick` Ion literal, text between the backticks
  | 'parameter' // ?
  | 'punctuation'
  | 'end';

export interface Token {
  kind: TokenKind;
  /** Keywords and punctuation in upper case; names, strings and literals as written (unescaped). */
  text: string;
  /** The keyword as written, used where a keyword is a field name (`t.Value`). */
  written?: string;
  /** True for a name written `@name`, which names an alias and never a field. */
  variable?: boolean;
  position: Position;
}

/**
 * Reserved words. A bare word in this set is a keyword token; quote it
 * (`"order"`) to use it as a name.
 */
const KEYWORDS = new Set([
  'ALL',
  'AND',
  'AS',
  'ASC',
  'AT',
  'BETWEEN',
  'BY',
  'CASE',
  'CAST',
  'CREATE',
  'DELETE',
  'DESC',
  'DISTINCT',
  'DROP',
  'ELSE',
  'END',
  'ESCAPE',
  'EXISTS',
  'FALSE',
  'FIRST',
  'FROM',
  'IN',
  'INDEX',
  'INNER',
  'INSERT',
  'INTO',
  'IS',
  'JOIN',
  'LAST',
  'LIKE',
  'LIMIT',
  'MISSING',
  'NOT',
  'NULL',
  'NULLS',
  'OFFSET',
  'ON',
  'OR',
  'ORDER',
  'REMOVE',
  'SELECT',
  'SET',
  'TABLE',
  'THEN',
  'TRUE',
  'UNDROP',
  'UNIQUE',
  'UPDATE',
  'VALUE',
  'WHEN',
  'WHERE',
  'WITH',
  'CROSS',
  // Not supported, but reserved so that they are reported rather than read as aliases.
  'EXCEPT',
  'EXEC',
  'FULL',
  'GROUP',
  'HAVING',
  'INTERSECT',
  'LEFT',
  'LET',
  'OUTER',
  'PIVOT',
  'RIGHT',
  'UNION',
  'UNPIVOT',
]);

const PUNCTUATION = [
  '<<',
  '>>',
  '<=',
  '>=',
  '<>',
  '!=',
  '||',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  '.',
  ':',
  '*',
  '=',
  '<',
  '>',
  '+',
  '-',
  '/',
  '%',
  ';',
];

function isIdentifierStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
}

function isIdentifierPart(c: number): boolean {
  return isIdentifierStart(c) || (c >= 48 && c <= 57);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Split a statement into tokens. Whitespace and comments (`-- ...` to the
 * end of the line, `/* ... *\/`) separate tokens and are dropped.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const position = (at: number): Position => ({ line, column: at - lineStart + 1 });
  const fail = (at: number, message: string): never => {
    throw new PartiqlSyntaxError(message, position(at));
  };

  while (i < source.length) {
    const c = source.charCodeAt(i);
    if (c === 10) {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    if (c === 45 && source.charCodeAt(i + 1) === 45) {
      while (i < source.length && source.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 47 && source.charCodeAt(i + 1) === 42) {
      const start = i;
      i += 2;
      while (i < source.length && !(source[i] === '*' && source[i + 1] === '/')) {
        if (source.charCodeAt(i) === 10) {
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      if (i >= source.length) fail(start, 'Unterminated comment');
      i += 2;
      continue;
    }

    const start = i;
    const at = position(start);
    // PartiQL's `@o` names the variable `o` (an alias), never a field; an
    // alias already comes before a field of the same name here.
    const local = c === 64 && isIdentifierStart(source.charCodeAt(i + 1));
    if (isIdentifierStart(c) || local) {
      if (local) i++;
      const wordStart = i;
      while (i < source.length && isIdentifierPart(source.charCodeAt(i))) i++;
      const word = source.slice(wordStart, i);
      const upper = word.toUpperCase();
      tokens.push(
        KEYWORDS.has(upper) && !local
          ? { kind: 'keyword', text: upper, written: word, position: at }
          : { kind: 'identifier', text: word, position: at, ...(local ? { variable: true } : {}) },
      );
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(source.charCodeAt(i + 1)))) {
      while (isDigit(source.charCodeAt(i))) i++;
      let kind: TokenKind = 'integer';
      if (source[i] === '.' && isDigit(source.charCodeAt(i + 1))) {
        kind = 'decimal';
        i++;
        while (isDigit(source.charCodeAt(i))) i++;
      } else if (source[i] === '.' && !isIdentifierStart(source.charCodeAt(i + 1))) {
        // `1.` is a decimal; `t.1` never reaches here, as `t` starts a name.
        kind = 'decimal';
        i++;
      }
      if (source[i] === 'e' || source[i] === 'E') {
        let j = i + 1;
        if (source[j] === '+' || source[j] === '-') j++;
        if (isDigit(source.charCodeAt(j))) {
          kind = 'exponent';
          i = j;
          while (isDigit(source.charCodeAt(i))) i++;
        }
      }
      if (isIdentifierStart(source.charCodeAt(i))) {
        fail(i, `Unexpected character '${source[i]}' after the number ${source.slice(start, i)}`);
      }
      tokens.push({ kind, text: source.slice(start, i), position: at });
      continue;
    }
    if (c === 39 || c === 34) {
      // 'string' or "quoted name"; the quote character doubled stands for itself.
      const quote = source[i]!;
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) {
          fail(start, quote === "'" ? 'Unterminated string literal' : 'Unterminated quoted name');
        }
        const ch = source[i]!;
        if (ch === quote) {
          if (source[i + 1] === quote) {
            text += quote;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (ch === '\n') {
          line++;
          lineStart = i + 1;
        }
        text += ch;
        i++;
      }
      tokens.push({ kind: quote === "'" ? 'string' : 'quoted', text, position: at });
      continue;
    }
    if (c === 96) {
      const end = findIonLiteralEnd(source, i + 1);
      if (end < 0) fail(start, 'Unterminated Ion literal: a backtick literal needs a closing `');
      const text = source.slice(i + 1, end);
      for (let k = i; k < end; k++) {
        if (source.charCodeAt(k) === 10) {
          line++;
          lineStart = k + 1;
        }
      }
      i = end + 1;
      tokens.push({ kind: 'ion', text, position: at });
      continue;
    }
    if (c === 63) {
      i++;
      tokens.push({ kind: 'parameter', text: '?', position: at });
      continue;
    }
    const punctuation = PUNCTUATION.find((p) => source.startsWith(p, i));
    if (punctuation !== undefined) {
      i += punctuation.length;
      tokens.push({ kind: 'punctuation', text: punctuation, position: at });
      continue;
    }
    fail(start, `Unexpected character '${source[i]}'`);
  }
  tokens.push({ kind: 'end', text: '', position: position(i) });
  return tokens;
}

/**
 * Find the backtick that closes an Ion literal, skipping backticks inside
 * Ion strings, symbols and comments, so `` `{a: "x`y"}` `` stays one literal.
 */
function findIonLiteralEnd(source: string, from: number): number {
  let i = from;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === '`') return i;
    if (ch === '"' || ch === "'") {
      const long = ch === "'" && source.startsWith("'''", i);
      const close = long ? "'''" : ch;
      i += close.length;
      while (i < source.length && !source.startsWith(close, i)) {
        if (source[i] === '\\') i++;
        i++;
      }
      i += close.length;
      continue;
    }
    if (ch === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (ch === '/' && source[i + 1] === '*') {
      const close = source.indexOf('*/', i + 2);
      if (close < 0) return -1;
      i = close + 2;
      continue;
    }
    i++;
  }
  return -1;
}
