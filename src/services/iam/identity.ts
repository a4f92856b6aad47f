/**
 * The identity service: the account's root user, IAM users and roles with
 * their inline policies, access keys, and STS role sessions, kept as state
 * records of the store. It resolves access keys for signature verification
 * and answers identity-policy questions for the other services.
 *
 * Records (JSON values): `iam.user/<lower-case name>`, `iam.role/<lower-case
 * name>`, `iam.policy/<user|role>/<lower-case owner>/<policy name>`,
 * `iam.accessKey/<access key id>`, `iam.session/<access key id>` and
 * `iam.root/root`. IAM names are unique without regard to case, so the keys
 * use the lower-case name and the records keep the name as given. Secret
 * access keys and session tokens are sealed under the root key.
 */
import { overwriteState } from '../state-records.js';
import { randomBytes } from 'node:crypto';
import { StateConflictError, type Store } from '../../storage/store.js';
import { openSecretBox, type SecretBox } from '../secret-box.js';
import type { AccessKeyRecord, CredentialResolver, Principal } from '../types.js';
import {
  accessDenied,
  deleteConflict,
  entityAlreadyExists,
  limitExceeded,
  malformedPolicy,
  memberInvalid,
  noSuchEntity,
  validationError,
} from './iam-errors.js';
import {
  checkAccessKeyId,
  checkExternalId,
  checkPath,
  checkPolicyDocument,
  checkPolicyName,
  checkRoleName,
  checkSessionName,
  checkUserName,
  parseRoleArn,
} from './iam-names.js';
import {
  checkIamPolicyRules,
  IDENTITY_POLICY,
  MalformedPolicyError,
  parsePolicy,
  TRUST_POLICY,
  type PolicyDocument,
} from './policy.js';
import type { ConditionValues } from './policy-conditions.js';
import { evaluatePolicies } from './policy-evaluation.js';
import { showDeletedPrincipals, withPrincipalIds, type PrincipalIds } from './principal-ids.js';

/** The namespace of the identity service's own records, such as its root key check. */
export const IDENTITY_META_NAMESPACE = 'iam.meta';

const NS = {
  user: 'iam.user',
  role: 'iam.role',
  policy: 'iam.policy',
  accessKey: 'iam.accessKey',
  session: 'iam.session',
  root: 'iam.root',
  meta: IDENTITY_META_NAMESPACE,
} as const;

const ACCESS_KEYS_PER_USER = 2;
/** IAM's quotas, in characters other than whitespace: all inline policies of a user or role, and a trust policy. */
const INLINE_POLICY_QUOTA = { user: 2048, role: 10240 } as const;
const TRUST_POLICY_QUOTA = 2048;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** Cache lifetime for records that another process may change (shared stores). */
const SHARED_CACHE_MS = 2_000;

export interface UserRecord {
  name: string;
  id: string;
  path: string;
  arn: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

export interface RoleRecord {
  name: string;
  id: string;
  path: string;
  arn: string;
  createdAt: number;
  /** The trust policy, byte for byte as given. */
  trustPolicy: string;
  /**
   * The unique ids of the users and roles the trust policy names, recorded
   * when it was stored. Absent when it names none, and on roles stored
   * before ids were recorded, whose trust policies match by ARN.
   */
  trustPrincipalIds?: PrincipalIds;
  description?: string;
  /** Maximum session duration AssumeRole may issue, in seconds (3600 to 43200). */
  maxSessionDuration: number;
}

export interface AccessKeyMetadata {
  accessKeyId: string;
  /** The owning user, or undefined for the root user's key. */
  userName?: string;
  status: 'Active' | 'Inactive';
  createdAt: number;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SessionCredentials extends Credentials {
  sessionToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  assumedRoleArn: string;
  /** `<role id>:<session name>`. */
  assumedRoleId: string;
}

interface StoredAccessKey extends AccessKeyMetadata {
  /** Base64 of the sealed secret access key. */
  secret: string;
}

interface StoredSession {
  accessKeyId: string;
  roleName: string;
  roleArn: string;
  roleId: string;
  sessionName: string;
  expiresAt: number;
  secret: string;
  token: string;
}

export interface IdentityOptions {
  store: Store;
  /** The 12-digit account id; `000000000000` when not given. */
  accountId?: string;
  dataDir?: string;
  rootKey?: Uint8Array;
  /** Clock for session expiry, epoch milliseconds. */
  now?: () => number;
}

interface Cached<T> {
  value: T;
  at: number;
}

export class IdentityService implements CredentialResolver {
  readonly accountId: string;
  readonly #store: Store;
  readonly #box: SecretBox;
  readonly #now: () => number;
  readonly #cacheMs: number;
  readonly #keyCache = new Map<string, Cached<AccessKeyRecord | undefined>>();
  readonly #policyCache = new Map<string, Cached<PolicyDocument[]>>();
  readonly #parsedPolicies = new Map<string, PolicyDocument>();

