/**
 * The unique ids that key and trust policies record for the users and roles
 * they name. When such a policy is stored, each IAM user or role ARN of the
 * account it names is recorded with the id (`AIDA...`, `AROA...`) of the
 * principal that has the name at that moment, as AWS does. The policy then
 * matches that principal only: a user or role deleted and created again
 * under the same name has a new id, and the policy matches it only once it
 * is stored again. An entry without a recorded id (an assumed-role session,
 * another account's principal, a policy stored before ids were recorded)
 * matches by ARN.
 */
import type { Principal } from '../types.js';
import { isObject, type PolicyDocument } from './policy.js';

/** Principal ARN to unique id, as stored beside a policy's text. */
export type PrincipalIds = Readonly<Record<string, string>>;

const bound = new WeakMap<PrincipalIds, PolicyDocument>();

/**
 * Attach the recorded ids to a parsed policy for evaluation. The result is
 * cached with the ids object, so a cached key or role record costs one
 * lookup per request.
 *
 * @example withPrincipalIds(parsed, { 'arn:aws:iam::111122223333:user/dave': 'AIDA...' })
 *   // => { ...parsed, principalIds: Map { 'arn:aws:iam::111122223333:user/dave' => 'AIDA...' } }
 */
export function withPrincipalIds(
  document: PolicyDocument,
  ids: PrincipalIds | undefined,
): PolicyDocument {
  if (ids === undefined) return document;
  const cached = bound.get(ids);
  if (cached?.statements === document.statements) return cached;

  const result: PolicyDocument = { ...document, principalIds: new Map(Object.entries(ids)) };
  bound.set(ids, result);
  return result;
}

/**
 * Return the id that recorded principal ids are compared with: a user's id,
 * or for a role session the id of its role.
 *
 * @example callerUniqueId({ userId: 'AROAEXAMPLE:session', roleArn: 'arn:aws:iam::111122223333:role/r', ... })
 *   // => 'AROAEXAMPLE'
 */
export function callerUniqueId(principal: Principal): string {
  if (principal.roleArn === undefined) return principal.userId;
  const colon = principal.userId.indexOf(':');
  return colon < 0 ? principal.userId : principal.userId.slice(0, colon);
}

/**
 * Show a stored policy the way AWS does once principals it names were
 * deleted: each `AWS` principal entry in `deleted` is replaced by its
 * recorded id. The text is returned unchanged when `deleted` is empty, and
 * otherwise written out again as compact JSON.
 *
 * @example showDeletedPrincipals('{"Statement":{"Principal":{"AWS":"arn:aws:iam::111122223333:user/dave"}}}', new Map([['arn:aws:iam::111122223333:user/dave', 'AIDAEXAMPLE']]))
 *   // => '{"Statement":{"Principal":{"AWS":"AIDAEXAMPLE"}}}'
 */
export function showDeletedPrincipals(text: string, deleted: ReadonlyMap<string, string>): string {
  if (deleted.size === 0) return text;
  const document = JSON.parse(text) as unknown;
  if (!isObject(document)) return text;

  const statements = Array.isArray(document.Statement) ? document.Statement : [document.Statement];
  for (const statement of statements) {
    if (!isObject(statement)) continue;
    for (const field of ['Principal', 'NotPrincipal']) {
      const principal = statement[field];
      if (!isObject(principal)) continue;
      const entries = principal.AWS;
      if (typeof entries === 'string') principal.AWS = deleted.get(entries) ?? entries;
      else if (Array.isArray(entries)) {
        principal.AWS = entries.map((entry: unknown) =>
          typeof entry === 'string' ? (deleted.get(entry) ?? entry) : entry,
        );
      }
    }
  }
  return JSON.stringify(document);
}
