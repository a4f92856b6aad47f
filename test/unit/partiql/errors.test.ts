import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dom } from 'ion-js';
import {
  LedgerError,
  MAX_PARAMETER_BYTES,
  MAX_STATEMENT_LENGTH,
  PartiqlError,
  executeStatement,
} from '../../../src/engine/index.js';
import { openLedger, sortedTexts, type LedgerFixture } from './ledger-fixture.js';

/** Marks where the error must point in a statement; removed before the statement runs. */
const MARK = '¦';

/** Split a marked statement into its text and the 1-based line and column of the mark. */
function locate(marked: string): { text: string; line: number; column: number } {
  const index = marked.indexOf(MARK);
  assert.ok(index >= 0, `no ${MARK} in ${marked}`);
  const before = marked.slice(0, index);
  const lines = before.split('\n');
  return {
    text: before + marked.slice(index + MARK.length),
    line: lines.length,
    column: [...lines.at(-1)!].length + 1,
  };
}

function expectBadRequest(error: unknown, pattern: RegExp): LedgerError {
  assert.ok(error instanceof LedgerError, `expected a LedgerError, got ${String(error)}`);
  assert.equal(error.code, 'BadRequestException');
  assert.match(error.message, pattern);
  return error;
}

describe('statement errors', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
    await db.run('CREATE TABLE Item');
    await db.run('CREATE INDEX ON Item (sku)');
    await db.run(`INSERT INTO Item << {'sku': 1, 'tags': ['a']}, {'sku': 2, 'tags': ['b']} >>`);
  });
  after(() => db.close());

  const contents = async (): Promise<string[]> =>
    sortedTexts((await db.run('SELECT * FROM Item')).values);

  describe('error positions', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['misspelled keyword', '¦SELEC * FROM Item', /Unsupported PartiQL Statement/],
      ['doubled operator', 'SELECT *\nFROM Item AS i\nWHERE i.sku = ¦= 3', /'='/],
      ['doubled comma', "INSERT INTO Item\nVALUE {'sku': 9,¦,}", /','/],
      ['statement cut short', 'SELECT *\nFROM Item\nWHERE sku >¦', /end of the statement/],
      ['unclosed parenthesis', 'SELECT * FROM Item\n  WHERE sku IN (1, 2¦', /'\)'/],
      ['unterminated string', "SELECT *\nFROM Item\nWHERE sku = ¦'abc", /Unterminated string/],
      ['unknown character', 'SELECT * FROM Item\n WHERE sku ¦# 1', /'#'/],
      ['unknown table', 'SELECT *\n  FROM ¦Nope', /Nope/],
      ['unknown function', 'SELECT VALUE\n  ¦FOO(1) FROM Item', /FOO/],
      ['keyword after comma', "SELECT 'é', ¦FROM Item", /FROM/],
      ['DELETE without FROM', 'DELETE ¦Item WHERE sku = 1', /FROM/],
      ['SET without a path', 'UPDATE Item\n  SET ¦WHERE sku = 1', /WHERE/],
      ['CREATE INDEX without parentheses', 'CREATE INDEX ON Item ¦sku', /'\('/],
      ['invalid Ion literal', 'SELECT * FROM Item\nWHERE sku = ¦`[1, 2`', /Ion/],
      ['failing cast', "SELECT VALUE\n\t¦CAST('x' AS INT) FROM Item", /cast/i],
      [
        'LIKE ESCAPE given a struct',
        "SELECT * FROM Item AS i\nWHERE 'x' ¦LIKE 'a%' ESCAPE i",
        /LIKE ESCAPE takes a one-character string, got struct/,
      ],
      [
        'LIKE ESCAPE given two characters',
        "SELECT * FROM Item WHERE 'x' ¦LIKE 'a%' ESCAPE '!!'",
        /LIKE ESCAPE takes one character, got '!!'/,
      ],
      [
        'LIKE on a number',
        "SELECT * FROM Item WHERE sku ¦LIKE '1%'",
        /LIKE compares strings, got int/,
      ],
      [
        'UNPIVOT of a table',
        'SELECT * FROM ¦UNPIVOT Item AS v AT k',
        /UNPIVOT ranges over the fields of a struct, not over a table; .* write FROM Item AS d, UNPIVOT d AS v AT k/,
      ],
      [
        'UNPIVOT of a table in a subquery',
        'SELECT VALUE (SELECT VALUE k FROM ¦UNPIVOT Item AS v AT k) FROM Item AS i',
        /UNPIVOT ranges over the fields of a struct, not over a table/,
      ],
      ['comment before the fault', '-- find items\nSELECT * FROM Item WHERE ¦)', /'\)'/],
      [
        'keyword as a field name',
        'SELECT Value ¦FROM Item',
        /expected an expression after SELECT VALUE\. To select a field named Value, quote it: SELECT "Value"/,
      ],
      [
        'keyword as an alias',
        'SELECT * FROM Item AS ¦Order',
        /expected an alias; Order is a reserved word, so quote it to use it as a name: "Order"/,
      ],
      [
        'write to a committed view',
        'DELETE FROM ¦_ql_committed_Item',
        /_ql_committed_Item is the committed view of a table, which is read-only; write to the table/,
      ],
    ];
    for (const [name, marked, pattern] of cases) {
      test(name, async () => {
        const { text, line, column } = locate(marked);
        const error = await db.run(text).then(
          () => assert.fail(`no error for ${text}`),
          (caught: unknown) => caught,
        );
        const badRequest = expectBadRequest(error, pattern);
        assert.ok(badRequest instanceof PartiqlError);
        const match = /Errors at:\s*line (\d+), column (\d+)$/.exec(badRequest.message);
        assert.ok(match, `no position at the end of: ${badRequest.message}`);
        assert.deepEqual([Number(match[1]), Number(match[2])], [line, column], badRequest.message);
      });
    }
  });

  test('invalid Ion literal cut short', async () => {
    const { text, line, column } = locate('SELECT * FROM Item WHERE sku = ¦`{a: `');
    const error = await db.run(text).then(
      () => assert.fail(`no error for ${text}`),
      (caught: unknown) => caught,
    );
    const badRequest = expectBadRequest(error, /Ion/);
    assert.match(badRequest.message, new RegExp(`line ${line}, column ${column}$`));
  });

  test('an update FROM a second table names the supported form', async () => {
    const error = await db.run("FROM Item AS i, Other AS o WHERE o.x = 1 SET i.sku = 'y'").then(
      () => assert.fail('no error for an update over a second table'),
      (caught: unknown) => caught,
    );
    expectBadRequest(
      error,
      /A second source of a FROM update must be a collection nested in the table, .* as in FROM <table> AS i, @i.items AS item; the documents of another table/,
    );
  });

  test('an @ name that is no alias', async () => {
    const error = await db.run('SELECT VALUE t FROM Item AS i, @x.tags AS t').then(
      () => assert.fail('no error for @x'),
      (caught: unknown) => caught,
    );
    expectBadRequest(error, /@x names no alias of this query/);
  });

  test('a long value is cut in the message', async () => {
    const long = 'x'.repeat(5000);
    const error = await db.run(`SELECT VALUE CAST('${long}' AS INT) FROM Item`).then(
      () => assert.fail('no error for a long text cast to INT'),
      (caught: unknown) => caught,
    );
    const badRequest = expectBadRequest(
      error,
      /Cannot cast string 'x{64}'\.\.\. \(5000 characters\) to INT/,
    );
    assert.ok(badRequest.message.length < 300, badRequest.message);
  });

  test('IS with a name that is not a type', async () => {
    const error = await db.run('SELECT * FROM Item WHERE sku IS PRICE').then(
      () => assert.fail('no error for IS PRICE'),
      (caught: unknown) => caught,
    );
    expectBadRequest(error, /IS takes NULL, MISSING or a type \(BOOL, .*\), got PRICE/);
  });

  test('Ion literal with two values', async () => {
    const error = await db.run('SELECT * FROM Item WHERE sku = `1 2`').then(
      () => assert.fail('no error for a literal of two values'),
      (caught: unknown) => caught,
    );
    expectBadRequest(error, /Ion/);
  });

  test('too few parameters', async () => {
    await assert.rejects(db.run('SELECT * FROM Item WHERE sku = ? OR sku = ?', 1), (error) => {
      expectBadRequest(error, /2 parameters.*1 value/);
      return true;
    });
  });

  test('too many parameters', async () => {
    await assert.rejects(db.run('SELECT * FROM Item WHERE sku = ?', 1, 2), (error) => {
      expectBadRequest(error, /1 parameter.*2 values/);
      return true;
    });
  });

  test('parameters for none', async () => {
    await assert.rejects(db.run('SELECT * FROM Item', 1), (error) => {
      expectBadRequest(error, /0 parameters/);
      return true;
    });
  });

  test('statement at the length limit', async () => {
    const prefix = "SELECT VALUE sku FROM Item WHERE sku = 1 OR 'x' = '";
    const text = prefix + 'x'.repeat(MAX_STATEMENT_LENGTH - prefix.length - 1) + "'";
    assert.equal(text.length, 100_000);
    const result = await db.run(text);
    assert.deepEqual(sortedTexts(result.values), ['1']);
  });

  test('statement over the length limit', async () => {
    const prefix = "SELECT VALUE sku FROM Item WHERE sku = 1 OR 'x' = '";
    const text = prefix + 'x'.repeat(MAX_STATEMENT_LENGTH - prefix.length) + "'";
    assert.equal(text.length, 100_001);
    await assert.rejects(db.run(text), (error) => {
      expectBadRequest(error, /100001 characters.*100000/);
      return true;
    });
  });

  // A blob parameter's Ion binary is the 4-byte version marker, a type byte,
  // a 3-byte length and the bytes, so 131,064 bytes of blob make exactly 128 KB.
  const BLOB_OVERHEAD = 8;

  test('parameter over 128 KB', async () => {
    assert.equal(MAX_PARAMETER_BYTES, 128 * 1024);
    const big = new dom.Blob(new Uint8Array(128 * 1024 - BLOB_OVERHEAD + 1));
    await assert.rejects(db.run('SELECT * FROM Item WHERE sku = ?', big), (error: unknown) => {
      assert.ok(error instanceof LedgerError);
      assert.equal(error.code, 'LimitExceededException');
      assert.match(error.message, /Parameter 1 is 131073 bytes.*131072/);
      return true;
    });
  });

  test('parameter of exactly 128 KB', async () => {
    const near = new dom.Blob(new Uint8Array(128 * 1024 - BLOB_OVERHEAD));
    const result = await db.run('SELECT * FROM Item WHERE sku = ?', near);
    assert.deepEqual(result.values, []);
  });

  test('DML on a dropped table', async () => {
    await db.run('CREATE TABLE Retired');
    await db.run(`INSERT INTO Retired VALUE {'k': 1}`);
    await db.run('DROP TABLE Retired');
    for (const statement of [
      `INSERT INTO Retired VALUE {'k': 2}`,
      `UPDATE Retired SET k = 3`,
      `DELETE FROM Retired WHERE k = 1`,
      `FROM Retired AS r SET r.k = 4`,
      `SELECT * FROM Retired`,
      `CREATE INDEX ON Retired (k)`,
    ]) {
      await assert.rejects(
        db.run(statement),
        (error) => {
          expectBadRequest(error, /Retired/);
          return true;
        },
        statement,
      );
    }
  });

  test('failed statement before writes', async () => {
    const before = await contents();
    const tx = db.ledger.begin();
    await executeStatement(tx, `INSERT INTO Item VALUE {'sku': 10}`);
    // The second element is not a struct, so the statement fails before it inserts anything.
    await assert.rejects(
      executeStatement(tx, 'INSERT INTO Item ?', [dom.Value.from([{ sku: 11 }, 12])]),
      (error) => {
        expectBadRequest(error, /struct/);
        return true;
      },
    );
    await tx.commit();
    const after = await contents();
    assert.equal(after.length, before.length + 1);
    assert.ok(after.some((text) => text.includes('"sku":10')));
    assert.ok(!after.some((text) => text.includes('"sku":11')));
    await db.run('DELETE FROM Item WHERE sku = 10');
  });

  test('failed statement after writes', async () => {
    const before = await contents();
    const tx = db.ledger.begin();
    await executeStatement(tx, `INSERT INTO Item VALUE {'sku': 20}`);
    // The index reads sku 1, then sku 2. Sku 1 gets a new tags[1], but tags[3] is past the end
    // of sku 2's list, so the statement fails after it has written sku 1.
    await assert.rejects(
      executeStatement(
        tx,
        'UPDATE Item AS i SET i.tags[CASE WHEN i.sku = 2 THEN 3 ELSE 1 END] = 0 WHERE i.sku IN (1, 2)',
      ),
      (error) => {
        expectBadRequest(error, /past the end/);
        return true;
      },
    );
    await assert.rejects(tx.commit(), LedgerError);
    assert.deepEqual(await contents(), before, 'the transaction committed nothing');
  });
});

describe('dropped tables', () => {
  let db: LedgerFixture;
  before(async () => {
    db = await openLedger();
  });
  after(() => db.close());

  test('dropped table errors suggest UNDROP', async () => {
    const tableId = (await db.run('CREATE TABLE Gone')).values[0]!.get('tableId')!.stringValue();
    await db.run('DROP TABLE Gone');
    for (const statement of ['SELECT * FROM Gone', "INSERT INTO Gone VALUE {'a': 1}"]) {
      await assert.rejects(db.run(statement), (error: unknown) => {
        expectBadRequest(
          error,
          new RegExp(`Gone'; it was dropped, and UNDROP TABLE "${tableId}" restores it`),
        );
        return true;
      });
    }
  });
});