  private constructor(store: Store, box: SecretBox, accountId: string, now: () => number) {
    this.#store = store;
    this.#box = box;
    this.accountId = accountId;
    this.#now = now;
    this.#cacheMs = store.singleWriter ? Number.POSITIVE_INFINITY : SHARED_CACHE_MS;
  }

  static async open(options: IdentityOptions): Promise<IdentityService> {
    const accountId = options.accountId ?? '000000000000';
    if (!/^\d{12}$/.test(accountId)) {
      throw new RangeError(`account id must be 12 digits, got ${JSON.stringify(accountId)}`);
    }
    const box = await openSecretBox({
      store: options.store,
      dataDir: options.dataDir,
      rootKey: options.rootKey,
      metaNamespace: NS.meta,
      sealedNamespaces: [NS.accessKey, NS.session],
      service: 'identity service',
    });
    return new IdentityService(options.store, box, accountId, options.now ?? Date.now);
  }

  get rootArn(): string {
    return `arn:aws:iam::${this.accountId}:root`;
  }

  // ---------------------------------------------------------------- root

  /**
   * Return the root user's access key, creating it on first start. Later
   * calls return the same credentials and never create a second set.
   */
  async ensureRoot(): Promise<Credentials & { created: boolean }> {
    const existing = await this.#store.getState(NS.root, 'root');
    if (existing) {
      const { accessKeyId } = decode<{ accessKeyId: string }>(existing.value);
      const key = await this.#readAccessKey(accessKeyId);
      if (!key) throw new Error(`the root access key ${accessKeyId} is missing from the store`);
      return { accessKeyId, secretAccessKey: this.#openSecret(key), created: false };
    }

    const credentials = this.#newKeyPair('AKIA');
    await this.#writeAccessKey(credentials, undefined);
    try {
      await this.#store.putState(
        NS.root,
        'root',
        encode({ accessKeyId: credentials.accessKeyId }),
        0,
      );
    } catch (error) {
      // Another process created the root key first: drop ours and use theirs.
      await this.#deleteRecord(NS.accessKey, credentials.accessKeyId);
      if (error instanceof StateConflictError) return this.ensureRoot();
      throw error;
    }
    return { ...credentials, created: true };
  }

  /** When the root access key was created (epoch milliseconds), or undefined before `ensureRoot`. */
  async rootCreatedAt(): Promise<number | undefined> {
    const existing = await this.#store.getState(NS.root, 'root');
    if (!existing) return undefined;
    const { accessKeyId } = decode<{ accessKeyId: string }>(existing.value);
    return (await this.#readAccessKey(accessKeyId))?.createdAt;
  }

  rootPrincipal(accessKeyId = ''): Principal {
    return { accountId: this.accountId, arn: this.rootArn, userId: this.accountId, accessKeyId };
  }

  /**
   * Build the principal of an AWS service such as `lambda.amazonaws.com`,
   * for in-process callers that act as that service. A trust policy naming
   * `{"Service": "lambda.amazonaws.com"}` lets it assume the role.
   */
  servicePrincipal(service: string): Principal {
    return { accountId: this.accountId, arn: service, userId: service, accessKeyId: '' };
  }

  isRoot(principal: Principal): boolean {
    return principal.arn === this.rootArn;
  }

  // ---------------------------------------------------------------- users

  async createUser(userName: string, path?: string): Promise<UserRecord> {
    const name = checkUserName(userName);
    const userPath = checkPath(path);
    const user: UserRecord = {
      name,
      id: randomId('AIDA', 17),
      path: userPath,
      arn: `arn:aws:iam::${this.accountId}:user${userPath}${name}`,
      createdAt: this.#now(),
    };
    try {
      await this.#store.putState(NS.user, name.toLowerCase(), encode(user), 0);
    } catch (error) {
      if (error instanceof StateConflictError) {
        throw entityAlreadyExists(`User with name ${name} already exists.`);
      }
      throw error;
    }
    return user;
  }

  async getUser(userName: string): Promise<UserRecord> {
    const name = checkUserName(userName);
    const record = await this.#store.getState(NS.user, name.toLowerCase());
    if (!record) throw noSuchEntity(`The user with name ${name} cannot be found.`);
    return decode<UserRecord>(record.value);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.#store.listState(NS.user)).map((record) => decode<UserRecord>(record.value));
  }

  /** Delete a user; like IAM it must have no access keys and no inline policies left. */
  async deleteUser(userName: string): Promise<void> {
    const user = await this.getUser(userName);
    if ((await this.listAccessKeys(user.name)).length > 0) {
      throw deleteConflict('Cannot delete entity, must delete access keys first.');
    }
    if ((await this.listUserPolicies(user.name)).length > 0) {
      throw deleteConflict('Cannot delete entity, must delete policies first.');
    }
    await this.#deleteRecord(NS.user, user.name.toLowerCase());
    this.#policyCache.clear();
  }

  // ---------------------------------------------------------------- roles

  async createRole(input: {
    roleName: string;
    assumeRolePolicyDocument: string;
    path?: string;
    description?: string;
    maxSessionDuration?: number;
  }): Promise<RoleRecord> {
    const name = checkRoleName(input.roleName);
    const path = checkPath(input.path);
    const trust = await this.#checkTrustPolicy(
      'assumeRolePolicyDocument',
      input.assumeRolePolicyDocument,
    );
    const maxSessionDuration = input.maxSessionDuration ?? 3600;
    if (
      !Number.isInteger(maxSessionDuration) ||
      maxSessionDuration < 3600 ||
      maxSessionDuration > 43200
    ) {
      throw memberInvalid(
        'maxSessionDuration',
        maxSessionDuration,
        'have value between 3600 and 43200',
      );
    }
    if (input.description !== undefined && input.description.length > 1000) {
      throw memberInvalid(
        'description',
        input.description,
        'have length less than or equal to 1000',
      );
    }

    const role: RoleRecord = {
      name,
      id: randomId('AROA', 17),
      path,
      arn: `arn:aws:iam::${this.accountId}:role${path}${name}`,
      createdAt: this.#now(),
      trustPolicy: trust.text,
      maxSessionDuration,
    };
    if (trust.ids !== undefined) role.trustPrincipalIds = trust.ids;
    if (input.description !== undefined) role.description = input.description;
    try {
      await this.#store.putState(NS.role, name.toLowerCase(), encode(role), 0);
    } catch (error) {
      if (error instanceof StateConflictError) {
        throw entityAlreadyExists(`Role with name ${name} already exists.`);
      }
      throw error;
    }
    return role;
  }

