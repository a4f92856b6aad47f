import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../../storage/store.js';
import { overwriteState } from '../state-records.js';
import type { IamQueryService } from '../iam/iam-query.js';
import type { KmsService } from '../kms/kms-service.js';
import type { ControlPlaneService } from '../qldb/control-plane.js';
import { ServiceError, type RequestContext } from '../types.js';
import { parseTemplate, resolve, type Template, type TemplateResource } from './template.js';

type Params = Record<string, string>;
type Result = Record<string, unknown>;

/** A deployed stack as the store keeps it. */
interface StackRecord {
  name: string;
  id: string;
  status: string;
  reason?: string;
  description?: string;
  template: string;
  parameters: Record<string, string>;
  /** Created resources by logical id: physical id, attributes, and the properties they were made with. */
  resources: Record<string, ResourceRecord>;
  /**
   * Resources the last update replaced (a new name) or dropped from the
   * template, removed once the update has made everything else.
   */
  retired?: ResourceRecord[];
  outputs: Array<{ key: string; value: string; description?: string; exportName?: string }>;
  createdAt: number;
  updatedAt: number;
}

interface ResourceRecord {
  type: string;
  physicalId: string;
  attributes: Record<string, string>;
  properties: unknown;
}

/** The order in which retired resources go: what uses a key or a role before them. */
const REMOVAL_ORDER = ['AWS::QLDB::Ledger', 'AWS::KMS::Alias', 'AWS::IAM::Role', 'AWS::KMS::Key'];

function byRemovalOrder(a: ResourceRecord, b: ResourceRecord): number {
  return REMOVAL_ORDER.indexOf(a.type) - REMOVAL_ORDER.indexOf(b.type);
}

export interface StackServiceOptions {
  store: Store;
  iam: IamQueryService;
  kms: KmsService;
  qldb: ControlPlaneService;
  accountId: string;
  region: string;
  logger: Logger;
}

const NAMESPACE = 'cfn.stack';
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

function validation(message: string): ServiceError {
  return new ServiceError('ValidationError', message);
}

function missingStack(name: string): ServiceError {
  return validation(`Stack with id ${name} does not exist`);
}

/**
 * A subset of CloudFormation over the query protocol: CreateStack,
 * UpdateStack, DescribeStacks and DeleteStack, for templates of IAM roles,
 * KMS keys and aliases, and QLDB ledgers. Resources are made with the
 * caller's permissions, in the background, as CloudFormation makes them.
 * Every step is idempotent, so an update after a failure resumes the work.
 */
export class StackService {
  readonly #options: StackServiceOptions;
  readonly #running = new Map<string, Promise<void>>();

  constructor(options: StackServiceOptions) {
    this.#options = options;
  }

  async handle(action: string, params: Params, context: RequestContext): Promise<Result> {
    switch (action) {
      case 'CreateStack':
        return this.#deploy(params, context, true);
      case 'UpdateStack':
        return this.#deploy(params, context, false);
      case 'DescribeStacks':
        return this.#describe(params);
      case 'DeleteStack':
        return this.#delete(params, context);
      default:
        throw new ServiceError(
          'InvalidAction',
          `The action ${action} is not valid for this endpoint. Supported CloudFormation actions: CreateStack, UpdateStack, DescribeStacks, DeleteStack.`,
        );
    }
  }

  /** Wait until the background work on every stack has finished; for tests and shutdown. */
  async idle(): Promise<void> {
    await Promise.allSettled(this.#running.values());
  }

  async #load(name: string): Promise<{ stack: StackRecord; version: number } | undefined> {
    const record = await this.#options.store.getState(NAMESPACE, name);
    if (record === undefined) return undefined;
    return {
      stack: JSON.parse(Buffer.from(record.value).toString('utf8')) as StackRecord,
      version: record.version,
    };
  }

  async #save(stack: StackRecord): Promise<void> {
    stack.updatedAt = Date.now();
    const value = Buffer.from(JSON.stringify(stack), 'utf8');
    await overwriteState(this.#options.store, NAMESPACE, stack.name, value);
  }

