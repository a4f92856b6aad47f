import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dom } from 'ion-js';
import { LedgerError, PartiqlSyntaxError, executeStatement } from '../../../src/engine/index.js';
import { ion, openLedger, sortedTexts, type LedgerFixture } from './ledger-fixture.js';

// FUZZ_RUNS sets the number of cases of each property, for longer local runs.

/** The maximum time one statement may run before the property reports a hang. */
const STATEMENT_TIMEOUT_MS = 2_000;

const KEYWORDS = [
  'SELECT',
  'VALUE',
  'FROM',
  'WHERE',
  'AS',
  'AT',
  'BY',
  'AND',
  'OR',
  'NOT',
  'IN',
  'IS',
  'NULL',
  'MISSING',
  'LIKE',
  'ESCAPE',
  'BETWEEN',
  'EXISTS',
  'INSERT',
  'INTO',
  'UPDATE',
  'SET',
  'REMOVE',
  'DELETE',
  'CREATE',
  'DROP',
  'UNDROP',
  'TABLE',
  'INDEX',
  'UNIQUE',
  'ON',
  'JOIN',
  'INNER',
  'ORDER',
  'LIMIT',
  'OFFSET',
  'ASC',
  'DESC',
  'NULLS',
  'FIRST',
  'LAST',
  'DISTINCT',
  'CAST',
  'CASE',
  'WHEN',
  'THEN',
  'ELSE',
  'END',
  'TRIM',
  'LEADING',
  'BOTH',
  'SUBSTRING',
  'FOR',
  'EXTRACT',
  'COUNT',
  'SUM',
  'AVG',
  'UPPER',
  'DATE_ADD',
  'history',
  'information_schema',
  'user_tables',
  'INT',
  'STRING',
  'TRUE',
  'FALSE',
];
const NAMES = ['T', 'U', 't', 'k', 'v', 'items', 'i', 'id', 'Nope', '"k"', '_ql_committed_T'];
const LITERALS = [
  '0',
  '1',
  '-2',
  '3.5',
  '1e3',
  '99999999999999999999',
  "'a'",
  "''",
  "'%a_'",
  "'it''s'",
  '`2024T`',
  '`{a: 1}`',
  '`[1, 2]`',
  '`{{aGk=}}`',
  '`1 2`',
  '`{a: `',
  '`null.int`',
  '?',
];
const PUNCTUATION = [
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '<<',
  '>>',
  ',',
  '.',
  '*',
  '=',
  '<>',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  '+',
  '-',
  '/',
  '%',
  '||',
  ':',
  ';',
  '`',
  "'",
  '"',
  '--',
  '/*',
];
const TOKENS = [...KEYWORDS, ...NAMES, ...LITERALS, ...PUNCTUATION];

/** Valid statements over the fixture's tables, as tokens joined by spaces. */
const VALID = [
  'SELECT * FROM T WHERE k = ?',
  'SELECT t.k , t.v FROM T AS t WHERE t.k > 1 ORDER BY t.k DESC LIMIT 2',
  "INSERT INTO T VALUE { 'k' : 10 , 'v' : 'x' }",
  "INSERT INTO T << { 'k' : 11 } , { 'k' : 12 } >>",
  'UPDATE T AS t SET t.v = 5 WHERE t.k = 1',
  'DELETE FROM T WHERE k = 2',
  'FROM T AS t WHERE t.k = 1 INSERT INTO t.items VALUE 3',
  'SELECT VALUE i FROM T AS t , t.items AS i WHERE i IN ( 1 , 2 )',
  "SELECT COUNT ( * ) FROM T WHERE v LIKE 'a%' ESCAPE '!'",
  'CREATE INDEX ON U ( f )',
  'SELECT h.metadata.version FROM history ( T ) AS h WHERE h.metadata.id = ?',
  "SELECT CAST ( k AS STRING ) , UPPER ( v ) FROM T BY id WHERE id = 'x'",
  'UPDATE T REMOVE items WHERE k BETWEEN 1 AND 3',
  'SELECT VALUE indexes FROM information_schema.user_tables info , info.indexes indexes',
  "SELECT * FROM T WHERE v IS NOT MISSING AND EXISTS ( SELECT * FROM t.items ) OR v = 'a'",
].map((statement) => statement.split(' '));

const tokenArb = fc.constantFrom(...TOKENS);

/** Values for the statements' `?` parameters, of the types drivers send. */
const PARAMETERS = [
  '1',
  '"a"',
  'null',
  '{k: 5}',
  '[1, 2]',
  '[{k: 6}, {k: 7}]',
  '2024-01-01T',
  '{{}}',
];
const parametersArb = fc.array(fc.constantFrom(...PARAMETERS), { maxLength: 4 });

/**
 * Random tokens, most of them after the start of a valid statement so the
 * parser gets past the first keyword.
 */
const randomStreamArb = fc
  .tuple(
    fc.constantFrom(...VALID),
    fc.nat({ max: 8 }),
    fc.array(tokenArb, { minLength: 1, maxLength: 24 }),
  )
  .map(([valid, keep, tokens]) => [...valid.slice(0, keep), ...tokens]);

type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; token: string }
  | { kind: 'replace'; at: number; token: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), token: tokenArb }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), token: tokenArb }),
);