  /**
   * Check a trust policy: a valid document that names only principals that
   * exist, as IAM requires. Returns the text with the ids of the users and
   * roles it names.
   */
  async #checkTrustPolicy(
    member: string,
    document: string,
  ): Promise<{ text: string; ids: PrincipalIds | undefined }> {
    const text = checkPolicyDocument(member, document);
    const trust = this.#parseOrReject(text, 'trust');
    const size = policySize(text);
    if (size > TRUST_POLICY_QUOTA) {
      throw limitExceeded(
        `Cannot exceed quota for ACLSizePerRole: ${TRUST_POLICY_QUOTA}. The trust policy has ${size} characters other than whitespace.`,
      );
    }
    const ids = await this.principalIds(trust, (entry) =>
      malformedPolicy(
        `Invalid principal in policy: "AWS":"${entry}"; name an existing user or role, or the account root.`,
      ),
    );
    return { text, ids };
  }

  /** Replace a role's trust policy, as IAM's UpdateAssumeRolePolicy does. */
  async updateAssumeRolePolicy(roleName: string, document: string): Promise<void> {
    const name = checkRoleName(roleName);
    const trust = await this.#checkTrustPolicy('policyDocument', document);
    for (;;) {
      const record = await this.#store.getState(NS.role, name.toLowerCase());
      if (!record) throw noSuchEntity(`The role with name ${name} cannot be found.`);
      const role: RoleRecord = { ...decode<RoleRecord>(record.value), trustPolicy: trust.text };
      if (trust.ids === undefined) delete role.trustPrincipalIds;
      else role.trustPrincipalIds = trust.ids;
      try {
        await this.#store.putState(NS.role, name.toLowerCase(), encode(role), record.version);
        return;
      } catch (error) {
        // Another writer changed the role meanwhile: apply the policy to what it wrote.
        if (!(error instanceof StateConflictError)) throw error;
      }
    }
  }

  async getRole(roleName: string): Promise<RoleRecord> {
    const name = checkRoleName(roleName);
    const record = await this.#store.getState(NS.role, name.toLowerCase());
    if (!record) throw noSuchEntity(`The role with name ${name} cannot be found.`);
    return decode<RoleRecord>(record.value);
  }

