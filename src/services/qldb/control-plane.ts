import { IonTypes, dom, dumpText, loadAll } from 'ion-js';
import type { Engine, LedgerDescription, LedgerKeyStatus } from '../../engine/engine.js';
import { LedgerError } from '../../engine/errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { ServiceError, type Principal, type RequestContext } from '../types.js';
import type { QldbAuthorizer } from './session-service.js';

/** A decoded REST-JSON request: path parameters, query string and JSON body. */
export interface RestRequest {
  params: Record<string, string>;
  query: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
}

/** One operation of the control plane, bound to its method and path. */
export interface RestRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path with `:name` parameters, such as `/ledgers/:name`. */
  path: string;
  operation: string;
  handle(request: RestRequest, context: RequestContext): Promise<Record<string, unknown>>;
}

export interface ControlPlaneOptions {
  engine: Engine;
  accountId: string;
  region: string;
  authorizer?: QldbAuthorizer;
  /** Customer managed keys for ledgers; without it, ledgers use the Vellum-owned key only. */
  keys?: LedgerKeys;
}

/** The part of the ledger key service that the control plane uses. */
export interface LedgerKeys {
  prepareLedger(
    ledgerName: string,
    kmsKey: string | undefined,
    caller: RequestContext,
  ): Promise<void>;
  dropLedger(ledgerName: string): Promise<void>;
  changeKey(ledgerName: string, kmsKey: string, caller: RequestContext): Promise<void>;
  encryptionDescription(ledgerName: string): Promise<Record<string, unknown> | undefined>;
  keyArnOf(ledgerName: string): string | undefined;
  /**
   * Throw the error to send when the ledger's key cannot be used now, or,
   * given a principal, may not be used by that principal.
   */
  check?(ledgerName: string, principal?: Principal): Promise<void>;
}

const LEDGER_NAME_PATTERN = /^(?!.*--)(?![0-9]+$)(?!-)(?!.*-$)[A-Za-z0-9-]{1,32}$/;
const DOCUMENT_ID_PATTERN = /^[A-Za-z0-9]{22}$/;
const MAX_TAGS = 50;

/** Build a QLDB control-plane error with the extra members its shape carries. */
export function qldbError(
  code: string,
  message: string,
  fields: Record<string, string> = {},
): ServiceError {
  const status =
    {
      ResourceNotFoundException: 404,
      ResourceAlreadyExistsException: 409,
      ResourceInUseException: 409,
      ResourcePreconditionNotMetException: 412,
      AccessDeniedException: 403,
    }[code] ?? 400;
  return new ServiceError(code, message, status, fields);
}

function invalid(parameter: string, message: string): ServiceError {
  return qldbError('InvalidParameterException', message, { ParameterName: parameter });
}

/** Map an engine error to its control-plane shape. */
function controlPlaneError(error: unknown, ledgerName?: string): unknown {
  if (!(error instanceof LedgerError)) return error;
  const resource: Record<string, string> =
    ledgerName === undefined ? {} : { ResourceType: 'LEDGER', ResourceName: ledgerName };
  switch (error.code) {
    case 'ResourceNotFoundException':
    case 'ResourceAlreadyExistsException':
    case 'ResourceInUseException':
    case 'ResourcePreconditionNotMetException':
      return qldbError(error.code, error.message, resource);
    case 'InvalidParameterException':
      return qldbError(error.code, error.message);
    default:
      return new ServiceError(
        error.code,
        error.message,
        error.code === 'CapacityExceededException' ? 503 : 400,
      );
  }
}

function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * The QLDB control plane (REST-JSON) over the engine: ledgers, their
 * settings and tags, digests, and blocks and revisions with proofs as Ion text.
 */
export class ControlPlaneService {
  readonly #engine: Engine;
  readonly #options: ControlPlaneOptions;
  /** The CreateLedger calls queued by ledger name. */
  readonly #creating = new KeyedQueue();

