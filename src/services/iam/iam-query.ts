/**
 * Entry points for the IAM and STS query protocols. The HTTP layer decodes
 * the form fields (`Action`, `RoleName`, `PolicyDocument`, ...) into
 * `params` and renders the returned object as the `<Action>Result` element:
 * each property becomes a child element, arrays become `<member>` lists,
 * strings are text. Timestamps are returned as ISO 8601 strings, and policy
 * documents URL-encoded, as IAM returns them.
 *
 * Result shapes (members marked `?` may be absent):
 * - CreateUser, GetUser: `{ User: { Path, UserName, UserId, Arn, CreateDate } }`
 * - ListUsers: `{ Users: User[], IsTruncated, Marker? }`
 * - CreateRole, GetRole: `{ Role: { Path, RoleName, RoleId, Arn, CreateDate, AssumeRolePolicyDocument, Description?, MaxSessionDuration } }`
 * - ListRoles: `{ Roles: Role[], IsTruncated, Marker? }`
 * - GetRolePolicy: `{ RoleName, PolicyName, PolicyDocument }`; GetUserPolicy: `{ UserName, PolicyName, PolicyDocument }`
 * - ListRolePolicies, ListUserPolicies: `{ PolicyNames: string[], IsTruncated, Marker? }`
 * - CreateAccessKey: `{ AccessKey: { UserName, AccessKeyId, Status, SecretAccessKey, CreateDate } }`
 * - ListAccessKeys: `{ AccessKeyMetadata: [{ UserName, AccessKeyId, Status, CreateDate }], IsTruncated, Marker? }`
 * - DeleteUser, DeleteRole, PutUserPolicy, PutRolePolicy, UpdateAssumeRolePolicy, DeleteUserPolicy, DeleteRolePolicy, DeleteAccessKey, UpdateAccessKey: `{}`
 * - AssumeRole: `{ Credentials: { AccessKeyId, SecretAccessKey, SessionToken, Expiration }, AssumedRoleUser: { AssumedRoleId, Arn } }`
 * - GetCallerIdentity: `{ UserId, Account, Arn }`
 */
import { ServiceError, type Principal, type RequestContext } from '../types.js';
import { accessDenied, memberInvalid, validationError } from './iam-errors.js';
import { checkInteger, checkRequired } from './iam-names.js';
import type { AccessKeyMetadata, IdentityService, RoleRecord, UserRecord } from './identity.js';

type Params = Record<string, string>;
type Result = Record<string, unknown>;

/** The IAM query API over an identity service. Every action needs `iam:<Action>` unless the caller is root. */
export class IamQueryService {
  readonly #identity: IdentityService;

  constructor(identity: IdentityService) {
    this.#identity = identity;
  }

  async handle(action: string, params: Params, context: RequestContext): Promise<Result> {
    const handler = IAM_ACTIONS[action];
    if (!handler) {
      throw new ServiceError(
        'InvalidAction',
        `The action ${action} is not valid for this endpoint. Supported IAM actions: ${Object.keys(IAM_ACTIONS).join(', ')}.`,
        400,
      );
    }
    const identity = this.#identity;
    const principal = context.principal;
    const resource = await handler.resource(params, identity, principal);
    if (principal.accountId !== identity.accountId) {
      throw accessDenied(principal.arn, `iam:${action}`, resource);
    }
    // IAM is a global service, which AWS reports as us-east-1 whatever the endpoint.
    await identity.requireAuthorized(principal, `iam:${action}`, resource, {
      'aws:RequestedRegion': 'us-east-1',
    });
    return handler.run(params, identity, principal);
  }
}

interface ActionHandler {
  /** The ARN the action applies to, for the permission check, with the user's or role's path. */
  resource(params: Params, identity: IdentityService, caller: Principal): string | Promise<string>;
  run(params: Params, identity: IdentityService, caller: Principal): Promise<Result>;
}

function userArn(identity: IdentityService, name: string | undefined): string {
  return `arn:aws:iam::${identity.accountId}:user/${name ?? '*'}`;
}

function roleArn(identity: IdentityService, name: string | undefined): string {
  return `arn:aws:iam::${identity.accountId}:role/${name ?? '*'}`;
}

