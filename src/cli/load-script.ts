import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';

/**
 * Reading and checking the Artillery scripts that `vellum load` runs. A
 * script that uses anything outside the subset the runner implements is
 * rejected before any request is sent, with every problem and where it is.
 */

const SCRIPT_KEYS = ['config', 'scenarios'];
const CONFIG_KEYS = ['target', 'phases', 'processor', 'variables'];
const PHASE_KEYS = ['duration', 'arrivalRate', 'arrivalCount', 'name'];
const SCENARIO_KEYS = ['name', 'weight', 'flow'];
export const METHODS = ['get', 'post', 'put', 'delete'] as const;
const STEP_KEYS = ['function', ...METHODS, 'log', 'think'];
const REQUEST_KEYS = ['url', 'json', 'headers'];

export interface Phase {
  /** Seconds. */
  duration: number;
  /** Virtual users started each second. */
  arrivalRate?: number;
  /** Virtual users started over the whole phase. */
  arrivalCount?: number;
  name?: string;
}

export interface RequestSpec {
  /** A path appended to the target, or an absolute http:// or https:// URL. */
  url: string;
  json?: unknown;
  headers?: Record<string, string>;
}

export interface Step {
  function?: string;
  get?: RequestSpec;
  post?: RequestSpec;
  put?: RequestSpec;
  delete?: RequestSpec;
  log?: string;
  /** Seconds. */
  think?: number;
}

export interface Scenario {
  name?: string;
  weight?: number;
  flow: Step[];
}

export interface Script {
  config: {
    target?: string;
    phases?: Phase[];
    processor?: string;
    /** A list value gives each virtual user one of its values, picked at random. */
    variables?: Record<string, unknown>;
  };
  scenarios: Scenario[];
}

export type Processor = Record<
  string,
  (
    context: { vars: Record<string, unknown> },
    events: EventEmitter,
    done: (error?: unknown) => void,
  ) => unknown
>;

/** A script that `vellum load` cannot run, with each problem and where it is. */
export class ScriptError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `${file} cannot run with vellum load:\n${problems.map((problem) => `  ${problem}\n`).join('')}` +
        "vellum load runs a subset of Artillery's script format (vellum load --help lists it); " +
        'a script that uses more of the format can still run with Artillery',
    );
    this.name = 'ScriptError';
  }
}

/** Number of virtual users a phase starts. */
export function phaseArrivals(phase: Phase): number {
  return phase.arrivalCount ?? Math.round((phase.arrivalRate ?? 0) * phase.duration);
}

/**
 * Read a script and its processor, and check that `vellum load` implements
 * everything the script uses. Throws a `ScriptError` that lists every problem.
 */
export async function loadScript(file: string): Promise<{ script: Script; processor: Processor }> {
  const script = readScript(file);
  const processor = await loadProcessor(file, script.config.processor);
  const problems = findMissingFunctions(script, processor, file);
  if (problems.length > 0) throw new ScriptError(file, problems);
  return { script, processor };
}

function readScript(file: string): Script {
  const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
  const problems: string[] = [];
  checkScript(parsed, problems);
  if (problems.length > 0) throw new ScriptError(file, problems);

  const script = parsed as Script;
  script.config ??= {};
  return script;
}

async function loadProcessor(file: string, processor: string | undefined): Promise<Processor> {
  if (processor === undefined) return {};
  const path = resolve(dirname(file), processor);
  if (path.endsWith('.cjs') || path.endsWith('.js')) {
    try {
      return createRequire(pathToFileURL(path))(path) as Processor;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_REQUIRE_ESM') throw error;
    }
  }
  return (await import(pathToFileURL(path).href)) as Processor;
}