  async #deploy(params: Params, context: RequestContext, create: boolean): Promise<Result> {
    const name = params.StackName;
    if (name === undefined || !STACK_NAME.test(name)) {
      throw validation(
        `1 validation error detected: Value '${name ?? ''}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*`,
      );
    }
    const body = params.TemplateBody;
    if (body === undefined) throw validation('TemplateBody is required; pass the stack file text');
    const template = parseTemplate(body);
    // As CloudFormation does, a stack that names IAM roles needs the caller's
    // acknowledgement that it may change permissions.
    const capabilities = Object.entries(params)
      .filter(([key]) => /^Capabilities\.member\.\d+$/.test(key))
      .map(([, value]) => value);
    if (
      template.resources.some((resource) => resource.type === 'AWS::IAM::Role') &&
      !capabilities.includes('CAPABILITY_NAMED_IAM')
    ) {
      throw new ServiceError(
        'InsufficientCapabilitiesException',
        'Requires capabilities : [CAPABILITY_NAMED_IAM]; pass --capabilities CAPABILITY_NAMED_IAM',
      );
    }
    const existing = await this.#load(name);
    const parameters = stackParameters(params, template, existing?.stack.parameters);
    if (this.#running.has(name) || existing?.stack.status.endsWith('_IN_PROGRESS')) {
      throw validation(
        `Stack:${existing?.stack.id ?? name} is in ${existing?.stack.status ?? 'an in-progress'} state and can not be updated.`,
      );
    }
    if (create && existing !== undefined) {
      throw new ServiceError('AlreadyExistsException', `Stack [${name}] already exists`);
    }
    if (!create && existing === undefined) throw missingStack(name);
    if (
      !create &&
      existing!.stack.status.endsWith('_COMPLETE') &&
      existing!.stack.template === body &&
      JSON.stringify(existing!.stack.parameters) === JSON.stringify(parameters)
    ) {
      throw validation('No updates are to be performed.');
    }

    await this.#checkExports(name, template, parameters);

