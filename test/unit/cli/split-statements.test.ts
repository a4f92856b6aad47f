import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitStatements } from '../../../src/cli/shell.js';

test('shell statements split outside block comments', () => {
  const { statements, rest } = splitStatements(
    "/* a; b */ SELECT 3 AS three FROM T WHERE id = 'a';\nSELECT /* one\n; two */ 4 FROM T; /* open;",
  );
  assert.deepEqual(statements, [
    "/* a; b */ SELECT 3 AS three FROM T WHERE id = 'a'",
    'SELECT /* one\n; two */ 4 FROM T',
  ]);
  assert.equal(rest, ' /* open;');
});

test('shell statements keep quoted comment markers', () => {
  const { statements } = splitStatements(
    "SELECT '/*' FROM t; SELECT \"--\" FROM t; SELECT `/* x */` FROM t; -- /* c;\nSELECT 'it''s;' FROM t;",
  );
  assert.deepEqual(statements, [
    "SELECT '/*' FROM t",
    'SELECT "--" FROM t',
    'SELECT `/* x */` FROM t',
    "-- /* c;\nSELECT 'it''s;' FROM t",
  ]);
});