/** Find the user an action without `UserName` applies to: the caller's own user, or root (undefined). */
function callerUserName(identity: IdentityService, caller: Principal): string | undefined {
  if (identity.isRoot(caller)) return undefined;
  const match = /:user\/(?:.*\/)?([^/]+)$/.exec(caller.arn);
  if (!match) {
    throw validationError('Must specify userName when calling with non-User credentials');
  }
  return match[1];
}

/**
 * Return the ARN of the user an action names, with the user's path, because
 * IAM checks policies against `user/<path><name>`. A user that does not exist
 * gets path `/`, and the action then fails after the check.
 */
const byUser = async (
  params: Params,
  identity: IdentityService,
  caller: Principal,
): Promise<string> => {
  if (params.UserName !== undefined) {
    const user = await identity.getUser(params.UserName).catch(missingAsUndefined);
    return user?.arn ?? userArn(identity, params.UserName);
  }
  // Without UserName the caller itself is meant, which only a user or root can be.
  callerUserName(identity, caller);
  return identity.isRoot(caller) ? identity.rootArn : caller.arn;
};

/** Return the ARN of the role an action names, with the role's path, as `byUser` does for users. */
const byRole = async (params: Params, identity: IdentityService): Promise<string> => {
  if (params.RoleName === undefined) return roleArn(identity, undefined);
  const role = await identity.getRole(params.RoleName).catch(missingAsUndefined);
  return role?.arn ?? roleArn(identity, params.RoleName);
};

/** Map a missing or invalid name to undefined, so the action reports it after the check. */
function missingAsUndefined(error: unknown): undefined {
  if (error instanceof ServiceError && error.status < 500) return undefined;
  throw error;
}

/** Return the ARN that CreateUser or CreateRole gives the new user or role: its path and name. */
const newEntity =
  (kind: 'user' | 'role') =>
  (params: Params, identity: IdentityService): string => {
    const name = kind === 'user' ? params.UserName : params.RoleName;
    return `arn:aws:iam::${identity.accountId}:${kind}${params.Path ?? '/'}${name ?? '*'}`;
  };

