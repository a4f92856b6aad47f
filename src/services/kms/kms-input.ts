/**
 * Reading and validating KMS request members. Type mismatches raise
 * `SerializationException` at once, as the AWS JSON protocol front end
 * does. Constraint violations are collected and raised together as one
 * `ValidationException` in AWS's wording: `N validation error(s) detected:
 * Value '<value>' at '<member>' failed to satisfy constraint: Member must
 * <rule>`. Blob values are never echoed.
 */
import { kmsError, validation } from './kms-errors.js';

interface StringRules {
  required?: boolean;
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** The pattern as AWS prints it in the message. */
  patternText?: string;
  values?: readonly string[];
}

interface NumberRules {
  required?: boolean;
  min?: number;
  max?: number;
}

export class InputReader {
  readonly #input: Record<string, unknown>;
  readonly #problems: string[] = [];

  constructor(input: unknown) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw kmsError('SerializationException', 'The request body must be a JSON object.');
    }
    this.#input = input as Record<string, unknown>;
  }

  /** Return a member as given, for structures the typed readers do not cover. */
  raw(name: string): unknown {
    return this.#input[name];
  }

  has(name: string): boolean {
    return this.#input[name] !== undefined && this.#input[name] !== null;
  }

  string(name: string, rules: StringRules = {}): string | undefined {
    const value = this.#input[name];
    const path = memberPath(name);
    if (value === undefined || value === null) {
      if (rules.required)
        this.#problem(
          `Value null at '${path}' failed to satisfy constraint: Member must not be null`,
        );
      return undefined;
    }
    if (typeof value !== 'string') throw typeMismatch(path, 'a string', value);
    this.checkString(path, value, rules);
    return value;
  }

  /** Check a string already read, such as a list member, against `rules`. */
  checkString(path: string, value: string, rules: StringRules): void {
    const prefix = `Value '${value}' at '${path}' failed to satisfy constraint: Member must`;
    if (rules.min !== undefined && value.length < rules.min) {
      this.#problem(`${prefix} have length greater than or equal to ${rules.min}`);
    } else if (rules.max !== undefined && value.length > rules.max) {
      this.#problem(`${prefix} have length less than or equal to ${rules.max}`);
    } else if (rules.pattern && !rules.pattern.test(value)) {
      this.#problem(
        `${prefix} satisfy regular expression pattern: ${rules.patternText ?? rules.pattern.source}`,
      );
    } else if (rules.values && !rules.values.includes(value)) {
      this.#problem(`${prefix} satisfy enum value set: [${rules.values.join(', ')}]`);
    }
  }

  integer(name: string, rules: NumberRules = {}): number | undefined {
    const value = this.#input[name];
    const path = memberPath(name);
    if (value === undefined || value === null) {
      if (rules.required)
        this.#problem(
          `Value null at '${path}' failed to satisfy constraint: Member must not be null`,
        );
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isInteger(value))
      throw typeMismatch(path, 'an integer', value);
    const prefix = `Value '${value}' at '${path}' failed to satisfy constraint: Member must have value`;
    if (rules.min !== undefined && value < rules.min)
      this.#problem(`${prefix} greater than or equal to ${rules.min}`);
    else if (rules.max !== undefined && value > rules.max)
      this.#problem(`${prefix} less than or equal to ${rules.max}`);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.#input[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw typeMismatch(memberPath(name), 'a boolean', value);
    return value;
  }

  /** Read a blob member: bytes from in-process callers, or decoded from base64 by `handle`. */
  blob(name: string, rules: NumberRules = {}): Buffer | undefined {
    const value = this.#input[name];
    const path = memberPath(name);
    if (value === undefined || value === null) {
      if (rules.required)
        this.#problem(
          `Value null at '${path}' failed to satisfy constraint: Member must not be null`,
        );
      return undefined;
    }
    if (!(value instanceof Uint8Array)) throw typeMismatch(path, 'binary data', value);
    const prefix = `Value at '${path}' failed to satisfy constraint: Member must have length`;
    if (rules.min !== undefined && value.length < rules.min)
      this.#problem(`${prefix} greater than or equal to ${rules.min}`);
    else if (rules.max !== undefined && value.length > rules.max)
      this.#problem(`${prefix} less than or equal to ${rules.max}`);
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }

  /** Read a map of strings to strings, such as an encryption context. */
  stringMap(name: string): Record<string, string> | undefined {
    const value = this.#input[name];
    if (value === undefined || value === null) return undefined;
    const path = memberPath(name);
    if (typeof value !== 'object' || Array.isArray(value))
      throw typeMismatch(path, 'a map of strings', value);
    for (const [key, entry] of Object.entries(value)) {
      if (typeof entry !== 'string') throw typeMismatch(`${path}.${key}`, 'a string', entry);
    }
    return value as Record<string, string>;
  }

  list(
    name: string,
    rules: { required?: boolean; min?: number; max?: number } = {},
  ): unknown[] | undefined {
    const value = this.#input[name];
    const path = memberPath(name);
    if (value === undefined || value === null) {
      if (rules.required)
        this.#problem(
          `Value null at '${path}' failed to satisfy constraint: Member must not be null`,
        );
      return undefined;
    }
    if (!Array.isArray(value)) throw typeMismatch(path, 'a list', value);
    const prefix = `Value '[${value.join(', ')}]' at '${path}' failed to satisfy constraint: Member must have length`;
    if (rules.min !== undefined && value.length < rules.min)
      this.#problem(`${prefix} greater than or equal to ${rules.min}`);
    else if (rules.max !== undefined && value.length > rules.max)
      this.#problem(`${prefix} less than or equal to ${rules.max}`);
    return value;
  }

  stringList(
    name: string,
    rules: { required?: boolean; min?: number; max?: number; member?: StringRules } = {},
  ): string[] | undefined {
    const list = this.list(name, rules);
    if (!list) return undefined;
    const path = memberPath(name);
    return list.map((item, index) => {
      if (typeof item !== 'string')
        throw typeMismatch(`${path}.${index + 1}.member`, 'a string', item);
      if (rules.member) this.checkString(`${path}.${index + 1}.member`, item, rules.member);
      return item;
    });
  }

  /** Record a problem found outside the reader's own checks. */
  problem(message: string): void {
    this.#problem(message);
  }

  /** Raise the collected problems as one ValidationException. */
  finish(): void {
    const count = this.#problems.length;
    if (count === 0) return;
    const noun = count === 1 ? 'error' : 'errors';
    throw validation(`${count} validation ${noun} detected: ${this.#problems.join('; ')}`);
  }

  #problem(message: string): void {
    this.#problems.push(message);
  }
}

/** Convert a member name to the form AWS prints: `KeyId` becomes `keyId`. */
export function memberPath(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function typeMismatch(path: string, expected: string, value: unknown): Error {
  let got = `a ${typeof value}`;
  if (Array.isArray(value)) got = 'a list';
  if (value === null) got = 'null';
  return kmsError('SerializationException', `Member '${path}' must be ${expected}, got ${got}.`);
}