  async listRoles(): Promise<RoleRecord[]> {
    return (await this.#store.listState(NS.role)).map((record) => decode<RoleRecord>(record.value));
  }

  /** Delete a role; like IAM it must have no inline policies left. */
  async deleteRole(roleName: string): Promise<void> {
    const role = await this.getRole(roleName);
    if ((await this.listRolePolicies(role.name)).length > 0) {
      throw deleteConflict('Cannot delete entity, must delete policies first.');
    }
    await this.#deleteRecord(NS.role, role.name.toLowerCase());
    this.#policyCache.clear();
  }

  // ---------------------------------------------------------------- inline policies

  async putUserPolicy(userName: string, policyName: string, document: string): Promise<void> {
    const user = await this.getUser(userName);
    await this.#putInlinePolicy('user', user.name, policyName, document);
  }

  async getUserPolicy(userName: string, policyName: string): Promise<string> {
    const user = await this.getUser(userName);
    return this.#getInlinePolicy('user', user.name, policyName);
  }

  async deleteUserPolicy(userName: string, policyName: string): Promise<void> {
    const user = await this.getUser(userName);
    await this.#deleteInlinePolicy('user', user.name, policyName);
  }

  async listUserPolicies(userName: string): Promise<string[]> {
    const user = await this.getUser(userName);
    return this.#listInlinePolicies('user', user.name);
  }

  async putRolePolicy(roleName: string, policyName: string, document: string): Promise<void> {
    const role = await this.getRole(roleName);
    await this.#putInlinePolicy('role', role.name, policyName, document);
  }

  async getRolePolicy(roleName: string, policyName: string): Promise<string> {
    const role = await this.getRole(roleName);
    return this.#getInlinePolicy('role', role.name, policyName);
  }

  async deleteRolePolicy(roleName: string, policyName: string): Promise<void> {
    const role = await this.getRole(roleName);
    await this.#deleteInlinePolicy('role', role.name, policyName);
  }

  async listRolePolicies(roleName: string): Promise<string[]> {
    const role = await this.getRole(roleName);
    return this.#listInlinePolicies('role', role.name);
  }

  async #putInlinePolicy(
    kind: 'user' | 'role',
    owner: string,
    policyName: string,
    document: string,
  ): Promise<void> {
    const name = checkPolicyName(policyName);
    const text = checkPolicyDocument('policyDocument', document);
    this.#parseOrReject(text, 'identity');

    // The quota covers all inline policies of the owner; the one replaced does not count.
    let total = policySize(text);
    for (const record of await this.#store.listState(
      NS.policy,
      `${kind}/${owner.toLowerCase()}/`,
    )) {
      const stored = decode<{ name: string; document: string }>(record.value);
      if (stored.name !== name) total += policySize(stored.document);
    }
    const quota = INLINE_POLICY_QUOTA[kind];
    if (total > quota) {
      throw limitExceeded(
        `Maximum policy size of ${quota} bytes exceeded for ${kind} ${owner}. Its inline policies would have ${total} characters other than whitespace.`,
      );
    }

    const key = `${kind}/${owner.toLowerCase()}/${name}`;
    const value = encode({ name, document: text });
    await overwriteState(this.#store, NS.policy, key, value);
    this.#policyCache.clear();
  }

  async #getInlinePolicy(
    kind: 'user' | 'role',
    owner: string,
    policyName: string,
  ): Promise<string> {
    const name = checkPolicyName(policyName);
    const record = await this.#store.getState(NS.policy, `${kind}/${owner.toLowerCase()}/${name}`);
    if (!record) {
      throw noSuchEntity(`The ${kind} policy with name ${name} cannot be found.`);
    }
    return decode<{ document: string }>(record.value).document;
  }

