/**
 * Alias and grant operations. Alias names follow KMS's rules: `alias/`
 * prefix, 1 to 256 characters of `[a-zA-Z0-9:/_-]`, `alias/aws/` reserved,
 * at most 50 aliases per key. Grants allow, never deny.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RequestContext } from '../types.js';
import type { Operation } from './crypto-operations.js';
import { page } from './key-operations.js';
import {
  aliasArn,
  keyArn,
  seconds,
  type AliasRecord,
  type GrantRecord,
  type KeyRecord,
} from './key-records.js';
import { principalNamedBy, type KmsCore } from './kms-core.js';
import {
  accessDenied,
  dryRun,
  kmsError,
  limitExceeded,
  notFound,
  pendingDeletion,
} from './kms-errors.js';
import type { InputReader } from './kms-input.js';

const ALIASES_PER_KEY = 50;
const GRANT_OPERATIONS = [
  'Decrypt',
  'Encrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'ReEncryptFrom',
  'ReEncryptTo',
  'Sign',
  'Verify',
  'GetPublicKey',
  'CreateGrant',
  'RetireGrant',
  'DescribeKey',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
];
/** Grant operations that a symmetric encryption key cannot perform. */
const NOT_SYMMETRIC = new Set([
  'Sign',
  'Verify',
  'GetPublicKey',
  'GenerateMac',
  'VerifyMac',
  'DeriveSharedSecret',
]);
const PRINCIPAL_RULES = {
  min: 1,
  max: 256,
  pattern: /^[\w+=,.@:/-]+$/,
  patternText: '^[\\w+=,.@:/-]+$',
};

