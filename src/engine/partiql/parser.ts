import { dom, load, loadAll } from 'ion-js';
import type {
  BinaryOp,
  Expr,
  FromClause,
  FromSource,
  OrderItem,
  PathStep,
  Projection,
  ProjectionItem,
  SelectStatement,
  Statement,
  TableTarget,
  UpdateOp,
} from './ast.js';
import { PartiqlSyntaxError } from './errors.js';
import { IS_TYPES } from './functions.js';
import { tokenize, type Position, type Token } from './lexer.js';

/** QLDB's limit on the length of a statement, in characters. */
export const MAX_STATEMENT_LENGTH = 100_000;

/** Deepest nesting of expressions accepted, so hostile input cannot exhaust the stack. */
const MAX_DEPTH = 200;

export interface ParsedStatement {
  statement: Statement;
  /** How many `?` parameters the statement takes. */
  parameterCount: number;
}

/**
 * Parse one PartiQL statement of QLDB's dialect, plus Vellum's `ORDER BY`,
 * `LIMIT`, `OFFSET` and `CREATE UNIQUE INDEX`. Errors name the offending
 * token with its line and column.
 *
 * ```ts
 * parse("SELECT * FROM Test WHERE id = ?").parameterCount; // 1
 * ```
 */
export function parse(text: string): ParsedStatement {
  if (typeof text !== 'string') {
    throw new PartiqlSyntaxError(`A statement must be a string, got ${typeof text}`, undefined);
  }
  if (text.length > MAX_STATEMENT_LENGTH) {
    throw new PartiqlSyntaxError(
      `The statement has ${text.length} characters, more than the limit of ${MAX_STATEMENT_LENGTH}`,
      undefined,
    );
  }
  const parser = new Parser(tokenize(text));
  const statement = parser.statement();
  return { statement, parameterCount: parser.parameters };
}

class Parser {
  readonly #tokens: Token[];
  #index = 0;
  #depth = 0;
  parameters = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  // Token helpers.

