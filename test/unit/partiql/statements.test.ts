import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dom, dumpText, loadAll } from 'ion-js';
import { LedgerError, executeStatement } from '../../../src/engine/index.js';
import {
  expectedTexts,
  ion,
  openLedger,
  orderedTexts,
  sortedTexts,
  type LedgerFixture,
} from './ledger-fixture.js';

/** One statement, its parameters and the Ion values it must return, in any order. */
interface Case {
  name: string;
  statement: string;
  parameters?: unknown[];
  /** An Ion text stream of the expected values. */
  expected: string;
}

const BOOKS = [
  `{isbn: "978-1", title: "Ion Basics", pages: 120, price: 12.50, published: 2021-03-04T,
    tags: ["ion", "intro"], author: {name: "Ada", country: "FR"}, stock: null}`,
  `{isbn: "978-2", title: "Ledger Design", pages: 340, price: 45.00, published: 2019-11-20T,
    tags: ["ledger", "design", "hash"], author: {name: "Brook", country: "NZ"}}`,
  `{isbn: "978-3", title: "100% Proofs", pages: 88, price: 9.99, published: 2023-07-01T,
    tags: [], author: {name: "Chen", country: "FR"}, stock: 5}`,
  `{isbn: "978-4", title: "Query_Tuning", pages: 210, published: 2020-01-15T,
    tags: ["query"], author: {name: "Dara"}}`,
];

const SHELVES = [
  `{section: "A", isbn: "978-1", row: 1}`,
  `{section: "B", isbn: "978-2", row: 2}`,
  `{section: "A", isbn: "978-3", row: 3}`,
];

async function seed(db: LedgerFixture): Promise<void> {
  await db.run('CREATE TABLE Book');
  await db.run('CREATE TABLE Shelf');
  await db.run('CREATE INDEX ON Book (isbn)');
  await db.run('INSERT INTO Book ?', new dom.List(BOOKS.map(ion)));
  await db.run('INSERT INTO Shelf ?', new dom.List(SHELVES.map(ion)));
}

function runCases(db: () => LedgerFixture, cases: Case[]): void {
  for (const c of cases) {
    test(c.name, async () => {
      const result = await db().run(c.statement, ...(c.parameters ?? []));
      assert.deepEqual(sortedTexts(result.values), expectedTexts(c.expected), c.statement);
    });
  }
}

/** Build a case that evaluates one expression against a single row. */
function expr(name: string, expression: string, expected: string): Case {
  return {
    name,
    statement: `SELECT VALUE ${expression} FROM Shelf AS s WHERE s.row = 1`,
    expected,
  };
}

