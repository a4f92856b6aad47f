/**
 * The KMS state records and their response shapes. Records are JSON in the
 * store's state records: `kms.key/<key id>`, `kms.alias/<region>/<alias
 * name>`, `kms.grant/<key id>/<grant id>`, and `kms.owned/<service>` for
 * the keys Vellum owns (see owned-keys.ts). Key material is sealed under
 * the root key; times are epoch milliseconds.
 */
import type { PrincipalIds } from '../iam/principal-ids.js';

export const NS = {
  key: 'kms.key',
  alias: 'kms.alias',
  grant: 'kms.grant',
  meta: 'kms.meta',
  owned: 'kms.owned',
} as const;

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface MaterialRecord {
  /** 1 for the key's first material, one more at each rotation. */
  version: number;
  /** 64 hex digits, as `KeyMaterialId` in responses. */
  id: string;
  createdAt: number;
  /** Base64 of the 32-byte AES key sealed under the root key. */
  sealed: string;
  /** The rotation that added the material; absent for the first material. */
  rotationType?: 'AUTOMATIC' | 'ON_DEMAND';
}

export interface Tag {
  TagKey: string;
  TagValue: string;
}

export interface KeyRecord {
  keyId: string;
  region: string;
  accountId: string;
  createdAt: number;
  description: string;
  state: KeyState;
  /** When a key pending deletion is deleted. */
  deletionDate?: number;
  pendingWindowDays?: number;
  /** The key policy, byte for byte as given. */
  policy: string;
  /**
   * The unique ids of the users and roles the key policy names, recorded
   * when it was stored. Absent when it names none, and on keys stored
   * before ids were recorded, whose policies match by ARN.
   */
  principalIds?: PrincipalIds;
  tags: Tag[];
  rotation: { enabled: boolean; periodDays: number; nextRotationAt?: number };
  onDemandRotations: number;
  /** Every material version, oldest first; the last is current. */
  materials: MaterialRecord[];
}

export interface AliasRecord {
  aliasName: string;
  region: string;
  targetKeyId: string;
  createdAt: number;
  updatedAt: number;
}

export interface GrantRecord {
  grantId: string;
  keyId: string;
  name?: string;
  createdAt: number;
  granteePrincipal: string;
  retiringPrincipal?: string;
  /**
   * The unique ids of the grantee and retiring principals when they are
   * users or roles of this account, so that a principal deleted and created
   * again under the same name does not inherit the grant.
   */
  principalIds?: PrincipalIds;
  issuingAccount: string;
  operations: string[];
  constraints?: {
    EncryptionContextSubset?: Record<string, string>;
    EncryptionContextEquals?: Record<string, string>;
  };
}

export function keyArn(key: Pick<KeyRecord, 'region' | 'accountId' | 'keyId'>): string {
  return `arn:aws:kms:${key.region}:${key.accountId}:key/${key.keyId}`;
}

export function aliasArn(region: string, accountId: string, aliasName: string): string {
  return `arn:aws:kms:${region}:${accountId}:${aliasName}`;
}

/**
 * Build the policy a key gets when CreateKey has no Policy. It lets the
 * account's root do everything, which delegates to IAM policies.
 */
export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}

/** Epoch milliseconds as the epoch seconds KMS responses carry. */
export function seconds(milliseconds: number): number {
  return milliseconds / 1000;
}

/** `KeyMetadata` as CreateKey and DescribeKey return it. */
export function keyMetadata(key: KeyRecord): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: keyArn(key),
    CreationDate: seconds(key.createdAt),
    Enabled: key.state === 'Enabled',
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: key.state,
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
    CurrentKeyMaterialId: key.materials[key.materials.length - 1]!.id,
  };
  if (key.state === 'PendingDeletion') {
    metadata.DeletionDate = seconds(key.deletionDate!);
    metadata.PendingDeletionWindowInDays = key.pendingWindowDays;
  }
  return metadata;
}

export function encodeRecord(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function decodeRecord<T>(value: Uint8Array): T {
  return JSON.parse(Buffer.from(value).toString('utf8')) as T;
}