function readAliasName(input: InputReader): string {
  const name = input.string('AliasName', { required: true, min: 1, max: 256 });
  input.finish();
  if (!name!.startsWith('alias/')) {
    throw kmsError(
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
  }
  if (!/^[a-zA-Z0-9:/_-]+$/.test(name!) || name === 'alias/') {
    throw kmsError(
      'InvalidAliasNameException',
      `Alias name ${name} is not valid: use 1 to 256 characters of a-z, A-Z, 0-9, colon, slash, underscore and hyphen after "alias/".`,
    );
  }
  return name!;
}

function rejectReserved(name: string): void {
  if (name.startsWith('alias/aws/')) {
    throw kmsError(
      'InvalidAliasNameException',
      `Alias name ${name} is not valid: the prefix alias/aws/ is reserved for AWS managed keys.`,
    );
  }
}

/** Aliases need permission on the alias itself through identity policies, besides permission on the key. */
async function authorizeAlias(
  core: KmsCore,
  context: RequestContext,
  action: string,
  name: string,
): Promise<void> {
  await core.authorizeIdentityOnly(context, action, aliasArn(context.region, core.accountId, name));
}

async function aliasTarget(
  core: KmsCore,
  input: InputReader,
  context: RequestContext,
): Promise<KeyRecord> {
  const targetKeyId = input.string('TargetKeyId', { required: true, min: 1, max: 2048 });
  input.finish();
  return core.resolveKey(targetKeyId!, context, { aliases: false });
}

async function checkAliasQuota(core: KmsCore, key: KeyRecord): Promise<void> {
  const count = (await core.listAliases(key.region)).filter(
    (alias) => alias.targetKeyId === key.keyId,
  ).length;
  if (count >= ALIASES_PER_KEY) {
    throw limitExceeded(
      `Key ${keyArn(key)} already has ${ALIASES_PER_KEY} aliases, the maximum; delete one first.`,
    );
  }
}

export const createAlias: Operation = async (core, input, context) => {
  const name = readAliasName(input);
  const key = await aliasTarget(core, input, context);
  rejectReserved(name);
  await authorizeAlias(core, context, 'kms:CreateAlias', name);
  await core.authorize(context, key, 'kms:CreateAlias');
  if (key.state === 'PendingDeletion') throw pendingDeletion(keyArn(key));
  await checkAliasQuota(core, key);

  const now = core.now();
  await core.putAliasRecord(
    {
      aliasName: name,
      region: context.region,
      targetKeyId: key.keyId,
      createdAt: now,
      updatedAt: now,
    },
    true,
  );
  core.logger.info(
    { alias: name, keyId: key.keyId, requestId: context.requestId },
    'KMS alias created',
  );
  return {};
};

export const updateAlias: Operation = async (core, input, context) => {
  const name = readAliasName(input);
  const key = await aliasTarget(core, input, context);
  const alias = await core.getAlias(context.region, name);
  if (!alias)
    throw notFound(`Alias ${aliasArn(context.region, core.accountId, name)} is not found.`);
  await authorizeAlias(core, context, 'kms:UpdateAlias', name);
  const previous = await core.getKey(alias.targetKeyId);
  if (previous) await core.authorize(context, previous, 'kms:UpdateAlias');
  await core.authorize(context, key, 'kms:UpdateAlias');
  if (key.state === 'PendingDeletion') throw pendingDeletion(keyArn(key));
  if (alias.targetKeyId !== key.keyId) await checkAliasQuota(core, key);

  await core.putAliasRecord({ ...alias, targetKeyId: key.keyId, updatedAt: core.now() }, false);
  core.logger.info(
    { alias: name, from: alias.targetKeyId, to: key.keyId, requestId: context.requestId },
    'KMS alias re-pointed',
  );
  return {};
};

export const deleteAlias: Operation = async (core, input, context) => {
  const name = readAliasName(input);
  const alias = await core.getAlias(context.region, name);
  if (!alias)
    throw notFound(`Alias ${aliasArn(context.region, core.accountId, name)} is not found.`);
  await authorizeAlias(core, context, 'kms:DeleteAlias', name);
  const key = await core.getKey(alias.targetKeyId);
  if (key) await core.authorize(context, key, 'kms:DeleteAlias');
  await core.deleteAliasRecord(alias);
  core.logger.info({ alias: name, requestId: context.requestId }, 'KMS alias deleted');
  return {};
};

export const listAliases: Operation = async (core, input, context) => {
  const keyIdText = input.string('KeyId', { min: 1, max: 2048 });
  input.finish();
  await core.authorizeIdentityOnly(context, 'kms:ListAliases');
  let aliases = await core.listAliases(context.region);
  if (keyIdText !== undefined) {
    const key = await core.resolveKey(keyIdText, context, { aliases: false });
    aliases = aliases.filter((alias) => alias.targetKeyId === key.keyId);
  }
  return page(
    input,
    aliases,
    'Aliases',
    (alias: AliasRecord) => ({
      AliasName: alias.aliasName,
      AliasArn: aliasArn(alias.region, core.accountId, alias.aliasName),
      TargetKeyId: alias.targetKeyId,
      CreationDate: seconds(alias.createdAt),
      LastUpdatedDate: seconds(alias.updatedAt),
    }),
    { defaultLimit: 50, maxLimit: 100, identify: (alias) => alias.aliasName },
  );
};

function readContextMap(
  input: InputReader,
  value: unknown,
  path: string,
): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== 'object' ||
    Array.isArray(value) ||
    Object.values(value).some((entry) => typeof entry !== 'string')
  ) {
    throw kmsError('SerializationException', `Member '${path}' must be a map of strings.`);
  }
  if (Object.keys(value).length > 8) {
    input.problem(
      `Value at '${path}' failed to satisfy constraint: Member must have at most 8 pairs`,
    );
  }
  for (const [key, entry] of Object.entries(value as Record<string, string>)) {
    if (entry.length > 384) {
      input.problem(
        `Value at '${path}.${key}' failed to satisfy constraint: Member must have length less than or equal to 384`,
      );
    }
  }
  return value as Record<string, string>;
}

function grantShape(grant: GrantRecord, key: KeyRecord): Record<string, unknown> {
  const shape: Record<string, unknown> = {
    KeyId: keyArn(key),
    GrantId: grant.grantId,
    CreationDate: seconds(grant.createdAt),
    GranteePrincipal: grant.granteePrincipal,
    IssuingAccount: grant.issuingAccount,
    Operations: grant.operations,
  };
  if (grant.name !== undefined) shape.Name = grant.name;
  if (grant.retiringPrincipal !== undefined) shape.RetiringPrincipal = grant.retiringPrincipal;
  if (grant.constraints) shape.Constraints = grant.constraints;
  return shape;
}