function mutate(tokens: readonly string[], mutation: Mutation): string[] {
  const result = [...tokens];
  if (result.length === 0) return mutation.kind === 'insert' ? [mutation.token] : result;
  const at = mutation.at % result.length;
  switch (mutation.kind) {
    case 'delete':
      result.splice(at, 1);
      break;
    case 'duplicate':
      result.splice(at, 0, result[at]!);
      break;
    case 'swap': {
      const other = mutation.with % result.length;
      [result[at], result[other]] = [result[other]!, result[at]!];
      break;
    }
    case 'truncate':
      result.length = at;
      break;
    case 'insert':
      result.splice(at, 0, mutation.token);
      break;
    case 'replace':
      result[at] = mutation.token;
      break;
  }
  return result;
}

const mutatedArb = fc
  .tuple(fc.constantFrom(...VALID), fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
  .map(([tokens, mutations]) => mutations.reduce(mutate, tokens));

/** Reject with a timeout error when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, statement: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${statement}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('PartiQL fuzzing', () => {
  let db: LedgerFixture;
  let snapshot: string[];

  /** Read every document of both tables and the catalog, as sorted Ion text. */
  const takeSnapshot = async (): Promise<string[]> => {
    const result = await db.ledger.run(async (tx) => {
      const tables = await executeStatement(tx, 'SELECT * FROM information_schema.user_tables');
      const t = await executeStatement(tx, 'SELECT d, x FROM T AS x BY d');
      const u = await executeStatement(tx, 'SELECT d, x FROM U AS x BY d');
      return [...tables.values, ...t.values, ...u.values];
    });
    return sortedTexts(result);
  };

  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE T');
    await db.run('CREATE TABLE U');
    await db.run('CREATE INDEX ON T (k)');
    await db.run(
      `INSERT INTO T << {'k': 1, 'v': 'a', 'items': [1, 2]}, {'k': 2, 'v': 'b', 'items': []},
                        {'k': 3, 'v': null}, {'k': 4} >>`,
    );
    await db.run(`INSERT INTO U VALUE {'f': 'z'}`);
    snapshot = await takeSnapshot();
  });
  after(() => db.close());

  /**
   * Run one statement in its own transaction. Success is aborted, so the
   * data never changes; a failure must be a BadRequestException, and
   * committing what is left of the transaction must change nothing.
   */
  const check = async (
    tokens: readonly string[],
    values: readonly string[],
  ): Promise<'succeeded' | 'failedAtStart' | 'failedLater'> => {
    const text = tokens.join(' ');
    // One value per `?`, taken in turn from the generated ones.
    const parameters = tokens
      .filter((token) => token === '?')
      .map((_, i) => ion(values.length === 0 ? '1' : values[i % values.length]!));
    const tx = db.ledger.begin();
    let failure: unknown;
    try {
      await within(executeStatement(tx, text, parameters), STATEMENT_TIMEOUT_MS, text);
    } catch (error) {
      failure = error;
    }
    if (failure === undefined) {
      tx.abort();
      return 'succeeded';
    }

    assert.ok(failure instanceof LedgerError, `${text}\n  threw ${String(failure)}`);
    assert.equal(failure.code, 'BadRequestException', `${text}\n  threw ${failure.message}`);
    if (failure instanceof PartiqlSyntaxError && !/characters, more than/.test(failure.message)) {
      assert.ok(failure.position !== undefined, `${text}\n  has no position: ${failure.message}`);
      assert.match(failure.message, /Errors at: line \d+, column \d+$/);
    }

    if (tx.state === 'open') await tx.commit();
    assert.deepEqual(await takeSnapshot(), snapshot, `${text}\n  changed the data`);
    return /line 1, column 1$/.test(failure.message) ? 'failedAtStart' : 'failedLater';
  };

  /** Run the property, returning how often each outcome occurred. */
  const fuzz = async (
    arbitrary: fc.Arbitrary<string[]>,
    runs: number,
  ): Promise<Record<'succeeded' | 'failedAtStart' | 'failedLater', number>> => {
    const outcomes = { succeeded: 0, failedAtStart: 0, failedLater: 0 };
    await fc.assert(
      fc.asyncProperty(arbitrary, parametersArb, async (tokens, values) => {
        outcomes[await check(tokens, values)] += 1;
      }),
      { numRuns: runs },
    );
    return outcomes;
  };

  test('random token streams', { timeout: 60_000 }, async () => {
    const outcomes = await fuzz(randomStreamArb, Number(process.env.FUZZ_RUNS ?? 250));
    // Most streams start like a statement, so the parser must get past the first token.
    assert.ok(outcomes.failedLater > outcomes.failedAtStart, JSON.stringify(outcomes));
  });

  test('mutated valid statements', { timeout: 60_000 }, async () => {
    const outcomes = await fuzz(mutatedArb, Number(process.env.FUZZ_RUNS ?? 350));
    assert.ok(outcomes.succeeded > 0, `no mutated statement ran: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.failedLater > 0, `no mutated statement failed: ${JSON.stringify(outcomes)}`);
  });

  test('valid statements succeed', async () => {
    for (const tokens of VALID) {
      const text = tokens.join(' ');
      const parameters = tokens.filter((token) => token === '?').map(() => dom.Value.from(1));
      const tx = db.ledger.begin();
      await executeStatement(tx, text, parameters);
      tx.abort();
    }
    assert.deepEqual(await takeSnapshot(), snapshot);
  });
});
