/**
 * IAM policy documents: parsing and validation. The grammar follows the IAM
 * JSON policy reference (Version, Statement, Sid, Effect, Principal and
 * NotPrincipal, Action and NotAction, Resource and NotResource, Condition).
 * Evaluation is in `policy-evaluation.ts`.
 */
import { parseConditionBlock, type ConditionClause } from './policy-conditions.js';
import { hasVariables } from './policy-variables.js';

export const POLICY_VERSIONS = ['2012-10-17', '2008-10-17'] as const;

/** The principals one `Principal` or `NotPrincipal` element names. */
export interface PrincipalSet {
  /** True for `"*"` or `{"AWS": "*"}`. */
  any: boolean;
  /** `AWS` entries: account ids, root, user, role and assumed-role ARNs. */
  aws: string[];
  /** `Service` entries, such as `qldb.amazonaws.com`. */
  service: string[];
}

export interface PolicyStatement {
  sid?: string;
  effect: 'Allow' | 'Deny';
  principal?: PrincipalSet;
  notPrincipal?: PrincipalSet;
  /** Undefined when the statement has neither Action nor NotAction. */
  action?: string[];
  notAction?: string[];
  resource?: string[];
  notResource?: string[];
  conditions: ConditionClause[];
  /** True when Resource or NotResource contains policy variables to resolve per request. */
  resourceVariables?: boolean;
}

export interface PolicyDocument {
  version?: string;
  id?: string;
  statements: PolicyStatement[];
  /**
   * The unique ids recorded for the users and roles a key or trust policy
   * names, by ARN (see `principal-ids.ts`). Parsing leaves it unset.
   */
  principalIds?: ReadonlyMap<string, string>;
}

/**
 * The requirements of a kind of policy. Identity policies forbid a
 * principal, and resource policies (key policies, trust policies) require
 * one. KMS accepts a key policy statement without Action or Resource, which
 * then matches nothing, but IAM rejects it.
 */
export interface PolicyRules {
  principal: 'required' | 'forbidden';
  requireAction: boolean;
  requireResource: boolean;
}

export const IDENTITY_POLICY: PolicyRules = {
  principal: 'forbidden',
  requireAction: true,
  requireResource: true,
};
export const TRUST_POLICY: PolicyRules = {
  principal: 'required',
  requireAction: true,
  requireResource: false,
};
export const KEY_POLICY: PolicyRules = {
  principal: 'required',
  requireAction: false,
  requireResource: false,
};

/** Raised for a policy that is not valid JSON or breaks the grammar; the message names the fault. */
export class MalformedPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPolicyError';
  }
}

const STATEMENT_FIELDS = new Set([
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);
const DOCUMENT_FIELDS = new Set(['Version', 'Id', 'Statement']);
const ACTION_PATTERN = /^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$/;

/**
 * Parse a policy document and check it against `rules`.
 *
 * @example parsePolicy('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}', IDENTITY_POLICY)
 *   // => { version: '2012-10-17', statements: [{ effect: 'Allow', action: ['kms:*'], resource: ['*'], conditions: [] }] }
 */
export function parsePolicy(text: string, rules: PolicyRules): PolicyDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MalformedPolicyError(`Syntax errors in policy: ${(error as Error).message}.`);
  }
  if (!isObject(json)) {
    throw new MalformedPolicyError('Syntax errors in policy: the document must be a JSON object.');
  }

  for (const field of Object.keys(json)) {
    if (!DOCUMENT_FIELDS.has(field)) {
      throw new MalformedPolicyError(`Syntax errors in policy: unknown field ${field}.`);
    }
  }
  const version = json.Version;
  if (version !== undefined && !POLICY_VERSIONS.includes(version as never)) {
    throw new MalformedPolicyError(
      `The policy must contain a valid version string: ${JSON.stringify(version)} is not 2012-10-17 or 2008-10-17.`,
    );
  }
  if (json.Id !== undefined && typeof json.Id !== 'string') {
    throw new MalformedPolicyError('Syntax errors in policy: Id must be a string.');
  }

  const rawStatements = json.Statement;
  if (rawStatements === undefined) {
    throw new MalformedPolicyError('Syntax errors in policy: the Statement field is missing.');
  }
  const list = Array.isArray(rawStatements) ? rawStatements : [rawStatements];
  if (list.length === 0) {
    throw new MalformedPolicyError('Syntax errors in policy: Statement must not be empty.');
  }
  const statements = list.map((statement, index) => parseStatement(statement, index, rules));
  // Only the 2012-10-17 policy language has variables. Older policies keep
  // `${...}` as literal text.
  if (version === '2012-10-17') statements.forEach(markVariables);

  const document: PolicyDocument = { statements };
  if (typeof version === 'string') document.version = version;
  if (typeof json.Id === 'string') document.id = json.Id;
  return document;
}