function sameGrant(a: GrantRecord, b: Omit<GrantRecord, 'grantId' | 'createdAt'>): boolean {
  return (
    JSON.stringify([
      a.granteePrincipal,
      a.retiringPrincipal,
      [...a.operations].sort(),
      a.constraints ?? null,
      a.principalIds ?? null,
    ]) ===
    JSON.stringify([
      b.granteePrincipal,
      b.retiringPrincipal,
      [...b.operations].sort(),
      b.constraints ?? null,
      b.principalIds ?? null,
    ])
  );
}

/**
 * Check that a grant's grantee or retiring principal exists, as KMS requires:
 * a service principal, or a principal the identity service finds. Principals
 * of other accounts cannot be checked, so they count as found. Return the
 * unique id of a user or role of this account, for the grant to record.
 */
async function grantPrincipalId(
  core: KmsCore,
  member: string,
  principal: string,
): Promise<string | undefined> {
  if (/^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$/.test(principal)) return undefined;
  const found = await core.identity.principalId(principal);
  if (found === 'none') {
    throw kmsError(
      'InvalidArnException',
      `${member} ${principal} is not a principal KMS can find: name an existing IAM user or role, ` +
        'an account, or a service principal such as qldb.amazonaws.com.',
    );
  }
  return found === 'exists' ? undefined : found.id;
}

export const createGrant: Operation = async (core, input, context) => {
  const keyIdText = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const grantee = input.string('GranteePrincipal', { ...PRINCIPAL_RULES, required: true });
  const retiring = input.string('RetiringPrincipal', PRINCIPAL_RULES);
  const operations = input.stringList('Operations', {
    required: true,
    min: 1,
    member: { values: GRANT_OPERATIONS },
  });
  const name = input.string('Name', {
    min: 1,
    max: 256,
    pattern: /^[a-zA-Z0-9:/_-]+$/,
    patternText: '^[a-zA-Z0-9:/_-]+$',
  });
  const grantTokens = input.stringList('GrantTokens', { max: 10 });
  const isDryRun = input.boolean('DryRun');
  const constraintsValue = input.has('Constraints') ? readConstraints(input) : undefined;
  input.finish();

  const key = await core.resolveKey(keyIdText!, context, {
    aliases: false,
    operation: 'CreateGrant',
  });
  const invalid = operations!.filter((operation) => NOT_SYMMETRIC.has(operation));
  if (invalid.length > 0) {
    throw kmsError(
      'ValidationException',
      `Grant operations ${invalid.join(', ')} are not valid for a symmetric encryption KMS key.`,
    );
  }
  const conditionKeys = {
    'kms:GrantOperations': operations!,
    'kms:GranteePrincipal': grantee!,
    // True when a service, such as the ledgers' QLDB, creates the grant for
    // the caller, which the default key policy of the AWS console requires.
    'kms:GrantIsForAWSResource': context.viaService === undefined ? 'false' : 'true',
    ...(retiring !== undefined ? { 'kms:RetiringPrincipal': retiring } : {}),
  };
  const constraintContext =
    constraintsValue?.EncryptionContextEquals ?? constraintsValue?.EncryptionContextSubset;
  await core.authorize(context, key, 'kms:CreateGrant', {
    grantTokens,
    extraConditionKeys: conditionKeys,
    ...(constraintContext ? { encryptionContext: constraintContext } : {}),
    grantDecision: () => delegatingGrantAllows(core, context, key, operations!, constraintsValue),
  });
  const principalIds: Record<string, string> = {};
  for (const [member, principal] of [
    ['GranteePrincipal', grantee!],
    ['RetiringPrincipal', retiring],
  ] as const) {
    if (principal === undefined) continue;
    const id = await grantPrincipalId(core, member, principal);
    if (id !== undefined) principalIds[principal] = id;
  }
  core.requireEnabled(key);
  if (isDryRun) throw dryRun();

  const candidate: Omit<GrantRecord, 'grantId' | 'createdAt'> = {
    keyId: key.keyId,
    granteePrincipal: grantee!,
    issuingAccount: `arn:aws:iam::${core.accountId}:root`,
    operations: operations!,
  };
  if (name !== undefined) candidate.name = name;
  if (retiring !== undefined) candidate.retiringPrincipal = retiring;
  if (constraintsValue) candidate.constraints = constraintsValue;
  if (Object.keys(principalIds).length > 0) candidate.principalIds = principalIds;

  if (name !== undefined) {
    const existing = (await core.grantsOf(key.keyId)).find(
      (grant) => grant.name === name && sameGrant(grant, candidate),
    );
    if (existing)
      return { GrantToken: core.newGrantToken(existing.grantId), GrantId: existing.grantId };
  }
  const grant: GrantRecord = {
    ...candidate,
    grantId: createHash('sha256').update(randomBytes(32)).digest('hex'),
    createdAt: core.now(),
  };
  await core.putGrantRecord(grant);
  core.logger.info(
    { keyId: key.keyId, grantId: grant.grantId, requestId: context.requestId },
    'KMS grant created',
  );
  return { GrantToken: core.newGrantToken(grant.grantId), GrantId: grant.grantId };
};

