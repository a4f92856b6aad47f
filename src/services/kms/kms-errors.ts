/**
 * The KMS error catalogue. Real KMS returns HTTP 400 for every client error
 * (recorded responses show 400 even where the Smithy model declares 404 or
 * 409), 500 for `KMSInternalException` and 503 for
 * `DependencyTimeoutException`, so these constructors use the same.
 */
import { ServiceError } from '../types.js';

export const CIPHERTEXT_ACCESS_MESSAGE =
  'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.';

export function kmsError(code: string, message: string): ServiceError {
  const status =
    code === 'KMSInternalException' ? 500 : code === 'DependencyTimeoutException' ? 503 : 400;
  return new ServiceError(code, message, status);
}

export const notFound = (message: string) => kmsError('NotFoundException', message);
export const disabled = (keyArn: string) => kmsError('DisabledException', `${keyArn} is disabled.`);
export const pendingDeletion = (keyArn: string) =>
  kmsError('KMSInvalidStateException', `${keyArn} is pending deletion.`);
export const notPendingDeletion = (keyArn: string) =>
  kmsError('KMSInvalidStateException', `${keyArn} is not pending deletion.`);
export const invalidCiphertext = () => kmsError('InvalidCiphertextException', '');
export const accessDeniedCiphertext = () =>
  kmsError('AccessDeniedException', CIPHERTEXT_ACCESS_MESSAGE);
export const malformedPolicy = (message: string) =>
  kmsError('MalformedPolicyDocumentException', message);
export const unsupported = (message: string) => kmsError('UnsupportedOperationException', message);
export const validation = (message: string) => kmsError('ValidationException', message);
export const tagError = (message: string) => kmsError('TagException', message);
export const limitExceeded = (message: string) => kmsError('LimitExceededException', message);
export const dryRun = () =>
  kmsError(
    'DryRunOperationException',
    'The request would have succeeded, but the DryRun option is set.',
  );

/** AccessDeniedException in the shape AWS uses for policy decisions. */
export function accessDenied(
  principalArn: string,
  action: string,
  resource: string,
  reason: 'implicit' | 'resource-deny' | 'identity-deny' | 'identity-only',
): ServiceError {
  const because = {
    implicit: `because no resource-based policy allows the ${action} action`,
    'resource-deny': 'with an explicit deny in a resource-based policy',
    'identity-deny': 'with an explicit deny in an identity-based policy',
    'identity-only': `because no identity-based policy allows the ${action} action`,
  }[reason];
  return kmsError(
    'AccessDeniedException',
    `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} ${because}`,
  );
}
