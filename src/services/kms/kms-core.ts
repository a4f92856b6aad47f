/**
 * The KMS state and the rules every operation shares: key, alias and grant
 * records with in-memory caches, key identifier resolution, key state
 * checks, authorization, key material, and the scheduled work (deletion at
 * the end of the waiting period, automatic rotation).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { StateConflictError, type Store } from '../../storage/store.js';
import type { IdentityService } from '../iam/identity.js';
import {
  KEY_POLICY,
  MalformedPolicyError,
  parsePolicy,
  type PolicyDocument,
} from '../iam/policy.js';
import type { ConditionValues } from '../iam/policy-conditions.js';
import { evaluatePolicies } from '../iam/policy-evaluation.js';
import { callerUniqueId, withPrincipalIds, type PrincipalIds } from '../iam/principal-ids.js';
import type { SecretBox } from '../secret-box.js';
import type { RequestContext } from '../types.js';
import {
  aliasArn,
  decodeRecord,
  encodeRecord,
  keyArn,
  NS,
  type AliasRecord,
  type GrantRecord,
  type KeyRecord,
  type MaterialRecord,
  type Tag,
} from './key-records.js';
import {
  accessDenied,
  accessDeniedCiphertext,
  disabled,
  kmsError,
  malformedPolicy,
  notFound,
  pendingDeletion,
} from './kms-errors.js';

const KEY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Lifetime of cached records when other processes may write the same store. */
const SHARED_CACHE_MS = 1_000;

interface Cached<T> {
  value: T;
  at: number;
}

export interface KmsCoreOptions {
  store: Store;
  identity: IdentityService;
  box: SecretBox;
  now: () => number;
  /** Length of a KMS day in milliseconds; scales deletion windows and rotation periods. */
  dayLength: number;
  logger: Logger;
  /**
   * Delete a key whose deletion date has passed when it is read (default
   * true). When false, such a key reads as absent but stays stored.
   */
  deleteDueKeys?: boolean;
}

/** Extra facts for an authorization decision. */
export interface AuthorizeOptions {
  encryptionContext?: Record<string, string>;
  grantTokens?: string[];
  /** The grant operation that would cover the request, such as `Decrypt`; none for operations grants cannot allow. */
  grantOperation?: string;
  /** Use the ciphertext access-denied message, as Decrypt and ReEncrypt do. */
  ciphertextDenial?: boolean;
  extraConditionKeys?: ConditionValues;
  /**
   * Decide whether a grant allows the request, in place of the grant check
   * that `grantOperation` selects. It runs only after no explicit Deny was
   * found, as every grant check does.
   */
  grantDecision?: () => Promise<boolean>;
}

export class KmsCore {
  readonly store: Store;
  readonly identity: IdentityService;
  readonly box: SecretBox;
  readonly now: () => number;
  readonly dayLength: number;
  readonly logger: Logger;
  readonly #cacheMs: number;
  readonly #keys = new Map<string, Cached<KeyRecord | undefined>>();
  readonly #aliases = new Map<string, Cached<AliasRecord | undefined>>();
  readonly #grants = new Map<string, Cached<GrantRecord[]>>();
  readonly #materials = new Map<string, Buffer>();
  readonly #policies = new Map<string, PolicyDocument>();
  readonly #tokenKey: Buffer;
  readonly #deleteDueKeys: boolean;

  constructor(options: KmsCoreOptions) {
    this.store = options.store;
    this.identity = options.identity;
    this.box = options.box;
    this.now = options.now;
    this.dayLength = options.dayLength;
    this.logger = options.logger;
    this.#deleteDueKeys = options.deleteDueKeys ?? true;
    this.#cacheMs = options.store.singleWriter ? Number.POSITIVE_INFINITY : SHARED_CACHE_MS;
    this.#tokenKey = options.box.deriveKey('kms grant tokens');
  }

  get accountId(): string {
    return this.identity.accountId;
  }

  // ---------------------------------------------------------------- keys

