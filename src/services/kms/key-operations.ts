/**
 * Key management operations: creation, description, listing, enabling,
 * deletion scheduling, key policies, tags and rotation.
 */
import type { PrincipalIds } from '../iam/principal-ids.js';
import type { RequestContext } from '../types.js';
import type { Operation } from './crypto-operations.js';
import {
  defaultKeyPolicy,
  keyArn,
  keyMetadata,
  seconds,
  type KeyRecord,
  type Tag,
} from './key-records.js';
import { requestTagKeys, type KmsCore } from './kms-core.js';
import {
  disabled,
  kmsError,
  limitExceeded,
  malformedPolicy,
  notFound,
  notPendingDeletion,
  pendingDeletion,
  tagError,
  unsupported,
} from './kms-errors.js';
import type { InputReader } from './kms-input.js';

const MAX_POLICY_BYTES = 32_768;
const MAX_TAGS = 50;
const MAX_ON_DEMAND_ROTATIONS = 25;
const POLICY_RULES = { required: true, min: 1, max: 131_072 };

function readKeyId(input: InputReader): string {
  return input.string('KeyId', { required: true, min: 1, max: 2048 })!;
}

/** Resolve a key id or key ARN (aliases are not accepted by management operations). */
async function keyFrom(
  core: KmsCore,
  input: InputReader,
  context: RequestContext,
  operation: string,
): Promise<KeyRecord> {
  const keyId = readKeyId(input);
  input.finish();
  return core.resolveKey(keyId, context, { aliases: false, operation });
}

/**
 * Cut one page out of a list, with KMS's `Limit`, `Marker`, `Truncated` and
 * `NextMarker`. With `identify`, the marker also names the last item of the
 * page, so that the next page resumes after that item even when items were
 * deleted in between. When that item is gone too, a list in the order of
 * its ids resumes at the next id, and any other list one place earlier.
 */
export function page<T>(
  input: InputReader,
  items: T[],
  member: string,
  shape: (item: T) => unknown,
  options: { defaultLimit: number; maxLimit: number; identify?: (item: T) => string },
): Record<string, unknown> {
  const limit = Math.min(
    input.integer('Limit', { min: 1, max: 1000 }) ?? options.defaultLimit,
    options.maxLimit,
  );
  const marker = input.string('Marker', { min: 1, max: 1024 });
  input.finish();

  const identify = options.identify;
  let start = 0;
  if (marker !== undefined) {
    const text = Buffer.from(marker, 'base64url').toString();
    const cut = text.indexOf('\n');
    const head = cut < 0 ? text : text.slice(0, cut);
    const position = Number(head);
    if (!/^\d+$/.test(head) || !Number.isSafeInteger(position)) {
      throw kmsError(
        'InvalidMarkerException',
        `The marker ${marker} is not valid; pass the NextMarker of the previous page.`,
      );
    }
    start = Math.min(position, items.length);
    const last = cut < 0 ? undefined : text.slice(cut + 1);
    if (last !== undefined && identify !== undefined) {
      const previous = items[start - 1];
      if (previous === undefined || identify(previous) !== last) {
        const found = items.findIndex((item) => identify(item) === last);
        if (found >= 0) start = found + 1;
        else if (sortedBy(items, identify)) {
          // Gone itself: resume at the first item after it in the list's order.
          const after = items.findIndex((item) => identify(item) > last);
          start = after < 0 ? items.length : after;
        } else start = Math.max(0, Math.min(position - 1, items.length));
      }
    }
  }
  const end = Math.min(items.length, start + limit);
  const result: Record<string, unknown> = {
    [member]: items.slice(start, end).map(shape),
    Truncated: end < items.length,
  };
  if (end < items.length) {
    const text = identify === undefined ? String(end) : `${end}\n${identify(items[end - 1]!)}`;
    result.NextMarker = Buffer.from(text).toString('base64url');
  }
  return result;
}

function sortedBy<T>(items: T[], identify: (item: T) => string): boolean {
  for (let i = 1; i < items.length; i++) {
    if (identify(items[i - 1]!) >= identify(items[i]!)) return false;
  }
  return true;
}

/**
 * Check a key policy before it is attached: its size, its grammar, that
 * every AWS principal it names exists, and (unless bypassed) that it still
 * lets the caller change the policy later. Returns the unique ids of the
 * users and roles it names, to store with it.
 */
