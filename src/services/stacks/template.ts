import { parse as parseYaml, type ScalarTag } from 'yaml';
import { ServiceError } from '../types.js';

/** A resource of a stack template, with its properties still holding intrinsic functions. */
export interface TemplateResource {
  logicalId: string;
  type: string;
  properties: Record<string, unknown>;
  dependsOn: string[];
}

export interface TemplateOutput {
  key: string;
  value: unknown;
  description?: string;
  exportName?: unknown;
}

export interface Template {
  description?: string;
  parameters: Record<string, { default?: string }>;
  /** Resources in an order where each comes after everything it refers to. */
  resources: TemplateResource[];
  outputs: TemplateOutput[];
}

/** The resource types a stack may contain. */
export const RESOURCE_TYPES = [
  'AWS::IAM::Role',
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  'AWS::QLDB::Ledger',
];

function validation(message: string): ServiceError {
  return new ServiceError('ValidationError', message);
}

const TAGS: ScalarTag[] = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) },
  {
    tag: '!GetAtt',
    resolve: (value: string) => {
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
];

/**
 * Parse a stack template: CloudFormation's YAML or JSON form, with the
 * resource types in `RESOURCE_TYPES` and the intrinsic functions `Ref`,
 * `Fn::GetAtt` and `Fn::Sub` (short forms `!Ref`, `!GetAtt`, `!Sub`).
 */
export function parseTemplate(text: string): Template {
  let document: unknown;
  try {
    document = parseYaml(text, { customTags: TAGS, maxAliasCount: 1000 });
  } catch (error) {
    throw validation(`Template format error: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw validation('Template format error: the template must be a YAML or JSON object');
  }
  const root = document as Record<string, unknown>;
  const rawResources = root.Resources;
  if (
    typeof rawResources !== 'object' ||
    rawResources === null ||
    Object.keys(rawResources).length === 0
  ) {
    throw validation('Template format error: at least one Resources member must be defined');
  }

  const parameters: Template['parameters'] = {};
  for (const [name, spec] of Object.entries((root.Parameters ?? {}) as Record<string, unknown>)) {
    const value = (spec ?? {}) as Record<string, unknown>;
    parameters[name] = value.Default === undefined ? {} : { default: String(value.Default) };
  }

  const declared = new Map<string, TemplateResource>();
  for (const [logicalId, spec] of Object.entries(rawResources as Record<string, unknown>)) {
    if (!/^[A-Za-z0-9]+$/.test(logicalId)) {
      throw validation(`Template format error: resource name ${logicalId} is non alphanumeric`);
    }
    const resource = (spec ?? {}) as Record<string, unknown>;
    const type = resource.Type;
    if (typeof type !== 'string' || !RESOURCE_TYPES.includes(type)) {
      throw validation(
        `Template format error: resource ${logicalId} has type ${JSON.stringify(type)}; supported types are ${RESOURCE_TYPES.join(', ')}`,
      );
    }
    const dependsOn =
      resource.DependsOn === undefined ? [] : [resource.DependsOn].flat().map(String);
    declared.set(logicalId, {
      logicalId,
      type,
      properties: (resource.Properties ?? {}) as Record<string, unknown>,
      dependsOn,
    });
  }

  // Order the resources so each follows its DependsOn and the resources its properties name.
  const ordered: TemplateResource[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, from: string) => {
    const resource = declared.get(id);
    if (resource === undefined) {
      if (id in parameters || id.startsWith('AWS::')) return;
      throw validation(`Template format error: unresolved resource dependency [${id}] in ${from}`);
    }
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      throw validation(`Circular dependency between resources: ${id} and ${from}`);
    }
    state.set(id, 'visiting');
    for (const dependency of [...resource.dependsOn, ...references(resource.properties)]) {
      visit(dependency, id);
    }
    state.set(id, 'done');
    ordered.push(resource);
  };
  for (const id of declared.keys()) visit(id, 'Resources');

  const outputs: TemplateOutput[] = [];
  for (const [key, spec] of Object.entries((root.Outputs ?? {}) as Record<string, unknown>)) {
    const output = (spec ?? {}) as Record<string, unknown>;
    if (output.Value === undefined)
      throw validation(`Template format error: output ${key} has no Value`);
    for (const reference of references(output.Value)) visit(reference, `Outputs.${key}`);
    outputs.push({
      key,
      value: output.Value,
      description: typeof output.Description === 'string' ? output.Description : undefined,
      exportName: (output.Export as Record<string, unknown> | undefined)?.Name,
    });
  }
  return {
    description: typeof root.Description === 'string' ? root.Description : undefined,
    parameters,
    resources: ordered,
    outputs,
  };
}

/** The logical ids and parameters an expression refers to. */
export function references(value: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      if (typeof record.Ref === 'string') found.push(record.Ref);
      else if (Array.isArray(record['Fn::GetAtt'])) found.push(String(record['Fn::GetAtt'][0]));
      else if (typeof record['Fn::Sub'] === 'string') {
        for (const match of record['Fn::Sub'].matchAll(/\$\{([^}!]+)\}/g)) {
          const name = match[1]!.split('.')[0]!;
          found.push(name);
        }
      } else Object.values(record).forEach(walk);
    }
  };
  walk(value);
  return found;
}

/** The values that intrinsic functions resolve against: parameters, pseudo parameters, and created resources. */
export interface ResolveContext {
  parameters: Record<string, string>;
  /** `Ref` of a created resource. */
  ref(logicalId: string): string | undefined;
  /** `Fn::GetAtt` of a created resource. */
  attribute(logicalId: string, name: string): string | undefined;
}

/** Replace intrinsic functions by their values. */
export function resolve(value: unknown, context: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((item) => resolve(item, context));
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  if (typeof record.Ref === 'string') return lookup(record.Ref, context);
  if (Array.isArray(record['Fn::GetAtt'])) {
    const [id, name] = record['Fn::GetAtt'].map(String) as [string, string];
    const resolved = context.attribute(id, name);
    if (resolved === undefined)
      throw validation(`Template error: resource ${id} has no attribute ${name}`);
    return resolved;
  }
  if (typeof record['Fn::Sub'] === 'string') {
    return record['Fn::Sub'].replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) {
        const resolved = context.attribute(name.slice(0, dot), name.slice(dot + 1));
        if (resolved === undefined) throw validation(`Template error: cannot resolve \${${name}}`);
        return resolved;
      }
      return lookup(name, context);
    });
  }
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record)) result[key] = resolve(item, context);
  return result;
}

function lookup(name: string, context: ResolveContext): string {
  const value = context.parameters[name] ?? context.ref(name);
  if (value === undefined) throw validation(`Template error: cannot resolve Ref ${name}`);
  return value;
}