  /**
   * Read a key by id, or return undefined when it is absent. A key whose
   * deletion date has passed reads as absent, and is deleted here unless
   * `deleteDueKeys` is off.
   */
  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const cached = this.#keys.get(keyId);
    let key: KeyRecord | undefined;
    if (cached && this.now() - cached.at < this.#cacheMs) {
      key = cached.value;
    } else {
      const record = await this.store.getState(NS.key, keyId);
      key = record ? decodeRecord<KeyRecord>(record.value) : undefined;
      this.#keys.set(keyId, { value: key, at: this.now() });
    }
    if (key?.state === 'PendingDeletion' && key.deletionDate! <= this.now()) {
      if (this.#deleteDueKeys) await this.deleteKeyNow(key.keyId);
      return undefined;
    }
    return key;
  }

  async createKeyRecord(key: KeyRecord): Promise<void> {
    await this.store.putState(NS.key, key.keyId, encodeRecord(key), 0);
    this.#keys.set(key.keyId, { value: key, at: this.now() });
  }

  /**
   * Change a key with compare-and-set, retrying on a concurrent write.
   * `mutate` receives the current record and may raise to reject the change.
   */
  async updateKey(keyId: string, mutate: (key: KeyRecord) => void): Promise<KeyRecord> {
    for (;;) {
      const record = await this.store.getState(NS.key, keyId);
      if (!record) throw notFound(`Key '${keyId}' does not exist`);
      const key = decodeRecord<KeyRecord>(record.value);
      mutate(key);
      try {
        await this.store.putState(NS.key, keyId, encodeRecord(key), record.version);
        this.#keys.set(keyId, { value: key, at: this.now() });
        return key;
      } catch (error) {
        if (!(error instanceof StateConflictError)) throw error;
      }
    }
  }

  async listKeys(): Promise<KeyRecord[]> {
    const keys: KeyRecord[] = [];
    for (const record of await this.store.listState(NS.key)) {
      const key = await this.getKey(record.key);
      if (key) keys.push(key);
    }
    return keys;
  }

  /** Delete a key with its material, aliases and grants. The data under it becomes unrecoverable. */
  async deleteKeyNow(keyId: string): Promise<void> {
    const record = await this.store.getState(NS.key, keyId);
    if (record) {
      await this.store.deleteState(NS.key, keyId, record.version).catch((error: unknown) => {
        if (!(error instanceof StateConflictError)) throw error;
      });
    }
    for (const alias of await this.listAliases()) {
      if (alias.targetKeyId === keyId) await this.deleteAliasRecord(alias);
    }
    for (const grant of await this.grantsOf(keyId)) await this.deleteGrantRecord(grant);
    this.#keys.set(keyId, { value: undefined, at: this.now() });
    for (const cacheKey of this.#materials.keys()) {
      if (cacheKey.startsWith(`${keyId}/`)) this.#materials.delete(cacheKey);
    }
    this.logger.info({ keyId }, 'KMS key deleted at the end of its waiting period');
  }

  /**
   * Resolve a `KeyId` member: a key id, a key ARN, and where `aliases` is
   * true an alias name or alias ARN. Raises NotFoundException in AWS's
   * wording for malformed and unknown identifiers.
   */
  async resolveKey(
    raw: string,
    context: RequestContext,
    options: { aliases: boolean; operation?: string },
  ): Promise<KeyRecord> {
    const region = context.region;
    let keyId: string | undefined;

    if (raw.startsWith('alias/') || /^arn:aws:kms:[^:]*:[^:]*:alias\//.test(raw)) {
      if (!options.aliases) {
        if (options.operation === 'CreateGrant') {
          throw kmsError(
            'InvalidArnException',
            `${raw} is not a valid key ARN. Key Aliases are not supported for this operation.`,
          );
        }
        throw notFound(
          `Invalid keyId '${raw}'; this operation takes a key id or key ARN, not an alias`,
        );
      }
      const aliasName = raw.startsWith('alias/') ? raw : this.#aliasNameFromArn(raw, region);
      const alias = await this.getAlias(region, aliasName);
      if (!alias)
        throw notFound(`Alias ${aliasArn(region, this.accountId, aliasName)} is not found.`);
      keyId = alias.targetKeyId;
    } else if (raw.startsWith('arn:')) {
      const match = /^arn:aws:kms:([^:]*):(\d{12}):key\/(.+)$/.exec(raw);
      if (!match) throw notFound(`Invalid arn ${raw}`);
      if (match[1] !== region) throw notFound(`Invalid arn ${match[1]}`);
      if (match[2] !== this.accountId || !KEY_ID_PATTERN.test(match[3]!)) {
        throw notFound(`Key '${raw}' does not exist`);
      }
      keyId = match[3]!;
    } else if (KEY_ID_PATTERN.test(raw)) {
      keyId = raw;
    } else {
      throw notFound(`Invalid keyId '${raw}'`);
    }

    const key = await this.getKey(keyId);
    if (!key || key.region !== region) {
      throw notFound(
        `Key '${keyArn({ region, accountId: this.accountId, keyId })}' does not exist`,
      );
    }
    return key;
  }