  constructor(options: ControlPlaneOptions) {
    this.#engine = options.engine;
    this.#options = options;
  }

  ledgerArn(name: string): string {
    return `arn:aws:qldb:${this.#options.region}:${this.#options.accountId}:ledger/${name}`;
  }

  routes(): RestRoute[] {
    const route = (
      method: RestRoute['method'],
      path: string,
      operation: string,
      handle: (request: RestRequest, context: RequestContext) => Promise<Record<string, unknown>>,
    ): RestRoute => ({ method, path, operation, handle });
    return [
      route('POST', '/ledgers', 'CreateLedger', (r, c) => this.createLedger(r, c)),
      route('GET', '/ledgers', 'ListLedgers', (r, c) => this.listLedgers(r, c)),
      route('GET', '/ledgers/:name', 'DescribeLedger', (r, c) => this.describeLedger(r, c)),
      route('PATCH', '/ledgers/:name', 'UpdateLedger', (r, c) => this.updateLedger(r, c)),
      route('DELETE', '/ledgers/:name', 'DeleteLedger', (r, c) => this.deleteLedger(r, c)),
      route('PATCH', '/ledgers/:name/permissions-mode', 'UpdateLedgerPermissionsMode', (r, c) =>
        this.updatePermissionsMode(r, c),
      ),
      route('POST', '/ledgers/:name/digest', 'GetDigest', (r, c) => this.getDigest(r, c)),
      route('POST', '/ledgers/:name/block', 'GetBlock', (r, c) => this.getBlock(r, c)),
      route('POST', '/ledgers/:name/revision', 'GetRevision', (r, c) => this.getRevision(r, c)),
      // Vellum extensions: data key rotation, which QLDB does not offer.
      route('POST', '/ledgers/:name/rekey', 'RekeyLedger', (r, c) => this.rekeyLedger(r, c)),
      route('GET', '/ledgers/:name/rekey', 'DescribeLedgerRekey', (r, c) =>
        this.describeLedgerRekey(r, c),
      ),
      route('POST', '/tags/:resourceArn', 'TagResource', (r, c) => this.tagResource(r, c)),
      route('DELETE', '/tags/:resourceArn', 'UntagResource', (r, c) => this.untagResource(r, c)),
      route('GET', '/tags/:resourceArn', 'ListTagsForResource', (r, c) => this.listTags(r, c)),
    ];
  }