  get #token(): Token {
    return this.#tokens[this.#index]!;
  }

  #peek(offset = 1): Token {
    return this.#tokens[Math.min(this.#index + offset, this.#tokens.length - 1)]!;
  }

  #advance(): Token {
    const token = this.#token;
    if (token.kind !== 'end') this.#index++;
    return token;
  }

  #isKeyword(...words: string[]): boolean {
    return this.#token.kind === 'keyword' && words.includes(this.#token.text);
  }

  #isPunctuation(...marks: string[]): boolean {
    return this.#token.kind === 'punctuation' && marks.includes(this.#token.text);
  }

  #acceptKeyword(word: string): boolean {
    if (!this.#isKeyword(word)) return false;
    this.#advance();
    return true;
  }

  #acceptPunctuation(mark: string): boolean {
    if (!this.#isPunctuation(mark)) return false;
    this.#advance();
    return true;
  }

  #expectKeyword(word: string): Token {
    if (!this.#isKeyword(word)) this.#unexpected(`expected ${word}`);
    return this.#advance();
  }

  #expectPunctuation(mark: string): Token {
    if (!this.#isPunctuation(mark)) this.#unexpected(`expected '${mark}'`);
    return this.#advance();
  }

  #unexpected(expectation: string, token: Token = this.#token): never {
    const found = token.kind === 'end' ? 'end of the statement' : `${describe(token)}`;
    throw new PartiqlSyntaxError(`Unexpected ${found}: ${expectation}`, token.position);
  }

  /** A table, field or alias name: a bare identifier or a "quoted" one. */
  #name(what: string): { name: string; quoted: boolean; at: Position } {
    const token = this.#token;
    if (token.kind === 'identifier' || token.kind === 'quoted') {
      this.#advance();
      return { name: token.text, quoted: token.kind === 'quoted', at: token.position };
    }
    if (token.kind === 'keyword') {
      const written = token.written ?? token.text;
      return this.#unexpected(
        `expected ${what}; ${written} is a reserved word, so quote it to use it as a name: "${written}"`,
      );
    }
    return this.#unexpected(`expected ${what}`);
  }

  #isName(): boolean {
    return this.#token.kind === 'identifier' || this.#token.kind === 'quoted';
  }

  // Statements.

  statement(): Statement {
    const token = this.#token;
    let statement: Statement;
    if (this.#isKeyword('SELECT')) statement = this.#select();
    else if (this.#isKeyword('INSERT')) statement = this.#insert();
    else if (this.#isKeyword('UPDATE')) statement = this.#update();
    else if (this.#isKeyword('DELETE')) statement = this.#delete();
    else if (this.#isKeyword('FROM')) statement = this.#fromDml();
    else if (this.#isKeyword('CREATE')) statement = this.#create();
    else if (this.#isKeyword('DROP')) statement = this.#drop();
    else if (this.#isKeyword('UNDROP')) statement = this.#undrop();
    else if (this.#isKeyword('EXEC')) statement = this.#exec();
    else if (this.#isKeyword('PIVOT')) {
      throw new PartiqlSyntaxError('PIVOT is not supported', token.position);
    } else {
      throw new PartiqlSyntaxError(
        `Unsupported PartiQL Statement: ${token.kind === 'end' ? 'the statement is empty' : `${describe(token)} does not start a statement`}; statements start with SELECT, INSERT, UPDATE, DELETE, FROM, CREATE, DROP, UNDROP or EXEC`,
        token.position,
      );
    }
    this.#acceptPunctuation(';');
    if (this.#isKeyword('UNION', 'EXCEPT', 'INTERSECT')) {
      throw new PartiqlSyntaxError(`${this.#token.text} is not supported`, this.#token.position);
    }
    if (this.#token.kind !== 'end') this.#unexpected('expected the end of the statement');
    return statement;
  }

  #create(): Statement {
    const at = this.#expectKeyword('CREATE').position;
    if (this.#acceptKeyword('TABLE')) {
      const table = this.#name('a table name').name;
      let tags: Expr | undefined;
      if (this.#acceptKeyword('WITH')) {
        this.#expectPunctuation('(');
        const key = this.#name('aws_tags');
        if (key.name.toLowerCase() !== 'aws_tags') {
          throw new PartiqlSyntaxError(
            `Unknown table option ${key.name}: only aws_tags is supported`,
            key.at,
          );
        }
        this.#expectPunctuation('=');
        tags = this.#expression();
        this.#expectPunctuation(')');
      }
      return { kind: 'createTable', table, tags, at };
    }
    const unique = this.#acceptKeyword('UNIQUE');
    if (this.#acceptKeyword('INDEX')) {
      this.#expectKeyword('ON');
      const table = this.#name('a table name').name;
      this.#expectPunctuation('(');
      const field = this.#name('a field name');
      if (this.#isPunctuation('.', '[')) {
        throw new PartiqlSyntaxError(
          'An index covers one top-level field; nested paths cannot be indexed',
          this.#token.position,
        );
      }
      if (this.#isPunctuation(',')) {
        throw new PartiqlSyntaxError(
          'An index covers one field; composite indexes are not supported',
          this.#token.position,
        );
      }
      this.#expectPunctuation(')');
      return { kind: 'createIndex', table, field: field.name, unique, at };
    }
    return this.#unexpected(unique ? 'expected INDEX' : 'expected TABLE, INDEX or UNIQUE INDEX');
  }

  #drop(): Statement {
    const at = this.#expectKeyword('DROP').position;
    if (this.#acceptKeyword('INDEX')) return this.#dropIndex(at);
    this.#expectKeyword('TABLE');
    return { kind: 'dropTable', table: this.#name('a table name').name, at };
  }

  /** Parse `DROP INDEX "<indexId>" ON t WITH (purge = true)`, as QLDB writes it. */
  #dropIndex(at: Position): Statement {
    const id = this.#token;
    if (id.kind !== 'quoted') {
      this.#unexpected(
        'expected the index id in double quotes, as in DROP INDEX "<indexId>" ON t WITH (purge = true)',
      );
    }
    this.#advance();
    this.#expectKeyword('ON');
    const table = this.#name('a table name').name;
    const withAt = this.#token.position;
    let purge = false;
    if (this.#acceptKeyword('WITH')) {
      this.#expectPunctuation('(');
      const option = this.#name('purge');
      this.#expectPunctuation('=');
      const value = this.#token;
      if (option.name.toLowerCase() !== 'purge' || !this.#isKeyword('TRUE')) {
        throw new PartiqlSyntaxError(
          'DROP INDEX takes one option, WITH (purge = true)',
          option.name.toLowerCase() === 'purge' ? value.position : option.at,
        );
      }
      this.#advance();
      this.#expectPunctuation(')');
      purge = true;
    }
    if (!purge) {
      throw new PartiqlSyntaxError(
        'DROP INDEX needs WITH (purge = true), as in QLDB: DROP INDEX "<indexId>" ON t WITH (purge = true)',
        withAt,
      );
    }
    return { kind: 'dropIndex', table, indexId: id.text, at };
  }

  #undrop(): Statement {
    const at = this.#expectKeyword('UNDROP').position;
    this.#expectKeyword('TABLE');
    const token = this.#token;
    if (token.kind !== 'quoted') {
      this.#unexpected('expected the table id in double quotes, as in UNDROP TABLE "<tableId>"');
    }
    this.#advance();
    return { kind: 'undropTable', tableId: token.text, at };
  }

  #exec(): Statement {
    const at = this.#expectKeyword('EXEC').position;
    const procedure = this.#name('the name of a stored procedure, such as redact_revision');
    const args: Expr[] = [];
    if (this.#token.kind !== 'end' && !this.#isPunctuation(';')) {
      do args.push(this.#expression());
      while (this.#acceptPunctuation(','));
    }
    return { kind: 'exec', procedure: procedure.name, args, at };
  }

  #insert(): Statement {
    const at = this.#expectKeyword('INSERT').position;
    this.#expectKeyword('INTO');
    const table = this.#name('a table name').name;
    if (this.#acceptKeyword('VALUE')) {
      return { kind: 'insert', table, value: this.#expression(), single: true, at };
    }
    if (!this.#isPunctuation('<<', '[', '{') && this.#token.kind !== 'parameter') {
      this.#unexpected("expected VALUE, '<<' or '?'");
    }
    return { kind: 'insert', table, value: this.#expression(), single: false, at };
  }

  #tableTarget(): TableTarget {
    const name = this.#name('a table name');
    const target: TableTarget = { table: name.name, at: name.at };
    if (this.#acceptKeyword('AS') || this.#isName()) target.alias = this.#name('an alias').name;
    if (this.#acceptKeyword('BY')) target.byAlias = this.#name('a document id alias').name;
    return target;
  }

  #update(): Statement {
    const at = this.#expectKeyword('UPDATE').position;
    const target = this.#tableTarget();
    const ops = this.#updateOps();
    const where = this.#acceptKeyword('WHERE') ? this.#expression() : undefined;
    return { kind: 'update', target, ops, where, at };
  }

  #fromDml(): Statement {
    const at = this.#expectKeyword('FROM').position;
    const target = this.#tableTarget();
    const nested: FromSource[] = [];
    while (this.#acceptPunctuation(',')) nested.push(this.#fromSource());
    const where = this.#acceptKeyword('WHERE') ? this.#expression() : undefined;
    const ops = this.#updateOps();
    if (nested.length === 0) return { kind: 'update', target, ops, where, at };
    return { kind: 'update', target, nested, ops, where, at };
  }

  #updateOps(): UpdateOp[] {
    const ops: UpdateOp[] = [];
    for (;;) {
      if (this.#acceptKeyword('SET')) {
        do {
          const target = this.#pathTarget();
          this.#expectPunctuation('=');
          ops.push({ kind: 'set', target, value: this.#expression() });
        } while (this.#acceptPunctuation(','));
      } else if (this.#acceptKeyword('REMOVE')) {
        ops.push({ kind: 'remove', target: this.#pathTarget() });
      } else if (this.#isKeyword('INSERT')) {
        this.#advance();
        this.#expectKeyword('INTO');
        const target = this.#pathTarget();
        this.#expectKeyword('VALUE');
        const value = this.#expression();
        const key = this.#acceptKeyword('AT') ? this.#expression() : undefined;
        ops.push({ kind: 'insertInto', target, value, key });
      } else break;
    }
    if (ops.length === 0) this.#unexpected('expected SET, REMOVE or INSERT INTO');
    return ops;
  }

  /** The target of SET, REMOVE or INSERT INTO: a name with field and index steps. */
  #pathTarget(): Expr {
    const name = this.#name('a field path');
    const base: Expr = { kind: 'name', name: name.name, quoted: name.quoted, at: name.at };
    return this.#pathSteps(base);
  }

  #delete(): Statement {
    const at = this.#expectKeyword('DELETE').position;
    this.#expectKeyword('FROM');
    const target = this.#tableTarget();
    const where = this.#acceptKeyword('WHERE') ? this.#expression() : undefined;
    return { kind: 'delete', target, where, at };
  }

  #select(): SelectStatement {
    const at = this.#expectKeyword('SELECT').position;
    const distinct = this.#acceptKeyword('DISTINCT');
    if (!distinct) this.#acceptKeyword('ALL');
    let projection: Projection;
    if (this.#isKeyword('VALUE')) {
      const value = this.#token;
      this.#advance();
      if (this.#isKeyword('FROM') || this.#isPunctuation(',')) {
        // SELECT Value FROM t: a field named like the keyword, most likely.
        const written = value.written ?? value.text;
        throw new PartiqlSyntaxError(
          `Unexpected ${describe(this.#token)}: expected an expression after SELECT VALUE. ` +
            `To select a field named ${written}, quote it: SELECT "${written}" ...`,
          this.#token.position,
        );
      }
      projection = { kind: 'value', expr: this.#expression() };
    } else if (this.#acceptPunctuation('*')) {
      projection = { kind: 'star' };
    } else {
      const items: ProjectionItem[] = [];
      do items.push(this.#projectionItem());
      while (this.#acceptPunctuation(','));
      projection = { kind: 'items', items };
    }
    const statement: SelectStatement = { kind: 'select', distinct, projection, at };
    if (this.#acceptKeyword('FROM')) statement.from = this.#fromClause();
    if (this.#acceptKeyword('WHERE')) statement.where = this.#expression();
    if (this.#isKeyword('GROUP', 'HAVING', 'LET')) {
      const word = this.#token.text === 'GROUP' ? 'GROUP BY' : this.#token.text;
      throw new PartiqlSyntaxError(`${word} is not supported`, this.#token.position);
    }
    if (this.#isKeyword('ORDER')) {
      this.#advance();
      this.#expectKeyword('BY');
      const items: OrderItem[] = [];
      do {
        const item: OrderItem = { expr: this.#expression(), descending: false };
        if (this.#acceptKeyword('DESC')) item.descending = true;
        else this.#acceptKeyword('ASC');
        if (this.#acceptKeyword('NULLS')) {
          if (this.#acceptKeyword('FIRST')) item.nullsFirst = true;
          else {
            this.#expectKeyword('LAST');
            item.nullsFirst = false;
          }
        }
        items.push(item);
      } while (this.#acceptPunctuation(','));
      statement.orderBy = items;
    }
    if (this.#acceptKeyword('LIMIT')) statement.limit = this.#expression();
    if (this.#acceptKeyword('OFFSET')) statement.offset = this.#expression();
    return statement;
  }

  #projectionItem(): ProjectionItem {
    const expr = this.#expression();
    // `x.*` selects every field of x. A path through `[*]` is one item like
    // any other, whose value is the list of the items it reaches.
    const last = expr.kind === 'path' ? expr.steps.at(-1) : undefined;
    if (expr.kind === 'path' && last?.kind === 'wildcard' && last.items !== true) {
      const steps = expr.steps.slice(0, -1);
      return { kind: 'all', expr: steps.length === 0 ? expr.base : { ...expr, steps } };
    }
    if (this.#acceptKeyword('AS'))
      return { kind: 'expr', expr, alias: this.#name('an alias').name };
    if (this.#isName()) return { kind: 'expr', expr, alias: this.#name('an alias').name };
    return { kind: 'expr', expr };
  }

  #fromClause(): FromClause {
    const clause: FromClause = { sources: [this.#fromSource()], conditions: [] };
    for (;;) {
      if (this.#acceptPunctuation(',')) {
        clause.sources.push(this.#fromSource());
        continue;
      }
      if (this.#isKeyword('JOIN', 'INNER', 'CROSS')) {
        const cross = this.#acceptKeyword('CROSS');
        if (!cross) this.#acceptKeyword('INNER');
        this.#expectKeyword('JOIN');
        clause.sources.push(this.#fromSource());
        if (!cross && this.#acceptKeyword('ON')) clause.conditions.push(this.#expression());
        continue;
      }
      if (this.#isKeyword('LEFT', 'RIGHT', 'FULL', 'OUTER')) {
        throw new PartiqlSyntaxError(
          `${this.#token.text} joins are not supported; QLDB runs inner joins only`,
          this.#token.position,
        );
      }
      return clause;
    }
  }

  #fromSource(): FromSource {
    const at = this.#token.position;
    const unpivot = this.#acceptKeyword('UNPIVOT');
    const expr = this.#expression();
    const source: FromSource = unpivot ? { expr, at, unpivot } : { expr, at };
    if (this.#acceptKeyword('AS') || this.#isName()) source.alias = this.#name('an alias').name;
    if (this.#acceptKeyword('AT')) source.atAlias = this.#name('an AT alias').name;
    if (this.#acceptKeyword('BY')) source.byAlias = this.#name('a document id alias').name;
    return source;
  }

  // Expressions, from the loosest binding to the tightest.

  #expression(): Expr {
    if (++this.#depth > MAX_DEPTH) {
      throw new PartiqlSyntaxError(
        `The expression nests more than ${MAX_DEPTH} levels deep`,
        this.#token.position,
      );
    }
    try {
      return this.#or();
    } finally {
      this.#depth--;
    }
  }

  #or(): Expr {
    let left = this.#and();
    while (this.#isKeyword('OR')) {
      const at = this.#advance().position;
      left = { kind: 'binary', op: 'OR', left, right: this.#and(), at };
    }
    return left;
  }

  #and(): Expr {
    let left = this.#not();
    while (this.#isKeyword('AND')) {
      const at = this.#advance().position;
      left = { kind: 'binary', op: 'AND', left, right: this.#not(), at };
    }
    return left;
  }

  #not(): Expr {
    if (this.#isKeyword('NOT')) {
      const at = this.#advance().position;
      this.#enter();
      try {
        return { kind: 'unary', op: 'NOT', arg: this.#not(), at };
      } finally {
        this.#depth--;
      }
    }
    return this.#predicate();
  }

  #enter(): void {
    if (++this.#depth > MAX_DEPTH) {
      throw new PartiqlSyntaxError(
        `The expression nests more than ${MAX_DEPTH} levels deep`,
        this.#token.position,
      );
    }
  }

  #predicate(): Expr {
    const left = this.#concat();
    const token = this.#token;
    if (
      token.kind === 'punctuation' &&
      ['=', '<>', '!=', '<', '<=', '>', '>='].includes(token.text)
    ) {
      this.#advance();
      const op = (token.text === '!=' ? '<>' : token.text) as BinaryOp;
      return { kind: 'binary', op, left, right: this.#concat(), at: token.position };
    }
    if (this.#isKeyword('IS')) {
      this.#advance();
      const negated = this.#acceptKeyword('NOT');
      if (this.#acceptKeyword('NULL'))
        return { kind: 'is', negated, arg: left, test: 'NULL', at: token.position };
      if (this.#acceptKeyword('MISSING'))
        return { kind: 'is', negated, arg: left, test: 'MISSING', at: token.position };
      if (this.#token.kind === 'identifier') {
        const type = this.#token;
        const name = this.#typeName();
        if (!(name in IS_TYPES)) {
          throw new PartiqlSyntaxError(
            `IS takes NULL, MISSING or a type (${Object.keys(IS_TYPES).join(', ')}), got ${type.text}`,
            type.position,
          );
        }
        return { kind: 'is', negated, arg: left, test: name, at: token.position };
      }
      return this.#unexpected('expected NULL, MISSING or a type such as INT after IS');
    }
    let negated = false;
    if (this.#isKeyword('NOT') && this.#peek().kind === 'keyword') {
      const next = this.#peek().text;
      if (next === 'IN' || next === 'LIKE' || next === 'BETWEEN') {
        this.#advance();
        negated = true;
      }
    }
    if (this.#acceptKeyword('IN')) {
      return { kind: 'in', negated, arg: left, set: this.#inSet(), at: token.position };
    }
    if (this.#acceptKeyword('LIKE')) {
      const pattern = this.#concat();
      const escape = this.#acceptKeyword('ESCAPE') ? this.#concat() : undefined;
      return { kind: 'like', negated, arg: left, pattern, escape, at: token.position };
    }
    if (this.#acceptKeyword('BETWEEN')) {
      const low = this.#concat();
      this.#expectKeyword('AND');
      const high = this.#concat();
      return { kind: 'between', negated, arg: left, low, high, at: token.position };
    }
    return left;
  }

  /** The right side of IN: `(a, b, c)`, a list, a bag, a subquery or a parameter. */
  #inSet(): Expr {
    const at = this.#token.position;
    if (this.#isPunctuation('(') && !this.#isKeyword('SELECT')) {
      if (this.#peek().kind === 'keyword' && this.#peek().text === 'SELECT') {
        return this.#primary();
      }
      this.#advance();
      const items: Expr[] = [];
      if (!this.#isPunctuation(')')) {
        do items.push(this.#expression());
        while (this.#acceptPunctuation(','));
      }
      this.#expectPunctuation(')');
      return { kind: 'list', items, at };
    }
    return this.#concat();
  }

  #concat(): Expr {
    let left = this.#additive();
    while (this.#isPunctuation('||')) {
      const at = this.#advance().position;
      left = { kind: 'binary', op: '||', left, right: this.#additive(), at };
    }
    return left;
  }

  #additive(): Expr {
    let left = this.#multiplicative();
    while (this.#isPunctuation('+', '-')) {
      const token = this.#advance();
      left = {
        kind: 'binary',
        op: token.text as BinaryOp,
        left,
        right: this.#multiplicative(),
        at: token.position,
      };
    }
    return left;
  }

  #multiplicative(): Expr {
    let left = this.#unary();
    while (this.#isPunctuation('*', '/', '%')) {
      const token = this.#advance();
      left = {
        kind: 'binary',
        op: token.text as BinaryOp,
        left,
        right: this.#unary(),
        at: token.position,
      };
    }
    return left;
  }

  #unary(): Expr {
    if (this.#isPunctuation('-', '+')) {
      const token = this.#advance();
      this.#enter();
      try {
        const arg = this.#unary();
        // Fold a sign into a numeric literal, so `-1` is a literal.
        if (token.text === '-' && arg.kind === 'literal') {
          const negated = negateLiteral(arg.value);
          if (negated !== undefined) return { kind: 'literal', value: negated, at: token.position };
        }
        return { kind: 'unary', op: token.text as '-' | '+', arg, at: token.position };
      } finally {
        this.#depth--;
      }
    }
    return this.#pathSteps(this.#primary());
  }

  #pathSteps(base: Expr): Expr {
    const steps: PathStep[] = [];
    for (;;) {
      if (this.#isPunctuation('.')) {
        this.#advance();
        if (this.#acceptPunctuation('*')) {
          steps.push({ kind: 'wildcard' });
          continue;
        }
        const token = this.#token;
        if (token.kind === 'identifier' || token.kind === 'quoted' || token.kind === 'keyword') {
          // After a dot every word is a field name, keywords included
          // (`t.Value`), spelt as written.
          this.#advance();
          const name = token.kind === 'keyword' ? (token.written ?? token.text) : token.text;
          steps.push({ kind: 'field', name, quoted: token.kind === 'quoted' });
          continue;
        }
        this.#unexpected("expected a field name or '*' after '.'");
      }
      if (this.#isPunctuation('[')) {
        this.#advance();
        if (this.#acceptPunctuation('*')) steps.push({ kind: 'wildcard', items: true });
        else steps.push({ kind: 'index', expr: this.#expression() });
        this.#expectPunctuation(']');
        continue;
      }
      break;
    }
    if (steps.length === 0) return base;
    if (base.kind === 'path') return { ...base, steps: [...base.steps, ...steps] };
    return { kind: 'path', base, steps, at: base.at };
  }

  #primary(): Expr {
    const token = this.#token;
    const at = token.position;
    switch (token.kind) {
      case 'string':
        this.#advance();
        return { kind: 'literal', value: new dom.String(token.text), at };
      case 'integer':
      case 'decimal':
      case 'exponent':
        this.#advance();
        return { kind: 'literal', value: numberLiteral(token), at };
      case 'ion':
        this.#advance();
        return { kind: 'literal', value: ionLiteral(token), at };
      case 'parameter':
        this.#advance();
        return { kind: 'parameter', index: this.parameters++, at };
      case 'quoted':
        this.#advance();
        return { kind: 'name', name: token.text, quoted: true, at };
      case 'identifier':
        this.#advance();
        if (this.#isPunctuation('(')) return this.#call(token);
        return token.variable === true
          ? { kind: 'name', name: token.text, quoted: false, variable: true, at }
          : { kind: 'name', name: token.text, quoted: false, at };
      case 'keyword':
        return this.#keywordPrimary(token);
      case 'punctuation':
        return this.#punctuationPrimary(token);
      default:
        return this.#unexpected('expected an expression');
    }
  }

  #keywordPrimary(token: Token): Expr {
    const at = token.position;
    switch (token.text) {
      case 'TRUE':
      case 'FALSE':
        this.#advance();
        return { kind: 'literal', value: new dom.Boolean(token.text === 'TRUE'), at };
      case 'NULL':
        this.#advance();
        return { kind: 'literal', value: new dom.Null(), at };
      case 'MISSING':
        this.#advance();
        return { kind: 'missing', at };
      case 'CAST': {
        this.#advance();
        this.#expectPunctuation('(');
        const arg = this.#expression();
        this.#expectKeyword('AS');
        const type = this.#typeName();
        this.#expectPunctuation(')');
        return { kind: 'cast', arg, type, at };
      }
      case 'EXISTS': {
        this.#advance();
        this.#expectPunctuation('(');
        const arg = this.#isKeyword('SELECT')
          ? ({ kind: 'subquery', query: this.#select(), at } as Expr)
          : this.#expression();
        this.#expectPunctuation(')');
        return { kind: 'call', name: 'EXISTS', args: [arg], at };
      }
      case 'CASE':
        return this.#case();
      default:
        return this.#unexpected('expected an expression');
    }
  }

  #case(): Expr {
    const at = this.#expectKeyword('CASE').position;
    const subject = this.#isKeyword('WHEN') ? undefined : this.#expression();
    const whens: Array<[Expr, Expr]> = [];
    while (this.#acceptKeyword('WHEN')) {
      const condition = this.#expression();
      this.#expectKeyword('THEN');
      whens.push([condition, this.#expression()]);
    }
    if (whens.length === 0) this.#unexpected('expected WHEN');
    const otherwise = this.#acceptKeyword('ELSE') ? this.#expression() : undefined;
    this.#expectKeyword('END');
    return { kind: 'case', subject, whens, otherwise, at };
  }

  #typeName(): string {
    const token = this.#token;
    if (token.kind === 'identifier' || (token.kind === 'keyword' && token.text === 'NULL')) {
      this.#advance();
      let name = token.text.toUpperCase();
      if (name === 'DOUBLE' && this.#token.kind === 'identifier') {
        if (this.#token.text.toUpperCase() === 'PRECISION') {
          this.#advance();
          name = 'FLOAT';
        }
      }
      // Ignore a precision such as DECIMAL(10, 2) or VARCHAR(20).
      if (this.#acceptPunctuation('(')) {
        while (!this.#isPunctuation(')') && this.#token.kind !== 'end') this.#advance();
        this.#expectPunctuation(')');
      }
      return name;
    }
    if (token.kind === 'keyword' && token.text === 'MISSING') {
      this.#advance();
      return 'MISSING';
    }
    return this.#unexpected('expected a type name');
  }

  #call(name: Token): Expr {
    const at = name.position;
    const upper = name.text.toUpperCase();
    this.#expectPunctuation('(');
    if (upper === 'COUNT' && this.#acceptPunctuation('*')) {
      this.#expectPunctuation(')');
      return { kind: 'call', name: upper, args: [], star: true, at };
    }
    if (upper === 'EXTRACT') {
      const part = this.#datePart();
      this.#expectKeyword('FROM');
      const value = this.#expression();
      this.#expectPunctuation(')');
      return { kind: 'call', name: upper, args: [part, value], at };
    }
    if (upper === 'DATE_ADD' || upper === 'DATE_DIFF') {
      const part = this.#datePart();
      const args = [part];
      while (this.#acceptPunctuation(',')) args.push(this.#expression());
      this.#expectPunctuation(')');
      return { kind: 'call', name: upper, args, at };
    }
    if (upper === 'TRIM') return this.#trim(at);
    if (upper === 'SUBSTRING') {
      const value = this.#expression();
      const args = [value];
      if (this.#acceptKeyword('FROM')) {
        args.push(this.#expression());
        if (this.#token.kind === 'identifier' && this.#token.text.toUpperCase() === 'FOR') {
          this.#advance();
          args.push(this.#expression());
        }
      } else {
        while (this.#acceptPunctuation(',')) args.push(this.#expression());
      }
      this.#expectPunctuation(')');
      return { kind: 'call', name: upper, args, at };
    }
    const distinct = this.#acceptKeyword('DISTINCT');
    if (!distinct) this.#acceptKeyword('ALL');
    const args: Expr[] = [];
    if (!this.#isPunctuation(')')) {
      do args.push(this.#expression());
      while (this.#acceptPunctuation(','));
    }
    this.#expectPunctuation(')');
    return { kind: 'call', name: upper, args, distinct, at };
  }

  /** A date part such as `year` or `minute`, kept as a string literal. */
  #datePart(): Expr {
    const token = this.#token;
    if (token.kind !== 'identifier' && token.kind !== 'string') {
      this.#unexpected('expected a date part such as year, month, day, hour, minute or second');
    }
    this.#advance();
    return { kind: 'literal', value: new dom.String(token.text.toLowerCase()), at: token.position };
  }

  #trim(at: Position): Expr {
    let mode = 'both';
    const modeToken = this.#token;
    if (modeToken.kind === 'identifier' && /^(both|leading|trailing)$/i.test(modeToken.text)) {
      this.#advance();
      mode = modeToken.text.toLowerCase();
    }
    let characters: Expr | undefined;
    let value: Expr;
    if (this.#acceptKeyword('FROM')) {
      value = this.#expression();
    } else {
      const first = this.#expression();
      if (this.#acceptKeyword('FROM')) {
        characters = first;
        value = this.#expression();
      } else value = first;
    }
    this.#expectPunctuation(')');
    const modeLiteral: Expr = { kind: 'literal', value: new dom.String(mode), at };
    const args = characters === undefined ? [modeLiteral, value] : [modeLiteral, value, characters];
    return { kind: 'call', name: 'TRIM', args, at };
  }

  #punctuationPrimary(token: Token): Expr {
    const at = token.position;
    switch (token.text) {
      case '(': {
        this.#advance();
        if (this.#isKeyword('SELECT')) {
          const query = this.#select();
          this.#expectPunctuation(')');
          return { kind: 'subquery', query, at };
        }
        const inner = this.#expression();
        this.#expectPunctuation(')');
        return inner;
      }
      case '{': {
        this.#advance();
        const fields: Array<[Expr, Expr]> = [];
        if (!this.#isPunctuation('}')) {
          do {
            const key = this.#expression();
            this.#expectPunctuation(':');
            fields.push([key, this.#expression()]);
          } while (this.#acceptPunctuation(','));
        }
        this.#expectPunctuation('}');
        return { kind: 'struct', fields, at };
      }
      case '[':
      case '<<': {
        this.#advance();
        const close = token.text === '[' ? ']' : '>>';
        const items: Expr[] = [];
        if (!this.#isPunctuation(close)) {
          do items.push(this.#expression());
          while (this.#acceptPunctuation(','));
        }
        this.#expectPunctuation(close);
        return { kind: token.text === '[' ? 'list' : 'bag', items, at };
      }
      default:
        return this.#unexpected('expected an expression');
    }
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'keyword':
      return `keyword ${token.text}`;
    case 'string':
      return `string '${token.text}'`;
    case 'quoted':
      return `name "${token.text}"`;
    case 'ion':
      return 'Ion literal';
    case 'parameter':
      return "parameter '?'";
    case 'punctuation':
      return `'${token.text}'`;
    default:
      return `'${token.text}'`;
  }
}

function numberLiteral(token: Token): dom.Value {
  let text = token.text;
  if (text.startsWith('.')) text = `0${text}`;
  if (token.kind === 'decimal' && text.endsWith('.')) text = `${text}0`;
  if (token.kind === 'decimal') text = `${text}d0`;
  // As in QLDB's PartiQL, a number with an exponent is an exact decimal, not
  // a float: 1.5e3 is 1500 and 0.1e0 + 0.2 is 0.3. Floats are Ion literals
  // in backticks, such as `1.5e3`.
  if (token.kind === 'exponent') text = text.replace(/[eE]/, 'd');
  return load(text)!;
}

function ionLiteral(token: Token): dom.Value {
  // loadAll, not load: ion-js's load stops after the first value, so it
  // returns {} for the unfinished `{a: ` and ignores a second value.
  let values: dom.Value[];
  try {
    values = loadAll(token.text);
  } catch (error) {
    throw new PartiqlSyntaxError(
      `Invalid Ion literal \`${shorten(token.text)}\`: ${(error as Error).message}`,
      token.position,
    );
  }
  if (values.length !== 1) {
    throw new PartiqlSyntaxError(
      `An Ion literal between backticks must hold one value, got ${values.length}`,
      token.position,
    );
  }
  return values[0]!;
}

function negateLiteral(value: dom.Value): dom.Value | undefined {
  if (value.isNull()) return undefined;
  const type = value.getType().name;
  if (type === 'int') {
    const big = value.bigIntValue()!;
    return load((-big).toString())!;
  }
  if (type === 'decimal' || type === 'float') {
    const written = dumpNumber(value);
    return load(written.startsWith('-') ? written.slice(1) : `-${written}`)!;
  }
  return undefined;
}

function dumpNumber(value: dom.Value): string {
  if (value.getType().name === 'decimal')
    return value
      .decimalValue()!
      .toString()
      .replace(/^(-?\d+)$/, '$1d0');
  const n = value.numberValue()!;
  return Number.isFinite(n) ? n.toExponential() : String(n);
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