    const now = Date.now();
    const stack: StackRecord = existing?.stack ?? {
      name,
      id: `arn:aws:cloudformation:${this.#options.region}:${this.#options.accountId}:stack/${name}/${randomUUID()}`,
      status: '',
      template: body,
      parameters,
      resources: {},
      outputs: [],
      createdAt: now,
      updatedAt: now,
    };
    const phase = create ? 'CREATE' : 'UPDATE';
    Object.assign(stack, {
      status: `${phase}_IN_PROGRESS`,
      template: body,
      parameters,
      description: template.description,
    });
    delete stack.reason;
    await this.#save(stack);
    this.#background(name, async () => {
      try {
        await this.#provision(stack, template, context);
        stack.status = `${phase}_COMPLETE`;
      } catch (error) {
        stack.status = create ? 'CREATE_FAILED' : 'UPDATE_FAILED';
        stack.reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        this.#options.logger.warn({ stack: name, err: error }, 'stack deployment failed');
      }
      await this.#save(stack);
    });
    return { StackId: stack.id };
  }

  #background(name: string, work: () => Promise<void>): void {
    const run = work().finally(() => this.#running.delete(name));
    this.#running.set(name, run);
  }

  async #provision(stack: StackRecord, template: Template, context: RequestContext): Promise<void> {
    const resolveContext = {
      parameters: { ...stack.parameters, ...this.#pseudoParameters(stack.name, stack.id) },
      ref: (id: string) => stack.resources[id]?.physicalId,
      attribute: (id: string, attribute: string) => stack.resources[id]?.attributes[attribute],
    };
    // Resources the template no longer has are retired: removed once the
    // rest of the update is done, and by DeleteStack if the update fails.
    const inTemplate = new Set(template.resources.map((resource) => resource.logicalId));
    for (const [logicalId, record] of Object.entries(stack.resources)) {
      if (inTemplate.has(logicalId)) continue;
      (stack.retired ??= []).push(record);
      delete stack.resources[logicalId];
    }
    await this.#save(stack);
    for (const resource of template.resources) {
      const properties = resolve(resource.properties, resolveContext) as Record<string, unknown>;
      const previous = stack.resources[resource.logicalId];
      // A named resource is recorded as the stack's own as soon as it is
      // created, so that a deploy resumed after a later failure adopts it.
      // A resource it replaces, under another name, is retired.
      const claim = async (record: ResourceRecord): Promise<void> => {
        const replaced = stack.resources[resource.logicalId];
        if (replaced !== undefined && replaced.physicalId !== record.physicalId) {
          (stack.retired ??= []).push(replaced);
        }
        // A retired resource that the template names again is taken back.
        stack.retired = stack.retired?.filter(
          (item) => item.type !== record.type || item.physicalId !== record.physicalId,
        );
        stack.resources[resource.logicalId] = record;
        await this.#save(stack);
      };
      const retired = stack.retired ?? [];
      await claim(await this.#apply(resource, properties, previous, retired, context, claim));
    }
    await this.#removeRetired(stack, context);
    delete stack.retired;
    const outputs = template.outputs.map((output) => ({
      key: output.key,
      value: String(resolve(output.value, resolveContext)),
      ...(output.description === undefined ? {} : { description: output.description }),
      ...(output.exportName === undefined
        ? {}
        : { exportName: String(resolve(output.exportName, resolveContext)) }),
    }));
    // Export names that depend on resources are known only now.
    const owners = await this.#exportOwners(stack.name);
    for (const output of outputs) {
      const owner = output.exportName === undefined ? undefined : owners.get(output.exportName);
      if (owner !== undefined) throw exportTaken(output.exportName!, owner);
    }
    stack.outputs = outputs;
  }

  /**
   * Reject export names that another stack exports, or that the template
   * exports twice, before anything is made. Names that need a resource are
   * checked again once the resources exist.
   */
  async #checkExports(
    name: string,
    template: Template,
    parameters: Record<string, string>,
  ): Promise<void> {
    const context = {
      parameters: { ...parameters, ...this.#pseudoParameters(name) },
      ref: () => undefined,
      attribute: () => undefined,
    };
    const owners = await this.#exportOwners(name);
    const seen = new Set<string>();
    for (const output of template.outputs) {
      if (output.exportName === undefined) continue;
      let exportName: string;
      try {
        exportName = String(resolve(output.exportName, context));
      } catch {
        continue;
      }
      if (seen.has(exportName)) {
        throw validation(
          `Template error: the outputs export the name ${exportName} twice; export names must be unique`,
        );
      }
      seen.add(exportName);
      const owner = owners.get(exportName);
      if (owner !== undefined) throw exportTaken(exportName, owner);
    }
  }

  /** Return CloudFormation's pseudo parameters of a stack; its id once it has one. */
  #pseudoParameters(name: string, id?: string): Record<string, string> {
    return {
      'AWS::AccountId': this.#options.accountId,
      'AWS::Region': this.#options.region,
      'AWS::StackName': name,
      ...(id === undefined ? {} : { 'AWS::StackId': id }),
      'AWS::Partition': 'aws',
    };
  }

  /** Map each export name of the other stacks to the stack that exports it. */
  async #exportOwners(except: string): Promise<Map<string, string>> {
    const owners = new Map<string, string>();
    for (const record of await this.#options.store.listState(NAMESPACE)) {
      const other = JSON.parse(Buffer.from(record.value).toString('utf8')) as StackRecord;
      if (other.name === except || other.status === 'DELETE_COMPLETE') continue;
      for (const output of other.outputs) {
        if (output.exportName !== undefined) owners.set(output.exportName, other.name);
      }
    }
    return owners;
  }

  async #apply(
    resource: TemplateResource,
    properties: Record<string, unknown>,
    previous: StackRecord['resources'][string] | undefined,
    retired: ResourceRecord[],
    context: RequestContext,
    claim: (record: StackRecord['resources'][string]) => Promise<void>,
  ): Promise<StackRecord['resources'][string]> {
    const { iam, kms, qldb, accountId, region } = this.#options;
    // A stack never takes over a resource it did not create, because removing
    // the stack would delete it. CloudFormation also fails such a create.
    const rejectForeign = async (exists: boolean, name: string): Promise<void> => {
      if (!exists || previous?.physicalId === name) return;
      // This stack's own, retired by an update that did not finish.
      if (retired.some((item) => item.type === resource.type && item.physicalId === name)) return;
      const owner = await this.#ownerOf(resource.type, name);
      throw new ServiceError(
        'AlreadyExistsException',
        `Resource of type '${resource.type}' with identifier '${name}' already exists ` +
          (owner === undefined
            ? 'and belongs to no stack resource of this stack; delete it or rename it in the template.'
            : `and belongs to stack ${owner}; remove that stack first, or rename it in the template.`),
      );
    };
    const string = (name: string): string => {
      const value = properties[name];
      if (typeof value !== 'string' || value === '') {
        throw validation(`Resource ${resource.logicalId} needs the string property ${name}`);
      }
      return value;
    };
    // Parameters are strings, so `!Ref` of one gives 'true' or 'false', which
    // CloudFormation takes for a boolean.
    const bool = (name: string, otherwise: boolean): boolean => {
      const value = properties[name];
      if (value === undefined) return otherwise;
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw validation(
        `Resource ${resource.logicalId} property ${name} must be true or false, got ${JSON.stringify(value)}`,
      );
    };
    const before = (previous?.properties ?? {}) as Record<string, unknown>;
    const changed = (name: string) =>
      JSON.stringify(properties[name]) !== JSON.stringify(before[name]);
    switch (resource.type) {
      case 'AWS::IAM::Role': {
        const roleName = string('RoleName');
        const exists = await iam
          .handle('GetRole', { RoleName: roleName }, context)
          .then(() => true)
          .catch((error: unknown) => {
            if (error instanceof ServiceError && error.code === 'NoSuchEntity') return false;
            throw error;
          });
        await rejectForeign(exists, roleName);
        const trust = JSON.stringify(properties.AssumeRolePolicyDocument);
        let role: Record<string, unknown>;
        if (!exists) {
          const created = await iam.handle(
            'CreateRole',
            { RoleName: roleName, AssumeRolePolicyDocument: trust },
            context,
          );
          role = created.Role as Record<string, unknown>;
        } else {
          if (changed('AssumeRolePolicyDocument')) {
            await iam.handle(
              'UpdateAssumeRolePolicy',
              { RoleName: roleName, PolicyDocument: trust },
              context,
            );
          }
          role = (await iam.handle('GetRole', { RoleName: roleName }, context)).Role as Record<
            string,
            unknown
          >;
        }
        const record = {
          type: resource.type,
          physicalId: roleName,
          attributes: { Arn: String(role.Arn), RoleId: String(role.RoleId) },
          properties,
        };
        if (!exists) await claim(record);
        const policies = (properties.Policies ?? []) as Array<Record<string, unknown>>;
        // Inline policies the template no longer lists go, as CloudFormation removes them.
        const listed = new Set(policies.map((policy) => String(policy.PolicyName)));
        for (const policy of (before.Policies ?? []) as Array<Record<string, unknown>>) {
          if (listed.has(String(policy.PolicyName)) || previous?.physicalId !== roleName) continue;
          await iam
            .handle(
              'DeleteRolePolicy',
              { RoleName: roleName, PolicyName: String(policy.PolicyName) },
              context,
            )
            .catch((error: unknown) => {
              if (!(error instanceof ServiceError && error.code === 'NoSuchEntity')) throw error;
            });
        }
        for (const policy of policies) {
          await iam.handle(
            'PutRolePolicy',
            {
              RoleName: roleName,
              PolicyName: String(policy.PolicyName),
              PolicyDocument: JSON.stringify(policy.PolicyDocument),
            },
            context,
          );
        }
        return record;
      }
      case 'AWS::KMS::Key': {
        // Without KeyPolicy, the key gets KMS's default policy, as in CloudFormation.
        const policy =
          properties.KeyPolicy === undefined ? undefined : JSON.stringify(properties.KeyPolicy);
        // Checked before the key is made, so that a bad value makes nothing.
        const rotation = bool('EnableKeyRotation', false);
        const window = properties.PendingWindowInDays;
        if (window !== undefined && !/^([7-9]|[12]\d|30)$/.test(String(window))) {
          throw validation(
            `Resource ${resource.logicalId} property PendingWindowInDays must be a whole number of days from 7 to 30, got ${JSON.stringify(window)}`,
          );
        }
        const keyRecord = (id: string): ResourceRecord => ({
          type: resource.type,
          physicalId: id,
          attributes: { Arn: `arn:aws:kms:${region}:${accountId}:key/${id}`, KeyId: id },
          properties,
        });
        let keyId = previous?.physicalId;
        if (keyId !== undefined) {
          const described = await kms
            .handle('DescribeKey', { KeyId: keyId }, context)
            .catch(() => undefined);
          const state = (described?.KeyMetadata as Record<string, unknown> | undefined)?.KeyState;
          if (state === undefined || state === 'PendingDeletion') keyId = undefined;
        }
        if (keyId === undefined) {
          const created = await kms.handle(
            'CreateKey',
            {
              ...(policy === undefined ? {} : { Policy: policy }),
              ...(typeof properties.Description === 'string'
                ? { Description: properties.Description }
                : {}),
            },
            context,
          );
          keyId = String((created.KeyMetadata as Record<string, unknown>).KeyId);
          // The stack's own from now on, so that a resumed deploy keeps it.
          await claim(keyRecord(keyId));
        } else {
          if (policy !== undefined && changed('KeyPolicy')) {
            await kms.handle(
              'PutKeyPolicy',
              { KeyId: keyId, PolicyName: 'default', Policy: policy },
              context,
            );
          }
          if (changed('Description')) {
            await kms.handle(
              'UpdateKeyDescription',
              { KeyId: keyId, Description: String(properties.Description ?? '') },
              context,
            );
          }
        }
        // Rotation the template turned off is turned off on the key it was on for.
        const rotatedBefore =
          previous?.physicalId === keyId &&
          (before.EnableKeyRotation === true || before.EnableKeyRotation === 'true');
        if (rotation) {
          await kms.handle('EnableKeyRotation', { KeyId: keyId }, context);
        } else if (rotatedBefore) {
          await kms.handle('DisableKeyRotation', { KeyId: keyId }, context);
        }
        return keyRecord(keyId);
      }
      case 'AWS::KMS::Alias': {
        const aliasName = string('AliasName');
        const target = string('TargetKeyId');
        const current = await kms
          .handle('DescribeKey', { KeyId: aliasName }, context)
          .catch((error: unknown) => {
            if (error instanceof ServiceError && error.code === 'NotFoundException')
              return undefined;
            throw error;
          });
        await rejectForeign(current !== undefined, aliasName);
        if (current === undefined) {
          await kms.handle('CreateAlias', { AliasName: aliasName, TargetKeyId: target }, context);
        } else {
          const metadata = current.KeyMetadata as Record<string, unknown>;
          if (metadata.Arn !== target && metadata.KeyId !== target) {
            await kms.handle('UpdateAlias', { AliasName: aliasName, TargetKeyId: target }, context);
          }
        }
        return { type: resource.type, physicalId: aliasName, attributes: {}, properties };
      }
      case 'AWS::QLDB::Ledger': {
        const name = string('Name');
        const route = (operation: string) =>
          qldb.routes().find((candidate) => candidate.operation === operation)!;
        const exists = await route('DescribeLedger')
          .handle({ params: { name }, query: {}, body: undefined }, context)
          .then(() => true)
          .catch((error: unknown) => {
            if (error instanceof ServiceError && error.code === 'ResourceNotFoundException')
              return false;
            throw error;
          });
        await rejectForeign(exists, name);
        const tags: Record<string, string> = {};
        for (const tag of (properties.Tags ?? []) as Array<Record<string, unknown>>)
          tags[String(tag.Key)] = String(tag.Value);
        const record = {
          type: resource.type,
          physicalId: name,
          attributes: { Id: name, Arn: qldb.ledgerArn(name) },
          properties,
        };
        const protection = bool('DeletionProtection', true);
        if (!exists) {
          await route('CreateLedger').handle(
            {
              params: {},
              query: {},
              body: {
                Name: name,
                PermissionsMode: properties.PermissionsMode,
                DeletionProtection: protection,
                ...(properties.KmsKey === undefined ? {} : { KmsKey: properties.KmsKey }),
                Tags: tags,
              },
            },
            context,
          );
          await claim(record);
          return record;
        }
        const body: Record<string, unknown> = { DeletionProtection: protection };
        // Without KmsKey the ledger goes back to the AWS owned key.
        if (changed('KmsKey')) body.KmsKey = properties.KmsKey ?? 'AWS_OWNED_KMS_KEY';
        await route('UpdateLedger').handle({ params: { name }, query: {}, body }, context);
        if (changed('PermissionsMode')) {
          await route('UpdateLedgerPermissionsMode').handle(
            { params: { name }, query: {}, body: { PermissionsMode: properties.PermissionsMode } },
            context,
          );
        }
        if (changed('Tags')) {
          const resourceArn = qldb.ledgerArn(name);
          const old: Record<string, string> = {};
          for (const tag of (before.Tags ?? []) as Array<Record<string, unknown>>)
            old[String(tag.Key)] = String(tag.Value);
          const dropped = Object.keys(old).filter((key) => !(key in tags));
          if (dropped.length > 0) {
            await route('UntagResource').handle(
              { params: { resourceArn }, query: { tagKeys: dropped }, body: undefined },
              context,
            );
          }
          if (Object.keys(tags).length > 0) {
            await route('TagResource').handle(
              { params: { resourceArn }, query: {}, body: { Tags: tags } },
              context,
            );
          }
        }
        return record;
      }
      default:
        throw validation(`Unsupported resource type ${resource.type}`);
    }
  }

  /** Find the stack whose resources include this one, if any. */
  async #ownerOf(type: string, physicalId: string): Promise<string | undefined> {
    for (const record of await this.#options.store.listState(NAMESPACE)) {
      const stack = JSON.parse(Buffer.from(record.value).toString('utf8')) as StackRecord;
      const owned = [...Object.values(stack.resources), ...(stack.retired ?? [])];
      if (owned.some((item) => item.type === type && item.physicalId === physicalId)) {
        return stack.name;
      }
    }
    return undefined;
  }

  async #describe(params: Params): Promise<Result> {
    let stacks: StackRecord[];
    if (params.StackName !== undefined) {
      const name = params.StackName.includes(':stack/')
        ? params.StackName.split('/')[1]!
        : params.StackName;
      const found = await this.#load(name);
      if (found === undefined) throw missingStack(params.StackName);
      stacks = [found.stack];
    } else {
      stacks = (await this.#options.store.listState(NAMESPACE)).map(
        (record) => JSON.parse(Buffer.from(record.value).toString('utf8')) as StackRecord,
      );
    }
    return {
      Stacks: stacks.map((stack) => ({
        StackId: stack.id,
        StackName: stack.name,
        ...(stack.description === undefined ? {} : { Description: stack.description }),
        Parameters: Object.entries(stack.parameters).map(([key, value]) => ({
          ParameterKey: key,
          ParameterValue: value,
        })),
        CreationTime: new Date(stack.createdAt),
        LastUpdatedTime: new Date(stack.updatedAt),
        StackStatus: stack.status,
        ...(stack.reason === undefined ? {} : { StackStatusReason: stack.reason }),
        DisableRollback: false,
        NotificationARNs: [],
        Capabilities: ['CAPABILITY_NAMED_IAM'],
        Outputs: stack.outputs.map((output) => ({
          OutputKey: output.key,
          OutputValue: output.value,
          ...(output.description === undefined ? {} : { Description: output.description }),
          ...(output.exportName === undefined ? {} : { ExportName: output.exportName }),
        })),
        Tags: [],
        EnableTerminationProtection: false,
        DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
      })),
    };
  }

  async #delete(params: Params, context: RequestContext): Promise<Result> {
    const name = params.StackName ?? '';
    const found = await this.#load(name);
    // DeleteStack of a stack that does not exist succeeds, as in CloudFormation.
    if (found === undefined) return {};
    if (this.#running.has(name))
      throw validation(`Stack ${name} is busy; wait for its current operation to end`);
    const stack = found.stack;
    stack.status = 'DELETE_IN_PROGRESS';
    await this.#save(stack);
    this.#background(name, async () => {
      try {
        // By type rather than by the stored template, which a newer Vellum
        // may no longer read: ledgers, aliases and roles before the keys.
        const created = Object.entries(stack.resources).sort(([, a], [, b]) =>
          byRemovalOrder(a, b),
        );
        for (const [logicalId, record] of created) {
          await this.#remove(record, context);
          delete stack.resources[logicalId];
          await this.#save(stack);
        }
        await this.#removeRetired(stack, context);
        const record = await this.#options.store.getState(NAMESPACE, name);
        if (record !== undefined)
          await this.#options.store.deleteState(NAMESPACE, name, record.version);
      } catch (error) {
        stack.status = 'DELETE_FAILED';
        stack.reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        await this.#save(stack);
      }
    });
    return {};
  }

  /** Remove the stack's retired resources, saving the stack after each. */
  async #removeRetired(stack: StackRecord, context: RequestContext): Promise<void> {
    for (const record of [...(stack.retired ?? [])].sort(byRemovalOrder)) {
      await this.#remove(record, context);
      stack.retired = stack.retired!.filter((item) => item !== record);
      await this.#save(stack);
    }
  }

  async #remove(
    resource: StackRecord['resources'][string],
    context: RequestContext,
  ): Promise<void> {
    const { iam, kms, qldb } = this.#options;
    const ignoreMissing = (codes: string[]) => (error: unknown) => {
      if (error instanceof ServiceError && codes.includes(error.code)) return undefined;
      throw error;
    };
    switch (resource.type) {
      case 'AWS::QLDB::Ledger': {
        const route = (operation: string) =>
          qldb.routes().find((candidate) => candidate.operation === operation)!;
        const request = { params: { name: resource.physicalId }, query: {}, body: undefined };
        await route('DeleteLedger')
          .handle(request, context)
          .catch(ignoreMissing(['ResourceNotFoundException']));
        return;
      }
      case 'AWS::KMS::Alias':
        await kms
          .handle('DeleteAlias', { AliasName: resource.physicalId }, context)
          .catch(ignoreMissing(['NotFoundException']));
        return;
      case 'AWS::KMS::Key': {
        const window = Number(
          (resource.properties as Record<string, unknown>).PendingWindowInDays ?? 7,
        );
        await kms
          .handle(
            'ScheduleKeyDeletion',
            { KeyId: resource.physicalId, PendingWindowInDays: Math.max(7, window) },
            context,
          )
          .catch(ignoreMissing(['NotFoundException', 'KMSInvalidStateException']));
        return;
      }
      case 'AWS::IAM::Role': {
        const listed = await iam
          .handle('ListRolePolicies', { RoleName: resource.physicalId }, context)
          .catch(ignoreMissing(['NoSuchEntity']));
        if (listed === undefined) return;
        for (const policy of (listed.PolicyNames ?? []) as string[]) {
          await iam.handle(
            'DeleteRolePolicy',
            { RoleName: resource.physicalId, PolicyName: policy },
            context,
          );
        }
        await iam
          .handle('DeleteRole', { RoleName: resource.physicalId }, context)
          .catch(ignoreMissing(['NoSuchEntity']));
        return;
      }
    }
  }
}