  #aliasNameFromArn(arn: string, region: string): string {
    const match = /^arn:aws:kms:([^:]*):(\d{12}):(alias\/.+)$/.exec(arn);
    if (!match) throw notFound(`Invalid arn ${arn}`);
    if (match[1] !== region) throw notFound(`Invalid arn ${match[1]}`);
    if (match[2] !== this.accountId) throw notFound(`Alias ${arn} is not found.`);
    return match[3]!;
  }

  // ---------------------------------------------------------------- key states

  /** Raise the error AWS gives when a key in its state cannot do cryptography or take a grant. */
  requireEnabled(key: KeyRecord): void {
    if (key.state === 'Disabled') throw disabled(keyArn(key));
    if (key.state === 'PendingDeletion') throw pendingDeletion(keyArn(key));
  }

  /** Raise for a key pending deletion, for operations that work on disabled keys. */
  requireNotPendingDeletion(key: KeyRecord): void {
    if (key.state === 'PendingDeletion') throw pendingDeletion(keyArn(key));
  }

  // ---------------------------------------------------------------- material

  /** The unsealed material of one version, cached in memory. */
  material(key: Pick<KeyRecord, 'keyId' | 'materials'>, version: number): Buffer | undefined {
    const cacheKey = `${key.keyId}/${version}`;
    let material = this.#materials.get(cacheKey);
    if (material) return material;
    const record = key.materials.find((candidate) => candidate.version === version);
    if (!record) return undefined;
    material = this.box.open(
      materialPurpose(key.keyId, version),
      Buffer.from(record.sealed, 'base64'),
    );
    this.#materials.set(cacheKey, material);
    return material;
  }

  newMaterial(
    keyId: string,
    version: number,
    rotationType?: MaterialRecord['rotationType'],
  ): MaterialRecord {
    const material = randomBytes(32);
    const record: MaterialRecord = {
      version,
      id: randomBytes(32).toString('hex'),
      createdAt: this.now(),
      sealed: this.box.seal(materialPurpose(keyId, version), material).toString('base64'),
    };
    if (rotationType) record.rotationType = rotationType;
    return record;
  }

  newKeyId(): string {
    return randomUUID();
  }

  // ---------------------------------------------------------------- policies

  /** Parse a key policy, caching by text; raises MalformedPolicyDocumentException. */
  parseKeyPolicy(text: string): PolicyDocument {
    let parsed = this.#policies.get(text);
    if (parsed) return parsed;
    try {
      parsed = parsePolicy(text, KEY_POLICY);
    } catch (error) {
      if (error instanceof MalformedPolicyError) throw malformedPolicy(error.message);
      throw error;
    }
    rejectOverlyPermissiveConditions(parsed);
    if (this.#policies.size > 10_000) this.#policies.clear();
    this.#policies.set(text, parsed);
    return parsed;
  }

  /** Return the key's parsed policy with the principal ids recorded for it, ready for evaluation. */
  keyPolicy(key: Pick<KeyRecord, 'policy' | 'principalIds'>): PolicyDocument {
    return withPrincipalIds(this.parseKeyPolicy(key.policy), key.principalIds);
  }

  /**
   * Authorize a request on a key the way KMS does. An explicit Deny in the
   * key policy or the caller's identity policies wins. Otherwise one of
   * these must allow: the key policy naming the caller, the key policy
   * naming the caller's account (the root delegation) together with an
   * identity policy, or a grant.
   */
  async authorize(
    context: RequestContext,
    key: KeyRecord,
    action: string,
    options: AuthorizeOptions = {},
  ): Promise<void> {
    const principal = context.principal;
    const resource = keyArn(key);
    const conditionKeys = this.conditionKeys(context, options.encryptionContext, {
      ...resourceTagKeys(key.tags),
      ...options.extraConditionKeys,
    });
    const request = { principal, action, resource, conditionKeys };
    const deny = (reason: Parameters<typeof accessDenied>[3]) =>
      options.ciphertextDenial
        ? accessDeniedCiphertext()
        : accessDenied(principal.arn, action, resource, reason);

    if (options.grantTokens) this.checkGrantTokens(options.grantTokens);
    const keyVerdict = evaluatePolicies([this.keyPolicy(key)], request, 'resource');
    if (keyVerdict.denied) throw deny('resource-deny');
    const identityPolicies =
      principal.accountId === this.accountId ? await this.identity.identityPolicies(principal) : [];
    const identityVerdict = evaluatePolicies(identityPolicies, request, 'identity');
    if (identityVerdict.denied) throw deny('identity-deny');

    if (keyVerdict.allowed) return;
    if (keyVerdict.accountAllowed && (identityVerdict.allowed || this.identity.isRoot(principal)))
      return;
    if (
      options.grantOperation &&
      (await this.grantAllows(context, key, options.grantOperation, options.encryptionContext))
    ) {
      return;
    }
    if (options.grantDecision && (await options.grantDecision())) return;
    // When the key policy hands the decision to the account's IAM policies,
    // the missing allow is an identity policy's, and that is the fix.
    throw deny(keyVerdict.accountAllowed ? 'identity-only' : 'implicit');
  }

  /** Authorize an action that only identity policies govern, such as CreateKey and ListKeys. */
  async authorizeIdentityOnly(
    context: RequestContext,
    action: string,
    resource = '*',
    extra?: ConditionValues,
  ): Promise<void> {
    const conditionKeys = this.conditionKeys(context, undefined, extra);
    if (!(await this.identity.authorize(context.principal, action, resource, conditionKeys))) {
      throw accessDenied(context.principal.arn, action, resource, 'identity-only');
    }
  }

  conditionKeys(
    context: RequestContext,
    encryptionContext: Record<string, string> | undefined,
    extra?: ConditionValues,
  ): ConditionValues {
    const keys: ConditionValues = {
      'kms:CallerAccount': context.principal.accountId,
      'kms:ViaService': context.viaService,
      'aws:RequestedRegion': context.region,
      ...extra,
    };
    if (encryptionContext) {
      keys['kms:EncryptionContextKeys'] = Object.keys(encryptionContext);
      for (const [name, value] of Object.entries(encryptionContext)) {
        keys[`kms:EncryptionContext:${name}`] = value;
      }
    }
    return keys;
  }

  // ---------------------------------------------------------------- grants

  /**
   * Return the grants on a key. On a shared store the cached list may be up
   * to a second old. `fresh` reads the stored list, which shows a grant that
   * another server created or retired just now.
   */
  async grantsOf(keyId: string, fresh = false): Promise<GrantRecord[]> {
    const cached = this.#grants.get(keyId);
    if (!fresh && cached && this.now() - cached.at < this.#cacheMs) return cached.value;
    const grants = (await this.store.listState(NS.grant, `${keyId}/`)).map((record) =>
      decodeRecord<GrantRecord>(record.value),
    );
    this.#grants.set(keyId, { value: grants, at: this.now() });
    return grants;
  }

  async putGrantRecord(grant: GrantRecord): Promise<void> {
    await this.store.putState(NS.grant, `${grant.keyId}/${grant.grantId}`, encodeRecord(grant), 0);
    this.#grants.delete(grant.keyId);
  }

  async deleteGrantRecord(grant: GrantRecord): Promise<void> {
    const key = `${grant.keyId}/${grant.grantId}`;
    const record = await this.store.getState(NS.grant, key);
    if (record) {
      await this.store.deleteState(NS.grant, key, record.version).catch((error: unknown) => {
        if (!(error instanceof StateConflictError)) throw error;
      });
    }
    this.#grants.delete(grant.keyId);
  }

  /** True when a grant names the caller as grantee, covers `operation`, and its constraints match the context. */
  async grantAllows(
    context: RequestContext,
    key: KeyRecord,
    operation: string,
    encryptionContext: Record<string, string> | undefined,
  ): Promise<boolean> {
    const allows = (grants: GrantRecord[]) =>
      grants.some(
        (grant) =>
          principalNamedBy(grant.granteePrincipal, context, grant.principalIds) &&
          grant.operations.includes(operation) &&
          constraintsHold(grant, operation, encryptionContext),
      );
    if (allows(await this.grantsOf(key.keyId))) return true;
    // On a shared store the allowing grant may be one another server created
    // within the cache's lifetime; a denial is decided on the stored list.
    return Number.isFinite(this.#cacheMs) && allows(await this.grantsOf(key.keyId, true));
  }

  /** Issue a grant token: base64url of the grant id, a nonce and an HMAC over both under a root-derived key. */
  newGrantToken(grantId: string): string {
    const nonce = randomBytes(16);
    const body = Buffer.concat([Buffer.from(grantId, 'ascii'), nonce]);
    const mac = createHmac('sha256', this.#tokenKey).update(body).digest();
    return Buffer.concat([body, mac]).toString('base64url');
  }

  /** Read the grant id from a token; undefined when this KMS did not issue the token. */
  grantIdOfToken(token: string): string | undefined {
    const bytes = Buffer.from(token, 'base64url');
    if (bytes.length !== 64 + 16 + 32) return undefined;
    const body = bytes.subarray(0, 80);
    const mac = createHmac('sha256', this.#tokenKey).update(body).digest();
    if (!timingSafeEqual(mac, bytes.subarray(80))) return undefined;
    return body.subarray(0, 64).toString('ascii');
  }

  checkGrantTokens(tokens: string[]): void {
    for (const token of tokens) {
      if (this.grantIdOfToken(token) === undefined) {
        throw kmsError(
          'InvalidGrantTokenException',
          `The grant token ${token.slice(0, 32)}... is not valid; use a token returned by CreateGrant.`,
        );
      }
    }
  }

  // ---------------------------------------------------------------- aliases

  async getAlias(region: string, aliasName: string): Promise<AliasRecord | undefined> {
    const cacheKey = `${region}/${aliasName}`;
    const cached = this.#aliases.get(cacheKey);
    if (cached && this.now() - cached.at < this.#cacheMs) return cached.value;
    const record = await this.store.getState(NS.alias, cacheKey);
    const alias = record ? decodeRecord<AliasRecord>(record.value) : undefined;
    this.#aliases.set(cacheKey, { value: alias, at: this.now() });
    return alias;
  }

  async listAliases(region?: string): Promise<AliasRecord[]> {
    const records = await this.store.listState(
      NS.alias,
      region === undefined ? undefined : `${region}/`,
    );
    return records.map((record) => decodeRecord<AliasRecord>(record.value));
  }

  /** Write an alias record; `expectNew` makes it fail with AlreadyExistsException when the name is taken. */
  async putAliasRecord(alias: AliasRecord, expectNew: boolean): Promise<void> {
    const key = `${alias.region}/${alias.aliasName}`;
    for (;;) {
      const existing = await this.store.getState(NS.alias, key);
      if (existing && expectNew) {
        throw kmsError(
          'AlreadyExistsException',
          `An alias with the name ${aliasArn(alias.region, this.accountId, alias.aliasName)} already exists`,
        );
      }
      try {
        await this.store.putState(NS.alias, key, encodeRecord(alias), existing?.version ?? 0);
        break;
      } catch (error) {
        if (!(error instanceof StateConflictError)) throw error;
      }
    }
    this.#aliases.set(key, { value: alias, at: this.now() });
  }

  async deleteAliasRecord(alias: AliasRecord): Promise<void> {
    const key = `${alias.region}/${alias.aliasName}`;
    const record = await this.store.getState(NS.alias, key);
    if (record) {
      await this.store.deleteState(NS.alias, key, record.version).catch((error: unknown) => {
        if (!(error instanceof StateConflictError)) throw error;
      });
    }
    this.#aliases.set(key, { value: undefined, at: this.now() });
  }

  // ---------------------------------------------------------------- scheduled work

  /**
   * Delete keys whose waiting period has ended and rotate enabled keys
   * whose rotation is due. Runs on a timer and may be called directly.
   */
  async runDueWork(): Promise<void> {
    for (const record of await this.store.listState(NS.key)) {
      const key = decodeRecord<KeyRecord>(record.value);
      const now = this.now();
      if (key.state === 'PendingDeletion' && key.deletionDate! <= now) {
        await this.deleteKeyNow(key.keyId);
      } else if (
        key.state === 'Enabled' &&
        key.rotation.enabled &&
        (key.rotation.nextRotationAt ?? Infinity) <= now
      ) {
        await this.updateKey(key.keyId, (current) => {
          if (current.state !== 'Enabled' || !current.rotation.enabled) return;
          if ((current.rotation.nextRotationAt ?? Infinity) > this.now()) return;
          current.materials.push(
            this.newMaterial(current.keyId, current.materials.length + 1, 'AUTOMATIC'),
          );
          current.rotation.nextRotationAt =
            this.now() + current.rotation.periodDays * this.dayLength;
        });
        this.logger.info({ keyId: key.keyId }, 'KMS key rotated on schedule');
      }
    }
  }
}

/**
 * Reject `ForAllValues` on a `kms:EncryptionContext:<key>` condition, as KMS
 * does: the key is single-valued, so the set operator would also match
 * requests without that context key.
 */
function rejectOverlyPermissiveConditions(policy: PolicyDocument): void {
  for (const statement of policy.statements) {
    for (const clause of statement.conditions) {
      if (clause.set === 'ForAllValues' && clause.key.startsWith('kms:encryptioncontext:')) {
        throw malformedPolicy(
          `OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context (${clause.key}). Use kms:EncryptionContextKeys with ForAllValues instead.`,
        );
      }
    }
  }
}

/** Return the `aws:ResourceTag/<key>` condition keys of a key's tags. */
function resourceTagKeys(tags: readonly Tag[]): ConditionValues {
  const keys: ConditionValues = {};
  for (const tag of tags) keys[`aws:ResourceTag/${tag.TagKey}`] = tag.TagValue;
  return keys;
}

/**
 * Return the condition keys of tags in a request: `aws:RequestTag/<key>` for
 * each tag and `aws:TagKeys` for their keys.
 */
export function requestTagKeys(tags: readonly Tag[]): ConditionValues {
  const keys: ConditionValues = { 'aws:TagKeys': tags.map((tag) => tag.TagKey) };
  for (const tag of tags) keys[`aws:RequestTag/${tag.TagKey}`] = tag.TagValue;
  return keys;
}

export function materialPurpose(keyId: string, version: number): string {
  return `vellum kms key material ${keyId} ${version}`;
}

/**
 * True when a grant's principal entry names the caller: its ARN or, for a
 * role session, its role's ARN. When the grant recorded the unique id of the
 * principal it named, the caller must also have that id.
 */
export function principalNamedBy(
  entry: string,
  context: RequestContext,
  ids: PrincipalIds | undefined,
): boolean {
  const principal = context.principal;
  if (entry !== principal.arn && entry !== principal.roleArn) return false;
  const id = ids?.[entry];
  return id === undefined || id === callerUniqueId(principal);
}

function constraintsHold(
  grant: GrantRecord,
  operation: string,
  context: Record<string, string> | undefined,
): boolean {
  const constraints = grant.constraints;
  if (!constraints || operation === 'DescribeKey' || operation === 'RetireGrant') return true;
  // In a grant constraint the keys match ignoring case and the values exactly,
  // as KMS documents for GrantConstraints.
  const actual = new Map<string, string>();
  for (const [name, value] of Object.entries(context ?? {})) actual.set(name.toLowerCase(), value);
  const matches = (expected: Record<string, string>) =>
    Object.entries(expected).every(([name, value]) => actual.get(name.toLowerCase()) === value);
  if (constraints.EncryptionContextEquals) {
    const expected = constraints.EncryptionContextEquals;
    if (Object.keys(expected).length !== Object.keys(context ?? {}).length) return false;
    if (!matches(expected)) return false;
  }
  if (constraints.EncryptionContextSubset && !matches(constraints.EncryptionContextSubset)) {
    return false;
  }
  return true;
}
