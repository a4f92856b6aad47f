/**
 * The IAM and STS errors, with the codes and HTTP statuses of the IAM query
 * API: `NoSuchEntity` 404, `EntityAlreadyExists` 409, `DeleteConflict` 409,
 * `LimitExceeded` 409, `ValidationError` 400, `MalformedPolicyDocument` 400,
 * `AccessDenied` 403.
 */
import { ServiceError } from '../types.js';

export function noSuchEntity(message: string): ServiceError {
  return new ServiceError('NoSuchEntity', message, 404);
}

export function entityAlreadyExists(message: string): ServiceError {
  return new ServiceError('EntityAlreadyExists', message, 409);
}

export function deleteConflict(message: string): ServiceError {
  return new ServiceError('DeleteConflict', message, 409);
}

export function limitExceeded(message: string): ServiceError {
  return new ServiceError('LimitExceeded', message, 409);
}

export function validationError(message: string): ServiceError {
  return new ServiceError('ValidationError', message, 400);
}

export function malformedPolicy(message: string): ServiceError {
  return new ServiceError('MalformedPolicyDocument', message, 400);
}

export function accessDenied(principalArn: string, action: string, resource: string): ServiceError {
  return new ServiceError(
    'AccessDenied',
    `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource}`,
    403,
  );
}

/** A `ValidationError` in the AWS form: `1 validation error detected: Value '<v>' at '<member>' failed to satisfy constraint: Member must <rule>`. */
export function memberInvalid(member: string, value: unknown, rule: string): ServiceError {
  const quoted = value === undefined || value === null ? 'null' : `'${String(value)}'`;
  return validationError(
    `1 validation error detected: Value ${quoted} at '${member}' failed to satisfy constraint: Member must ${rule}`,
  );
}
