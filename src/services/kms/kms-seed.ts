/**
 * Loading KMS keys and aliases from a YAML seed file at start-up. A key is
 * identified by its `keyId` or, without one, by its first alias: when that
 * key (or alias) exists already, the entry is skipped, so a seed never
 * overwrites a key. The format is documented in docs/kms.md.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { defaultKeyPolicy, type KeyRecord } from './key-records.js';
import type { KmsCore } from './kms-core.js';
import { ownedKeyIds } from './owned-keys.js';

interface SeedKey {
  keyId?: string;
  aliases: string[];
  description: string;
  policy?: string;
  enableKeyRotation: boolean;
  rotationPeriodInDays: number;
  enabled: boolean;
  tags: Array<{ TagKey: string; TagValue: string }>;
}

/** Raised for a seed file that cannot be read or does not follow the format; the message names the entry. */
export class SeedFileError extends Error {
  constructor(path: string, message: string) {
    super(`KMS seed file ${path}: ${message}`);
    this.name = 'SeedFileError';
  }
}

export async function loadSeedFile(core: KmsCore, path: string, region: string): Promise<void> {
  const entries = parseSeed(path, readFileSync(path, 'utf8'));
  const owned = await ownedKeyIds(core);
  entries.forEach((entry, index) => {
    if (entry.keyId !== undefined && owned.has(entry.keyId)) {
      throw new SeedFileError(
        path,
        `keys[${index}].keyId ${entry.keyId} is the id of a Vellum-owned key; choose another id or leave keyId out`,
      );
    }
  });
  for (const [index, entry] of entries.entries()) {
    const unknownPrincipal = (principal: string) =>
      new SeedFileError(
        path,
        `keys[${index}].policy names ${principal}, which does not exist; create it before the key is seeded`,
      );
    await seedKey(core, entry, region, unknownPrincipal);
  }
}

/** Parse and check a seed document; exported for tests. */
export function parseSeed(path: string, text: string): SeedKey[] {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new SeedFileError(path, `invalid YAML: ${(error as Error).message}`);
  }
  const list = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new SeedFileError(path, 'expected a top-level "keys" list');

  return list.map((raw: unknown, index) => {
    const where = `keys[${index}]`;
    if (typeof raw !== 'object' || raw === null)
      throw new SeedFileError(path, `${where} must be a mapping`);
    const item = raw as Record<string, unknown>;
    const aliases = item.aliases ?? (item.alias !== undefined ? [item.alias] : []);
    if (
      !Array.isArray(aliases) ||
      aliases.some(
        (alias) =>
          typeof alias !== 'string' ||
          !/^alias\/[a-zA-Z0-9:/_-]+$/.test(alias) ||
          alias.startsWith('alias/aws/'),
      )
    ) {
      throw new SeedFileError(
        path,
        `${where}.aliases must be alias names such as alias/ledger (not alias/aws/...)`,
      );
    }
    if (
      item.keyId !== undefined &&
      (typeof item.keyId !== 'string' ||
        !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(item.keyId))
    ) {
      throw new SeedFileError(path, `${where}.keyId must be a lower-case UUID`);
    }
    if (item.keyId === undefined && aliases.length === 0) {
      throw new SeedFileError(
        path,
        `${where} needs a keyId or an alias, so that a restart recognises the key`,
      );
    }
    const period = item.rotationPeriodInDays ?? 365;
    if (typeof period !== 'number' || !Number.isInteger(period) || period < 90 || period > 2560) {
      throw new SeedFileError(
        path,
        `${where}.rotationPeriodInDays must be an integer from 90 to 2560`,
      );
    }
    const tags = item.tags ?? {};
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) {
      throw new SeedFileError(path, `${where}.tags must be a mapping of tag keys to values`);
    }
    const policy = item.policy;
    if (
      policy !== undefined &&
      typeof policy !== 'string' &&
      (typeof policy !== 'object' || policy === null)
    ) {
      throw new SeedFileError(path, `${where}.policy must be a JSON string or a mapping`);
    }

    const seed: SeedKey = {
      aliases: aliases as string[],
      description: typeof item.description === 'string' ? item.description : '',
      enableKeyRotation: item.enableKeyRotation === true,
      rotationPeriodInDays: period,
      enabled: item.enabled !== false,
      tags: Object.entries(tags).map(([TagKey, TagValue]) => ({
        TagKey,
        TagValue: String(TagValue),
      })),
    };
    if (typeof item.keyId === 'string') seed.keyId = item.keyId;
    if (policy !== undefined)
      seed.policy = typeof policy === 'string' ? policy : JSON.stringify(policy);
    return seed;
  });
}

/**
 * Create a seed entry's key and aliases. Like PutKeyPolicy, the policy
 * records the ids of the users and roles it names. For a principal that
 * does not exist, the error from `unknownPrincipal` is raised.
 */
async function seedKey(
  core: KmsCore,
  seed: SeedKey,
  region: string,
  unknownPrincipal: (entry: string) => Error,
): Promise<void> {
  if (seed.keyId !== undefined && (await core.getKey(seed.keyId))) return;
  if (seed.keyId === undefined && (await core.getAlias(region, seed.aliases[0]!))) return;

  const policy = seed.policy ?? defaultKeyPolicy(core.accountId);
  const principalIds = await core.identity.principalIds(
    core.parseKeyPolicy(policy),
    unknownPrincipal,
  );
  const keyId = seed.keyId ?? core.newKeyId();
  const now = core.now();
  const key: KeyRecord = {
    keyId,
    region,
    accountId: core.accountId,
    createdAt: now,
    description: seed.description,
    state: seed.enabled ? 'Enabled' : 'Disabled',
    policy,
    tags: seed.tags,
    rotation: seed.enableKeyRotation
      ? {
          enabled: true,
          periodDays: seed.rotationPeriodInDays,
          nextRotationAt: now + seed.rotationPeriodInDays * core.dayLength,
        }
      : { enabled: false, periodDays: seed.rotationPeriodInDays },
    onDemandRotations: 0,
    materials: [core.newMaterial(keyId, 1)],
  };
  if (principalIds !== undefined) key.principalIds = principalIds;
  await core.createKeyRecord(key);
  for (const aliasName of seed.aliases) {
    if (await core.getAlias(region, aliasName)) continue;
    await core.putAliasRecord(
      { aliasName, region, targetKeyId: keyId, createdAt: now, updatedAt: now },
      true,
    );
  }
  core.logger.info({ keyId, aliases: seed.aliases }, 'KMS key created from the seed file');
}
