/**
 * Policy evaluation the AWS way: an explicit Deny in any applicable
 * statement wins; otherwise an Allow grants; otherwise the request is
 * implicitly denied. Resource policies (key and trust policies) also match
 * the statement's principal; identity policies apply to their own identity.
 */
import type { Principal } from '../types.js';
import type { PolicyDocument, PolicyStatement, PrincipalSet } from './policy.js';
import { conditionsHold, type ConditionValues } from './policy-conditions.js';
import { resolveVariables } from './policy-variables.js';
import { callerUniqueId } from './principal-ids.js';
import { matchesWildcard } from './wildcard.js';

export interface AuthorizationRequest {
  principal: Principal;
  /** The action, such as `kms:Decrypt`; compared without regard to case. */
  action: string;
  /** The resource ARN, or `*` for actions without a resource. */
  resource: string;
  /** Request condition keys such as `kms:ViaService`; names are case-insensitive. */
  conditionKeys?: ConditionValues;
}

/** The outcome of evaluating policies for one request. */
export interface PolicyVerdict {
  /** A Deny statement matched. */
  denied: boolean;
  /** An Allow statement matched that names the principal itself, `*`, or applies to it as an identity policy. */
  allowed: boolean;
  /**
   * An Allow statement of a resource policy matched only because it names
   * the principal's account (`<account>` or `arn:aws:iam::<account>:root`).
   * Such a statement delegates to the account's identity policies.
   */
  accountAllowed: boolean;
}

type PrincipalMatch = 'direct' | 'account' | 'none';

/**
 * The kind of a policy, which decides how it applies. Identity policies
 * match no principal, while resource policies (key policies) and trust
 * policies do. A trust policy
 * statement needs no Resource, because its role is the resource; a key
 * policy statement without Resource matches nothing.
 */
export type PolicyKind = 'identity' | 'resource' | 'trust';

/**
 * Evaluate `policies` of one kind for one request.
 *
 * @example evaluatePolicies([keyPolicy], { principal, action: 'kms:Decrypt', resource: keyArn }, 'resource')
 *   // => { denied: false, allowed: true, accountAllowed: false }
 */
export function evaluatePolicies(
  policies: readonly PolicyDocument[],
  request: AuthorizationRequest,
  kind: PolicyKind,
): PolicyVerdict {
  const verdict: PolicyVerdict = { denied: false, allowed: false, accountAllowed: false };
  let lookup: ((key: string) => string[] | undefined) | undefined;

  for (const policy of policies) {
    for (const statement of policy.statements) {
      const match =
        kind === 'identity'
          ? 'direct'
          : statementPrincipalMatch(statement, request.principal, policy.principalIds);
      if (match === 'none') continue;
      if (!actionMatches(statement, request.action)) continue;
      if (statement.resourceVariables) lookup ??= conditionLookup(request);
      if (!resourceMatches(statement, request.resource, kind === 'trust', lookup)) continue;
      if (statement.conditions.length > 0) {
        lookup ??= conditionLookup(request);
        if (!conditionsHold(statement.conditions, lookup)) continue;
      }

      if (statement.effect === 'Deny') {
        verdict.denied = true;
        return verdict;
      }
      if (match === 'direct') verdict.allowed = true;
      else verdict.accountAllowed = true;
    }
  }
  return verdict;
}

function statementPrincipalMatch(
  statement: PolicyStatement,
  principal: Principal,
  ids: ReadonlyMap<string, string> | undefined,
): PrincipalMatch {
  if (statement.principal) return principalMatch(statement.principal, principal, ids);
  if (statement.notPrincipal) {
    // Only a principal the element names itself is exempt. The account's
    // ARN exempts the account root, not every user and role of the account.
    return principalMatch(statement.notPrincipal, principal, ids) === 'direct' ? 'none' : 'direct';
  }
  return 'none';
}

/**
 * Match a principal against a principal set: by name, through its account,
 * or not at all. A user or role ARN with an id in `ids` names only the
 * principal with that unique id.
 */
