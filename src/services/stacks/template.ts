import { parseDocument, type CollectionTag, type ScalarTag, type YAMLSeq } from 'yaml';
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

export interface TemplateParameter {
  default?: string;
  /** `String` or `Number`. */
  type: string;
  allowedValues?: string[];
}

export interface Template {
  description?: string;
  parameters: Record<string, TemplateParameter>;
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

/**
 * The properties each resource type takes. Vellum needs the names CloudFormation
 * would generate (RoleName, a ledger's Name), and CloudFormation's properties
 * outside these lists are not supported.
 */
const PROPERTIES: Record<string, { required: string[]; optional: string[] }> = {
  'AWS::IAM::Role': { required: ['RoleName', 'AssumeRolePolicyDocument'], optional: ['Policies'] },
  'AWS::KMS::Key': {
    required: [],
    optional: ['KeyPolicy', 'Description', 'EnableKeyRotation', 'PendingWindowInDays'],
  },
  'AWS::KMS::Alias': { required: ['AliasName', 'TargetKeyId'], optional: [] },
  'AWS::QLDB::Ledger': {
    required: ['Name', 'PermissionsMode'],
    optional: ['DeletionProtection', 'KmsKey', 'Tags'],
  },
};

const INTRINSICS = 'Ref, Fn::GetAtt, Fn::Sub and Fn::Join';

/** The top-level sections of a template Vellum reads. */
const SECTIONS = [
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Resources',
  'Outputs',
];

/** The attributes a resource may have besides the two deletion policies set to Delete. */
const RESOURCE_ATTRIBUTES = ['Type', 'Properties', 'DependsOn', 'Metadata'];

const seqOf = (seq: YAMLSeq): unknown => seq.toJSON();
const TAGS: Array<ScalarTag | CollectionTag> = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) },
  {
    tag: '!Sub',
    collection: 'seq',
    resolve: (seq) => ({ 'Fn::Sub': seqOf(seq as YAMLSeq) }),
  },
  {
    tag: '!GetAtt',
    resolve: (value: string) => {
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': dot < 0 ? value : [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
  {
    tag: '!GetAtt',
    collection: 'seq',
    resolve: (seq) => ({ 'Fn::GetAtt': seqOf(seq as YAMLSeq) }),
  },
  {
    tag: '!Join',
    collection: 'seq',
    resolve: (seq) => ({ 'Fn::Join': seqOf(seq as YAMLSeq) }),
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
    const parsed = parseDocument(text, { customTags: TAGS });
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem !== undefined) {
      const hint = /Unresolved tag/.test(problem.message)
        ? '; the short forms Vellum reads are !Ref, !GetAtt, !Sub and !Join'
        : '';
      throw new Error(`${problem.message.split('\n')[0]!.replace(/:$/, '')}${hint}`);
    }
    document = parsed.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw validation(`Template format error: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw validation('Template format error: the template must be a YAML or JSON object');
  }
  const root = document as Record<string, unknown>;
  for (const section of Object.keys(root)) {
    if (!SECTIONS.includes(section)) {
      throw validation(
        `Template format error: the section ${section} is not supported; Vellum reads ${SECTIONS.join(', ')}`,
      );
    }
  }
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
    const type = value.Type === undefined ? 'String' : String(value.Type);
    if (type !== 'String' && type !== 'Number') {
      throw validation(
        `Template format error: parameter ${name} has Type ${type}; Vellum supports String and Number`,
      );
    }
    const parameter: TemplateParameter = { type };
    if (value.Default !== undefined) parameter.default = String(value.Default);
    if (Array.isArray(value.AllowedValues))
      parameter.allowedValues = value.AllowedValues.map(String);
    parameters[name] = parameter;
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
    for (const attribute of Object.keys(resource)) {
      const value = resource[attribute];
      const deleting =
        (attribute === 'DeletionPolicy' || attribute === 'UpdateReplacePolicy') &&
        value === 'Delete';
      if (!RESOURCE_ATTRIBUTES.includes(attribute) && !deleting) {
        throw validation(
          `Template format error: resource ${logicalId} has ${attribute}` +
            (typeof value === 'string' ? ` ${value}` : '') +
            `, which Vellum does not support; a resource takes ${RESOURCE_ATTRIBUTES.join(', ')}, ` +
            'and DeletionPolicy or UpdateReplacePolicy only as Delete',
        );
      }
    }
    const dependsOn =
      resource.DependsOn === undefined ? [] : [resource.DependsOn].flat().map(String);
    const properties = (resource.Properties ?? {}) as Record<string, unknown>;
    checkProperties(logicalId, type, properties);
    checkIntrinsics(properties, `resource ${logicalId}`);
    declared.set(logicalId, { logicalId, type, properties, dependsOn });
  }

  // Order the resources so each follows its DependsOn and the resources its properties name.
  const ordered: TemplateResource[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, from: string) => {
    const resource = declared.get(id);
    if (resource === undefined) {
      if ((id in parameters || id.startsWith('AWS::')) && !dependsOnOf(from).includes(id)) return;
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
  const dependsOnOf = (id: string) => declared.get(id)?.dependsOn ?? [];
  for (const id of declared.keys()) visit(id, 'Resources');

  const outputs: TemplateOutput[] = [];
  for (const [key, spec] of Object.entries((root.Outputs ?? {}) as Record<string, unknown>)) {
    const output = (spec ?? {}) as Record<string, unknown>;
    if (output.Value === undefined)
      throw validation(`Template format error: output ${key} has no Value`);
    checkIntrinsics(output.Value, `output ${key}`);
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

/** Refuse a property a resource type does not take, and a missing required one. */
function checkProperties(logicalId: string, type: string, properties: Record<string, unknown>) {
  const { required, optional } = PROPERTIES[type]!;
  const known = [...required, ...optional];
  for (const name of Object.keys(properties)) {
    if (!known.includes(name)) {
      throw validation(
        `Template format error: resource ${logicalId} (${type}) has the property ${name}, ` +
          `which Vellum does not know; its properties are ${known.join(', ')}`,
      );
    }
  }
  for (const name of required) {
    if (properties[name] === undefined) {
      throw validation(
        `Template format error: resource ${logicalId} (${type}) needs the property ${name}`,
      );
    }
  }
}

/** Refuse intrinsic functions, and forms of them, that Vellum does not resolve. */
function checkIntrinsics(value: unknown, where: string): void {
  const bad = (form: string) =>
    validation(`Template format error: ${form} in ${where} is not supported; use ${INTRINSICS}`);
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const keys = Object.keys(record);
    const intrinsic = keys.find((key) => key === 'Ref' || key.startsWith('Fn::'));
    if (intrinsic === undefined) return Object.values(record).forEach(walk);
    if (keys.length !== 1) throw bad(`${intrinsic} beside other keys`);
    const argument = record[intrinsic];
    switch (intrinsic) {
      case 'Ref':
        if (typeof argument !== 'string') throw bad('Ref of something other than a name');
        return;
      case 'Fn::GetAtt':
        if (typeof argument === 'string' && /^[A-Za-z0-9]+\.\w+$/.test(argument)) return;
        if (
          !Array.isArray(argument) ||
          argument.length !== 2 ||
          !argument.every((part) => typeof part === 'string')
        ) {
          throw bad('Fn::GetAtt other than [Resource, Attribute] or Resource.Attribute');
        }
        return;
      case 'Fn::Sub':
        if (typeof argument === 'string') return;
        if (
          Array.isArray(argument) &&
          argument.length === 2 &&
          typeof argument[0] === 'string' &&
          typeof argument[1] === 'object' &&
          argument[1] !== null &&
          !Array.isArray(argument[1])
        ) {
          return Object.values(argument[1] as Record<string, unknown>).forEach(walk);
        }
        throw bad('Fn::Sub other than a string or [string, {variables}]');
      case 'Fn::Join':
        if (Array.isArray(argument) && argument.length === 2 && typeof argument[0] === 'string') {
          if (Array.isArray(argument[1])) return argument[1].forEach(walk);
          return walk(argument[1]);
        }
        throw bad('Fn::Join other than [delimiter, [values]]');
      default:
        throw bad(intrinsic);
    }
  };
  walk(value);
}

/** Return the resource and attribute of `Fn::GetAtt`, from `[Resource, Attribute]` or `Resource.Attribute`. */
function getAtt(argument: unknown): [string, string] {
  if (typeof argument === 'string') {
    const dot = argument.indexOf('.');
    return [argument.slice(0, dot), argument.slice(dot + 1)];
  }
  return (argument as unknown[]).map(String) as [string, string];
}

/** Return the names a `Fn::Sub` string refers to, leaving out `${!Literal}` escapes. */
function subNames(text: string): string[] {
  return [...text.matchAll(/\$\{([^}!][^}]*)\}/g)].map((match) => match[1]!);
}

/** The logical ids and parameters an expression refers to. */
export function references(value: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      const sub = record['Fn::Sub'];
      if (typeof record.Ref === 'string') found.push(record.Ref);
      else if (record['Fn::GetAtt'] !== undefined) found.push(getAtt(record['Fn::GetAtt'])[0]);
      else if (typeof sub === 'string') {
        for (const name of subNames(sub)) found.push(name.split('.')[0]!);
      } else if (Array.isArray(sub)) {
        const variables = (sub[1] ?? {}) as Record<string, unknown>;
        for (const name of subNames(String(sub[0]))) {
          if (!(name in variables)) found.push(name.split('.')[0]!);
        }
        Object.values(variables).forEach(walk);
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
  if (record['Fn::GetAtt'] !== undefined) {
    const [id, name] = getAtt(record['Fn::GetAtt']);
    const resolved = context.attribute(id, name);
    if (resolved === undefined)
      throw validation(`Template error: resource ${id} has no attribute ${name}`);
    return resolved;
  }
  const sub = record['Fn::Sub'];
  if (typeof sub === 'string') return substitute(sub, {}, context);
  if (Array.isArray(sub)) {
    const variables: Record<string, string> = {};
    for (const [name, item] of Object.entries((sub[1] ?? {}) as Record<string, unknown>)) {
      variables[name] = String(resolve(item, context));
    }
    return substitute(String(sub[0]), variables, context);
  }
  const join = record['Fn::Join'];
  if (Array.isArray(join)) {
    const items = resolve(join[1], context);
    if (!Array.isArray(items)) throw validation('Template error: Fn::Join needs a list of values');
    return items.map(String).join(String(join[0]));
  }
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record)) result[key] = resolve(item, context);
  return result;
}

/** Fill in a `Fn::Sub` string: its own variables, then parameters, resources and attributes. */
function substitute(text: string, variables: Record<string, string>, context: ResolveContext) {
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    // `${!Literal}` writes `${Literal}`.
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in variables) return variables[name]!;
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) {
      const resolved = context.attribute(name.slice(0, dot), name.slice(dot + 1));
      if (resolved === undefined) throw validation(`Template error: cannot resolve \${${name}}`);
      return resolved;
    }
    return lookup(name, context);
  });
}

function lookup(name: string, context: ResolveContext): string {
  const value = context.parameters[name] ?? context.ref(name);
  if (value === undefined) throw validation(`Template error: cannot resolve Ref ${name}`);
  return value;
}