const IAM_ACTIONS: Record<string, ActionHandler> = {
  CreateUser: {
    resource: newEntity('user'),
    run: async (params, identity) => ({
      User: userShape(
        await identity.createUser(checkRequired('userName', params.UserName), params.Path),
      ),
    }),
  },
  GetUser: {
    resource: byUser,
    run: async (params, identity, caller) => {
      const name = params.UserName ?? callerUserName(identity, caller);
      if (name === undefined) {
        const createdAt = (await identity.rootCreatedAt()) ?? 0;
        return {
          User: {
            UserId: identity.accountId,
            Arn: identity.rootArn,
            CreateDate: new Date(createdAt).toISOString(),
          },
        };
      }
      return { User: userShape(await identity.getUser(name)) };
    },
  },
  ListUsers: {
    resource: (_params, identity) => userArn(identity, undefined),
    run: async (params, identity) => page(params, await identity.listUsers(), 'Users', userShape),
  },
  DeleteUser: {
    resource: byUser,
    run: async (params, identity) => {
      await identity.deleteUser(checkRequired('userName', params.UserName));
      return {};
    },
  },
  CreateRole: {
    resource: newEntity('role'),
    run: async (params, identity) => {
      const input: Parameters<IdentityService['createRole']>[0] = {
        roleName: checkRequired('roleName', params.RoleName),
        assumeRolePolicyDocument: checkRequired(
          'assumeRolePolicyDocument',
          params.AssumeRolePolicyDocument,
        ),
      };
      if (params.Path !== undefined) input.path = params.Path;
      if (params.Description !== undefined) input.description = params.Description;
      const maxSession = checkInteger('maxSessionDuration', params.MaxSessionDuration, 3600, 43200);
      if (maxSession !== undefined) input.maxSessionDuration = maxSession;
      return { Role: roleShape(await identity.createRole(input)) };
    },
  },
  GetRole: {
    resource: byRole,
    run: async (params, identity) => {
      const role = await identity.getRole(checkRequired('roleName', params.RoleName));
      return { Role: roleShape(await roleAsShown(identity, role)) };
    },
  },
  ListRoles: {
    resource: (_params, identity) => roleArn(identity, undefined),
    run: async (params, identity) => {
      const roles = await identity.listRoles();
      const displayed = await Promise.all(roles.map((role) => roleAsShown(identity, role)));
      return page(params, displayed, 'Roles', roleShape);
    },
  },
  DeleteRole: {
    resource: byRole,
    run: async (params, identity) => {
      await identity.deleteRole(checkRequired('roleName', params.RoleName));
      return {};
    },
  },
  PutRolePolicy: {
    resource: byRole,
    run: async (params, identity) => {
      await identity.putRolePolicy(
        checkRequired('roleName', params.RoleName),
        checkRequired('policyName', params.PolicyName),
        checkRequired('policyDocument', params.PolicyDocument),
      );
      return {};
    },
  },
  GetRolePolicy: {
    resource: byRole,
    run: async (params, identity) => {
      const role = await identity.getRole(checkRequired('roleName', params.RoleName));
      const policyName = checkRequired('policyName', params.PolicyName);
      const document = await identity.getRolePolicy(role.name, policyName);
      return {
        RoleName: role.name,
        PolicyName: policyName,
        PolicyDocument: encodeURIComponent(document),
      };
    },
  },
  UpdateAssumeRolePolicy: {
    resource: byRole,
    run: async (params, identity) => {
      await identity.updateAssumeRolePolicy(
        checkRequired('roleName', params.RoleName),
        checkRequired('policyDocument', params.PolicyDocument),
      );
      return {};
    },
  },
  DeleteRolePolicy: {
    resource: byRole,
    run: async (params, identity) => {
      await identity.deleteRolePolicy(
        checkRequired('roleName', params.RoleName),
        checkRequired('policyName', params.PolicyName),
      );
      return {};
    },
  },
  ListRolePolicies: {
    resource: byRole,
    run: async (params, identity) =>
      page(
        params,
        await identity.listRolePolicies(checkRequired('roleName', params.RoleName)),
        'PolicyNames',
        (name) => name,
      ),
  },
  PutUserPolicy: {
    resource: byUser,
    run: async (params, identity) => {
      await identity.putUserPolicy(
        checkRequired('userName', params.UserName),
        checkRequired('policyName', params.PolicyName),
        checkRequired('policyDocument', params.PolicyDocument),
      );
      return {};
    },
  },
  GetUserPolicy: {
    resource: byUser,
    run: async (params, identity) => {
      const user = await identity.getUser(checkRequired('userName', params.UserName));
      const policyName = checkRequired('policyName', params.PolicyName);
      const document = await identity.getUserPolicy(user.name, policyName);
      return {
        UserName: user.name,
        PolicyName: policyName,
        PolicyDocument: encodeURIComponent(document),
      };
    },
  },
  DeleteUserPolicy: {
    resource: byUser,
    run: async (params, identity) => {
      await identity.deleteUserPolicy(
        checkRequired('userName', params.UserName),
        checkRequired('policyName', params.PolicyName),
      );
      return {};
    },
  },
  ListUserPolicies: {
    resource: byUser,
    run: async (params, identity) =>
      page(
        params,
        await identity.listUserPolicies(checkRequired('userName', params.UserName)),
        'PolicyNames',
        (name) => name,
      ),
  },
  CreateAccessKey: {
    resource: byUser,
    run: async (params, identity, caller) => {
      const key = await identity.createAccessKey(
        params.UserName ?? callerUserName(identity, caller),
      );
      return {
        AccessKey: {
          ...(key.userName !== undefined ? { UserName: key.userName } : {}),
          AccessKeyId: key.accessKeyId,
          Status: key.status,
          SecretAccessKey: key.secretAccessKey,
          CreateDate: new Date(key.createdAt).toISOString(),
        },
      };
    },
  },
  DeleteAccessKey: {
    resource: byUser,
    run: async (params, identity, caller) => {
      await identity.deleteAccessKey(
        checkRequired('accessKeyId', params.AccessKeyId),
        params.UserName ?? callerUserName(identity, caller),
      );
      return {};
    },
  },
  UpdateAccessKey: {
    resource: byUser,
    run: async (params, identity, caller) => {
      await identity.updateAccessKey(
        checkRequired('accessKeyId', params.AccessKeyId),
        checkRequired('status', params.Status),
        params.UserName ?? callerUserName(identity, caller),
      );
      return {};
    },
  },
  ListAccessKeys: {
    resource: byUser,
    run: async (params, identity, caller) =>
      page(
        params,
        await identity.listAccessKeys(params.UserName ?? callerUserName(identity, caller)),
        'AccessKeyMetadata',
        accessKeyShape,
      ),
  },
};