export function principalMatch(
  set: PrincipalSet,
  principal: Principal,
  ids?: ReadonlyMap<string, string>,
): PrincipalMatch {
  if (set.any) return 'direct';

  let result: PrincipalMatch = 'none';
  for (const entry of set.aws) {
    const account = accountOfRootEntry(entry);
    if (account !== undefined) {
      if (account !== principal.accountId) continue;
      if (principal.arn === `arn:aws:iam::${account}:root`) return 'direct';
      result = 'account';
    } else if (entry === principal.arn || entry === principal.roleArn) {
      const id = ids?.get(entry);
      if (id === undefined || id === callerUniqueId(principal)) return 'direct';
    }
  }
  if (set.service.includes(principal.arn)) return 'direct';
  return result;
}

/** Extract the account an entry such as `123456789012` or `arn:aws:iam::123456789012:root` names. */
function accountOfRootEntry(entry: string): string | undefined {
  if (entry.length === 12 && /^\d{12}$/.test(entry)) return entry;
  if (entry.startsWith('arn:aws:iam::') && entry.endsWith(':root')) {
    return entry.slice('arn:aws:iam::'.length, -':root'.length);
  }
  return undefined;
}

function actionMatches(statement: PolicyStatement, action: string): boolean {
  if (statement.action) {
    return statement.action.some((pattern) => matchesWildcard(pattern, action, true));
  }
  if (statement.notAction) {
    return !statement.notAction.some((pattern) => matchesWildcard(pattern, action, true));
  }
  return false;
}

function resourceMatches(
  statement: PolicyStatement,
  resource: string,
  missingMatches: boolean,
  lookup: ((key: string) => string[] | undefined) | undefined,
): boolean {
  const matches = (pattern: string): boolean => {
    if (!statement.resourceVariables || lookup === undefined) {
      return matchesWildcard(pattern, resource);
    }
    // A pattern whose variable has no value in the request matches nothing.
    const resolved = resolveVariables(pattern, lookup, 'pattern');
    return resolved !== undefined && matchesWildcard(resolved, resource, false, true);
  };
  if (statement.resource) return statement.resource.some(matches);
  if (statement.notResource) return !statement.notResource.some(matches);
  return missingMatches;
}

function conditionLookup(request: AuthorizationRequest): (key: string) => string[] | undefined {
  const values = new Map<string, string[]>();
  const { principal } = request;
  values.set('aws:principalarn', [principal.roleArn ?? principal.arn]);
  values.set('aws:principalaccount', [principal.accountId]);
  values.set('aws:userid', [principal.userId]);

  for (const [key, value] of Object.entries(request.conditionKeys ?? {})) {
    if (value === undefined) continue;
    values.set(key.toLowerCase(), Array.isArray(value) ? value : [value]);
  }
  // The principal's type and user name are worked out only when a policy
  // reads them, as few do and this runs for most requests.
  return (key) => values.get(key) ?? principalKey(key, principal);
}

/** Return `aws:PrincipalType` or `aws:username` of a principal, when it has one. */
function principalKey(key: string, principal: Principal): string[] | undefined {
  if (key === 'aws:principaltype') {
    const type = principalType(principal);
    return type === undefined ? undefined : [type];
  }
  if (key === 'aws:username') {
    // Only IAM users have a user name. Roles, sessions and root have none.
    const user = /^arn:aws:iam::\d{12}:user\/(?:.*\/)?([^/]+)$/.exec(principal.arn);
    return user ? [user[1]!] : undefined;
  }
  return undefined;
}

/** Return the `aws:PrincipalType` of a principal: `Account`, `User` or `AssumedRole`. */
function principalType(principal: Principal): string | undefined {
  if (principal.roleArn !== undefined) return 'AssumedRole';
  if (/^arn:aws:iam::\d{12}:root$/.test(principal.arn)) return 'Account';
  if (/^arn:aws:iam::\d{12}:user\//.test(principal.arn)) return 'User';
  return undefined;
}