  async #authorize(principal: Principal, action: string, resource: string): Promise<void> {
    const authorizer = this.#options.authorizer;
    if (authorizer === undefined) return;
    if (!(await authorizer.isAllowed(principal, action, resource))) {
      throw qldbError(
        'AccessDeniedException',
        `User: ${principal.arn} is not authorized to perform: ${action} on resource: ${resource}`,
      );
    }
  }

  /**
   * Reject a journal read as a session read is rejected: while the ledger's
   * KMS key is inaccessible, or, given the caller, when the caller may not use
   * the ledger's customer managed key to decrypt.
   */
  async #checkKey(name: string, principal?: Principal): Promise<void> {
    try {
      await this.#options.keys?.check?.(name, principal);
    } catch (error) {
      // The REST protocol sends an access error with status 403.
      if (error instanceof ServiceError && error.code === 'AccessDeniedException') {
        throw qldbError(error.code, error.message);
      }
      throw error;
    }
  }

  #name(request: RestRequest): string {
    const name = request.params.name ?? '';
    if (!LEDGER_NAME_PATTERN.test(name)) {
      throw invalid(
        'Name',
        `Invalid ledger name ${JSON.stringify(name)}: use 1 to 32 letters, digits and hyphens, not all digits, with no leading, trailing or double hyphen`,
      );
    }
    return name;
  }

  async #describe(name: string): Promise<LedgerDescription> {
    try {
      return await this.#engine.describeLedger(name);
    } catch (error) {
      throw controlPlaneError(error, name);
    }
  }

  async #encryption(name: string): Promise<Record<string, unknown> | undefined> {
    return this.#options.keys?.encryptionDescription(name);
  }

  #checkKmsKey(value: unknown): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.length === 0 || value.length > 1600) {
      throw invalid(
        'KmsKey',
        'KmsKey must be AWS_OWNED_KMS_KEY or a key id, key ARN, alias name or alias ARN',
      );
    }
    if (value !== 'AWS_OWNED_KMS_KEY' && this.#options.keys === undefined) {
      throw invalid(
        'KmsKey',
        'This server has no KMS for customer managed keys; use AWS_OWNED_KMS_KEY or leave KmsKey out',
      );
    }
    return value;
  }

  async createLedger(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const body = request.body ?? {};
    const name = body.Name;
    if (typeof name !== 'string' || !LEDGER_NAME_PATTERN.test(name)) {
      throw invalid(
        'Name',
        `Invalid ledger name ${JSON.stringify(name)}: use 1 to 32 letters, digits and hyphens, not all digits, with no leading, trailing or double hyphen`,
      );
    }
    const mode = body.PermissionsMode;
    if (mode !== 'ALLOW_ALL' && mode !== 'STANDARD') {
      throw invalid(
        'PermissionsMode',
        `PermissionsMode must be ALLOW_ALL or STANDARD, got ${JSON.stringify(mode)}`,
      );
    }
    const deletionProtection =
      optionalBoolean(body.DeletionProtection, 'DeletionProtection') ?? true;
    const tags = validateTags(body.Tags ?? {}, 'Tags');
    const kmsKey = this.#checkKmsKey(body.KmsKey);
    await this.#authorize(context.principal, 'qldb:CreateLedger', this.ledgerArn(name));
    // Two creations of one name run one after the other, so that the second
    // finds the ledger and fails before its KmsKey replaces the first's.
    // Across servers sharing a store, the key service's first write of the
    // configuration decides instead (ResourceInUseException).
    return this.#creating.run(name, () =>
      this.#create(name, mode, deletionProtection, tags, kmsKey, context),
    );
  }

  async #create(
    name: string,
    mode: 'ALLOW_ALL' | 'STANDARD',
    deletionProtection: boolean,
    tags: Record<string, string>,
    kmsKey: string | undefined,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const keys = this.#options.keys;
    if (keys !== undefined) {
      const existing = await this.#engine.listLedgers();
      if (existing.some((ledger) => ledger.name === name)) {
        throw qldbError('ResourceAlreadyExistsException', `Ledger ${name} already exists`, {
          ResourceType: 'LEDGER',
          ResourceName: name,
        });
      }
      await keys.prepareLedger(name, kmsKey, context);
    }
    let created: LedgerDescription;
    try {
      created = await this.#engine.createLedger(name, {
        permissionsMode: mode,
        deletionProtection,
        tags,
      });
    } catch (error) {
      if (!(error instanceof LedgerError && error.code === 'ResourceAlreadyExistsException')) {
        await keys?.dropLedger(name);
      }
      throw controlPlaneError(error, name);
    }
    return {
      Name: created.name,
      Arn: this.ledgerArn(created.name),
      // QLDB replies to CreateLedger with CREATING, so callers poll DescribeLedger
      // until ACTIVE. A Vellum ledger is usable at once, and DescribeLedger
      // already reports ACTIVE.
      State: 'CREATING',
      CreationDateTime: epochSeconds(created.createdAt),
      PermissionsMode: created.permissionsMode,
      DeletionProtection: created.deletionProtection,
      KmsKeyArn: keys?.keyArnOf(name) ?? 'AWS_OWNED_KMS_KEY',
    };
  }

  async describeLedger(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:DescribeLedger', this.ledgerArn(name));
    const ledger = await this.#describe(name);
    const result: Record<string, unknown> = {
      Name: ledger.name,
      Arn: this.ledgerArn(ledger.name),
      State: ledger.state,
      CreationDateTime: epochSeconds(ledger.createdAt),
      PermissionsMode: ledger.permissionsMode,
      DeletionProtection: ledger.deletionProtection,
    };
    const encryption = await this.#encryption(name);
    if (encryption !== undefined) result.EncryptionDescription = encryption;
    return result;
  }

  async updateLedger(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    const body = request.body ?? {};
    const deletionProtection = optionalBoolean(body.DeletionProtection, 'DeletionProtection');
    const kmsKey = this.#checkKmsKey(body.KmsKey);
    await this.#authorize(context.principal, 'qldb:UpdateLedger', this.ledgerArn(name));
    await this.#describe(name);
    if (kmsKey !== undefined && this.#options.keys !== undefined) {
      await this.#options.keys.changeKey(name, kmsKey, context);
    }
    let ledger: LedgerDescription;
    try {
      ledger = await this.#engine.updateLedger(
        name,
        deletionProtection === undefined ? {} : { deletionProtection },
      );
    } catch (error) {
      throw controlPlaneError(error, name);
    }
    const result: Record<string, unknown> = {
      Name: ledger.name,
      Arn: this.ledgerArn(ledger.name),
      State: ledger.state,
      CreationDateTime: epochSeconds(ledger.createdAt),
      DeletionProtection: ledger.deletionProtection,
    };
    const encryption = await this.#encryption(name);
    if (encryption !== undefined) result.EncryptionDescription = encryption;
    return result;
  }

  async updatePermissionsMode(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    const mode = request.body?.PermissionsMode;
    if (mode !== 'ALLOW_ALL' && mode !== 'STANDARD') {
      throw invalid(
        'PermissionsMode',
        `PermissionsMode must be ALLOW_ALL or STANDARD, got ${JSON.stringify(mode)}`,
      );
    }
    await this.#authorize(
      context.principal,
      'qldb:UpdateLedgerPermissionsMode',
      this.ledgerArn(name),
    );
    await this.#describe(name);
    const ledger = await this.#engine.updateLedger(name, { permissionsMode: mode });
    return {
      Name: ledger.name,
      Arn: this.ledgerArn(ledger.name),
      PermissionsMode: ledger.permissionsMode,
    };
  }

  async deleteLedger(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:DeleteLedger', this.ledgerArn(name));
    try {
      await this.#engine.deleteLedger(name);
    } catch (error) {
      throw controlPlaneError(error, name);
    }
    await this.#options.keys?.dropLedger(name);
    return {};
  }

  async listLedgers(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    await this.#authorize(context.principal, 'qldb:ListLedgers', '*');
    const maxRaw = single(request.query.max_results);
    let max = 100;
    if (maxRaw !== undefined) {
      max = Number(maxRaw);
      if (!Number.isInteger(max) || max < 1 || max > 100) {
        throw invalid(
          'MaxResults',
          `MaxResults must be an integer from 1 to 100, got ${JSON.stringify(maxRaw)}`,
        );
      }
    }
    const token = single(request.query.next_token);
    const all = await this.#engine.listLedgers();
    let start = 0;
    if (token !== undefined) {
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      const match = /^ledgers-after:(.+)$/.exec(decoded);
      if (match === null)
        throw invalid(
          'NextToken',
          `Invalid NextToken ${JSON.stringify(token)}; pass the NextToken of the previous page`,
        );
      const after = match[1]!;
      start = all.findIndex((ledger) => ledger.name > after);
      if (start < 0) start = all.length;
    }
    const page = all.slice(start, start + max);
    const result: Record<string, unknown> = {
      Ledgers: page.map((ledger) => ({
        Name: ledger.name,
        State: ledger.state,
        CreationDateTime: epochSeconds(ledger.createdAt),
      })),
    };
    if (start + max < all.length) {
      result.NextToken = Buffer.from(`ledgers-after:${page.at(-1)!.name}`).toString('base64');
    }
    return result;
  }

  async getDigest(request: RestRequest, context: RequestContext): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:GetDigest', this.ledgerArn(name));
    await this.#describe(name);
    // A digest contains no document data, so the caller needs no kms:Decrypt.
    await this.#checkKey(name);
    const ledger = await this.#engine.ledger(name);
    const digest = await ledger.digest();
    return {
      Digest: Buffer.from(digest.digest).toString('base64'),
      DigestTipAddress: {
        IonText: addressText(digest.tipAddress.strandId, digest.tipAddress.sequenceNo),
      },
    };
  }

  async getBlock(request: RestRequest, context: RequestContext): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:GetBlock', this.ledgerArn(name));
    await this.#describe(name);
    await this.#checkKey(name, context.principal);
    const ledger = await this.#engine.ledger(name);
    const body = request.body ?? {};
    const address = parseAddress(body.BlockAddress, 'BlockAddress', ledger.id, ledger.tipSeq);
    const tip =
      body.DigestTipAddress === undefined
        ? undefined
        : parseAddress(body.DigestTipAddress, 'DigestTipAddress', ledger.id, ledger.tipSeq);
    try {
      const { block, proof } = await ledger.getBlock(address, tip);
      const result: Record<string, unknown> = { Block: { IonText: dumpText(block) } };
      if (proof !== undefined) result.Proof = { IonText: proofText(proof) };
      return result;
    } catch (error) {
      throw controlPlaneError(error, name);
    }
  }

  async getRevision(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:GetRevision', this.ledgerArn(name));
    await this.#describe(name);
    await this.#checkKey(name, context.principal);
    const ledger = await this.#engine.ledger(name);
    const body = request.body ?? {};
    const address = parseAddress(body.BlockAddress, 'BlockAddress', ledger.id, ledger.tipSeq);
    const documentId = body.DocumentId;
    if (typeof documentId !== 'string' || !DOCUMENT_ID_PATTERN.test(documentId)) {
      throw invalid(
        'DocumentId',
        `DocumentId must be 22 letters and digits, got ${JSON.stringify(documentId)}`,
      );
    }
    const tip =
      body.DigestTipAddress === undefined
        ? undefined
        : parseAddress(body.DigestTipAddress, 'DigestTipAddress', ledger.id, ledger.tipSeq);
    try {
      const { revision, proof } = await ledger.getRevision(address, documentId, tip);
      const result: Record<string, unknown> = { Revision: { IonText: dumpText(revision) } };
      if (proof !== undefined) result.Proof = { IonText: proofText(proof) };
      return result;
    } catch (error) {
      throw controlPlaneError(error, name);
    }
  }

  /**
   * RekeyLedger, a Vellum extension: give the ledger a new data key for
   * every write from now on, seal its stored data again under it in the
   * background, and delete the old data key when done. Needs
   * `qldb:RekeyLedger` on the ledger and, for a customer managed key, the
   * caller's `kms:Decrypt` on it. Responds with the rekey's status at once.
   */
  async rekeyLedger(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:RekeyLedger', this.ledgerArn(name));
    await this.#describe(name);
    const keys = this.#options.keys;
    if ((await keys?.encryptionDescription(name))?.EncryptionStatus === 'UPDATING') {
      throw qldbError(
        'ResourcePreconditionNotMetException',
        `The KMS key of ledger ${name} is being changed; rekey once its EncryptionStatus is ENABLED`,
        { ResourceType: 'LEDGER', ResourceName: name },
      );
    }
    // A ledger whose key is inaccessible refuses, with the error its sessions get.
    await keys?.check?.(name, context.principal);
    try {
      return this.#rekeyResult(await this.#engine.rekeyLedger(name));
    } catch (error) {
      throw controlPlaneError(error, name);
    }
  }

  /** DescribeLedgerRekey, a Vellum extension: the ledger's data key generation and its rekey's progress. */
  async describeLedgerRekey(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const name = this.#name(request);
    await this.#authorize(context.principal, 'qldb:DescribeLedgerRekey', this.ledgerArn(name));
    await this.#describe(name);
    try {
      return this.#rekeyResult(await this.#engine.rekeyStatus(name));
    } catch (error) {
      throw controlPlaneError(error, name);
    }
  }

  #rekeyResult(status: LedgerKeyStatus): Record<string, unknown> {
    const result: Record<string, unknown> = {
      Name: status.name,
      Arn: this.ledgerArn(status.name),
      KeyGeneration: status.keyGeneration,
    };
    if (status.retiringGeneration !== undefined) {
      result.RetiringKeyGeneration = status.retiringGeneration;
    }
    const rekey = status.rekey;
    if (rekey !== undefined) {
      const progress: Record<string, unknown> = {
        Status: rekey.state,
        Phase: rekey.phase,
        FromKeyGeneration: rekey.fromGeneration,
        ToKeyGeneration: rekey.toGeneration,
        StartDateTime: epochSeconds(rekey.startedAt),
        BlocksDone: rekey.blocksDone,
        BlocksTotal: rekey.blocksTotal,
        DocumentsReencrypted: rekey.documentsResealed,
        IndexEntriesReplaced: rekey.indexEntriesReplaced,
      };
      if (rekey.finishedAt !== undefined) progress.EndDateTime = epochSeconds(rekey.finishedAt);
      if (rekey.error !== undefined) progress.Error = rekey.error;
      result.Rekey = progress;
    }
    return result;
  }

  /** The ledger named by a ledger ARN of this account and region. */
  #ledgerOfArn(arn: string): string {
    const prefix = `arn:aws:qldb:${this.#options.region}:${this.#options.accountId}:ledger/`;
    const name = arn.startsWith(prefix) ? arn.slice(prefix.length) : '';
    if (!LEDGER_NAME_PATTERN.test(name)) {
      throw invalid(
        'ResourceArn',
        `${arn} is not the ARN of a ledger of this account; expected ${prefix}<name>`,
      );
    }
    return name;
  }

  async tagResource(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const arn = request.params.resourceArn ?? '';
    const name = this.#ledgerOfArn(arn);
    const tags = validateTags(request.body?.Tags, 'Tags');
    await this.#authorize(context.principal, 'qldb:TagResource', arn);
    const ledger = await this.#describe(name);
    const merged = { ...ledger.tags, ...tags };
    if (Object.keys(merged).length > MAX_TAGS) {
      throw invalid(
        'Tags',
        `A ledger can have at most ${MAX_TAGS} tags; it would have ${Object.keys(merged).length}`,
      );
    }
    await this.#engine.updateLedger(name, { tags: merged });
    return {};
  }

  async untagResource(
    request: RestRequest,
    context: RequestContext,
  ): Promise<Record<string, unknown>> {
    const arn = request.params.resourceArn ?? '';
    const name = this.#ledgerOfArn(arn);
    const raw = request.query.tagKeys;
    const keys = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (keys.length === 0) throw invalid('TagKeys', 'tagKeys must name at least one tag key');
    await this.#authorize(context.principal, 'qldb:UntagResource', arn);
    const ledger = await this.#describe(name);
    const tags = { ...ledger.tags };
    for (const key of keys) delete tags[key];
    await this.#engine.updateLedger(name, { tags });
    return {};
  }

  async listTags(request: RestRequest, context: RequestContext): Promise<Record<string, unknown>> {
    const arn = request.params.resourceArn ?? '';
    const name = this.#ledgerOfArn(arn);
    await this.#authorize(context.principal, 'qldb:ListTagsForResource', arn);
    const ledger = await this.#describe(name);
    return { Tags: ledger.tags };
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean')
    throw invalid(name, `${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function validateTags(value: unknown, name: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(name, `${name} must be a map of tag keys to values`);
  }
  const tags: Record<string, string> = {};
  for (const [key, tagValue] of Object.entries(value)) {
    if (key.length < 1 || key.length > 128)
      throw invalid(name, `Tag key ${JSON.stringify(key)} must have 1 to 128 characters`);
    if (typeof tagValue !== 'string' || tagValue.length > 256) {
      throw invalid(
        name,
        `Tag ${JSON.stringify(key)} needs a string value of at most 256 characters`,
      );
    }
    tags[key] = tagValue;
  }
  if (Object.keys(tags).length > MAX_TAGS)
    throw invalid(name, `At most ${MAX_TAGS} tags, got ${Object.keys(tags).length}`);
  return tags;
}

/**
 * Read a block address, `{"IonText": "{strandId: \"...\", sequenceNo: N}"}`,
 * as QLDB's committed views and GetDigest give it. The Ion text must hold
 * exactly one struct with those two fields, and the strand must be the
 * ledger's. `lastBlock` names the ledger's last block in the message for a
 * sequence number past any JavaScript integer.
 */
function parseAddress(holder: unknown, name: string, strandId: string, lastBlock: number): number {
  const text =
    typeof holder === 'object' && holder !== null
      ? (holder as Record<string, unknown>).IonText
      : undefined;
  const shape = `{"IonText": "{strandId: \\"${strandId}\\", sequenceNo: 0}"}`;
  if (typeof text !== 'string') throw invalid(name, `${name} must have the form ${shape}`);
  const quoted = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  let values: dom.Value[];
  try {
    values = loadAll(text);
  } catch (error) {
    throw invalid(name, `${name} ${quoted} is not valid Ion text: ${(error as Error).message}`);
  }
  const [value] = values;
  if (values.length !== 1 || value?.getType() !== IonTypes.STRUCT || value.isNull()) {
    throw invalid(name, `${name} ${quoted} must be one Ion struct of the form ${shape}`);
  }
  const fields = value.fieldNames();
  const unknown = fields.find((field) => field !== 'strandId' && field !== 'sequenceNo');
  if (unknown !== undefined) {
    throw invalid(
      name,
      `${name} ${quoted} has a field ${unknown}; an address holds only strandId and sequenceNo`,
    );
  }
  // Ion allows repeated field names, but an address with two sequence numbers names no one block.
  for (const [field, values] of value.allFields()) {
    if (values.length > 1) {
      throw invalid(
        name,
        `${name} ${quoted} has ${field} ${values.length} times; give strandId and sequenceNo once each`,
      );
    }
  }
  const strand = value.get('strandId');
  const sequence = value.get('sequenceNo');
  if (strand?.getType() !== IonTypes.STRING || strand.isNull()) {
    throw invalid(name, `${name} ${quoted} must hold strandId as a string`);
  }
  if (sequence?.getType() !== IonTypes.INT || sequence.isNull() || sequence.bigIntValue()! < 0n) {
    throw invalid(name, `${name} ${quoted} must hold sequenceNo as a non-negative integer`);
  }
  if (strand.stringValue() !== strandId) {
    throw invalid(
      name,
      `${name} names strand ${strand.stringValue()}, but this ledger's strand is ${strandId}`,
    );
  }
  const seq = sequence.bigIntValue()!;
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid(name, `${name} sequenceNo ${seq} is past the ledger's last block, ${lastBlock}`);
  }
  return Number(seq);
}

function addressText(strandId: string, sequenceNo: number): string {
  return dumpText(
    new dom.Struct([
      ['strandId', new dom.String(strandId)],
      ['sequenceNo', dom.Value.from(sequenceNo)],
    ]),
  );
}

function proofText(proof: Uint8Array[]): string {
  return dumpText(dom.Value.from(proof.map((hash) => new Uint8Array(hash))));
}