async function checkNewPolicy(
  core: KmsCore,
  context: RequestContext,
  policy: string,
  bypassLockoutCheck: boolean,
  key: KeyRecord,
): Promise<PrincipalIds | undefined> {
  if (Buffer.byteLength(policy, 'utf8') > MAX_POLICY_BYTES) {
    throw limitExceeded(
      `The key policy is ${Buffer.byteLength(policy, 'utf8')} bytes; a key policy may hold at most ${MAX_POLICY_BYTES} bytes.`,
    );
  }
  const parsed = core.parseKeyPolicy(policy);
  const principalIds = await core.identity.principalIds(parsed, (entry) =>
    malformedPolicy(
      `Policy contains a statement with one or more invalid principals: ${entry} does not exist.`,
    ),
  );
  if (bypassLockoutCheck) return principalIds;

  try {
    await core.authorize(context, withPolicy(key, policy, principalIds), 'kms:PutKeyPolicy');
    return principalIds;
  } catch {
    // As in AWS, a statement without Action or Resource is accepted but has
    // no effect. It is the likely cause here, so the message names it.
    const inert = parsed.statements
      .map((statement, i) => {
        const missing = [
          statement.action === undefined && statement.notAction === undefined ? 'Action' : '',
          statement.resource === undefined && statement.notResource === undefined ? 'Resource' : '',
        ].filter((name) => name !== '');
        const name = statement.sid === undefined ? `${i + 1}` : `${i + 1} (${statement.sid})`;
        return missing.length === 0 ? '' : `statement ${name} has no ${missing.join(' or ')}`;
      })
      .filter((text) => text !== '');
    throw malformedPolicy(
      'The new key policy will not allow you to update the key policy in the future.' +
        (inert.length === 0
          ? ''
          : ` Note: ${inert.join('; ')}, so it has no effect; add "Resource": "*" and the actions.`),
    );
  }
}

/** Copy a key record with another policy and that policy's principal ids. */
function withPolicy(
  key: KeyRecord,
  policy: string,
  principalIds: PrincipalIds | undefined,
): KeyRecord {
  const copy: KeyRecord = { ...key, policy };
  setPrincipalIds(copy, principalIds);
  return copy;
}

function setPrincipalIds(key: KeyRecord, principalIds: PrincipalIds | undefined): void {
  if (principalIds === undefined) delete key.principalIds;
  else key.principalIds = principalIds;
}

function readTags(input: InputReader, required: boolean): Tag[] | undefined {
  const list = input.list('Tags', { required });
  if (!list) return undefined;
  const tags: Tag[] = [];
  list.forEach((item, index) => {
    const path = `tags.${index + 1}.member`;
    const tag = item as Partial<Tag> | null;
    if (
      typeof tag !== 'object' ||
      tag === null ||
      typeof tag.TagKey !== 'string' ||
      typeof tag.TagValue !== 'string'
    ) {
      throw kmsError(
        'SerializationException',
        `Member '${path}' must be an object with string TagKey and TagValue.`,
      );
    }
    input.checkString(`${path}.tagKey`, tag.TagKey, { min: 1, max: 128 });
    input.checkString(`${path}.tagValue`, tag.TagValue, { min: 0, max: 256 });
    tags.push({ TagKey: tag.TagKey, TagValue: tag.TagValue });
  });
  return tags;
}

function checkTagRules(tags: Tag[]): void {
  const keys = new Set<string>();
  for (const tag of tags) {
    if (tag.TagKey.toLowerCase().startsWith('aws:'))
      throw tagError('Tags beginning with aws: are reserved');
    if (keys.has(tag.TagKey)) throw tagError('Duplicate tag keys');
    keys.add(tag.TagKey);
  }
}

function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  const merged = new Map(existing.map((tag) => [tag.TagKey, tag.TagValue]));
  for (const tag of added) merged.set(tag.TagKey, tag.TagValue);
  if (merged.size > MAX_TAGS) throw tagError('Too many tags');
  return [...merged].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
}

