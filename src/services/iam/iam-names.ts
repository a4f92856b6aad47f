/**
 * Validation of IAM entity names, paths and ARNs, with the constraints of
 * the IAM API reference (user and role names `[\w+=,.@-]+` of 1 to 64
 * characters, policy names of 1 to 128, paths `/` or `/.../`).
 */
import { memberInvalid } from './iam-errors.js';

const NAME_PATTERN = /^[\w+=,.@-]+$/;
const PATH_PATTERN = /^(\/|\/[\u0021-\u007e]+\/)$/;
const SESSION_NAME_PATTERN = /^[\w+=,.@-]*$/;
const ACCESS_KEY_PATTERN = /^[\w]+$/;

export function checkRequired(member: string, value: string | undefined): string {
  if (value === undefined) throw memberInvalid(member, undefined, 'not be null');
  return value;
}

function checkName(member: string, value: string | undefined, max: number): string {
  const name = checkRequired(member, value);
  if (name.length < 1) throw memberInvalid(member, name, 'have length greater than or equal to 1');
  if (name.length > max)
    throw memberInvalid(member, name, `have length less than or equal to ${max}`);
  if (!NAME_PATTERN.test(name)) {
    throw memberInvalid(member, name, 'satisfy regular expression pattern: [\\w+=,.@-]+');
  }
  return name;
}

export function checkUserName(value: string | undefined): string {
  return checkName('userName', value, 64);
}

export function checkRoleName(value: string | undefined): string {
  return checkName('roleName', value, 64);
}

export function checkPolicyName(value: string | undefined): string {
  return checkName('policyName', value, 128);
}

export function checkPath(value: string | undefined, member = 'path'): string {
  if (value === undefined) return '/';
  if (value.length > 512)
    throw memberInvalid(member, value, 'have length less than or equal to 512');
  if (!PATH_PATTERN.test(value)) {
    throw memberInvalid(
      member,
      value,
      'satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)',
    );
  }
  return value;
}

export function checkSessionName(value: string | undefined): string {
  const name = checkRequired('roleSessionName', value);
  if (name.length < 2)
    throw memberInvalid('roleSessionName', name, 'have length greater than or equal to 2');
  if (name.length > 64)
    throw memberInvalid('roleSessionName', name, 'have length less than or equal to 64');
  if (!SESSION_NAME_PATTERN.test(name)) {
    throw memberInvalid(
      'roleSessionName',
      name,
      'satisfy regular expression pattern: [\\w+=,.@-]*',
    );
  }
  return name;
}

const EXTERNAL_ID_PATTERN = /^[\w+=,.@:/-]*$/;

/** Check an AssumeRole `ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`. */
export function checkExternalId(id: string): string {
  if (id.length < 2)
    throw memberInvalid('externalId', id, 'have length greater than or equal to 2');
  if (id.length > 1224)
    throw memberInvalid('externalId', id, 'have length less than or equal to 1224');
  if (!EXTERNAL_ID_PATTERN.test(id)) {
    throw memberInvalid('externalId', id, 'satisfy regular expression pattern: [\\w+=,.@:/-]*');
  }
  return id;
}

export function checkAccessKeyId(value: string | undefined): string {
  const id = checkRequired('accessKeyId', value);
  if (id.length < 16)
    throw memberInvalid('accessKeyId', id, 'have length greater than or equal to 16');
  if (id.length > 128)
    throw memberInvalid('accessKeyId', id, 'have length less than or equal to 128');
  if (!ACCESS_KEY_PATTERN.test(id))
    throw memberInvalid('accessKeyId', id, 'satisfy regular expression pattern: [\\w]+');
  return id;
}

export function checkPolicyDocument(member: string, value: string | undefined): string {
  const document = checkRequired(member, value);
  if (document.length < 1)
    throw memberInvalid(member, document, 'have length greater than or equal to 1');
  if (document.length > 131072) {
    throw memberInvalid(member, '(policy text)', 'have length less than or equal to 131072');
  }
  return document;
}

/** Parse an integer form field; undefined when absent. */
export function checkInteger(
  member: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const number = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number)) throw memberInvalid(member, value, 'be an integer');
  if (number < min)
    throw memberInvalid(member, value, `have value greater than or equal to ${min}`);
  if (number > max) throw memberInvalid(member, value, `have value less than or equal to ${max}`);
  return number;
}

/** Split an IAM role ARN `arn:aws:iam::<account>:role/<path><name>`; undefined when it is not one. */
export function parseRoleArn(arn: string): { accountId: string; name: string } | undefined {
  const match = /^arn:aws:iam::(\d{12}):role\/(?:[\u0021-\u007e]*\/)?([\w+=,.@-]{1,64})$/.exec(arn);
  if (!match) return undefined;
  return { accountId: match[1]!, name: match[2]! };
}