/** Flag the resources and string or ARN conditions of a statement that contain policy variables. */
function markVariables(statement: PolicyStatement): void {
  const resources = statement.resource ?? statement.notResource ?? [];
  if (resources.some(hasVariables)) statement.resourceVariables = true;
  for (const clause of statement.conditions) {
    const takesVariables =
      clause.operator.startsWith('String') || clause.operator.startsWith('Arn');
    if (takesVariables && clause.values.some(hasVariables)) clause.variables = true;
  }
}

function parseStatement(raw: unknown, index: number, rules: PolicyRules): PolicyStatement {
  const where = `statement ${index + 1}`;
  if (!isObject(raw)) {
    throw new MalformedPolicyError(`Syntax errors in policy: ${where} must be a JSON object.`);
  }
  for (const field of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.has(field)) {
      throw new MalformedPolicyError(
        `Syntax errors in policy: unknown field ${field} in ${where}.`,
      );
    }
  }

  const effect = raw.Effect;
  if (effect !== 'Allow' && effect !== 'Deny') {
    throw new MalformedPolicyError(
      `Syntax errors in policy: ${where} has Effect ${JSON.stringify(effect)}; use "Allow" or "Deny".`,
    );
  }
  const statement: PolicyStatement = { effect, conditions: [] };
  if (raw.Sid !== undefined) {
    if (typeof raw.Sid !== 'string') {
      throw new MalformedPolicyError(`Syntax errors in policy: Sid of ${where} must be a string.`);
    }
    statement.sid = raw.Sid;
  }

  parsePrincipals(raw, statement, where, rules);
  parseActions(raw, statement, where, rules);
  parseResources(raw, statement, where, rules);
  if (raw.Condition !== undefined) statement.conditions = parseConditionBlock(raw.Condition, where);
  return statement;
}

function parsePrincipals(
  raw: Record<string, unknown>,
  statement: PolicyStatement,
  where: string,
  rules: PolicyRules,
): void {
  const hasPrincipal = raw.Principal !== undefined || raw.NotPrincipal !== undefined;
  if (raw.Principal !== undefined && raw.NotPrincipal !== undefined) {
    throw new MalformedPolicyError(
      `Syntax errors in policy: ${where} has both Principal and NotPrincipal; keep one.`,
    );
  }
  if (rules.principal === 'forbidden' && hasPrincipal) {
    throw new MalformedPolicyError(
      `Policy document should not specify a principal (${where}); identity policies apply to the identity they are attached to.`,
    );
  }
  if (rules.principal === 'required' && !hasPrincipal) {
    throw new MalformedPolicyError(
      `Policy contains a statement with no principal (${where}); add a Principal element.`,
    );
  }
  if (raw.Principal !== undefined) statement.principal = parsePrincipalSet(raw.Principal, where);
  if (raw.NotPrincipal !== undefined) {
    statement.notPrincipal = parsePrincipalSet(raw.NotPrincipal, where);
  }
}

function parseActions(
  raw: Record<string, unknown>,
  statement: PolicyStatement,
  where: string,
  rules: PolicyRules,
): void {
  if (raw.Action !== undefined && raw.NotAction !== undefined) {
    throw new MalformedPolicyError(
      `Syntax errors in policy: ${where} has both Action and NotAction; keep one.`,
    );
  }
  if (rules.requireAction && raw.Action === undefined && raw.NotAction === undefined) {
    throw new MalformedPolicyError(
      `Policy statement must contain actions (${where}); add an Action element.`,
    );
  }
  const field = raw.Action !== undefined ? 'Action' : 'NotAction';
  const value = raw[field];
  if (value === undefined) return;

  const actions = stringList(value, `${field} of ${where}`);
  for (const action of actions) {
    if (!ACTION_PATTERN.test(action)) {
      throw new MalformedPolicyError(
        `Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: ${JSON.stringify(action)} in ${where} is not valid.`,
      );
    }
  }
  if (field === 'Action') statement.action = actions;
  else statement.notAction = actions;
}