export const createKey: Operation = async (core, input, context) => {
  const policyText = input.string('Policy', { ...POLICY_RULES, required: false });
  const description = input.string('Description', { min: 0, max: 8192 }) ?? '';
  const keyUsage = input.string('KeyUsage', {
    values: ['SIGN_VERIFY', 'ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'],
  });
  const specValues = [
    'RSA_2048',
    'RSA_3072',
    'RSA_4096',
    'ECC_NIST_P256',
    'ECC_NIST_P384',
    'ECC_NIST_P521',
    'ECC_SECG_P256K1',
    'SYMMETRIC_DEFAULT',
    'HMAC_224',
    'HMAC_256',
    'HMAC_384',
    'HMAC_512',
    'SM2',
    'ML_DSA_44',
    'ML_DSA_65',
    'ML_DSA_87',
    'ECC_NIST_EDWARDS25519',
  ];
  const keySpec =
    input.string('KeySpec', { values: specValues }) ??
    input.string('CustomerMasterKeySpec', { values: specValues });
  const origin = input.string('Origin', {
    values: ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'],
  });
  const customKeyStoreId = input.string('CustomKeyStoreId', { min: 1, max: 64 });
  const bypass = input.boolean('BypassPolicyLockoutSafetyCheck') ?? false;
  const multiRegion = input.boolean('MultiRegion') ?? false;
  const tags = readTags(input, false) ?? [];
  input.finish();

  if (keySpec !== undefined && keySpec !== 'SYMMETRIC_DEFAULT') {
    if (keyUsage === undefined) {
      throw kmsError(
        'ValidationException',
        'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.',
      );
    }
    throw unsupported(
      `KeySpec ${keySpec} is not supported; Vellum creates SYMMETRIC_DEFAULT keys only.`,
    );
  }
  if (keyUsage !== undefined && keyUsage !== 'ENCRYPT_DECRYPT') {
    throw unsupported(`KeyUsage ${keyUsage} is not supported; symmetric keys use ENCRYPT_DECRYPT.`);
  }
  if (origin !== undefined && origin !== 'AWS_KMS')
    throw unsupported(`Origin ${origin} is not supported; use AWS_KMS.`);
  if (customKeyStoreId !== undefined)
    throw unsupported('Custom key stores are not supported; omit CustomKeyStoreId.');
  if (multiRegion)
    throw unsupported('Multi-Region keys are not supported; omit MultiRegion or set it to false.');
  checkTagRules(tags);
  if (tags.length > MAX_TAGS) throw tagError('Too many tags');
  await core.authorizeIdentityOnly(context, 'kms:CreateKey', '*', requestTagKeys(tags));

  const keyId = core.newKeyId();
  const key: KeyRecord = {
    keyId,
    region: context.region,
    accountId: core.accountId,
    createdAt: core.now(),
    description,
    state: 'Enabled',
    policy: policyText ?? defaultKeyPolicy(core.accountId),
    tags,
    rotation: { enabled: false, periodDays: 365 },
    onDemandRotations: 0,
    materials: [core.newMaterial(keyId, 1)],
  };
  if (policyText !== undefined) {
    setPrincipalIds(key, await checkNewPolicy(core, context, policyText, bypass, key));
  }
  await core.createKeyRecord(key);
  core.logger.info({ keyId, requestId: context.requestId }, 'KMS key created');
  return { KeyMetadata: keyMetadata(key) };
};

export const describeKey: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const grantTokens = input.stringList('GrantTokens', { max: 10 });
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: true });
  await core.authorize(context, key, 'kms:DescribeKey', {
    grantTokens,
    grantOperation: 'DescribeKey',
  });
  return { KeyMetadata: keyMetadata(key) };
};

export const listKeys: Operation = async (core, input, context) => {
  await core.authorizeIdentityOnly(context, 'kms:ListKeys');
  const keys = (await core.listKeys()).filter((key) => key.region === context.region);
  return page(input, keys, 'Keys', (key) => ({ KeyId: key.keyId, KeyArn: keyArn(key) }), {
    defaultLimit: 100,
    maxLimit: 1000,
    identify: (key) => key.keyId,
  });
};

export const updateKeyDescription: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const description = input.string('Description', { required: true, min: 0, max: 8192 });
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:UpdateKeyDescription');
  await core.updateKey(key.keyId, (current) => {
    core.requireNotPendingDeletion(current);
    current.description = description!;
  });
  return {};
};

export const enableKey: Operation = async (core, input, context) => {
  const key = await keyFrom(core, input, context, 'EnableKey');
  await core.authorize(context, key, 'kms:EnableKey');
  await core.updateKey(key.keyId, (current) => {
    core.requireNotPendingDeletion(current);
    current.state = 'Enabled';
  });
  core.logger.info({ keyId: key.keyId, requestId: context.requestId }, 'KMS key enabled');
  return {};
};