async function rejects(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof LedgerError, `expected a LedgerError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('SELECT over a seeded ledger', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await seed(db);
  });
  after(() => db.close());
  const fixture = () => db;

  describe('projections and sources', () => {
    runCases(fixture, [
      {
        name: 'star with a filter',
        statement: `SELECT * FROM Shelf WHERE section = 'A'`,
        expected: `{section: "A", isbn: "978-1", row: 1} {section: "A", isbn: "978-3", row: 3}`,
      },
      {
        name: 'paths and aliases',
        statement: `SELECT b.title, b.author.name AS who FROM Book AS b WHERE b.isbn = '978-2'`,
        expected: `{title: "Ledger Design", who: "Brook"}`,
      },
      {
        name: 'alias without AS',
        statement: `SELECT b.pages FROM Book b WHERE b.isbn = '978-1'`,
        expected: `{pages: 120}`,
      },
      {
        name: 'alias star',
        statement: `SELECT s.* FROM Shelf AS s WHERE s.row = 2`,
        expected: `{section: "B", isbn: "978-2", row: 2}`,
      },
      {
        name: 'SELECT VALUE',
        statement: `SELECT VALUE b.pages FROM Book AS b WHERE b.pages > 200`,
        expected: `340 210`,
      },
      {
        name: 'missing field is omitted',
        statement: `SELECT b.isbn, b.author.country FROM Book AS b WHERE b.isbn = '978-4'`,
        expected: `{isbn: "978-4"}`,
      },
      {
        name: 'list element by position',
        statement: `SELECT VALUE b.tags[1] FROM Book AS b WHERE b.isbn = '978-2'`,
        expected: `"design"`,
      },
      {
        name: 'nested struct value',
        statement: `SELECT VALUE b.author FROM Book AS b WHERE b.author.name = 'Chen'`,
        expected: `{name: "Chen", country: "FR"}`,
      },
      {
        name: 'comma join',
        statement: `SELECT s.section, b.title FROM Shelf AS s, Book AS b
                    WHERE s.isbn = b.isbn AND s.section = 'A'`,
        expected: `{section: "A", title: "Ion Basics"} {section: "A", title: "100% Proofs"}`,
      },
      {
        name: 'JOIN ON',
        statement: `SELECT s.row, b.pages FROM Shelf AS s JOIN Book AS b ON s.isbn = b.isbn
                    WHERE b.pages > 100`,
        expected: `{row: 1, pages: 120} {row: 2, pages: 340}`,
      },
      {
        name: 'INNER JOIN ON',
        statement: `SELECT VALUE b.title FROM Shelf AS s INNER JOIN Book AS b ON s.isbn = b.isbn
                    WHERE s.section = 'B'`,
        expected: `"Ledger Design"`,
      },
      {
        name: 'range over a nested list',
        statement: `SELECT b.isbn, t FROM Book AS b, b.tags AS t WHERE b.pages > 100`,
        expected: `{isbn: "978-1", t: "ion"} {isbn: "978-1", t: "intro"}
                   {isbn: "978-2", t: "ledger"} {isbn: "978-2", t: "design"}
                   {isbn: "978-2", t: "hash"} {isbn: "978-4", t: "query"}`,
      },
      {
        name: 'range over a nested list through an @ variable',
        statement: `SELECT VALUE t FROM Book AS b, @b.tags AS t WHERE @b.isbn = '978-1'`,
        expected: `"ion" "intro"`,
      },
      {
        name: 'UNPIVOT a nested struct',
        statement: `SELECT k, v FROM Book AS b, UNPIVOT b.author AS v AT k WHERE b.isbn = '978-1'`,
        expected: `{k: "name", v: "Ada"} {k: "country", v: "FR"}`,
      },
      {
        name: 'UNPIVOT a struct literal and a scalar',
        statement: `SELECT VALUE [k, v] FROM UNPIVOT {'a': 1, 'b': [2]} AS v AT k, UNPIVOT 3 AS w`,
        expected: `["a", 1] ["b", [2]]`,
      },
      {
        name: 'UNPIVOT a scalar as one field',
        statement: `SELECT k, v FROM UNPIVOT 3 AS v AT k`,
        expected: `{k: "_1", v: 3}`,
      },
      {
        name: 'UNPIVOT in a subquery',
        statement: `SELECT VALUE (SELECT VALUE k FROM UNPIVOT b.author AS v AT k)
                    FROM Book AS b WHERE b.isbn = '978-2'`,
        expected: `["name", "country"]`,
      },
      {
        name: 'parameters in WHERE',
        statement: `SELECT VALUE b.title FROM Book AS b WHERE b.pages > ? AND b.author.country = ?`,
        parameters: [100, 'FR'],
        expected: `"Ion Basics"`,
      },
      {
        name: 'information_schema by name',
        statement: `SELECT VALUE t.status FROM information_schema.user_tables AS t WHERE t.name = ?`,
        parameters: ['Shelf'],
        expected: `"ACTIVE"`,
      },
      {
        name: 'indexes of a table',
        statement: `SELECT VALUE indexes.expr FROM information_schema.user_tables info,
                    info.indexes indexes WHERE info.name = 'Book'`,
        expected: `"[isbn]"`,
      },
    ]);
  });

  describe('WHERE predicates', () => {
    const isbns = (condition: string, expected: string): Case => ({
      name: condition,
      statement: `SELECT VALUE b.isbn FROM Book AS b WHERE ${condition}`,
      expected,
    });
    runCases(fixture, [
      isbns('b.pages = 120', `"978-1"`),
      isbns('b.pages <> 120', `"978-2" "978-3" "978-4"`),
      isbns('b.pages != 120', `"978-2" "978-3" "978-4"`),
      isbns('b.pages < 120', `"978-3"`),
      isbns('b.pages <= 120', `"978-1" "978-3"`),
      isbns('b.pages > 210', `"978-2"`),
      isbns('b.pages >= 210', `"978-2" "978-4"`),
      isbns('b.price = 45', `"978-2"`),
      isbns("b.pages > 100 AND b.author.country = 'FR'", `"978-1"`),
      isbns('b.pages < 100 OR b.pages > 300', `"978-2" "978-3"`),
      isbns('NOT (b.pages > 100)', `"978-3"`),
      // A comparison with a missing field is unknown, and NOT unknown is not true.
      isbns('NOT (b.price > 10)', `"978-3"`),
      isbns("b.isbn IN ('978-1', '978-4', 'none')", `"978-1" "978-4"`),
      isbns('b.pages BETWEEN 88 AND 120', `"978-1" "978-3"`),
      isbns('b.pages NOT BETWEEN 88 AND 120', `"978-2" "978-4"`),
      isbns("b.title LIKE 'Ion%'", `"978-1"`),
      isbns("b.title LIKE 'ion%'", ``),
      isbns("b.title LIKE '%De_ign'", `"978-2"`),
      isbns("b.title LIKE '100!%%' ESCAPE '!'", `"978-3"`),
      isbns("b.title LIKE 'Query!_%' ESCAPE '!'", `"978-4"`),
      isbns("b.title LIKE '%!_%' ESCAPE '!'", `"978-4"`),
      isbns("b.title NOT LIKE '%e%'", `"978-1" "978-3"`),
      // PartiQL treats MISSING as a kind of NULL, so IS NULL holds for both.
      isbns('b.stock IS NULL', `"978-1" "978-2" "978-4"`),
      isbns('b.stock IS NOT NULL', `"978-3"`),
      isbns('b.stock IS MISSING', `"978-2" "978-4"`),
      isbns('b.stock IS NOT MISSING', `"978-1" "978-3"`),
      isbns('EXISTS(b.tags)', `"978-1" "978-2" "978-4"`),
      isbns('EXISTS(b.pages) OR EXISTS(b.title) OR EXISTS(b.published)', ''),
      isbns("EXISTS(SELECT * FROM b.tags AS t WHERE t = 'hash')", `"978-2"`),
      isbns('b.published < `2021-01-01T`', `"978-2" "978-4"`),
      isbns('b.price = `45.00`', `"978-2"`),
      isbns('b.published = `2023-07-01T`', `"978-3"`),
      isbns('b.author = `{name: "Dara"}`', `"978-4"`),
      isbns('b.tags = `["query"]`', `"978-4"`),
    ]);
  });

  describe('lexical forms', () => {
    runCases(fixture, [
      {
        name: 'lower-case keywords',
        statement: `select value b.pages from Book as b where b.isbn = '978-1'`,
        expected: '120',
      },
      {
        name: 'comments',
        statement: `-- the pages of one book
                    SELECT /* only */ VALUE b.pages FROM Book AS b WHERE b.isbn = '978-2'`,
        expected: '340',
      },
      {
        name: 'quoted identifiers',
        statement: `SELECT "b"."title" AS "Title" FROM Book AS "b" WHERE "b".isbn = '978-3'`,
        expected: '{Title: "100% Proofs"}',
      },
      {
        name: 'doubled quote in a string',
        statement: `SELECT VALUE 'it''s' FROM Shelf AS s WHERE s.row = 1`,
        expected: '"it\'s"',
      },
      {
        name: 'IN with a list parameter',
        statement: 'SELECT VALUE b.isbn FROM Book AS b WHERE b.isbn IN ?',
        parameters: ['ion:["978-2", "978-4"]'],
        expected: '"978-2" "978-4"',
      },
      {
        name: 'parameter of any Ion type',
        statement: 'SELECT VALUE b.isbn FROM Book AS b WHERE b.published = ? OR b.tags = ?',
        parameters: ['ion:2019-11-20T', 'ion:["query"]'],
        expected: '"978-2" "978-4"',
      },
    ]);
  });

  test('IN with parameters', async () => {
    const result = await db.run(
      'SELECT VALUE b.isbn FROM Book AS b WHERE b.pages IN (?, ?)',
      340,
      88,
    );
    assert.deepEqual(sortedTexts(result.values), expectedTexts(`"978-2" "978-3"`));
  });

  describe('Ion literals', () => {
    runCases(fixture, [
      expr('timestamp literal', '`2024-02-29T10:00:00.000Z`', '2024-02-29T10:00:00.000Z'),
      expr('decimal literal', '`12.50`', '12.50'),
      expr('blob literal', '`{{aGVsbG8=}}`', '{{aGVsbG8=}}'),
      expr('list literal', '`[1, 2.5, "x", null.int]`', '[1, 2.5, "x", null.int]'),
      expr('struct literal', '`{a: 1, b: [true]}`', '{a: 1, b: [true]}'),
      expr('symbol literal', '`sym`', 'sym'),
      expr('PartiQL struct and list', "{'a': 1, 'b': [2, 'x']}", '{a: 1, b: [2, "x"]}'),
      expr('bag of values', '<< 1, 2 >>', '[1, 2]'),
    ]);
  });

  describe('scalar functions', () => {
    runCases(fixture, [
      expr('CHAR_LENGTH', "CHAR_LENGTH('héllo')", '5'),
      expr('CHARACTER_LENGTH empty', "CHARACTER_LENGTH('')", '0'),
      expr('CHAR_LENGTH of null', 'CHAR_LENGTH(NULL)', 'null'),
      expr('LOWER', "LOWER('AbC')", '"abc"'),
      expr('UPPER', "UPPER('abc')", '"ABC"'),
      expr('SUBSTRING with length', "SUBSTRING('abcdef', 2, 3)", '"bcd"'),
      expr('SUBSTRING without length', "SUBSTRING('abcdef', 4)", '"def"'),
      expr('SUBSTRING FROM', "SUBSTRING('abcdef' FROM 3)", '"cdef"'),
      expr('SUBSTRING FROM FOR', "SUBSTRING('abcdef' FROM 2 FOR 2)", '"bc"'),
      expr('SUBSTRING before start', "SUBSTRING('abcdef', 0, 2)", '"a"'),
      expr('TRIM', "TRIM('  x  ')", '"x"'),
      expr('TRIM LEADING', "TRIM(LEADING FROM '  x  ')", '"x  "'),
      expr('TRIM TRAILING', "TRIM(TRAILING FROM '  x  ')", '"  x"'),
      expr('TRIM BOTH characters', "TRIM(BOTH 'y' FROM 'yyxyy')", '"x"'),
      expr('TRIM LEADING set', "TRIM(LEADING 'ab' FROM 'abbax')", '"x"'),
      expr('DATE_ADD day', 'DATE_ADD(day, 30, `2024-01-15T`)', '2024-02-14T'),
      expr('DATE_ADD negative day', 'DATE_ADD(day, -1, `2024-03-01T`)', '2024-02-29T'),
      expr('DATE_ADD year', 'DATE_ADD(year, 2, `2022-06-01T`)', '2024-06-01T'),
      expr('DATE_ADD hour', 'DATE_ADD(hour, 5, `2024-01-01T22:00Z`)', '2024-01-02T03:00Z'),
      expr(
        'DATE_ADD second',
        'DATE_ADD(second, 30, `2024-01-01T10:00:45.250Z`)',
        '2024-01-01T10:01:15.250Z',
      ),
      expr('DATE_ADD month widens precision', 'DATE_ADD(month, 2, `2022T`)', '2022-03T'),
      expr('DATE_ADD month to a shorter month', 'DATE_ADD(month, 1, `2021-01-31T`)', '2021-02-28T'),
      expr('DATE_ADD month to a leap February', 'DATE_ADD(month, 1, `2020-01-31T`)', '2020-02-29T'),
      expr('DATE_ADD year from a leap day', 'DATE_ADD(year, 1, `2020-02-29T`)', '2021-02-28T'),
      expr(
        'DATE_ADD month in the local calendar',
        'DATE_ADD(month, 1, `2021-01-31T23:30-02:00`)',
        '2021-02-28T23:30-02:00',
      ),
      expr(
        'DATE_ADD keeps microseconds',
        'DATE_ADD(second, 1, `2019-12-31T23:59:59.999999-08:00`)',
        '2020-01-01T00:00:00.999999-08:00',
      ),
      expr(
        'DATE_ADD keeps nanoseconds',
        'DATE_ADD(day, 1, `2017-01-02T03:04:05.123456789Z`)',
        '2017-01-03T03:04:05.123456789Z',
      ),
      expr('DATE_ADD hour to a year', 'DATE_ADD(hour, 1, `2017T`)', '2017-01-01T01:00Z'),
      expr(
        'DATE_ADD hour widens precision',
        'DATE_ADD(hour, 3, `2022-05-06T`)',
        '2022-05-06T03:00Z',
      ),
      expr(
        'DATE_ADD second widens a date',
        'DATE_ADD(second, 5, `2024-01-01T`)',
        '2024-01-01T00:00:05Z',
      ),
      expr(
        'DATE_ADD keeps the offset',
        'DATE_ADD(hour, 2, `2024-01-01T10:00+05:30`)',
        '2024-01-01T12:00+05:30',
      ),
      expr(
        'DATE_DIFF whole months backwards',
        'DATE_DIFF(month, `2024-03-20T`, `2024-01-25T`)',
        '-1',
      ),
      expr('DATE_DIFF whole year', 'DATE_DIFF(year, `2020-06-01T`, `2021-06-01T`)', '1'),
      expr('DATE_DIFF day', 'DATE_DIFF(day, `2024-01-01T`, `2024-03-01T`)', '60'),
      expr('DATE_DIFF negative', 'DATE_DIFF(year, `2024-01-01T`, `2020-01-01T`)', '-4'),
      expr('DATE_DIFF partial year', 'DATE_DIFF(year, `2023-11T`, `2024-02T`)', '0'),
      expr(
        'DATE_DIFF partial day',
        'DATE_DIFF(day, `2024-01-01T20:00Z`, `2024-01-02T08:00Z`)',
        '0',
      ),
      expr('DATE_DIFF whole months', 'DATE_DIFF(month, `2024-01-15T`, `2024-05-01T`)', '3'),
      expr('DATE_DIFF month boundary', 'DATE_DIFF(month, `2023-12-31T`, `2024-01-01T`)', '0'),
      expr('EXTRACT YEAR', 'EXTRACT(YEAR FROM `2024-05-06T07:08:09Z`)', '2024'),
      expr('EXTRACT MONTH', 'EXTRACT(MONTH FROM `2024-05T`)', '5'),
      expr('EXTRACT DAY', 'EXTRACT(DAY FROM `2024-05-06T`)', '6'),
      expr('EXTRACT HOUR local', 'EXTRACT(HOUR FROM `2024-05-06T07:08:09+03:00`)', '7'),
      expr('EXTRACT MINUTE', 'EXTRACT(MINUTE FROM `2024-05-06T07:08:09Z`)', '8'),
      expr('EXTRACT TIMEZONE_HOUR', 'EXTRACT(TIMEZONE_HOUR FROM `2024-05-06T07:08:09+05:30`)', '5'),
      expr(
        'EXTRACT TIMEZONE_MINUTE',
        'EXTRACT(TIMEZONE_MINUTE FROM `2024-05-06T07:08:09+05:30`)',
        '30',
      ),
      expr(
        'TO_STRING padded',
        "TO_STRING(`2024-05-06T07:08:09Z`, 'yyyy/MM/dd HH:mm:ss')",
        '"2024/05/06 07:08:09"',
      ),
      expr('TO_STRING month name', "TO_STRING(`2024-03-09T`, 'MMMM d, yyyy')", '"March 9, 2024"'),
      expr(
        'TO_STRING offset symbols',
        "TO_STRING(`1969-07-20T20:18+07:00`, 'X XX XXX x xx xxx')",
        '"+07 +0700 +07:00 +07 +0700 +07:00"',
      ),
      expr(
        'TO_STRING offset symbols at UTC',
        "TO_STRING(`1969-07-20T20:18Z`, 'X XX XXX x xxx')",
        '"Z Z Z +00 +00:00"',
      ),
      expr(
        'TO_STRING fractions of a second',
        "TO_STRING(`2021-01-02T20:18:05.123456Z`, 's.S s.SS s.SSS s.SSSSSS s.SSSSSSSSS')",
        '"5.1 5.12 5.123 5.123456 5.123456000"',
      ),
      expr(
        'TO_TIMESTAMP microseconds and offset',
        "TO_TIMESTAMP('2021-01-02 20:18:05.123456 +0530', 'yyyy-MM-dd HH:mm:ss.SSSSSS xx')",
        '2021-01-02T20:18:05.123456+05:30',
      ),
      expr(
        'TO_STRING short',
        "TO_STRING(`2024-03-09T15:04Z`, 'MMM d yy h:mm a')",
        '"Mar 9 24 3:04 PM"',
      ),
      expr('TO_STRING single y', "TO_STRING(`2024-03-09T`, 'd/M/y')", '"9/3/2024"'),
      expr(
        'TO_STRING four and five X',
        "[TO_STRING(`1969-07-20T20:18+08:00`, 'y-MM-dd''T''H:m:ssXXXX'), " +
          "TO_STRING(`1969-07-20T20:18+08:00`, 'y-MM-dd''T''H:m:ssXXXXX'), " +
          "TO_STRING(`1969-07-20T20:18Z`, 'XXXX XXXXX xxxx xxxxx')]",
        '["1969-07-20T20:18:00+0800", "1969-07-20T20:18:00+08:00", "Z Z +0000 +00:00"]',
      ),
      expr(
        'TO_STRING quote in quoted text',
        "[TO_STRING(`1969-07-20T20:18Z`, 'h ''o''''clock'''), TO_STRING(`1969-07-20T`, 'y''''')]",
        `["8 o'clock", "1969'"]`,
      ),
      expr(
        'TO_TIMESTAMP four and five X',
        "[TO_TIMESTAMP('1969-07-20T20:18:00+0800', 'y-MM-dd''T''H:m:ssXXXX'), " +
          "TO_TIMESTAMP('1969-07-20T20:18:00+08:00', 'y-MM-dd''T''H:m:ssXXXXX'), " +
          "TO_TIMESTAMP('8 o''clock', 'H ''o''''clock''')]",
        '[1969-07-20T20:18:00+08:00, 1969-07-20T20:18:00+08:00, 1970-01-01T08:00Z]',
      ),
      expr(
        'TO_TIMESTAMP Ion text',
        "TO_TIMESTAMP('2024-05-06T07:08:09+02:00')",
        '2024-05-06T07:08:09+02:00',
      ),
      expr(
        'TO_TIMESTAMP with format',
        "TO_TIMESTAMP('06/05/2024 13:45+02:00', 'dd/MM/yyyy HH:mmXXX')",
        '2024-05-06T13:45+02:00',
      ),
      expr('TO_TIMESTAMP month precision', "TO_TIMESTAMP('Mar 2022', 'MMM yyyy')", '2022-03T'),
      expr(
        'EXTRACT negative offset',
        'EXTRACT(TIMEZONE_MINUTE FROM `2024-05-06T07:08-05:30`)',
        '-30',
      ),
      expr('TO_TIMESTAMP year only', "TO_TIMESTAMP('1999', 'y')", '1999T'),
      expr(
        'EXTRACT from null and missing',
        '[EXTRACT(YEAR FROM null), EXTRACT(HOUR FROM missing), EXTRACT(DAY FROM s.nothing)]',
        '[null, null, null]',
      ),
      expr('TO_TIMESTAMP two-digit year 70', "TO_TIMESTAMP('70-03', 'yy-MM')", '1970-03T'),
      expr('TO_TIMESTAMP two-digit year 69', "TO_TIMESTAMP('69-03', 'yy-MM')", '2069-03T'),
      expr(
        'TO_TIMESTAMP seconds and AM/PM',
        "TO_TIMESTAMP('2024-05-06 01:02:03 PM', 'yyyy-MM-dd hh:mm:ss a')",
        '2024-05-06T13:02:03Z',
      ),
      expr(
        'TO_TIMESTAMP milliseconds',
        "TO_TIMESTAMP('2024-05-06 01:02:03.456', 'yyyy-MM-dd HH:mm:ss.SSS')",
        '2024-05-06T01:02:03.456Z',
      ),
      expr('SIZE of list', 'SIZE([1, 2, 3])', '3'),
      expr('SIZE of struct', "SIZE({'a': 1, 'b': 2})", '2'),
      expr('COALESCE', 'COALESCE(NULL, MISSING, 3, 4)', '3'),
      expr('COALESCE all null', 'COALESCE(NULL, NULL)', 'null'),
      expr('NULLIF equal', 'NULLIF(1, 1)', 'null'),
      expr('NULLIF different', 'NULLIF(1, 2)', '1'),
      expr('NULLIF missing and null', 'NULLIF(missing, null)', 'null'),
      expr('NULLIF missing twice', 'NULLIF(missing, missing)', 'null'),
      expr('CAST string to INT', "CAST('12' AS INT)", '12'),
      expr('CAST decimal to INT', 'CAST(2.7 AS INT)', '2'),
      expr('CAST to INTEGER', "CAST('-3' AS INTEGER)", '-3'),
      expr('CAST to FLOAT', 'CAST(1 AS FLOAT)', '1e0'),
      expr('CAST to DECIMAL', "CAST('1.5' AS DECIMAL)", '1.5'),
      expr('CAST to STRING', 'CAST(3 AS STRING)', '"3"'),
      expr('CAST to VARCHAR', 'CAST(true AS VARCHAR)', '"true"'),
      // QLDB writes a float as Java's Double.toString does: CAST(`1e0` AS STRING) is "1.0".
      expr(
        'CAST floats to STRING',
        '[CAST(`1e0` AS STRING), CAST(`1.5e0` AS STRING), CAST(`-0.25e0` AS STRING), ' +
          'CAST(`0.001e0` AS STRING), CAST(`1234567e0` AS STRING), CAST(`1e7` AS STRING), ' +
          'CAST(`1e-4` AS STRING), CAST(`1.23456789125e8` AS STRING), CAST(`5e-324` AS STRING)]',
        '["1.0", "1.5", "-0.25", "0.001", "1234567.0", "1.0E7", "1.0E-4", "1.23456789125E8", "4.9E-324"]',
      ),
      expr(
        'CAST special floats to STRING',
        '[CAST(`nan` AS STRING), CAST(`+inf` AS STRING), CAST(`-inf` AS STRING), CAST(`-0e0` AS STRING)]',
        '["NaN", "Infinity", "-Infinity", "-0.0"]',
      ),
      expr('CAST float to SYMBOL', 'CAST(`1e0` AS SYMBOL)', "'1.0'"),
      expr(
        'CAST decimal to STRING',
        '[CAST(`1d0` AS STRING), CAST(1.50 AS STRING)]',
        '["1", "1.50"]',
      ),
      expr(
        'a float written as a string reads back the same',
        '[CAST(CAST(`0.1e0` AS STRING) AS FLOAT), CAST(CAST(`1e10` AS STRING) AS FLOAT)]',
        '[0.1e0, 1e10]',
      ),
      expr('CAST to SYMBOL', "CAST('x' AS SYMBOL)", 'x'),
      expr('CAST to BOOL', 'CAST(1 AS BOOL)', 'true'),
      expr('CAST string to BOOLEAN', "CAST('false' AS BOOLEAN)", 'false'),
      expr('CAST to TIMESTAMP', "CAST('2024-01-02T' AS TIMESTAMP)", '2024-01-02T'),
      expr('CAST to LIST', 'CAST(`(1 2)` AS LIST)', '[1, 2]'),
      expr('CAST to SEXP', 'CAST([1, 2] AS SEXP)', '(1 2)'),
      expr('CAST to STRUCT', "CAST({'a': 1} AS STRUCT)", '{a: 1}'),
      expr('CAST null', 'CAST(NULL AS INT)', 'null'),
      expr(
        'CAST null and missing to NULL and MISSING',
        '[CAST(null AS NULL), CAST(missing AS NULL), CAST(null AS MISSING) IS MISSING, ' +
          'CAST(missing AS MISSING) IS MISSING, CAST(missing AS BOOLEAN) IS MISSING]',
        '[null, null, true, true, true]',
      ),
      expr(
        'CAST text to BOOLEAN',
        "[CAST('a' AS BOOLEAN), CAST('TRUE' AS BOOLEAN), CAST(`'true'` AS BOOLEAN), CAST('' AS BOOLEAN)]",
        '[false, true, true, false]',
      ),
      expr(
        'CAST text to FLOAT',
        "[CAST('12' AS FLOAT), CAST(' -1.5e3 ' AS FLOAT), CAST('.5' AS FLOAT), CAST('Infinity' AS FLOAT)]",
        '[12e0, -1500e0, 0.5e0, +inf]',
      ),
      expr('CAST NaN text to FLOAT', "CAST('NaN' AS FLOAT)", 'nan'),
      expr('arithmetic', '(7 + 3) * 2 - 8 / 4', '18'),
      expr(
        'IS INT',
        '[1 IS INT, 1.0 IS INT, 1.0 IS DECIMAL, NULL IS INT, s.row IS NOT STRING]',
        '[true, false, true, false, true]',
      ),
      expr(
        'IS of containers and text',
        "[{'a': 1} IS STRUCT, [1] IS LIST, 'x' IS STRING, `x` IS SYMBOL]",
        '[true, true, true, true]',
      ),
      expr('a number with an exponent is a decimal', '0.1e0 + 0.2', '0.3'),
      expr(
        'an exponent keeps every digit',
        '1.2345678901234567890123456789E0',
        '1.2345678901234567890123456789',
      ),
      expr('a backtick float stays a float', '`1.5e0` + 0', '1.5e0'),
      expr('negative decimal difference', '12.50 - 20', '-7.50'),
      expr('negative decimal product', '12.50 * -1', '-12.50'),
      expr('negated decimal', '-(s.row + 0.5)', '-1.5'),
      expr('negative decimal quotient', '-3.0 / 2', '-1.5'),
      expr('CAST negative int to DECIMAL', 'CAST(-3 AS DECIMAL)', '-3.'),
      expr('CAST large float to DECIMAL', 'CAST(`1e308` AS DECIMAL)', '1d308'),
      expr('CAST small float to DECIMAL', 'CAST(`1.5e-7` AS DECIMAL)', '1.5d-7'),
      expr('concatenation', "'led' || 'ger'", '"ledger"'),
      expr('CASE', "CASE WHEN 1 > 2 THEN 'a' ELSE 'b' END", '"b"'),
    ]);
  });

  test('UTCNOW returns the current time', async () => {
    const before = Date.now();
    const result = await db.run('SELECT VALUE UTCNOW() FROM Shelf AS s WHERE s.row = 1');
    const after = Date.now();
    assert.equal(result.values.length, 1);
    const value = result.values[0]!;
    assert.equal(value.getType().name, 'timestamp');
    const time = value.timestampValue()!.getDate().getTime();
    assert.ok(
      time >= before - 1 && time <= after + 1,
      `UTCNOW ${time} not in [${before}, ${after}]`,
    );
    assert.equal(value.timestampValue()!.getLocalOffset(), 0);
  });

  describe('failing casts', () => {
    for (const [name, expression] of [
      ['string to INT', "CAST('abc' AS INT)"],
      ['struct to INT', "CAST({'a': 1} AS INT)"],
      ['list to STRUCT', 'CAST([1] AS STRUCT)'],
      ['string to TIMESTAMP', "CAST('not a time' AS TIMESTAMP)"],
      ['string to DECIMAL', "CAST('1.2.3' AS DECIMAL)"],
      ['hexadecimal string to FLOAT', "CAST('0x10' AS FLOAT)"],
      ['binary string to FLOAT', "CAST('0b11' AS FLOAT)"],
      ['empty string to FLOAT', "CAST('' AS FLOAT)"],
    ] as const) {
      test(`CAST ${name} fails`, async () => {
        await rejects(
          db.run(`SELECT VALUE ${expression} FROM Shelf AS s WHERE s.row = 1`),
          'BadRequestException',
          /^Cannot cast \S+( '[^']*'| [\d.]+)? to [A-Z]+; Errors at: line 1, column \d+$/,
        );
      });
    }
  });

  test('CAST of a value to NULL or MISSING fails', async () => {
    for (const [expression, message] of [
      ['CAST(true AS NULL)', /^Cannot cast bool true to NULL; only null and missing cast to NULL;/],
      [
        'CAST(1 AS MISSING)',
        /^Cannot cast int 1 to MISSING; only null and missing cast to MISSING;/,
      ],
    ] as const) {
      await rejects(
        db.run(`SELECT VALUE ${expression} FROM Shelf AS s WHERE s.row = 1`),
        'BadRequestException',
        message,
      );
    }
  });

  test('CAST to an unknown type lists the types', async () => {
    for (const value of ['1', 'missing']) {
      await rejects(
        db.run(`SELECT VALUE CAST(${value} AS FOO) FROM Shelf AS s WHERE s.row = 1`),
        'BadRequestException',
        /^Unknown type FOO in CAST; use one of NULL, MISSING, BOOL, BOOLEAN, INT, /,
      );
    }
  });

  test('a wrong argument count names the count', async () => {
    await rejects(
      db.run("SELECT VALUE UPPER('a', 'b') FROM Shelf AS s WHERE s.row = 1"),
      'BadRequestException',
      /^UPPER takes 1 argument, got 2;/,
    );
    await rejects(
      db.run("SELECT VALUE SUBSTRING('a') FROM Shelf AS s WHERE s.row = 1"),
      'BadRequestException',
      /^SUBSTRING takes 2 to 3 arguments, got 1;/,
    );
  });

  test('a wrong argument names its value', async () => {
    for (const [expression, message] of [
      ["DATE_ADD(year, 1, '2010T')", /^DATE_ADD expects a timestamp, got string '2010T';/],
      ["TO_STRING('2010', 'y')", /^TO_STRING expects a timestamp, got string '2010';/],
      ['UPPER(12.50)', /^UPPER expects a string, got decimal 12\.50;/],
      ['SIZE(`1e0`)', /^SIZE expects a list, struct or s-expression, got float 1\.0;/],
      ["1 + 'a'", /^\+ expects numbers, got int 1 and string 'a';/],
      ["'a' || true", /^\|\| joins strings, got string 'a' and bool true;/],
    ] as const) {
      await rejects(
        db.run(`SELECT VALUE ${expression} FROM Shelf AS s WHERE s.row = 1`),
        'BadRequestException',
        message,
      );
    }
  });

  test('format symbols that are not supported are refused', async () => {
    for (const [call, symbol] of [
      ["TO_STRING(`2021-01-02T`, 'EEEE, MMMM d')", 'EEEE'],
      ["TO_STRING(`2021-01-02T`, 'yyy')", 'yyy'],
      ["TO_TIMESTAMP('Mon 2021', 'EEE yyyy')", 'EEE'],
    ] as const) {
      await rejects(
        db.run(`SELECT VALUE ${call} FROM Shelf AS s WHERE s.row = 1`),
        'BadRequestException',
        new RegExp(`^TO_[A-Z]+ format symbol '${symbol}' is not supported; use yyyy, yy`),
      );
    }
  });

  describe('failing DATE_ADD', () => {
    for (const [name, expression, message] of [
      ['past year 9999', 'DATE_ADD(day, 1, `9999-12-31T`)', /outside the years 1 to 9999/],
      ['before year 1', 'DATE_ADD(year, -1, `0001-06-01T`)', /outside the years 1 to 9999/],
      ['a huge amount', 'DATE_ADD(second, 99999999999999999999, `2017T`)', /outside the years/],
      ['a fraction', 'DATE_ADD(day, 1.5, `2017T`)', /expects a whole number of days, got decimal/],
    ] as const) {
      test(`DATE_ADD ${name} fails`, async () => {
        await rejects(
          db.run(`SELECT VALUE ${expression} FROM Shelf AS s WHERE s.row = 1`),
          'BadRequestException',
          message,
        );
      });
    }
  });

  test('a field read beside an aggregate without GROUP BY is refused', async () => {
    for (const statement of [
      'SELECT b.title, COUNT(*) FROM Book AS b',
      "SELECT VALUE {'t': b.title, 'n': COUNT(*)} FROM Book AS b",
    ]) {
      await rejects(
        db.run(statement),
        'BadRequestException',
        /^b\.title is read outside an aggregate/,
      );
    }
    const result = await db.run('SELECT COUNT(*) AS n, MAX(b.title) AS t, 1 AS one FROM Book AS b');
    assert.equal(result.values.length, 1);
  });

  describe('aggregates', () => {
    runCases(fixture, [
      {
        name: 'COUNT star',
        statement: 'SELECT COUNT(*) AS n FROM Book',
        expected: '{n: 4}',
      },
      {
        name: 'COUNT without alias',
        statement: 'SELECT COUNT(*) FROM Book',
        expected: '{_1: 4}',
      },
      {
        name: 'COUNT skips missing',
        statement: 'SELECT COUNT(b.price) AS n FROM Book AS b',
        expected: '{n: 3}',
      },
      {
        name: 'COUNT skips null',
        statement: 'SELECT COUNT(b.stock) AS n FROM Book AS b',
        expected: '{n: 1}',
      },
      {
        name: 'SUM MIN MAX',
        statement:
          'SELECT SUM(b.pages) AS s, MIN(b.pages) AS lo, MAX(b.title) AS hi FROM Book AS b',
        expected: '{s: 758, lo: 88, hi: "Query_Tuning"}',
      },
      {
        name: 'AVG of ints',
        statement: 'SELECT VALUE AVG(b.pages) FROM Book AS b',
        expected: '189.5',
      },
      {
        name: 'SUM and AVG of negative decimals',
        statement: 'SELECT SUM(x) AS s, AVG(x) AS a FROM << -1.5, -2.25 >> AS x',
        expected: '{s: -3.75, a: -1.875}',
      },
      {
        name: 'AVG of floats is a decimal',
        statement: 'SELECT VALUE AVG(x) FROM << `1.5e0`, 2, null, `0.25e0` >> AS x',
        expected: '1.25',
      },
      {
        name: 'SUM of floats is a decimal',
        statement: 'SELECT VALUE SUM(x) FROM << `1.5e0`, 2, null, `0.25e0` >> AS x',
        expected: '3.75',
      },
      {
        name: 'SUM of an infinite float',
        statement: 'SELECT VALUE SUM(x) FROM << `-inf`, 1 >> AS x',
        expected: '-inf',
      },
      {
        name: 'AVG of an infinite float',
        statement: 'SELECT VALUE AVG(x) FROM << `+inf`, 1 >> AS x',
        expected: '+inf',
      },
      {
        name: 'aggregate with WHERE',
        statement: "SELECT VALUE SUM(b.pages) FROM Book AS b WHERE b.author.country = 'FR'",
        expected: '208',
      },
      {
        name: 'COUNT DISTINCT',
        statement: 'SELECT VALUE COUNT(DISTINCT b.author.country) FROM Book AS b',
        expected: '2',
      },
      {
        name: 'SUM DISTINCT',
        statement: 'SELECT VALUE SUM(DISTINCT s.row - s.row + 1) FROM Shelf AS s',
        expected: '1',
      },
      {
        name: 'aggregate over no rows',
        statement: "SELECT COUNT(*) AS n, SUM(b.pages) AS s FROM Book AS b WHERE b.isbn = 'none'",
        expected: '{n: 0, s: null}',
      },
      {
        name: 'SELECT DISTINCT',
        statement: 'SELECT DISTINCT VALUE s.section FROM Shelf AS s',
        expected: '"A" "B"',
      },
    ]);
  });

  describe('ORDER BY, LIMIT and OFFSET', () => {
    const ordered = (name: string, statement: string, expected: string): void => {
      test(name, async () => {
        const result = await db.run(statement);
        assert.deepEqual(orderedTexts(result.values), orderedTexts(loadAll(expected)));
      });
    };
    ordered('ascending', 'SELECT VALUE b.pages FROM Book AS b ORDER BY b.pages', '88 120 210 340');
    ordered(
      'descending',
      'SELECT VALUE b.pages FROM Book AS b ORDER BY b.pages DESC',
      '340 210 120 88',
    );
    ordered(
      'nulls first ascending by default',
      'SELECT VALUE b.isbn FROM Book AS b ORDER BY b.price ASC',
      '"978-4" "978-3" "978-1" "978-2"',
    );
    ordered(
      'NULLS LAST',
      'SELECT VALUE b.isbn FROM Book AS b ORDER BY b.price ASC NULLS LAST',
      '"978-3" "978-1" "978-2" "978-4"',
    );
    ordered(
      'DESC NULLS FIRST',
      'SELECT VALUE b.isbn FROM Book AS b ORDER BY b.price DESC NULLS FIRST',
      '"978-4" "978-2" "978-1" "978-3"',
    );
    ordered(
      'several keys',
      'SELECT VALUE s.row FROM Shelf AS s ORDER BY s.section ASC, s.row DESC',
      '3 1 2',
    );
    ordered(
      'LIMIT',
      'SELECT VALUE b.pages FROM Book AS b ORDER BY b.pages DESC LIMIT 2',
      '340 210',
    );
    ordered(
      'LIMIT and OFFSET',
      'SELECT VALUE b.pages FROM Book AS b ORDER BY b.pages LIMIT 2 OFFSET 1',
      '120 210',
    );
    ordered(
      'OFFSET past the end',
      'SELECT VALUE b.pages FROM Book AS b ORDER BY b.pages LIMIT 2 OFFSET 10',
      '',
    );
    ordered(
      'ORDER BY projected alias',
      'SELECT b.title AS t FROM Book AS b WHERE b.pages > 200 ORDER BY t',
      '{t: "Ledger Design"} {t: "Query_Tuning"}',
    );
  });
});

describe('table DDL', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
  });
  after(() => db.close());

  const tableIdOf = (result: { values: dom.Value[] }): string => {
    assert.equal(result.values.length, 1);
    const [value] = result.values;
    assert.deepEqual(
      value!.fields().map(([name]) => name),
      ['tableId'],
    );
    return value!.get('tableId')!.stringValue()!;
  };

  test('CREATE TABLE returns its tableId', async () => {
    const tableId = tableIdOf(await db.run('CREATE TABLE Car'));
    const listed = await db.run(
      'SELECT VALUE tableId FROM information_schema.user_tables WHERE name = ?',
      'Car',
    );
    assert.deepEqual(sortedTexts(listed.values), [JSON.stringify(tableId)]);
    const all = await db.run(`SELECT * FROM information_schema.user_tables WHERE name = 'Car'`);
    assert.deepEqual(
      sortedTexts(all.values),
      expectedTexts(
        `{name: "Car", tableId: ${JSON.stringify(tableId)}, status: "ACTIVE", indexes: []}`,
      ),
    );
  });

  test('CREATE TABLE twice fails', async () => {
    await db.run('CREATE TABLE Twice');
    await rejects(db.run('CREATE TABLE Twice'), 'BadRequestException', /Twice/);
  });

  test('CREATE INDEX shows in information_schema', async () => {
    const tableId = tableIdOf(await db.run('CREATE TABLE Plate'));
    assert.equal(tableIdOf(await db.run('CREATE INDEX ON Plate (number)')), tableId);
    assert.equal(tableIdOf(await db.run('CREATE INDEX ON Plate (region)')), tableId);
    const indexes = await db.run(
      `SELECT VALUE indexes FROM information_schema.user_tables info, info.indexes indexes
       WHERE info.name = 'Plate'`,
    );
    assert.equal(indexes.values.length, 2);
    const exprs = indexes.values.map((index) => index.get('expr')!.stringValue()).sort();
    assert.deepEqual(exprs, ['[number]', '[region]']);
    for (const index of indexes.values) {
      assert.equal(index.get('status')!.stringValue(), 'ONLINE');
      assert.match(index.get('indexId')!.stringValue()!, /^\w+$/);
    }
  });

  test('DROP and UNDROP TABLE', async () => {
    const tableId = tableIdOf(await db.run('CREATE TABLE Old'));
    await db.run(`INSERT INTO Old VALUE {'kept': true}`);

    assert.equal(tableIdOf(await db.run('DROP TABLE Old')), tableId);
    const dropped = await db.run(
      `SELECT VALUE t.status FROM information_schema.user_tables AS t WHERE t.tableId = ?`,
      tableId,
    );
    assert.deepEqual(sortedTexts(dropped.values), ['"INACTIVE"']);
    await rejects(db.run('SELECT * FROM Old'), 'BadRequestException', /Old/);

    assert.equal(tableIdOf(await db.run(`UNDROP TABLE "${tableId}"`)), tableId);
    const undropped = await db.run(
      `SELECT VALUE t.status FROM information_schema.user_tables AS t WHERE t.name = 'Old'`,
    );
    assert.deepEqual(sortedTexts(undropped.values), ['"ACTIVE"']);
    const documents = await db.run('SELECT * FROM Old');
    assert.deepEqual(sortedTexts(documents.values), expectedTexts('{kept: true}'));
  });

  test('UNDROP of an active table fails', async () => {
    const tableId = tableIdOf(await db.run('CREATE TABLE Live'));
    await rejects(db.run(`UNDROP TABLE "${tableId}"`), 'BadRequestException', /./);
  });

  test('UNDROP when the name is taken fails', async () => {
    const tableId = tableIdOf(await db.run('CREATE TABLE Reused'));
    await db.run('DROP TABLE Reused');
    await db.run('CREATE TABLE Reused');
    await rejects(db.run(`UNDROP TABLE "${tableId}"`), 'BadRequestException', /Reused|name/);
  });
});

describe('INSERT forms', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Pet');
  });
  after(() => db.close());

  /** Check the result is one `{documentId}` per document, and return the ids. */
  const documentIds = (values: dom.Value[], count: number): string[] => {
    assert.equal(values.length, count);
    const ids = values.map((value) => {
      assert.deepEqual(
        value.fields().map(([name]) => name),
        ['documentId'],
      );
      return value.get('documentId')!.stringValue()!;
    });
    assert.equal(new Set(ids).size, count, 'document ids are distinct');
    return ids;
  };

  const byId = async (id: string): Promise<string[]> =>
    sortedTexts((await db.run('SELECT * FROM Pet BY pid WHERE pid = ?', id)).values);

  test('INSERT VALUE struct literal', async () => {
    const result = await db.run(`INSERT INTO Pet VALUE {'name': 'Rex', 'age': 3}`);
    const [id] = documentIds(result.values, 1);
    assert.deepEqual(await byId(id!), expectedTexts('{name: "Rex", age: 3}'));
  });

  test('INSERT bag of structs', async () => {
    const result = await db.run(
      `INSERT INTO Pet << {'name': 'Tom', 'age': 5}, {'name': 'Kit', 'when': \`2024-01-02T\`} >>`,
    );
    const ids = documentIds(result.values, 2);
    assert.deepEqual(await byId(ids[0]!), expectedTexts('{name: "Tom", age: 5}'));
    assert.deepEqual(await byId(ids[1]!), expectedTexts('{name: "Kit", when: 2024-01-02T}'));
  });

  test('INSERT parameter struct', async () => {
    const result = await db.run('INSERT INTO Pet ?', 'ion:{name: "Bo", weight: 4.25}');
    const [id] = documentIds(result.values, 1);
    assert.deepEqual(await byId(id!), expectedTexts('{name: "Bo", weight: 4.25}'));
  });

  test('INSERT parameter list', async () => {
    const result = await db.run(
      'INSERT INTO Pet ?',
      'ion:[{name: "A1"}, {name: "A2"}, {name: "A3"}]',
    );
    const ids = documentIds(result.values, 3);
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(await byId(id), expectedTexts(`{name: "A${i + 1}"}`));
    }
  });

  test('INSERT VALUE parameter', async () => {
    const result = await db.run('INSERT INTO Pet VALUE ?', 'ion:{name: "Val"}');
    const [id] = documentIds(result.values, 1);
    assert.deepEqual(await byId(id!), expectedTexts('{name: "Val"}'));
  });

  test('INSERT VALUE of a list fails', async () => {
    await rejects(
      db.run('INSERT INTO Pet VALUE ?', 'ion:[{name: "x"}]'),
      'BadRequestException',
      /struct.*got list/,
    );
  });

  test('INSERT of 41 documents fails', async () => {
    const documents = Array.from({ length: 41 }, (_, i) => `{name: "many ${i}"}`);
    await rejects(
      db.run('INSERT INTO Pet ?', `ion:[${documents.join(', ')}]`),
      'LimitExceededException',
      /41 documents.*40/,
    );
    const found = await db.run(`SELECT COUNT(*) AS n FROM Pet AS p WHERE p.name LIKE 'many %'`);
    assert.equal(found.values[0]!.get('n')!.numberValue(), 0);
  });

  test('INSERT of a non-struct fails', async () => {
    await rejects(db.run('INSERT INTO Pet ?', 7), 'BadRequestException', /struct/);
    await rejects(db.run('INSERT INTO Pet VALUE 7'), 'BadRequestException', /struct/);
  });

  test('INSERT of a null struct names it', async () => {
    await rejects(
      db.run('INSERT INTO Pet ?', 'ion:null.struct'),
      'BadRequestException',
      /^INSERT INTO Pet takes a struct, or a bag or list of structs; got null\.struct;/,
    );
  });

  test('BY binds the document id', async () => {
    const [id] = documentIds((await db.run(`INSERT INTO Pet VALUE {'name': 'Byte'}`)).values, 1);
    const found = await db.run(`SELECT pid FROM Pet AS p BY pid WHERE p.name = 'Byte'`);
    assert.deepEqual(sortedTexts(found.values), [`{"pid":${JSON.stringify(id)}}`]);
    const direct = await db.run('SELECT p.name FROM Pet AS p BY pid WHERE pid = ?', id!);
    assert.deepEqual(sortedTexts(direct.values), expectedTexts('{name: "Byte"}'));
    assert.deepEqual(
      direct.plans.map((plan) => plan.kind),
      ['documentId'],
    );
    assert.equal(direct.readIOs, 1);
  });

  test('committed view has metadata', async () => {
    const [id] = documentIds((await db.run(`INSERT INTO Pet VALUE {'name': 'Meta'}`)).values, 1);
    const result = await db.run(`SELECT * FROM _ql_committed_Pet AS c WHERE c.data.name = 'Meta'`);
    assert.equal(result.values.length, 1);
    const revision = result.values[0]!;
    assert.deepEqual(
      revision
        .fields()
        .map(([name]) => name)
        .sort(),
      ['blockAddress', 'data', 'hash', 'metadata'],
    );
    assert.deepEqual(sortedTexts([revision.get('data')!]), expectedTexts('{name: "Meta"}'));
    assert.equal(revision.get('metadata', 'id')!.stringValue(), id);
    assert.equal(revision.get('metadata', 'version')!.numberValue(), 0);
    assert.equal(revision.get('metadata', 'txTime')!.getType().name, 'timestamp');
    assert.equal(revision.get('metadata', 'txId')!.getType().name, 'string');
    assert.equal(revision.get('hash')!.getType().name, 'blob');
    assert.equal(revision.get('hash')!.uInt8ArrayValue()!.length, 32);
    assert.equal(revision.get('blockAddress', 'strandId')!.getType().name, 'string');
    assert.equal(revision.get('blockAddress', 'sequenceNo')!.getType().name, 'int');
  });
});