function findMissingFunctions(script: Script, processor: Processor, file: string): string[] {
  const path = resolve(dirname(file), script.config.processor ?? '');
  const exported = Object.keys(processor).filter((name) => typeof processor[name] === 'function');
  const problems: string[] = [];
  for (const [i, scenario] of script.scenarios.entries()) {
    for (const [j, step] of scenario.flow.entries()) {
      if (step.function === undefined || exported.includes(step.function)) continue;
      problems.push(
        `scenarios[${i}].flow[${j}].function names ${step.function}, but the processor ${path} ` +
          `does not export it; it exports ${exported.length > 0 ? exported.join(', ') : 'no functions'}`,
      );
    }
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkScript(script: unknown, problems: string[]): void {
  if (!isRecord(script)) {
    problems.push('the file is not an Artillery script: it needs config and scenarios');
    return;
  }
  checkKeys(script, '', SCRIPT_KEYS, 'top-level keys', problems);

  if (script.config !== undefined && !isRecord(script.config)) {
    problems.push('config must be a mapping');
  } else if (script.config !== undefined) {
    checkConfig(script.config, problems);
  }

  if (!Array.isArray(script.scenarios) || script.scenarios.length === 0) {
    problems.push('scenarios is missing or empty; add a scenario with a flow');
    return;
  }
  const variables = isRecord(script.config) ? script.config.variables : undefined;
  const context: FlowContext = {
    defined: new Set(['$target', ...Object.keys(isRecord(variables) ? variables : {})]),
    hasProcessor: isRecord(script.config) && script.config.processor !== undefined,
    afterFunction: false,
  };
  for (const [i, scenario] of script.scenarios.entries()) {
    checkScenario(scenario, `scenarios[${i}]`, { ...context }, problems);
  }
}

function checkKeys(
  value: Record<string, unknown>,
  path: string,
  supported: readonly string[],
  kind: string,
  problems: string[],
): void {
  for (const key of Object.keys(value)) {
    if (supported.includes(key)) continue;
    problems.push(
      `${path === '' ? key : `${path}.${key}`} is not supported by vellum load; ` +
        `supported ${kind}: ${supported.join(', ')}`,
    );
  }
}

function checkConfig(config: Record<string, unknown>, problems: string[]): void {
  for (const [key, value] of Object.entries(config)) {
    if (CONFIG_KEYS.includes(key)) continue;
    // Settings such as config.http or config.defaults are named down to the
    // setting, so the message points at the line to change.
    const settings = isRecord(value) && Object.keys(value).length > 0 ? Object.keys(value) : [''];
    for (const setting of settings) {
      problems.push(
        `config.${key}${setting === '' ? '' : `.${setting}`} is not supported by vellum load; ` +
          `supported config keys: ${CONFIG_KEYS.join(', ')}`,
      );
    }
  }

  if (config.target !== undefined && typeof config.target !== 'string') {
    problems.push(`config.target must be a URL string, got ${JSON.stringify(config.target)}`);
  }
  if (config.processor !== undefined && typeof config.processor !== 'string') {
    problems.push(`config.processor must be a file path, got ${JSON.stringify(config.processor)}`);
  }
  if (config.variables !== undefined && !isRecord(config.variables)) {
    problems.push('config.variables must be a mapping of names to values');
  } else if (config.variables !== undefined) {
    for (const [name, value] of Object.entries(config.variables)) {
      if (Array.isArray(value) && value.length === 0) {
        problems.push(`config.variables.${name} is an empty list; give it at least one value`);
      }
    }
  }
  checkPhases(config.phases, problems);
  for (const key of ['target', 'processor', 'variables']) {
    forEachString(config[key], `config.${key}`, (text, path) => {
      for (const template of findTemplates(text)) {
        problems.push(
          `${path} contains ${template.text}, but vellum load does not render templates in config; ` +
            'write the value itself',
        );
      }
    });
  }
}

function checkPhases(phases: unknown, problems: string[]): void {
  if (phases === undefined) return;
  if (!Array.isArray(phases) || phases.length === 0) {
    problems.push('config.phases must be a non-empty list; leave it out to start one virtual user');
    return;
  }
  for (const [i, phase] of phases.entries()) checkPhase(phase, `config.phases[${i}]`, problems);
}

function checkPhase(phase: unknown, path: string, problems: string[]): void {
  if (!isRecord(phase)) {
    problems.push(`${path} must be a mapping with duration, and arrivalRate or arrivalCount`);
    return;
  }
  checkKeys(phase, path, PHASE_KEYS, 'phase keys', problems);
  if (phase.name !== undefined && typeof phase.name !== 'string') {
    problems.push(`${path}.name must be a string, got ${JSON.stringify(phase.name)}`);
  }

  let valid = checkPositiveNumber(phase.duration, `${path}.duration`, 'seconds', problems);
  if ((phase.arrivalRate === undefined) === (phase.arrivalCount === undefined)) {
    problems.push(`${path} needs exactly one of arrivalRate and arrivalCount`);
    return;
  }
  if (phase.arrivalRate !== undefined) {
    valid &&= checkPositiveNumber(
      phase.arrivalRate,
      `${path}.arrivalRate`,
      'virtual users a second',
      problems,
    );
  } else if (!Number.isInteger(phase.arrivalCount) || (phase.arrivalCount as number) < 1) {
    problems.push(
      `${path}.arrivalCount must be a whole number of virtual users above 0, ` +
        `got ${JSON.stringify(phase.arrivalCount)}`,
    );
    valid = false;
  }

  if (valid && phaseArrivals(phase as unknown as Phase) === 0) {
    problems.push(
      `${path} starts no virtual user: arrivalRate ${String(phase.arrivalRate)} for ` +
        `${String(phase.duration)} s rounds to 0; raise arrivalRate or duration`,
    );
  }
}

/** Report a value that is not a number above 0; `unit` names what it counts. */
function checkPositiveNumber(
  value: unknown,
  path: string,
  unit: string,
  problems: string[],
): boolean {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return true;
  if (value === undefined) {
    problems.push(`${path} is missing; set it to a number of ${unit}`);
  } else if (typeof value === 'string') {
    problems.push(
      `${path} is the string ${JSON.stringify(value)}; vellum load takes a plain number of ${unit}, such as 3`,
    );
  } else {
    problems.push(`${path} must be a number of ${unit} above 0, got ${JSON.stringify(value)}`);
  }
  return false;
}

/** Variables a flow can have set by the step being checked. */
interface FlowContext {
  /** Variables that every virtual user has from the start. */
  defined: Set<string>;
  hasProcessor: boolean;
  /** A processor function ran earlier in the flow, so it may have set any variable. */
  afterFunction: boolean;
}

function checkScenario(
  scenario: unknown,
  path: string,
  context: FlowContext,
  problems: string[],
): void {
  if (!isRecord(scenario)) {
    problems.push(`${path} must be a mapping with a flow`);
    return;
  }
  checkKeys(scenario, path, SCENARIO_KEYS, 'scenario keys', problems);
  if (scenario.name !== undefined && typeof scenario.name !== 'string') {
    problems.push(`${path}.name must be a string, got ${JSON.stringify(scenario.name)}`);
  }
  if (scenario.weight !== undefined) {
    checkPositiveNumber(scenario.weight, `${path}.weight`, 'shares', problems);
  }

  if (!Array.isArray(scenario.flow) || scenario.flow.length === 0) {
    problems.push(`${path}.flow is missing or empty; list the steps of the scenario`);
    return;
  }
  for (const [i, step] of scenario.flow.entries()) {
    checkStep(step, `${path}.flow[${i}]`, context, problems);
  }
}

function checkStep(step: unknown, path: string, context: FlowContext, problems: string[]): void {
  if (!isRecord(step)) {
    problems.push(`${path} must be a mapping with one of: ${STEP_KEYS.join(', ')}`);
    return;
  }
  checkKeys(step, path, STEP_KEYS, 'flow steps', problems);
  const actions = Object.keys(step).filter((key) => STEP_KEYS.includes(key));
  if (actions.length > 1) {
    problems.push(`${path} has ${actions.join(' and ')}; give each action a step of its own`);
  }
  if (Object.keys(step).length === 0) {
    problems.push(`${path} is empty; give it one of: ${STEP_KEYS.join(', ')}`);
  }

  for (const action of actions) {
    const value = step[action];
    const where = `${path}.${action}`;
    if (action === 'function') checkFunctionStep(value, where, context, problems);
    else if (action === 'log') checkLogStep(value, where, context, problems);
    else if (action === 'think') checkThinkStep(value, where, problems);
    else checkRequest(value, where, context, problems);
  }
}

function checkFunctionStep(
  name: unknown,
  path: string,
  context: FlowContext,
  problems: string[],
): void {
  if (typeof name !== 'string' || name === '') {
    problems.push(`${path} must name a processor function, got ${JSON.stringify(name)}`);
  } else if (!context.hasProcessor) {
    problems.push(
      `${path} names ${name}, but config.processor is not set; set it to the file that exports ${name}`,
    );
  }
  context.afterFunction = true;
}

function checkLogStep(text: unknown, path: string, context: FlowContext, problems: string[]) {
  if (typeof text !== 'string') {
    problems.push(`${path} must be a string, got ${JSON.stringify(text)}`);
    return;
  }
  checkTemplates(text, path, context, problems);
}

function checkThinkStep(seconds: unknown, path: string, problems: string[]): void {
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) return;
  problems.push(
    `${path} must be a plain number of seconds, such as 1, got ${JSON.stringify(seconds)}`,
  );
}

function checkRequest(
  request: unknown,
  path: string,
  context: FlowContext,
  problems: string[],
): void {
  if (!isRecord(request)) {
    problems.push(`${path} must be a mapping with a url`);
    return;
  }
  checkKeys(request, path, REQUEST_KEYS, 'request keys', problems);

  if (typeof request.url !== 'string' || request.url === '') {
    problems.push(`${path}.url must be a path or an http:// or https:// URL`);
  }
  if (request.headers !== undefined) {
    const headers = request.headers;
    const valid =
      isRecord(headers) && Object.values(headers).every((value) => typeof value !== 'object');
    if (!valid) problems.push(`${path}.headers must map header names to strings`);
  }
  for (const key of REQUEST_KEYS) {
    checkTemplates(request[key], `${path}.${key}`, context, problems);
  }
}

function checkTemplates(
  value: unknown,
  path: string,
  context: FlowContext,
  problems: string[],
): void {
  forEachString(value, path, (text, where) => {
    for (const template of findTemplates(text)) {
      const problem = checkTemplate(template, where, context);
      if (problem !== undefined) problems.push(problem);
    }
  });
}

interface Template {
  /** The whole template, such as `{{ id }}`. */
  text: string;
  /** The text between the braces, trimmed. */
  expression: string;
}

function findTemplates(text: string): Template[] {
  return [...text.matchAll(/\{\{(.*?)\}\}/g)].map((match) => ({
    text: match[0],
    expression: match[1]!.trim(),
  }));
}

function checkTemplate(template: Template, path: string, context: FlowContext): string | undefined {
  const name = template.expression;
  if (name.startsWith('$') && name !== '$target') {
    const helper = /^\$\w*/.exec(name)![0];
    return (
      `${path} uses ${template.text}, but vellum load does not support ${helper}; ` +
      'templates may name {{ $target }} and variables from config.variables or processor functions'
    );
  }
  if (!/^(?:[A-Za-z_]\w*|\$target)$/.test(name)) {
    return `${path} uses ${template.text}, but vellum load renders only plain variable names, such as {{ id }}`;
  }
  if (context.afterFunction || context.defined.has(name)) return undefined;
  return (
    `${path} uses ${template.text}, but no variable ${name} is defined there; ` +
    'set it in config.variables or in a processor function that an earlier step calls'
  );
}

/** Call `visit` on every string in a value, and on every key of its mappings, with its path. */
function forEachString(
  value: unknown,
  path: string,
  visit: (text: string, path: string) => void,
): void {
  if (typeof value === 'string') {
    visit(value, path);
  } else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) forEachString(item, `${path}[${i}]`, visit);
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      visit(key, path);
      forEachString(item, `${path}.${key}`, visit);
    }
  }
}
