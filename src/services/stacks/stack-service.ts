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
  resources: Record<
    string,
    { type: string; physicalId: string; attributes: Record<string, string>; properties: unknown }
  >;
  outputs: Array<{ key: string; value: string; description?: string; exportName?: string }>;
  createdAt: number;
  updatedAt: number;
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
    const parameters = stackParameters(params, template);
    const existing = await this.#load(name);
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
      parameters: {
        ...stack.parameters,
        'AWS::AccountId': this.#options.accountId,
        'AWS::Region': this.#options.region,
        'AWS::StackName': stack.name,
        'AWS::StackId': stack.id,
        'AWS::Partition': 'aws',
      },
      ref: (id: string) => stack.resources[id]?.physicalId,
      attribute: (id: string, attribute: string) => stack.resources[id]?.attributes[attribute],
    };
    for (const resource of template.resources) {
      const properties = resolve(resource.properties, resolveContext) as Record<string, unknown>;
      const previous = stack.resources[resource.logicalId];
      // A named resource is recorded as the stack's own as soon as it is
      // created, so that a deploy resumed after a later failure adopts it.
      const claim = async (record: StackRecord['resources'][string]): Promise<void> => {
        stack.resources[resource.logicalId] = record;
        await this.#save(stack);
      };
      stack.resources[resource.logicalId] = await this.#apply(
        resource,
        properties,
        previous,
        context,
        claim,
      );
      await this.#save(stack);
    }
    stack.outputs = template.outputs.map((output) => ({
      key: output.key,
      value: String(resolve(output.value, resolveContext)),
      ...(output.description === undefined ? {} : { description: output.description }),
      ...(output.exportName === undefined
        ? {}
        : { exportName: String(resolve(output.exportName, resolveContext)) }),
    }));
  }

  async #apply(
    resource: TemplateResource,
    properties: Record<string, unknown>,
    previous: StackRecord['resources'][string] | undefined,
    context: RequestContext,
    claim: (record: StackRecord['resources'][string]) => Promise<void>,
  ): Promise<StackRecord['resources'][string]> {
    const { iam, kms, qldb, accountId, region } = this.#options;
    // A stack never takes over a resource it did not create, because removing
    // the stack would delete it. CloudFormation also fails such a create.
    const rejectForeign = (exists: boolean, name: string): void => {
      if (exists && previous?.physicalId !== name) {
        throw new ServiceError(
          'AlreadyExistsException',
          `Resource of type '${resource.type}' with identifier '${name}' already exists ` +
            'and belongs to no stack resource of this stack; delete it or rename it in the template.',
        );
      }
    };
    const string = (name: string): string => {
      const value = properties[name];
      if (typeof value !== 'string' || value === '') {
        throw validation(`Resource ${resource.logicalId} needs the string property ${name}`);
      }
      return value;
    };
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
        rejectForeign(exists, roleName);
        const record = {
          type: resource.type,
          physicalId: roleName,
          attributes: { Arn: `arn:aws:iam::${accountId}:role/${roleName}`, RoleId: roleName },
          properties,
        };
        if (!exists) {
          await iam.handle(
            'CreateRole',
            {
              RoleName: roleName,
              AssumeRolePolicyDocument: JSON.stringify(properties.AssumeRolePolicyDocument),
            },
            context,
          );
          await claim(record);
        }
        for (const policy of (properties.Policies ?? []) as Array<Record<string, unknown>>) {
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
        const policy = JSON.stringify(properties.KeyPolicy);
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
              Policy: policy,
              ...(typeof properties.Description === 'string'
                ? { Description: properties.Description }
                : {}),
            },
            context,
          );
          keyId = String((created.KeyMetadata as Record<string, unknown>).KeyId);
        } else if (JSON.stringify(previous?.properties) !== JSON.stringify(properties)) {
          await kms.handle(
            'PutKeyPolicy',
            { KeyId: keyId, PolicyName: 'default', Policy: policy },
            context,
          );
          if (typeof properties.Description === 'string') {
            await kms.handle(
              'UpdateKeyDescription',
              { KeyId: keyId, Description: properties.Description },
              context,
            );
          }
        }
        if (properties.EnableKeyRotation === true) {
          await kms.handle('EnableKeyRotation', { KeyId: keyId }, context);
        }
        return {
          type: resource.type,
          physicalId: keyId,
          attributes: { Arn: `arn:aws:kms:${region}:${accountId}:key/${keyId}`, KeyId: keyId },
          properties,
        };
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
        rejectForeign(current !== undefined, aliasName);
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
        rejectForeign(exists, name);
        const tags: Record<string, string> = {};
        for (const tag of (properties.Tags ?? []) as Array<Record<string, unknown>>)
          tags[String(tag.Key)] = String(tag.Value);
        const record = {
          type: resource.type,
          physicalId: name,
          attributes: { Id: name, Arn: qldb.ledgerArn(name) },
          properties,
        };
        if (!exists) {
          await route('CreateLedger').handle(
            {
              params: {},
              query: {},
              body: {
                Name: name,
                PermissionsMode: properties.PermissionsMode ?? 'ALLOW_ALL',
                DeletionProtection: properties.DeletionProtection ?? true,
                ...(properties.KmsKey === undefined ? {} : { KmsKey: properties.KmsKey }),
                Tags: tags,
              },
            },
            context,
          );
          await claim(record);
        } else {
          const before = (previous?.properties ?? {}) as Record<string, unknown>;
          const body: Record<string, unknown> = {};
          if (properties.DeletionProtection !== undefined)
            body.DeletionProtection = properties.DeletionProtection;
          if (properties.KmsKey !== undefined && properties.KmsKey !== before.KmsKey)
            body.KmsKey = properties.KmsKey;
          await route('UpdateLedger').handle({ params: { name }, query: {}, body }, context);
        }
        return record;
      }
      default:
        throw validation(`Unsupported resource type ${resource.type}`);
    }
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
        const template = parseTemplate(stack.template);
        for (const resource of [...template.resources].reverse()) {
          const created = stack.resources[resource.logicalId];
          if (created === undefined) continue;
          await this.#remove(created, context);
          delete stack.resources[resource.logicalId];
          await this.#save(stack);
        }
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

/** Collect the stack's parameter values: the request's `Parameters.member.N`, then the template's defaults. */
function stackParameters(params: Params, template: Template): Record<string, string> {
  const given: Record<string, string> = {};
  for (let i = 1; params[`Parameters.member.${i}.ParameterKey`] !== undefined; i++) {
    given[params[`Parameters.member.${i}.ParameterKey`]!] =
      params[`Parameters.member.${i}.ParameterValue`] ?? '';
  }
  const values: Record<string, string> = {};
  for (const [name, spec] of Object.entries(template.parameters)) {
    const value = given[name] ?? spec.default;
    if (value === undefined) throw validation(`Parameters: [${name}] must have values`);
    values[name] = value;
  }
  for (const name of Object.keys(given)) {
    if (!(name in template.parameters)) {
      throw validation(`Parameters: [${name}] do not exist in the template`);
    }
  }
  return values;
}