export const disableKey: Operation = async (core, input, context) => {
  const key = await keyFrom(core, input, context, 'DisableKey');
  await core.authorize(context, key, 'kms:DisableKey');
  await core.updateKey(key.keyId, (current) => {
    core.requireNotPendingDeletion(current);
    current.state = 'Disabled';
  });
  core.logger.info({ keyId: key.keyId, requestId: context.requestId }, 'KMS key disabled');
  return {};
};

export const scheduleKeyDeletion: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const days = input.integer('PendingWindowInDays', { min: 1, max: 365 }) ?? 30;
  if (days < 7 || days > 30) {
    input.problem(
      `Value '${days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value ${days < 7 ? 'greater than or equal to 7' : 'less than or equal to 30'}`,
    );
  }
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:ScheduleKeyDeletion');
  const updated = await core.updateKey(key.keyId, (current) => {
    if (current.state === 'PendingDeletion') throw pendingDeletion(keyArn(current));
    current.state = 'PendingDeletion';
    current.pendingWindowDays = days;
    current.deletionDate = core.now() + days * core.dayLength;
  });
  core.logger.info(
    { keyId: key.keyId, deletionDate: updated.deletionDate, requestId: context.requestId },
    'KMS key scheduled for deletion',
  );
  return {
    KeyId: keyArn(updated),
    DeletionDate: seconds(updated.deletionDate!),
    KeyState: 'PendingDeletion',
    PendingWindowInDays: days,
  };
};

export const cancelKeyDeletion: Operation = async (core, input, context) => {
  const key = await keyFrom(core, input, context, 'CancelKeyDeletion');
  await core.authorize(context, key, 'kms:CancelKeyDeletion');
  await core.updateKey(key.keyId, (current) => {
    if (current.state !== 'PendingDeletion') throw notPendingDeletion(keyArn(current));
    current.state = 'Disabled';
    delete current.deletionDate;
    delete current.pendingWindowDays;
  });
  core.logger.info(
    { keyId: key.keyId, requestId: context.requestId },
    'KMS key deletion cancelled; the key is disabled',
  );
  return { KeyId: keyArn(key) };
};

function readPolicyName(input: InputReader): void {
  const name = input.string('PolicyName', { min: 1, max: 128, pattern: /^[\w]+$/ });
  input.finish();
  if (name !== undefined && name !== 'default')
    throw notFound(`Policy '${name}' does not exist; the only key policy name is default`);
}

export const getKeyPolicy: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  readPolicyName(input);
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:GetKeyPolicy');
  const policy = await core.identity.showPolicy(key.policy, key.principalIds);
  return { Policy: policy, PolicyName: 'default' };
};

export const putKeyPolicy: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const policy = input.string('Policy', POLICY_RULES);
  const bypass = input.boolean('BypassPolicyLockoutSafetyCheck') ?? false;
  readPolicyName(input);
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:PutKeyPolicy');
  const principalIds = await checkNewPolicy(core, context, policy!, bypass, key);
  await core.updateKey(key.keyId, (current) => {
    current.policy = policy!;
    setPrincipalIds(current, principalIds);
  });
  core.logger.info({ keyId: key.keyId, requestId: context.requestId }, 'KMS key policy replaced');
  return {};
};

export const listKeyPolicies: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:ListKeyPolicies');
  return page(input, ['default'], 'PolicyNames', (name) => name, {
    defaultLimit: 100,
    maxLimit: 1000,
  });
};

export const tagResource: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const tags = readTags(input, true);
  input.finish();
  checkTagRules(tags!);
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:TagResource', {
    extraConditionKeys: requestTagKeys(tags!),
  });
  await core.updateKey(key.keyId, (current) => {
    core.requireNotPendingDeletion(current);
    current.tags = mergeTags(current.tags, tags!);
  });
  return {};
};

export const untagResource: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const tagKeys = input.stringList('TagKeys', { required: true, member: { min: 1, max: 128 } });
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:UntagResource', {
    extraConditionKeys: { 'aws:TagKeys': tagKeys! },
  });
  await core.updateKey(key.keyId, (current) => {
    core.requireNotPendingDeletion(current);
    current.tags = current.tags.filter((tag) => !tagKeys!.includes(tag.TagKey));
  });
  return {};
};