function parseResources(
  raw: Record<string, unknown>,
  statement: PolicyStatement,
  where: string,
  rules: PolicyRules,
): void {
  if (raw.Resource !== undefined && raw.NotResource !== undefined) {
    throw new MalformedPolicyError(
      `Syntax errors in policy: ${where} has both Resource and NotResource; keep one.`,
    );
  }
  if (rules.requireResource && raw.Resource === undefined && raw.NotResource === undefined) {
    throw new MalformedPolicyError(
      `Policy statement must contain resources (${where}); add a Resource element.`,
    );
  }
  const field = raw.Resource !== undefined ? 'Resource' : 'NotResource';
  const value = raw[field];
  if (value === undefined) return;

  const resources = stringList(value, `${field} of ${where}`);
  for (const resource of resources) {
    if (resource !== '*' && !resource.startsWith('arn:')) {
      throw new MalformedPolicyError(
        `Resource ${JSON.stringify(resource)} in ${where} must be in ARN format or "*".`,
      );
    }
  }
  if (field === 'Resource') statement.resource = resources;
  else statement.notResource = resources;
}

function parsePrincipalSet(value: unknown, where: string): PrincipalSet {
  if (value === '*') return { any: true, aws: [], service: [] };
  if (!isObject(value)) {
    throw new MalformedPolicyError(
      `Syntax errors in policy: the principal of ${where} must be "*" or an object such as {"AWS": "<arn>"}.`,
    );
  }

  const set: PrincipalSet = { any: false, aws: [], service: [] };
  for (const [kind, entries] of Object.entries(value)) {
    const list = stringList(entries, `Principal ${kind} of ${where}`);
    if (kind === 'AWS') {
      for (const entry of list) {
        if (entry === '*') set.any = true;
        else if (isAwsPrincipal(entry)) set.aws.push(entry);
        else {
          throw new MalformedPolicyError(
            `Invalid principal in policy: "AWS":${JSON.stringify(entry)} in ${where}; use an account id or an IAM ARN.`,
          );
        }
      }
    } else if (kind === 'Service') {
      set.service.push(...list);
    } else if (kind === 'Federated' || kind === 'CanonicalUser') {
      throw new MalformedPolicyError(
        `Principal type ${kind} in ${where} is not supported; use AWS or Service.`,
      );
    } else {
      throw new MalformedPolicyError(
        `Invalid principal in policy: unknown principal type ${JSON.stringify(kind)} in ${where}.`,
      );
    }
  }
  if (!set.any && set.aws.length === 0 && set.service.length === 0) {
    throw new MalformedPolicyError(`Syntax errors in policy: the principal of ${where} is empty.`);
  }
  return set;
}

const AWS_PRINCIPAL_PATTERN =
  /^(\d{12}|arn:aws:iam::\d{12}:(root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)|arn:aws:sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+)$/;

function isAwsPrincipal(entry: string): boolean {
  return AWS_PRINCIPAL_PATTERN.test(entry);
}

/**
 * Check the rules IAM adds for the policies it stores (inline and trust
 * policies), beyond the grammar: unique alphanumeric statement ids, and no
 * NotPrincipal in a trust policy. Key policies allow both. Stored policies
 * are not checked again when they are evaluated.
 */
export function checkIamPolicyRules(document: PolicyDocument, kind: 'identity' | 'trust'): void {
  const seen = new Set<string>();
  document.statements.forEach((statement, index) => {
    const where = `statement ${index + 1}`;
    if (statement.sid !== undefined) {
      if (!/^[0-9A-Za-z]*$/.test(statement.sid)) {
        throw new MalformedPolicyError(
          `Statement IDs (SID) must be alpha-numeric: ${JSON.stringify(statement.sid)} in ${where} has other characters; use only [0-9A-Za-z].`,
        );
      }
      if (statement.sid !== '' && seen.has(statement.sid)) {
        throw new MalformedPolicyError(
          `Statement IDs (SID) in a single policy must be unique: ${JSON.stringify(statement.sid)} appears again in ${where}.`,
        );
      }
      seen.add(statement.sid);
    }
    if (kind === 'trust' && statement.notPrincipal !== undefined) {
      throw new MalformedPolicyError(
        `Trust policies do not support NotPrincipal (${where}); name the principals in Principal, or test aws:PrincipalArn in a Condition.`,
      );
    }
  });
}

/** Read a string or a non-empty list of strings as a list. */
export function stringList(value: unknown, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    throw new MalformedPolicyError(`Syntax errors in policy: ${what} must not be an empty list.`);
  }
  for (const item of list) {
    if (typeof item !== 'string' || item.length === 0) {
      throw new MalformedPolicyError(
        `Syntax errors in policy: ${what} must be a non-empty string or a list of them, got ${JSON.stringify(item)}.`,
      );
    }
  }
  return list as string[];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
