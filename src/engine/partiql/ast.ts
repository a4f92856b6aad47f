import type { dom } from 'ion-js';
import type { Position } from './lexer.js';

/** The syntax tree of one PartiQL statement, as the parser builds it. */

export type Expr =
  | { kind: 'literal'; value: dom.Value; at: Position }
  | { kind: 'missing'; at: Position }
  | { kind: 'parameter'; index: number; at: Position }
  /** A bare or quoted name: a variable, or a field of the FROM source. */
  /** A name; `variable` when written `@name`, which must be an alias. */
  | { kind: 'name'; name: string; quoted: boolean; variable?: boolean; at: Position }
  | { kind: 'path'; base: Expr; steps: PathStep[]; at: Position }
  | { kind: 'unary'; op: '-' | '+' | 'NOT'; arg: Expr; at: Position }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; at: Position }
  | { kind: 'like'; negated: boolean; arg: Expr; pattern: Expr; escape?: Expr; at: Position }
  | { kind: 'between'; negated: boolean; arg: Expr; low: Expr; high: Expr; at: Position }
  | { kind: 'in'; negated: boolean; arg: Expr; set: Expr; at: Position }
  /** `IS [NOT] NULL`, `IS [NOT] MISSING`, or `IS [NOT] <type>` with an Ion type name such as `INT`. */
  | { kind: 'is'; negated: boolean; arg: Expr; test: string; at: Position }
  | { kind: 'call'; name: string; args: Expr[]; star?: boolean; distinct?: boolean; at: Position }
  | { kind: 'cast'; arg: Expr; type: string; at: Position }
  | { kind: 'case'; subject?: Expr; whens: Array<[Expr, Expr]>; otherwise?: Expr; at: Position }
  | { kind: 'struct'; fields: Array<[Expr, Expr]>; at: Position }
  | { kind: 'list'; items: Expr[]; at: Position }
  | { kind: 'bag'; items: Expr[]; at: Position }
  | { kind: 'subquery'; query: SelectStatement; at: Position };

export type BinaryOp =
  'OR' | 'AND' | '=' | '<>' | '<' | '<=' | '>' | '>=' | '||' | '+' | '-' | '*' | '/' | '%';

export type PathStep =
  | { kind: 'field'; name: string; quoted: boolean }
  | { kind: 'index'; expr: Expr }
  /** A wildcard step: `.*` selects every field of a struct, and `[*]` (`items`) every item of a list. */
  | { kind: 'wildcard'; items?: boolean };

/** One source in a FROM clause, with the variables it binds. */
export interface FromSource {
  expr: Expr;
  /** `UNPIVOT expr`: range over the fields of a struct, binding each value and, with AT, its name. */
  unpivot?: boolean;
  alias?: string;
  atAlias?: string;
  byAlias?: string;
  at: Position;
}

/** FROM sources in order; a join's ON condition filters after its source. */
export interface FromClause {
  sources: FromSource[];
  /** ON conditions of `JOIN ... ON`, checked with the other filters. */
  conditions: Expr[];
}

export type Projection =
  { kind: 'star' } | { kind: 'value'; expr: Expr } | { kind: 'items'; items: ProjectionItem[] };

export type ProjectionItem =
  | { kind: 'expr'; expr: Expr; alias?: string }
  /** `a.*`: every field of a struct. */
  | { kind: 'all'; expr: Expr };

export interface OrderItem {
  expr: Expr;
  descending: boolean;
  nullsFirst?: boolean;
}

export interface SelectStatement {
  kind: 'select';
  distinct: boolean;
  projection: Projection;
  from?: FromClause;
  where?: Expr;
  orderBy?: OrderItem[];
  limit?: Expr;
  offset?: Expr;
  at: Position;
}

export type UpdateOp =
  | { kind: 'set'; target: Expr; value: Expr }
  | { kind: 'remove'; target: Expr }
  | { kind: 'insertInto'; target: Expr; value: Expr; key?: Expr };

/** A table named by a DML statement: `t [AS a] [BY id]`. */
export interface TableTarget {
  table: string;
  alias?: string;
  byAlias?: string;
  at: Position;
}

export type Statement =
  | { kind: 'createTable'; table: string; tags?: Expr; at: Position }
  | { kind: 'dropTable'; table: string; at: Position }
  | { kind: 'undropTable'; tableId: string; at: Position }
  | { kind: 'createIndex'; table: string; field: string; unique: boolean; at: Position }
  | { kind: 'dropIndex'; table: string; indexId: string; at: Position }
  | { kind: 'insert'; table: string; value: Expr; single: boolean; at: Position }
  | SelectStatement
  | {
      kind: 'update';
      target: TableTarget;
      /** Collections nested in the table's documents, as in `FROM t AS a, a.items AS i`. */
      nested?: FromSource[];
      ops: UpdateOp[];
      where?: Expr;
      at: Position;
    }
  | { kind: 'delete'; target: TableTarget; where?: Expr; at: Position }
  /** `EXEC procedure arg, ...`: a stored procedure, `redact_revision` being the only one. */
  | { kind: 'exec'; procedure: string; args: Expr[]; at: Position };