export const listResourceTags: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:ListResourceTags');
  return page(input, key.tags, 'Tags', (tag) => tag, {
    defaultLimit: 50,
    maxLimit: 50,
    identify: (tag) => tag.TagKey,
  });
};

/** Raise the errors of the rotation operations for a disabled or pending-deletion key. */
function requireRotatable(key: KeyRecord): void {
  if (key.state === 'Disabled') throw disabled(keyArn(key));
  if (key.state === 'PendingDeletion') throw pendingDeletion(keyArn(key));
}

export const enableKeyRotation: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const period = input.integer('RotationPeriodInDays', { min: 90, max: 2560 }) ?? 365;
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:EnableKeyRotation', {
    extraConditionKeys: { 'kms:RotationPeriodInDays': String(period) },
  });
  await core.updateKey(key.keyId, (current) => {
    requireRotatable(current);
    // Turned on, the first rotation comes one period later. Already on, a
    // new period counts from the last rotation (due at once if that is past).
    const lastMaterialAt = current.materials[current.materials.length - 1]!.createdAt;
    const from = current.rotation.enabled ? lastMaterialAt : core.now();
    current.rotation = {
      enabled: true,
      periodDays: period,
      nextRotationAt: Math.max(core.now(), from + period * core.dayLength),
    };
  });
  return {};
};

export const disableKeyRotation: Operation = async (core, input, context) => {
  const key = await keyFrom(core, input, context, 'DisableKeyRotation');
  await core.authorize(context, key, 'kms:DisableKeyRotation');
  await core.updateKey(key.keyId, (current) => {
    requireRotatable(current);
    current.rotation = { enabled: false, periodDays: current.rotation.periodDays };
  });
  return {};
};

export const getKeyRotationStatus: Operation = async (core, input, context) => {
  const key = await keyFrom(core, input, context, 'GetKeyRotationStatus');
  await core.authorize(context, key, 'kms:GetKeyRotationStatus');
  const enabled = key.rotation.enabled && key.state !== 'PendingDeletion';
  const result: Record<string, unknown> = { KeyRotationEnabled: enabled, KeyId: keyArn(key) };
  if (enabled) {
    result.RotationPeriodInDays = key.rotation.periodDays;
    result.NextRotationDate = seconds(key.rotation.nextRotationAt!);
  }
  return result;
};

export const rotateKeyOnDemand: Operation = async (core, input, context) => {
  const key = await keyFrom(core, input, context, 'RotateKeyOnDemand');
  await core.authorize(context, key, 'kms:RotateKeyOnDemand');
  await core.updateKey(key.keyId, (current) => {
    requireRotatable(current);
    if (current.onDemandRotations >= MAX_ON_DEMAND_ROTATIONS) {
      throw limitExceeded(
        `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${keyArn(current)}`,
      );
    }
    current.onDemandRotations += 1;
    current.materials.push(
      core.newMaterial(current.keyId, current.materials.length + 1, 'ON_DEMAND'),
    );
  });
  core.logger.info({ keyId: key.keyId, requestId: context.requestId }, 'KMS key rotated on demand');
  return { KeyId: key.keyId };
};

export const listKeyRotations: Operation = async (core, input, context) => {
  const keyId = readKeyId(input);
  const include =
    input.string('IncludeKeyMaterial', { values: ['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY'] }) ??
    'ROTATIONS_ONLY';
  input.finish();
  const key = await core.resolveKey(keyId, context, { aliases: false });
  await core.authorize(context, key, 'kms:ListKeyRotations');
  const current = key.materials[key.materials.length - 1]!;
  const materials =
    include === 'ALL_KEY_MATERIAL'
      ? key.materials
      : key.materials.filter((material) => material.rotationType);
  return page(
    input,
    materials,
    'Rotations',
    (material) => {
      const entry: Record<string, unknown> = {
        KeyId: key.keyId,
        KeyMaterialId: material.id,
        KeyMaterialState: material === current ? 'CURRENT' : 'NON_CURRENT',
      };
      // The first material has no rotation, so AWS leaves out RotationDate and RotationType.
      if (material.rotationType) {
        entry.RotationDate = seconds(material.createdAt);
        entry.RotationType = material.rotationType;
      }
      return entry;
    },
    { defaultLimit: 100, maxLimit: 1000, identify: (material) => material.id },
  );
};