  async #deleteInlinePolicy(
    kind: 'user' | 'role',
    owner: string,
    policyName: string,
  ): Promise<void> {
    const name = checkPolicyName(policyName);
    const key = `${kind}/${owner.toLowerCase()}/${name}`;
    if (!(await this.#deleteRecord(NS.policy, key))) {
      throw noSuchEntity(`The ${kind} policy with name ${name} cannot be found.`);
    }
    this.#policyCache.clear();
  }

  async #listInlinePolicies(kind: 'user' | 'role', owner: string): Promise<string[]> {
    const records = await this.#store.listState(NS.policy, `${kind}/${owner.toLowerCase()}/`);
    return records.map((record) => decode<{ name: string }>(record.value).name);
  }

  // ---------------------------------------------------------------- access keys

  /** Create an access key for a user, or for the root user when `userName` is undefined. */
  async createAccessKey(userName?: string): Promise<Credentials & AccessKeyMetadata> {
    const owner = userName === undefined ? undefined : (await this.getUser(userName)).name;
    const existing = await this.listAccessKeys(owner);
    if (existing.length >= ACCESS_KEYS_PER_USER) {
      throw limitExceeded(`Cannot exceed quota for AccessKeysPerUser: ${ACCESS_KEYS_PER_USER}`);
    }
    const credentials = this.#newKeyPair('AKIA');
    const metadata = await this.#writeAccessKey(credentials, owner);
    return { ...credentials, ...metadata };
  }

  /** List the access keys of a user, or of the root user when `userName` is undefined. */
  async listAccessKeys(userName?: string): Promise<AccessKeyMetadata[]> {
    const owner = userName === undefined ? undefined : (await this.getUser(userName)).name;
    const keys: AccessKeyMetadata[] = [];
    for (const record of await this.#store.listState(NS.accessKey)) {
      const key = decode<StoredAccessKey>(record.value);
      if (key.userName?.toLowerCase() !== owner?.toLowerCase()) continue;
      const metadata: AccessKeyMetadata = {
        accessKeyId: key.accessKeyId,
        status: key.status,
        createdAt: key.createdAt,
      };
      if (key.userName !== undefined) metadata.userName = key.userName;
      keys.push(metadata);
    }
    return keys;
  }

  async deleteAccessKey(accessKeyId: string, userName?: string): Promise<void> {
    const id = checkAccessKeyId(accessKeyId);
    const owner = userName === undefined ? undefined : (await this.getUser(userName)).name;
    const key = await this.#readAccessKey(id);
    if (!key || key.userName?.toLowerCase() !== owner?.toLowerCase()) {
      throw noSuchEntity(`The Access Key with id ${id} cannot be found.`);
    }
    await this.#deleteRecord(NS.accessKey, id);
    this.#keyCache.delete(id);
  }

  /**
   * Set an access key `Active` or `Inactive`, as IAM's UpdateAccessKey does.
   * Requests signed with an inactive key are rejected as an unknown key.
   */
  async updateAccessKey(accessKeyId: string, status: string, userName?: string): Promise<void> {
    const id = checkAccessKeyId(accessKeyId);
    if (status !== 'Active' && status !== 'Inactive') {
      throw memberInvalid('status', status, 'satisfy enum value set: [Active, Inactive]');
    }
    const owner = userName === undefined ? undefined : (await this.getUser(userName)).name;
    for (;;) {
      const record = await this.#store.getState(NS.accessKey, id);
      const key = record ? decode<StoredAccessKey>(record.value) : undefined;
      if (!record || !key || key.userName?.toLowerCase() !== owner?.toLowerCase()) {
        throw noSuchEntity(`The Access Key with id ${id} cannot be found.`);
      }
      try {
        await this.#store.putState(NS.accessKey, id, encode({ ...key, status }), record.version);
        break;
      } catch (error) {
        if (!(error instanceof StateConflictError)) throw error;
      }
    }
    this.#keyCache.delete(id);
  }

  async #writeAccessKey(
    credentials: Credentials,
    userName: string | undefined,
  ): Promise<AccessKeyMetadata> {
    const stored: StoredAccessKey = {
      accessKeyId: credentials.accessKeyId,
      status: 'Active',
      createdAt: this.#now(),
      secret: this.#box
        .seal(secretPurpose(credentials.accessKeyId), Buffer.from(credentials.secretAccessKey))
        .toString('base64'),
    };
    if (userName !== undefined) stored.userName = userName;
    await this.#store.putState(NS.accessKey, credentials.accessKeyId, encode(stored), 0);
    this.#keyCache.delete(credentials.accessKeyId);
    const metadata: AccessKeyMetadata = {
      accessKeyId: stored.accessKeyId,
      status: stored.status,
      createdAt: stored.createdAt,
    };
    if (userName !== undefined) metadata.userName = userName;
    return metadata;
  }

  async #readAccessKey(accessKeyId: string): Promise<StoredAccessKey | undefined> {
    const record = await this.#store.getState(NS.accessKey, accessKeyId);
    return record ? decode<StoredAccessKey>(record.value) : undefined;
  }

  #openSecret(key: StoredAccessKey): string {
    return this.#box
      .open(secretPurpose(key.accessKeyId), Buffer.from(key.secret, 'base64'))
      .toString();
  }

  #newKeyPair(prefix: 'AKIA' | 'ASIA'): Credentials {
    return {
      accessKeyId: randomId(prefix, 16),
      secretAccessKey: randomBytes(30).toString('base64'),
    };
  }

  // ---------------------------------------------------------------- credential resolution

  /**
   * Look up a long-term or temporary access key for signature verification.
   * An inactive key resolves to undefined. An expired session resolves with
   * its `expiresAt`, so the caller can reject it with `ExpiredToken`.
   */
  async lookupAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const cached = this.#keyCache.get(accessKeyId);
    if (cached && this.#now() - cached.at < this.#cacheMs) return cached.value;

    const value = accessKeyId.startsWith('ASIA')
      ? await this.#resolveSession(accessKeyId)
      : await this.#resolveAccessKey(accessKeyId);
    if (this.#keyCache.size > 10_000) this.#keyCache.clear();
    this.#keyCache.set(accessKeyId, { value, at: this.#now() });
    return value;
  }

  async #resolveAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const key = await this.#readAccessKey(accessKeyId);
    if (!key || key.status !== 'Active') return undefined;
    const secretAccessKey = this.#openSecret(key);
    if (key.userName === undefined) {
      return { accessKeyId, secretAccessKey, principal: this.rootPrincipal(accessKeyId) };
    }

    const userRecord = await this.#store.getState(NS.user, key.userName.toLowerCase());
    if (!userRecord) return undefined;
    const user = decode<UserRecord>(userRecord.value);
    return {
      accessKeyId,
      secretAccessKey,
      principal: { accountId: this.accountId, arn: user.arn, userId: user.id, accessKeyId },
    };
  }

  async #resolveSession(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const record = await this.#store.getState(NS.session, accessKeyId);
    if (!record) return undefined;
    const session = decode<StoredSession>(record.value);
    const purpose = secretPurpose(accessKeyId);
    return {
      accessKeyId,
      secretAccessKey: this.#box.open(purpose, Buffer.from(session.secret, 'base64')).toString(),
      sessionToken: this.#box
        .open(`${purpose} token`, Buffer.from(session.token, 'base64'))
        .toString(),
      expiresAt: session.expiresAt,
      principal: {
        accountId: this.accountId,
        arn: assumedRoleArn(this.accountId, session.roleName, session.sessionName),
        roleArn: session.roleArn,
        userId: `${session.roleId}:${session.sessionName}`,
        accessKeyId,
      },
    };
  }

  // ---------------------------------------------------------------- STS

  /**
   * Issue temporary credentials for a role after checking its trust policy.
   * A trust policy that names the caller (or `*`) is enough. One that names
   * only the caller's account also needs an identity policy allowing
   * `sts:AssumeRole` on the role. A missing role is reported as access
   * denied, as STS does.
   */
  async assumeRole(
    caller: Principal,
    input: {
      roleArn: string;
      roleSessionName: string;
      durationSeconds?: number;
      /** The `ExternalId` of the request, which trust policies test as `sts:ExternalId`. */
      externalId?: string;
      /** The region of the request's credential scope, for `aws:RequestedRegion`. */
      region?: string;
    },
  ): Promise<SessionCredentials> {
    const sessionName = checkSessionName(input.roleSessionName);
    if (input.externalId !== undefined) checkExternalId(input.externalId);
    const roleArn = input.roleArn;
    if (roleArn.length < 20 || roleArn.length > 2048) {
      throw memberInvalid('roleArn', roleArn, 'have length between 20 and 2048');
    }
    const duration = input.durationSeconds ?? 3600;
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200) {
      throw memberInvalid('durationSeconds', duration, 'have value between 900 and 43200');
    }

    const parsed = parseRoleArn(roleArn);
    if (parsed === undefined) {
      throw validationError(
        `${roleArn} is not a valid role ARN; use the form arn:aws:iam::<account-id>:role/<role-name>.`,
      );
    }
    const role =
      parsed && parsed.accountId === this.accountId
        ? await this.getRole(parsed.name).catch(() => undefined)
        : undefined;
    if (!role || role.arn !== roleArn) throw accessDenied(caller.arn, 'sts:AssumeRole', roleArn);
    const conditionKeys: ConditionValues = {
      'sts:RoleSessionName': sessionName,
      'sts:ExternalId': input.externalId,
      'aws:RequestedRegion': input.region,
    };
    await this.#checkTrust(caller, role, conditionKeys);
    if (caller.roleArn !== undefined && duration > 3600) {
      throw validationError(
        'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining. Ask for at most 3600 seconds.',
      );
    }
    if (duration > role.maxSessionDuration) {
      throw validationError(
        `The requested DurationSeconds exceeds the MaxSessionDuration set for this role. Ask for at most ${role.maxSessionDuration} seconds or raise the role's MaxSessionDuration.`,
      );
    }

    const credentials = this.#newKeyPair('ASIA');
    const sessionToken = randomBytes(96).toString('base64');
    const purpose = secretPurpose(credentials.accessKeyId);
    const session: StoredSession = {
      accessKeyId: credentials.accessKeyId,
      roleName: role.name,
      roleArn: role.arn,
      roleId: role.id,
      sessionName,
      expiresAt: this.#now() + duration * 1000,
      secret: this.#box.seal(purpose, Buffer.from(credentials.secretAccessKey)).toString('base64'),
      token: this.#box.seal(`${purpose} token`, Buffer.from(sessionToken)).toString('base64'),
    };
    await this.#store.putState(NS.session, credentials.accessKeyId, encode(session), 0);
    this.#keyCache.delete(credentials.accessKeyId);
    await this.#dropExpiredSessions();

    return {
      ...credentials,
      sessionToken,
      expiresAt: session.expiresAt,
      assumedRoleArn: assumedRoleArn(this.accountId, role.name, sessionName),
      assumedRoleId: `${role.id}:${sessionName}`,
    };
  }

  async #checkTrust(
    caller: Principal,
    role: RoleRecord,
    conditionKeys: ConditionValues,
  ): Promise<void> {
    const trust = withPrincipalIds(
      this.#parseCached(role.trustPolicy, 'trust'),
      role.trustPrincipalIds,
    );
    const request = {
      principal: caller,
      action: 'sts:AssumeRole',
      resource: role.arn,
      conditionKeys,
    };
    const verdict = evaluatePolicies([trust], request, 'trust');
    if (verdict.denied) throw accessDenied(caller.arn, 'sts:AssumeRole', role.arn);
    // An explicit Deny in the caller's own policies wins even over a trust
    // policy that names the caller.
    const own = evaluatePolicies(await this.identityPolicies(caller), request, 'identity');
    if (own.denied) throw accessDenied(caller.arn, 'sts:AssumeRole', role.arn);
    if (verdict.allowed) return;
    if (verdict.accountAllowed && (own.allowed || this.isRoot(caller))) return;
    throw accessDenied(caller.arn, 'sts:AssumeRole', role.arn);
  }

  /** Remove session records that expired more than a day ago. */
  async #dropExpiredSessions(): Promise<void> {
    const cutoff = this.#now() - 24 * 3600 * 1000;
    for (const record of await this.#store.listState(NS.session)) {
      const session = decode<StoredSession>(record.value);
      if (session.expiresAt >= cutoff) continue;
      await this.#store.deleteState(NS.session, record.key, record.version).catch(() => undefined);
      this.#keyCache.delete(record.key);
    }
  }

  /** Describe the caller as GetCallerIdentity reports it. */
  callerIdentity(principal: Principal): { userId: string; account: string; arn: string } {
    return { userId: principal.userId, account: principal.accountId, arn: principal.arn };
  }

  // ---------------------------------------------------------------- policies

  /**
   * Collect the identity policies of a principal: a user's inline policies,
   * or for a role session its role's inline policies. The root user has
   * none, because `authorize` allows it everything.
   */
  async identityPolicies(principal: Principal): Promise<PolicyDocument[]> {
    if (principal.accountId !== this.accountId || this.isRoot(principal)) return [];
    const owner = this.#policyOwner(principal);
    if (!owner) return [];

    const cached = this.#policyCache.get(owner);
    if (cached && this.#now() - cached.at < this.#cacheMs) return cached.value;
    const records = await this.#store.listState(NS.policy, `${owner}/`);
    const policies = records.map((record) =>
      this.#parseCached(decode<{ document: string }>(record.value).document, 'identity'),
    );
    if (this.#policyCache.size > 10_000) this.#policyCache.clear();
    this.#policyCache.set(owner, { value: policies, at: this.#now() });
    return policies;
  }

  /** `user/<lower-case name>` or `role/<lower-case name>` for the principal's inline policies. */
  #policyOwner(principal: Principal): string | undefined {
    if (principal.roleArn) {
      const role = parseRoleArn(principal.roleArn);
      return role ? `role/${role.name.toLowerCase()}` : undefined;
    }
    const user = /^arn:aws:iam::\d{12}:user\/(?:.*\/)?([^/]+)$/.exec(principal.arn);
    return user ? `user/${user[1]!.toLowerCase()}` : undefined;
  }

  /**
   * Check identity policies alone: true when one allows `action` on
   * `resource` and none denies it. The root user is always allowed.
   */
  async authorize(
    principal: Principal,
    action: string,
    resource: string,
    conditionKeys?: ConditionValues,
  ): Promise<boolean> {
    if (this.isRoot(principal)) return true;
    const policies = await this.identityPolicies(principal);
    const request = { principal, action, resource };
    const verdict = evaluatePolicies(
      policies,
      conditionKeys ? { ...request, conditionKeys } : request,
      'identity',
    );
    return verdict.allowed && !verdict.denied;
  }

  /** Check like `authorize`, raising IAM's `AccessDenied` when the request is not allowed. */
  async requireAuthorized(
    principal: Principal,
    action: string,
    resource: string,
    conditionKeys?: ConditionValues,
  ): Promise<void> {
    if (!(await this.authorize(principal, action, resource, conditionKeys))) {
      throw accessDenied(principal.arn, action, resource);
    }
  }

  /**
   * Look up what an AWS principal entry names. A user or role of this account
   * gives its unique id, and an entry that names nothing gives `none`. Anything
   * else that exists gives `exists`: this account, its root, or a session of
   * one of its roles. Entries of other accounts cannot be checked, so they
   * count as existing.
   */
  async principalId(entry: string): Promise<{ id: string } | 'exists' | 'none'> {
    return this.#resolvePrincipal(entry);
  }

  /**
   * Check the AWS principals a key or trust policy names and collect the
   * unique ids of this account's users and roles among them, to store with
   * the policy. For an entry that names nothing, the error from `reject`
   * is raised. Returns undefined when the policy names no user or role.
   */
  async principalIds(
    document: PolicyDocument,
    reject: (entry: string) => Error,
  ): Promise<PrincipalIds | undefined> {
    let ids: Record<string, string> | undefined;
    for (const statement of document.statements) {
      for (const entry of [
        ...(statement.principal?.aws ?? []),
        ...(statement.notPrincipal?.aws ?? []),
      ]) {
        const resolved = await this.#resolvePrincipal(entry);
        if (resolved === 'none') throw reject(entry);
        if (resolved !== 'exists') (ids ??= {})[entry] = resolved.id;
      }
    }
    return ids;
  }

  /**
   * Show a stored key or trust policy as AWS does: a user or role that it
   * names and that was deleted since (even if created again under a new id)
   * appears as the unique id recorded for it.
   */
  async showPolicy(text: string, ids: PrincipalIds | undefined): Promise<string> {
    const deleted = new Map<string, string>();
    for (const [entry, id] of Object.entries(ids ?? {})) {
      const resolved = await this.#resolvePrincipal(entry);
      if (typeof resolved !== 'object' || resolved.id !== id) deleted.set(entry, id);
    }
    return showDeletedPrincipals(text, deleted);
  }

  /**
   * Resolve an AWS principal entry to the id of the user or role of this
   * account that it names. Other entries that name something resolve to
   * `exists`: this account, its root, a session of one of its roles, and
   * anything of another account, which cannot be checked. An entry that
   * names nothing resolves to `none`.
   */
  async #resolvePrincipal(entry: string): Promise<{ id: string } | 'exists' | 'none'> {
    if (entry === '*' || /^\d{12}$/.test(entry)) return 'exists';
    const match = /^arn:aws:(iam|sts)::(\d{12}):(.*)$/.exec(entry);
    if (!match) return 'none';
    if (match[2] !== this.accountId) return 'exists';

    const resource = match[3]!;
    if (resource === 'root') return 'exists';
    const user = /^user\/(?:.*\/)?([^/]+)$/.exec(resource);
    if (user && match[1] === 'iam') {
      const record = await this.#store.getState(NS.user, user[1]!.toLowerCase());
      const found = record ? decode<UserRecord>(record.value) : undefined;
      return found?.arn === entry ? { id: found.id } : 'none';
    }
    const role = /^role\/(?:.*\/)?([^/]+)$/.exec(resource);
    if (role && match[1] === 'iam') {
      const record = await this.#store.getState(NS.role, role[1]!.toLowerCase());
      const found = record ? decode<RoleRecord>(record.value) : undefined;
      return found?.arn === entry ? { id: found.id } : 'none';
    }
    const session = /^assumed-role\/([^/]+)\/[^/]+$/.exec(resource);
    if (session && match[1] === 'sts') {
      const record = await this.#store.getState(NS.role, session[1]!.toLowerCase());
      return record ? 'exists' : 'none';
    }
    return 'none';
  }

  #parseOrReject(text: string, kind: 'identity' | 'trust'): PolicyDocument {
    try {
      const document = this.#parseCached(text, kind);
      checkIamPolicyRules(document, kind);
      return document;
    } catch (error) {
      if (error instanceof MalformedPolicyError) throw malformedPolicy(error.message);
      throw error;
    }
  }

  #parseCached(text: string, kind: 'identity' | 'trust'): PolicyDocument {
    const cacheKey = `${kind}\n${text}`;
    let parsed = this.#parsedPolicies.get(cacheKey);
    if (!parsed) {
      parsed = parsePolicy(text, kind === 'identity' ? IDENTITY_POLICY : TRUST_POLICY);
      if (this.#parsedPolicies.size > 10_000) this.#parsedPolicies.clear();
      this.#parsedPolicies.set(cacheKey, parsed);
    }
    return parsed;
  }

  /** Delete a record whatever its version; false when it did not exist. */
  async #deleteRecord(namespace: string, key: string): Promise<boolean> {
    for (;;) {
      const record = await this.#store.getState(namespace, key);
      if (!record) return false;
      try {
        await this.#store.deleteState(namespace, key, record.version);
        return true;
      } catch (error) {
        if (!(error instanceof StateConflictError)) throw error;
      }
    }
  }
}

/** Count a policy's characters as IAM's size quotas do, without whitespace. */
function policySize(text: string): number {
  return text.replace(/\s/g, '').length;
}

function assumedRoleArn(accountId: string, roleName: string, sessionName: string): string {
  return `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`;
}

function secretPurpose(accessKeyId: string): string {
  return `vellum secret access key ${accessKeyId}`;
}

/** Make an id of a prefix plus `length` characters of the base32 alphabet that AWS ids use. */
function randomId(prefix: string, length: number): string {
  const bytes = randomBytes(length);
  let id = prefix;
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

function encode(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function decode<T>(value: Uint8Array): T {
  return JSON.parse(Buffer.from(value).toString('utf8')) as T;
}