/**
 * Collect the stack's parameter values: the request's `Parameters.member.N`
 * (`UsePreviousValue` takes the value the stack has), then the template's
 * defaults, each checked against its type and allowed values.
 */
function stackParameters(
  params: Params,
  template: Template,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const given: Record<string, string> = {};
  for (let i = 1; params[`Parameters.member.${i}.ParameterKey`] !== undefined; i++) {
    const key = params[`Parameters.member.${i}.ParameterKey`]!;
    if (params[`Parameters.member.${i}.UsePreviousValue`] === 'true') {
      if (params[`Parameters.member.${i}.ParameterValue`] !== undefined) {
        throw validation(
          `Invalid input for parameter key ${key}. Cannot specify usePreviousValue as true and non empty value for a parameter`,
        );
      }
      const value = previous?.[key];
      if (value === undefined) {
        throw validation(`Parameters: [${key}] has no previous value; give ParameterValue`);
      }
      given[key] = value;
    } else {
      given[key] = params[`Parameters.member.${i}.ParameterValue`] ?? '';
    }
  }
  const values: Record<string, string> = {};
  for (const [name, spec] of Object.entries(template.parameters)) {
    const value = given[name] ?? spec.default;
    if (value === undefined) throw validation(`Parameters: [${name}] must have values`);
    if (spec.type === 'Number' && !/^-?\d+(\.\d+)?$/.test(value)) {
      throw validation(`Parameter '${name}' must be a number, got '${value}'`);
    }
    if (spec.allowedValues !== undefined && !spec.allowedValues.includes(value)) {
      throw validation(
        `Parameter '${name}' must be one of AllowedValues (${spec.allowedValues.join(', ')}), got '${value}'`,
      );
    }
    values[name] = value;
  }
  for (const name of Object.keys(given)) {
    if (!(name in template.parameters)) {
      throw validation(`Parameters: [${name}] do not exist in the template`);
    }
  }
  return values;
}

/** CloudFormation's error for an export name that another stack already exports. */
function exportTaken(exportName: string, owner: string): ServiceError {
  return validation(
    `Export with name ${exportName} is already exported by stack ${owner}; ` +
      'choose another Export Name, such as one that starts with ${AWS::StackName}',
  );
}
