import { IonTypes, type dom } from 'ion-js';
import type { Expr, SelectStatement, Statement } from '../../engine/partiql/ast.js';

/** One permission a statement needs in `STANDARD` mode: a `qldb:PartiQL*` action on a table. */
export interface StatementAccess {
  action: string;
  /** The table by name; `*` for statements that create one; undefined for the catalog view. */
  table: string | undefined;
  /** The table by id, for statements that name it so (dropped tables included). */
  tableId?: string;
  /** True for `information_schema.user_tables`. */
  catalog?: boolean;
}

/**
 * List the `qldb:PartiQL*` actions a statement needs, with the tables they apply
 * to, as QLDB's `STANDARD` permissions mode checks them.
 */
export function statementAccess(
  statement: Statement,
  parameters: readonly dom.Value[] = [],
): StatementAccess[] {
  switch (statement.kind) {
    case 'createTable':
      return [{ action: 'qldb:PartiQLCreateTable', table: '*' }];
    case 'dropTable':
      return [{ action: 'qldb:PartiQLDropTable', table: statement.table }];
    case 'undropTable':
      return [{ action: 'qldb:PartiQLUndropTable', table: undefined, tableId: statement.tableId }];
    case 'createIndex':
      return [{ action: 'qldb:PartiQLCreateIndex', table: statement.table }];
    case 'dropIndex':
      return [{ action: 'qldb:PartiQLDropIndex', table: statement.table }];
    case 'insert':
      return [{ action: 'qldb:PartiQLInsert', table: statement.table }];
    case 'update':
      return [{ action: 'qldb:PartiQLUpdate', table: statement.target.table }];
    case 'delete':
      return [{ action: 'qldb:PartiQLDelete', table: statement.target.table }];
    case 'select': {
      const found: StatementAccess[] = [];
      collectSelect(statement, found);
      return found;
    }
    case 'exec': {
      // redact_revision names the table by id, its second argument. Where
      // that is not a string, the access asked for is every table's.
      const tableId = stringArgument(statement.args[1], parameters);
      return [
        tableId === undefined
          ? { action: 'qldb:PartiQLRedact', table: '*' }
          : { action: 'qldb:PartiQLRedact', table: undefined, tableId },
      ];
    }
  }
}

/** Return the string that a literal or parameter argument gives, or undefined for any other argument. */
function stringArgument(
  expr: Expr | undefined,
  parameters: readonly dom.Value[],
): string | undefined {
  const value =
    expr?.kind === 'literal'
      ? expr.value
      : expr?.kind === 'parameter'
        ? parameters[expr.index]
        : undefined;
  if (value === undefined || value.getType() !== IonTypes.STRING || value.isNull()) {
    return undefined;
  }
  return value.stringValue() ?? undefined;
}

function collectSelect(query: SelectStatement, into: StatementAccess[]): void {
  for (const source of query.from?.sources ?? []) {
    const expr = source.expr;
    if (expr.kind === 'name') {
      const table = expr.name.startsWith('_ql_committed_')
        ? expr.name.slice('_ql_committed_'.length)
        : expr.name;
      into.push({ action: 'qldb:PartiQLSelect', table });
    } else if (expr.kind === 'call' && expr.name === 'HISTORY') {
      const first = expr.args[0];
      const table =
        first?.kind === 'name'
          ? first.name
          : first?.kind === 'literal' && first.value.stringValue() !== null
            ? (first.value.stringValue() ?? undefined)
            : undefined;
      into.push({ action: 'qldb:PartiQLHistoryFunction', table });
    } else if (
      expr.kind === 'path' &&
      expr.base.kind === 'name' &&
      expr.base.name.toLowerCase() === 'information_schema'
    ) {
      into.push({ action: 'qldb:PartiQLSelect', table: undefined, catalog: true });
    }
  }
  // A name in FROM may be an alias of an earlier source rather than a table;
  // those are dropped by the caller when no table has the name.
  const visit = (expr: Expr | undefined): void => {
    if (expr === undefined) return;
    if (expr.kind === 'subquery') collectSelect(expr.query, into);
  };
  visit(query.where);
}