function readConstraints(input: InputReader): GrantRecord['constraints'] {
  const raw = input.raw('Constraints');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw kmsError('SerializationException', "Member 'constraints' must be an object.");
  }
  const record = raw as Record<string, unknown>;
  const constraints: NonNullable<GrantRecord['constraints']> = {};
  const subset = readContextMap(
    input,
    record.EncryptionContextSubset,
    'constraints.encryptionContextSubset',
  );
  const equals = readContextMap(
    input,
    record.EncryptionContextEquals,
    'constraints.encryptionContextEquals',
  );
  if (subset) constraints.EncryptionContextSubset = subset;
  if (equals) constraints.EncryptionContextEquals = equals;
  return subset || equals ? constraints : undefined;
}

async function delegatingGrantAllows(
  core: KmsCore,
  context: RequestContext,
  key: KeyRecord,
  operations: string[],
  constraints: GrantRecord['constraints'],
): Promise<boolean> {
  for (const grant of await core.grantsOf(key.keyId)) {
    if (
      !principalNamedBy(grant.granteePrincipal, context, grant.principalIds) ||
      !grant.operations.includes('CreateGrant')
    )
      continue;
    if (
      operations.every((operation) => grant.operations.includes(operation)) &&
      atLeastAsStrict(constraints, grant.constraints)
    ) {
      return true;
    }
  }
  return false;
}

/**
 * True when every encryption context that `child` admits, `parent` admits
 * too, so a grant created through a grant cannot widen it.
 */
function atLeastAsStrict(
  child: GrantRecord['constraints'],
  parent: GrantRecord['constraints'],
): boolean {
  if (parent === undefined) return true;
  if (child === undefined) return false;
  const contains = (outer: Record<string, string>, inner: Record<string, string>) =>
    Object.entries(inner).every(([name, value]) => outer[name] === value);
  if (parent.EncryptionContextEquals !== undefined) {
    const equals = child.EncryptionContextEquals;
    return (
      equals !== undefined &&
      contains(equals, parent.EncryptionContextEquals) &&
      contains(parent.EncryptionContextEquals, equals)
    );
  }
  const required = parent.EncryptionContextSubset ?? {};
  const childRequired = child.EncryptionContextEquals ?? child.EncryptionContextSubset ?? {};
  return contains(childRequired, required);
}

export const listGrants: Operation = async (core, input, context) => {
  const keyIdText = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const grantId = input.string('GrantId', { min: 1, max: 128 });
  const grantee = input.string('GranteePrincipal', PRINCIPAL_RULES);
  input.finish();
  const key = await core.resolveKey(keyIdText!, context, { aliases: false });
  await core.authorize(context, key, 'kms:ListGrants');
  const grants = (await core.grantsOf(key.keyId)).filter(
    (grant) =>
      (grantId === undefined || grant.grantId === grantId) &&
      (grantee === undefined || grant.granteePrincipal === grantee),
  );
  return page(input, grants, 'Grants', (grant) => grantShape(grant, key), {
    defaultLimit: 50,
    maxLimit: 100,
    identify: (grant) => grant.grantId,
  });
};

export const listRetirableGrants: Operation = async (core, input, context) => {
  const retiring = input.string('RetiringPrincipal', { ...PRINCIPAL_RULES, required: true });
  input.finish();
  await core.authorizeIdentityOnly(context, 'kms:ListRetirableGrants');
  const matches: Array<{ grant: GrantRecord; key: KeyRecord }> = [];
  for (const key of await core.listKeys()) {
    for (const grant of await core.grantsOf(key.keyId)) {
      if (grant.retiringPrincipal === retiring) matches.push({ grant, key });
    }
  }
  return page(input, matches, 'Grants', ({ grant, key }) => grantShape(grant, key), {
    defaultLimit: 50,
    maxLimit: 100,
    identify: ({ grant }) => grant.grantId,
  });
};