describe('UPDATE, FROM and DELETE', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Car');
    await db.run('CREATE INDEX ON Car (vin)');
  });
  after(() => db.close());

  let serial = 0;
  /** Insert a fresh car and return its vin and document id. */
  const newCar = async (fields = ''): Promise<{ vin: string; id: string }> => {
    serial += 1;
    const vin = `V${serial}`;
    const extra = fields === '' ? '' : `, ${fields}`;
    const result = await db.run(
      `INSERT INTO Car VALUE {'vin': '${vin}', 'owner': {'name': 'Ann'}, 'tags': ['a', 'b', 'c']${extra}}`,
    );
    return { vin, id: result.values[0]!.get('documentId')!.stringValue()! };
  };
  const carText = async (vin: string): Promise<string[]> =>
    sortedTexts((await db.run('SELECT * FROM Car WHERE vin = ?', vin)).values);
  const changed = (values: dom.Value[]): string[] =>
    values.map((value) => value.get('documentId')!.stringValue()!);

  /** Read the versions and data of a document's revisions, oldest first. */
  const historyOf = async (id: string): Promise<string[]> => {
    const result = await db.run(
      'SELECT h.metadata.version AS v, h.data FROM history(Car) AS h WHERE h.metadata.id = ?',
      id,
    );
    return result.values
      .map((value) => sortedTexts([value])[0]!)
      .sort((a, b) => Number(/"v":(\d+)/.exec(a)![1]) - Number(/"v":(\d+)/.exec(b)![1]));
  };

  test('UPDATE SET a field', async () => {
    const car = await newCar();
    const result = await db.run(`UPDATE Car AS c SET c.color = 'red' WHERE c.vin = ?`, car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(
      await carText(car.vin),
      expectedTexts(
        `{vin: "${car.vin}", owner: {name: "Ann"}, tags: ["a", "b", "c"], color: "red"}`,
      ),
    );
    const history = await historyOf(car.id);
    assert.equal(history.length, 2);
    assert.match(history[0]!, /"v":0/);
    assert.doesNotMatch(history[0]!, /color/);
    assert.match(history[1]!, /"v":1/);
    assert.match(history[1]!, /"color":"red"/);
  });

  test('UPDATE without alias', async () => {
    const car = await newCar('"miles": 10');
    const result = await db.run('UPDATE Car SET miles = miles + 5 WHERE vin = ?', car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.match((await carText(car.vin))[0]!, /"miles":15/);
  });

  test('UPDATE BY document id', async () => {
    const car = await newCar();
    const result = await db.run(`UPDATE Car AS c BY cid SET c.seen = true WHERE cid = ?`, car.id);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.match((await carText(car.vin))[0]!, /"seen":true/);
  });

  test('UPDATE sets a new nested field', async () => {
    const car = await newCar();
    await db.run(`UPDATE Car AS c SET c.owner.city = 'Oslo' WHERE c.vin = ?`, car.vin);
    assert.match((await carText(car.vin))[0]!, /"owner":\{"city":"Oslo","name":"Ann"\}/);
  });

  test('UPDATE sets a list element', async () => {
    const car = await newCar();
    await db.run(`UPDATE Car AS c SET c.tags[1] = 'B' WHERE c.vin = ?`, car.vin);
    assert.match((await carText(car.vin))[0]!, /"tags":\["a","B","c"\]/);
  });

  test('UPDATE into a scalar names its type', async () => {
    const car = await newCar();
    await rejects(
      db.run(`UPDATE Car AS c SET c.tags[0].x = 1 WHERE c.vin = ?`, car.vin),
      'BadRequestException',
      /^Cannot set field 'x' in a value of type string;/,
    );
  });

  test('UPDATE several assignments', async () => {
    const car = await newCar();
    await db.run(
      `UPDATE Car AS c SET c.owner.name = UPPER(c.owner.name), c.count = SIZE(c.tags) WHERE c.vin = ?`,
      car.vin,
    );
    const [text] = await carText(car.vin);
    assert.match(text!, /"count":3/);
    assert.match(text!, /"name":"ANN"/);
  });

  test('UPDATE REMOVE a field', async () => {
    const car = await newCar();
    const result = await db.run('UPDATE Car AS c REMOVE c.owner WHERE c.vin = ?', car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(
      await carText(car.vin),
      expectedTexts(`{vin: "${car.vin}", tags: ["a", "b", "c"]}`),
    );
  });

  test('UPDATE REMOVE a list element', async () => {
    const car = await newCar();
    await db.run('UPDATE Car AS c REMOVE c.tags[0] WHERE c.vin = ?', car.vin);
    assert.match((await carText(car.vin))[0]!, /"tags":\["b","c"\]/);
  });

  test('UPDATE INSERT INTO a list', async () => {
    const car = await newCar();
    const result = await db.run(
      `UPDATE Car AS c INSERT INTO c.tags VALUE 'd' WHERE c.vin = ?`,
      car.vin,
    );
    assert.deepEqual(changed(result.values), [car.id]);
    assert.match((await carText(car.vin))[0]!, /"tags":\["a","b","c","d"\]/);
  });

  test('UPDATE INSERT INTO a list AT', async () => {
    const car = await newCar();
    await db.run(`UPDATE Car AS c INSERT INTO c.tags VALUE 'z' AT 0 WHERE c.vin = ?`, car.vin);
    assert.match((await carText(car.vin))[0]!, /"tags":\["z","a","b","c"\]/);
  });

  test('UPDATE INSERT INTO a struct AT', async () => {
    const car = await newCar();
    await db.run(`UPDATE Car AS c INSERT INTO c.owner VALUE 42 AT 'age' WHERE c.vin = ?`, car.vin);
    assert.match((await carText(car.vin))[0]!, /"owner":\{"age":42,"name":"Ann"\}/);
  });

  test('UPDATE REMOVE the document', async () => {
    const car = await newCar();
    const result = await db.run('UPDATE Car AS c REMOVE c WHERE c.vin = ?', car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(await carText(car.vin), []);
  });

  test('FROM REMOVE the document', async () => {
    const car = await newCar();
    const result = await db.run('FROM Car AS c WHERE c.vin = ? REMOVE c', car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(await carText(car.vin), []);
  });

  test('UPDATE INSERT INTO the document AT', async () => {
    const car = await newCar();
    await db.run(`UPDATE Car AS c INSERT INTO c VALUE 'blue' AT 'paint' WHERE c.vin = ?`, car.vin);
    assert.match((await carText(car.vin))[0]!, /"paint":"blue"/);
  });

  test('FROM WHERE SET', async () => {
    const car = await newCar();
    const result = await db.run(`FROM Car AS c WHERE c.vin = ? SET c.plate = 'XY-1'`, car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.match((await carText(car.vin))[0]!, /"plate":"XY-1"/);
  });

  test('FROM WHERE REMOVE', async () => {
    const car = await newCar();
    await db.run('FROM Car AS c WHERE c.vin = ? REMOVE c.tags', car.vin);
    assert.doesNotMatch((await carText(car.vin))[0]!, /tags/);
  });

  test('FROM WHERE INSERT INTO', async () => {
    const car = await newCar('"owners": {"secondary": []}');
    const result = await db.run(
      'FROM Car AS c WHERE c.vin = ? INSERT INTO c.owners.secondary VALUE ?',
      car.vin,
      'ion:{name: "Bea"}',
    );
    assert.deepEqual(changed(result.values), [car.id]);
    assert.match((await carText(car.vin))[0]!, /"secondary":\[\{"name":"Bea"\}\]/);
  });

  test('FROM BY SET', async () => {
    const car = await newCar();
    await db.run('FROM Car AS c BY cid WHERE cid = ? SET c.checked = 1', car.id);
    assert.match((await carText(car.vin))[0]!, /"checked":1/);
  });

  test('UPDATE matching nothing', async () => {
    const result = await db.run(`UPDATE Car SET x = 1 WHERE vin = 'none'`);
    assert.deepEqual(result.values, []);
    assert.equal(result.writeIOs, 0);
  });

  test('UPDATE without WHERE changes all', async () => {
    const local = await openLedger('bulk');
    try {
      await local.run('CREATE TABLE T');
      await local.run(`INSERT INTO T << {'k': 1}, {'k': 2}, {'k': 3} >>`);
      const result = await local.run('UPDATE T SET done = true');
      assert.equal(result.values.length, 3);
      const rows = await local.run('SELECT VALUE t.k FROM T AS t WHERE t.done = true');
      assert.deepEqual(sortedTexts(rows.values), ['1', '2', '3']);
    } finally {
      await local.close();
    }
  });

  test('DELETE by field', async () => {
    const car = await newCar();
    const result = await db.run('DELETE FROM Car AS c WHERE c.vin = ?', car.vin);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(await carText(car.vin), []);
    const history = await db.run(
      'SELECT h.metadata.version AS v, h.data FROM history(Car) AS h WHERE h.metadata.id = ?',
      car.id,
    );
    const versions = history.values.map((value) => value.get('v')!.numberValue()).sort();
    assert.deepEqual(versions, [0, 1]);
    const last = history.values.find((value) => value.get('v')!.numberValue() === 1)!;
    assert.equal(last.get('data'), null, 'the deletion revision carries no data');
  });

  test("journal lists each document's statements", async () => {
    /** Read the statement numbers that the block of a document's last revision lists for it. */
    const lastStatementsOf = async (id: string): Promise<Array<number | null>> => {
      const last = (await db.ledger.documentHistory(id)).at(-1)!;
      const { block } = await db.ledger.getBlock(last.blockAddress!.sequenceNo);
      const statements = block.get('transactionInfo', 'documents', id, 'statements') as dom.Value;
      return statements.elements().map((value) => value.numberValue());
    };
    const updatedCar = await newCar();
    const deletedCar = await newCar();
    await db.ledger.run(async (tx) => {
      await executeStatement(tx, 'UPDATE Car SET color = ? WHERE vin = ?', [
        ion('"red"'),
        ion(JSON.stringify(updatedCar.vin)),
      ]);
      await executeStatement(tx, 'UPDATE Car SET color = ? WHERE vin = ?', [
        ion('"blue"'),
        ion(JSON.stringify(deletedCar.vin)),
      ]);
      await executeStatement(tx, 'DELETE FROM Car WHERE vin = ?', [
        ion(JSON.stringify(deletedCar.vin)),
      ]);
    });
    assert.deepEqual(await lastStatementsOf(updatedCar.id), [0]);
    assert.deepEqual(await lastStatementsOf(deletedCar.id), [1, 2]);

    const soloCar = await newCar();
    await db.run('DELETE FROM Car WHERE vin = ?', soloCar.vin);
    assert.deepEqual(await lastStatementsOf(soloCar.id), [0]);
  });

  test('DELETE BY document id', async () => {
    const car = await newCar();
    const result = await db.run('DELETE FROM Car BY cid WHERE cid = ?', car.id);
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(await carText(car.vin), []);
  });

  test('DELETE with alias and BY', async () => {
    const car = await newCar();
    const result = await db.run(
      'DELETE FROM Car AS c BY cid WHERE cid = ? AND c.vin = ?',
      car.id,
      car.vin,
    );
    assert.deepEqual(changed(result.values), [car.id]);
    assert.deepEqual(await carText(car.vin), []);
  });

  test('history between timestamps', async () => {
    const car = await newCar();
    const pause = () => new Promise((resolve) => setTimeout(resolve, 30));
    await pause();
    await db.run(`UPDATE Car SET step = 1 WHERE vin = ?`, car.vin);
    await pause();
    const middle = new Date().toISOString();
    await pause();
    await db.run(`UPDATE Car SET step = 2 WHERE vin = ?`, car.vin);
    await pause();
    const end = new Date().toISOString();
    const tables = await db.run(
      `SELECT VALUE tableId FROM information_schema.user_tables WHERE name = 'Car'`,
    );
    const tableId = tables.values[0]!.stringValue()!;

    const versions = async (statement: string): Promise<number[]> => {
      const result = await db.run(statement, car.id);
      return result.values.map((value) => value.numberValue()!).sort();
    };
    assert.deepEqual(
      await versions(
        `SELECT VALUE h.metadata.version FROM history(Car) AS h WHERE h.metadata.id = ?`,
      ),
      [0, 1, 2],
    );
    // Revision 1 was still active at the middle time, so a window starting there includes it.
    assert.deepEqual(
      await versions(
        `SELECT VALUE h.metadata.version FROM history('${tableId}', \`${middle}\`, \`${end}\`) AS h
         WHERE h.metadata.id = ?`,
      ),
      [1, 2],
    );
    assert.deepEqual(
      await versions(
        `SELECT VALUE h.metadata.version FROM history(Car, \`2000-01-01T\`, \`${middle}\`) AS h
         WHERE h.metadata.id = ?`,
      ),
      [0, 1],
    );
    assert.deepEqual(
      await versions(
        `SELECT VALUE h.metadata.version FROM history(Car, \`${middle}\`) AS h WHERE h.metadata.id = ?`,
      ),
      [1, 2],
    );
  });

  test('history end in the future fails', async () => {
    await rejects(
      db.run('SELECT * FROM history(Car, `2000T`, `2999T`) AS h'),
      'BadRequestException',
      /future, got 2999T;/,
    );
  });

  test('history start in the future fails', async () => {
    // Without an end time the window ends now, and the start may not be after the end.
    await rejects(
      db.run('SELECT * FROM history(Car, `2999T`) AS h'),
      'BadRequestException',
      /^The start time of history\(\) must not be in the future, got 2999T;/,
    );
    await rejects(
      db.run("SELECT * FROM history(Car, '2000T') AS h"),
      'BadRequestException',
      /^The start time of history\(\) must be an Ion timestamp such as `2024-01-02T`, got string '2000T';/,
    );
    await rejects(
      db.run('SELECT * FROM history(Car, `2001T`, `2000T`) AS h'),
      'BadRequestException',
      /^The start time of history\(\) 2001T is after its end time 2000T;/,
    );
  });

  test('history of a dropped table by id', async () => {
    const created = await db.run('CREATE TABLE Gone');
    const tableId = created.values[0]!.get('tableId')!.stringValue()!;
    await db.run(`INSERT INTO Gone VALUE {'x': 1}`);
    await db.run('DROP TABLE Gone');
    const result = await db.run(`SELECT VALUE h.data FROM history('${tableId}') AS h`);
    assert.deepEqual(sortedTexts(result.values), expectedTexts('{x: 1}'));
  });
});

describe('unique indexes', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Account');
    await db.run('CREATE UNIQUE INDEX ON Account (email)');
    await db.run(`INSERT INTO Account << {'email': 'a@x', 'n': 1}, {'email': 'b@x', 'n': 2} >>`);
  });
  after(() => db.close());

  const contents = async (): Promise<string[]> =>
    sortedTexts((await db.run('SELECT * FROM Account')).values);

  test('duplicate insert fails and writes nothing', async () => {
    const before = await contents();
    await rejects(
      db.run(`INSERT INTO Account << {'email': 'c@x'}, {'email': 'a@x'} >>`),
      'BadRequestException',
      /a@x/,
    );
    assert.deepEqual(await contents(), before);
  });

  test('duplicate within one statement fails', async () => {
    const before = await contents();
    await rejects(
      db.run(`INSERT INTO Account << {'email': 'd@x'}, {'email': 'd@x'} >>`),
      'BadRequestException',
      /d@x/,
    );
    assert.deepEqual(await contents(), before);
  });

  test('update to a duplicate fails', async () => {
    const before = await contents();
    await rejects(
      db.run(`UPDATE Account SET email = 'a@x' WHERE n = 2`),
      'BadRequestException',
      /a@x/,
    );
    assert.deepEqual(await contents(), before);
  });

  test('key freed by delete can be reused', async () => {
    await db.run(`INSERT INTO Account VALUE {'email': 'e@x', 'n': 5}`);
    await db.run(`DELETE FROM Account WHERE email = 'e@x'`);
    const result = await db.run(`INSERT INTO Account VALUE {'email': 'e@x', 'n': 6}`);
    assert.equal(result.values.length, 1);
  });

  test('creating over duplicates fails', async () => {
    await db.run('CREATE TABLE Dup');
    await db.run(`INSERT INTO Dup << {'k': 1}, {'k': 1} >>`);
    await rejects(db.run('CREATE UNIQUE INDEX ON Dup (k)'), 'BadRequestException', /k|unique/i);
    const indexes = await db.run(
      `SELECT VALUE indexes FROM information_schema.user_tables info, info.indexes indexes
       WHERE info.name = 'Dup'`,
    );
    assert.deepEqual(indexes.values, []);
  });
});

describe('field names as written', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Kw');
  });
  after(() => db.close());

  const only = async (statement: string) => {
    const result = await db.run(statement);
    assert.equal(result.values.length, 1, statement);
    return dumpText(result.values[0]!);
  };

  test('a keyword after a dot keeps its case', async () => {
    await db.run("INSERT INTO Kw VALUE {'tag': 'kw', 'Value': 100, 'Order': 1}");
    await db.run("UPDATE Kw AS k SET k.Value = k.Value + 1, k.Order = 7 WHERE k.tag = 'kw'");
    assert.equal(
      await only("SELECT k.Value, k.Order FROM Kw AS k WHERE k.tag = 'kw'"),
      '{Value:101,Order:7}',
    );
    await db.run("UPDATE Kw AS k REMOVE k.Value WHERE k.tag = 'kw'");
    assert.equal(await only("SELECT * FROM Kw AS k WHERE k.tag = 'kw'"), '{tag:"kw",Order:7}');
  });

  test('a bare name writes the field that reads find', async () => {
    await db.run("INSERT INTO Kw VALUE {'tag': 'count', 'Count': 1, 'Nested': {'Inner': 1}}");
    await db.run(
      "UPDATE Kw AS k SET k.count = k.count + 1, k.nested.inner = 5 WHERE k.tag = 'count'",
    );
    assert.equal(
      await only("SELECT * FROM Kw AS k WHERE k.tag = 'count'"),
      '{tag:"count",Count:2,Nested:{Inner:5}}',
    );
    // A quoted name is exact, so it makes a new field.
    await db.run(`UPDATE Kw AS k SET k."count" = 0 WHERE k.tag = 'count'`);
    assert.equal(
      await only(`SELECT k.Count, k."count" FROM Kw AS k WHERE k.tag = 'count'`),
      '{Count:2,count:0}',
    );
  });

  test('repeated field names are kept', async () => {
    await db.run("INSERT INTO Kw VALUE {'tag': 'dup', 'dup': 1, 'dup': 2}");
    assert.equal(
      await only("SELECT * FROM Kw AS k WHERE k.tag = 'dup'"),
      '{tag:"dup",dup:1,dup:2}',
    );
    // An update of another field leaves both values.
    await db.run("UPDATE Kw AS k SET k.other = 3 WHERE k.tag = 'dup'");
    assert.equal(
      await only("SELECT * FROM Kw AS k WHERE k.tag = 'dup'"),
      '{tag:"dup",dup:1,dup:2,other:3}',
    );
    assert.equal(
      await only("SELECT a.tag, b.tag FROM Kw AS a, Kw AS b WHERE a.tag = 'dup' AND b.tag = 'kw'"),
      '{tag:"dup",tag:"kw"}',
    );
  });

  test('a path through [*] in a SELECT list', async () => {
    await db.run("INSERT INTO Kw VALUE {'tag': 'list', 'items': [1, 2]}");
    assert.equal(
      await only("SELECT k.items[*] AS i FROM Kw AS k WHERE k.tag = 'list'"),
      '{i:[1,2]}',
    );
    assert.equal(await only("SELECT VALUE k.items[*] FROM Kw AS k WHERE k.tag = 'list'"), '[1,2]');
  });
});
