import { LedgerError } from '../errors.js';
import type { Position } from './lexer.js';

/**
 * A statement that does not parse or cannot run, reported as QLDB reports
 * it: a `BadRequestException` whose message ends with where the fault is,
 * "... Errors at: line L, column C".
 */
export class PartiqlError extends LedgerError {
  constructor(
    readonly detail: string,
    readonly position: Position | undefined,
  ) {
    super(
      'BadRequestException',
      position === undefined
        ? detail
        : `${detail}; Errors at: line ${position.line}, column ${position.column}`,
    );
  }
}

/** The statement's text is not valid PartiQL, or not a statement Vellum runs. */
export class PartiqlSyntaxError extends PartiqlError {}

/** The statement parsed but refers to something that does not exist or mixes types. */
export class PartiqlSemanticError extends PartiqlError {}