async function findGrant(core: KmsCore, key: KeyRecord, grantId: string): Promise<GrantRecord> {
  if (!/^[0-9a-f]{64}$/.test(grantId)) {
    throw kmsError(
      'InvalidGrantIdException',
      `Grant id ${grantId} is not valid; grant ids are 64 hexadecimal digits.`,
    );
  }
  const byId = (grants: GrantRecord[]) => grants.find((candidate) => candidate.grantId === grantId);
  // Another server on a shared store may have created the grant just now.
  const grant = byId(await core.grantsOf(key.keyId)) ?? byId(await core.grantsOf(key.keyId, true));
  if (!grant) throw notFound(`Grant ID ${grantId} not found on key ${keyArn(key)}`);
  return grant;
}

export const retireGrant: Operation = async (core, input, context) => {
  const token = input.string('GrantToken', { min: 1, max: 8192 });
  const keyIdText = input.string('KeyId', { min: 1, max: 2048 });
  const grantIdText = input.string('GrantId', { min: 1, max: 128 });
  const isDryRun = input.boolean('DryRun');
  input.finish();

  let grant: GrantRecord;
  let key: KeyRecord;
  if (token !== undefined) {
    const grantId = core.grantIdOfToken(token);
    if (!grantId)
      throw kmsError(
        'InvalidGrantTokenException',
        'The grant token is not valid; use a token returned by CreateGrant.',
      );
    const found = await findGrantAnywhere(core, grantId);
    if (!found) throw notFound(`Grant ID ${grantId} not found`);
    ({ grant, key } = found);
  } else if (keyIdText !== undefined && grantIdText !== undefined) {
    key = await core.resolveKey(keyIdText, context, { aliases: false });
    grant = await findGrant(core, key, grantIdText);
  } else {
    throw kmsError('ValidationException', 'Specify GrantToken, or both KeyId and GrantId.');
  }

  const principal = context.principal;
  const mayRetire =
    (grant.retiringPrincipal !== undefined &&
      principalNamedBy(grant.retiringPrincipal, context, grant.principalIds)) ||
    (principalNamedBy(grant.granteePrincipal, context, grant.principalIds) &&
      grant.operations.includes('RetireGrant')) ||
    core.identity.isRoot(principal);
  if (!mayRetire) throw accessDenied(principal.arn, 'kms:RetireGrant', keyArn(key), 'implicit');
  if (isDryRun) throw dryRun();
  await core.deleteGrantRecord(grant);
  core.logger.info(
    { keyId: key.keyId, grantId: grant.grantId, requestId: context.requestId },
    'KMS grant retired',
  );
  return {};
};

async function findGrantAnywhere(
  core: KmsCore,
  grantId: string,
): Promise<{ grant: GrantRecord; key: KeyRecord } | undefined> {
  const keys = await core.listKeys();
  // A second pass reads from the store: another server on a shared store
  // may have created the grant just now.
  for (const fresh of [false, true]) {
    for (const key of keys) {
      const grant = (await core.grantsOf(key.keyId, fresh)).find(
        (candidate) => candidate.grantId === grantId,
      );
      if (grant) return { grant, key };
    }
  }
  return undefined;
}

export const revokeGrant: Operation = async (core, input, context) => {
  const keyIdText = input.string('KeyId', { required: true, min: 1, max: 2048 });
  const grantId = input.string('GrantId', { required: true, min: 1, max: 128 });
  const isDryRun = input.boolean('DryRun');
  input.finish();
  const key = await core.resolveKey(keyIdText!, context, { aliases: false });
  await core.authorize(context, key, 'kms:RevokeGrant');
  const grant = await findGrant(core, key, grantId!);
  if (isDryRun) throw dryRun();
  await core.deleteGrantRecord(grant);
  core.logger.info(
    { keyId: key.keyId, grantId, requestId: context.requestId },
    'KMS grant revoked',
  );
  return {};
};