function userShape(user: UserRecord): Result {
  return {
    Path: user.path,
    UserName: user.name,
    UserId: user.id,
    Arn: user.arn,
    CreateDate: new Date(user.createdAt).toISOString(),
  };
}

/** Return a copy of a role with its trust policy as GetRole shows it, deleted principals as their ids. */
async function roleAsShown(identity: IdentityService, role: RoleRecord): Promise<RoleRecord> {
  const trustPolicy = await identity.showPolicy(role.trustPolicy, role.trustPrincipalIds);
  return { ...role, trustPolicy };
}

function roleShape(role: RoleRecord): Result {
  const shape: Result = {
    Path: role.path,
    RoleName: role.name,
    RoleId: role.id,
    Arn: role.arn,
    CreateDate: new Date(role.createdAt).toISOString(),
    AssumeRolePolicyDocument: encodeURIComponent(role.trustPolicy),
    MaxSessionDuration: role.maxSessionDuration,
  };
  if (role.description !== undefined) shape.Description = role.description;
  return shape;
}

function accessKeyShape(key: AccessKeyMetadata): Result {
  const shape: Result = {
    AccessKeyId: key.accessKeyId,
    Status: key.status,
    CreateDate: new Date(key.createdAt).toISOString(),
  };
  if (key.userName !== undefined) shape.UserName = key.userName;
  return shape;
}

/** Cut one page out of a list, with IAM's `MaxItems` (1 to 1000, default 100) and an opaque `Marker`. */
function page<T>(params: Params, items: T[], member: string, shape: (item: T) => unknown): Result {
  const maxItems = checkInteger('maxItems', params.MaxItems, 1, 1000) ?? 100;
  let start = 0;
  if (params.Marker !== undefined) {
    const decoded = Number(Buffer.from(params.Marker, 'base64url').toString());
    if (!Number.isSafeInteger(decoded) || decoded < 0 || decoded > items.length) {
      throw memberInvalid('marker', params.Marker, 'be a marker returned by an earlier call');
    }
    start = decoded;
  }
  const end = Math.min(items.length, start + maxItems);
  const result: Result = {
    [member]: items.slice(start, end).map(shape),
    IsTruncated: end < items.length,
  };
  if (end < items.length) result.Marker = Buffer.from(String(end)).toString('base64url');
  return result;
}

/** The STS query API: AssumeRole and GetCallerIdentity. */
export class StsQueryService {
  readonly #identity: IdentityService;

  constructor(identity: IdentityService) {
    this.#identity = identity;
  }

  async handle(action: string, params: Params, context: RequestContext): Promise<Result> {
    const caller = context.principal;
    if (action === 'GetCallerIdentity') {
      const identity = this.#identity.callerIdentity(caller);
      return { UserId: identity.userId, Account: identity.account, Arn: identity.arn };
    }
    if (action !== 'AssumeRole') {
      throw new ServiceError(
        'InvalidAction',
        `The action ${action} is not valid for this endpoint. Supported STS actions: AssumeRole, GetCallerIdentity.`,
        400,
      );
    }

    if (params.Policy !== undefined || params['PolicyArns.member.1.arn'] !== undefined) {
      throw validationError('Session policies are not supported; omit Policy and PolicyArns.');
    }
    const input: Parameters<IdentityService['assumeRole']>[1] = {
      roleArn: checkRequired('roleArn', params.RoleArn),
      roleSessionName: checkRequired('roleSessionName', params.RoleSessionName),
      region: context.region,
    };
    const duration = checkInteger('durationSeconds', params.DurationSeconds, 900, 43200);
    if (duration !== undefined) input.durationSeconds = duration;
    if (params.ExternalId !== undefined) input.externalId = params.ExternalId;

    const session = await this.#identity.assumeRole(caller, input);
    return {
      Credentials: {
        AccessKeyId: session.accessKeyId,
        SecretAccessKey: session.secretAccessKey,
        SessionToken: session.sessionToken,
        Expiration: new Date(session.expiresAt).toISOString(),
      },
      AssumedRoleUser: { AssumedRoleId: session.assumedRoleId, Arn: session.assumedRoleArn },
    };
  }
}
