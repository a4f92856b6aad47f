import { existsSync, readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parseDocument } from 'yaml';
import { explainAccessError, resolveConnection } from './endpoint.js';

export interface StackCommandOptions {
  stage: string;
  /** The stack file; its name without extension, plus the stage, names the stack. */
  file: string;
  /** Vellum's endpoint; when absent, the AWS profile's `endpoint_url`, then the default. */
  endpoint?: string;
  /** The region; when absent, the AWS profile's, then the default. */
  region?: string;
  /** The data directory where `vellum serve` wrote the AWS profile, used when no AWS profile is configured. */
  dataDir: string;
  json?: boolean;
  /** `KEY=VALUE` values for the stack file's parameters. */
  parameter?: string[];
}

type CloudFormation = typeof import('@aws-sdk/client-cloudformation');

const POLL_MS = 200;
const TIMEOUT_MS = 10 * 60_000;

/** `qldb-kms-dev` for `stacks/qldb-kms.yml` and stage `dev`. */
export function stackName(file: string, stage: string): string {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(stage)) {
    throw new Error(
      `--stage must be 1 to 64 letters, digits and hyphens, got ${JSON.stringify(stage)}`,
    );
  }
  const name = `${basename(file, extname(file))}-${stage}`;
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(name) || name.length > 128) {
    throw new Error(
      `the stack name ${name} comes from the stack file's name and --stage, and a stack name ` +
        'is a letter, then letters, digits and hyphens; rename the file, such as to ' +
        `${basename(file, extname(file)).replace(/[^A-Za-z0-9-]/g, '-')}${extname(file)}`,
    );
  }
  return name;
}

/**
 * Build the parameters to send: `Stage` when the file declares it, each
 * `--parameter`, and for an update, the deployed value of every other
 * parameter both versions have, as `aws cloudformation deploy` keeps them.
 */
function stackParameters(
  template: string,
  options: StackCommandOptions,
  deployed: string[],
): Array<{ ParameterKey: string; ParameterValue?: string; UsePreviousValue?: boolean }> {
  // Unknown tags are intrinsic functions; only the parameter names matter
  // here. A file that does not parse goes to the server as it is, which
  // names the error.
  let declared = ['Stage'];
  const document = parseDocument(template, { customTags: [] });
  if (document.errors.length === 0) {
    const root = document.toJS() as { Parameters?: Record<string, unknown> } | null;
    declared = Object.keys(root?.Parameters ?? {});
  }
  const overrides = new Map<string, string>();
  for (const pair of options.parameter ?? []) {
    const equals = pair.indexOf('=');
    const key = pair.slice(0, equals);
    if (equals <= 0 || !declared.includes(key)) {
      throw new Error(
        `--parameter ${pair} must be KEY=VALUE for a parameter of ${options.file}` +
          (declared.length === 0 ? ', which has none' : `: ${declared.join(', ')}`),
      );
    }
    if (key === 'Stage') {
      throw new Error(
        `--parameter ${pair}: the stage is the Stage parameter, and it also names the stack; use --stage`,
      );
    }
    overrides.set(key, pair.slice(equals + 1));
  }
  if (declared.includes('Stage') && !overrides.has('Stage')) overrides.set('Stage', options.stage);
  type Parameter = ReturnType<typeof stackParameters>[number];
  return declared.flatMap((key): Parameter[] => {
    if (overrides.has(key)) return [{ ParameterKey: key, ParameterValue: overrides.get(key)! }];
    return deployed.includes(key) ? [{ ParameterKey: key, UsePreviousValue: true }] : [];
  });
}

async function client(options: StackCommandOptions) {
  const sdk: CloudFormation = await import('@aws-sdk/client-cloudformation');
  const { url, region, credentials } = await resolveConnection(
    options,
    (endpoint) => new sdk.CloudFormationClient({ endpoint }),
  );
  const cloudformation = new sdk.CloudFormationClient({ endpoint: url, region, credentials });
  return {
    sdk,
    cloudformation,
    /** Explain a failed call when the connection, the credentials or the region caused it. */
    explain: (error: unknown): unknown =>
      explainAccessError(error as Error, url, credentials.accessKeyId, region) ?? error,
  };
}

type Client = Awaited<ReturnType<typeof client>>;

async function describe({ sdk, cloudformation, explain }: Client, name: string) {
  try {
    const reply = await cloudformation.send(new sdk.DescribeStacksCommand({ StackName: name }));
    return reply.Stacks?.[0];
  } catch (error) {
    if (/does not exist/.test((error as Error).message)) return undefined;
    throw explain(error);
  }
}

async function waitForStack(stacks: Client, name: string) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const stack = await describe(stacks, name);
    if (stack === undefined || !String(stack.StackStatus).endsWith('_IN_PROGRESS')) return stack;
    if (Date.now() > deadline)
      throw new Error(
        `stack ${name} is still ${stack.StackStatus} after ${TIMEOUT_MS / 60_000} minutes`,
      );
    await new Promise((resolveWait) => setTimeout(resolveWait, POLL_MS));
  }
}

/**
 * `vellum deploy`: create the stack, or update it when it exists. Deploying
 * an unchanged stack changes nothing, and deploying after a failure
 * finishes the resources that were missing. Returns the exit code.
 */
export async function runDeploy(options: StackCommandOptions): Promise<number> {
  const name = stackName(options.file, options.stage);
  if (!existsSync(options.file)) {
    throw new Error(
      `stack file ${options.file} not found; pass --file with the path of a stack file such as stacks/qldb-kms.yml`,
    );
  }
  const template = readFileSync(options.file, 'utf8');
  const stacks = await client(options);
  const { sdk, cloudformation } = stacks;
  const existing = await describe(stacks, name);
  const parameters = stackParameters(
    template,
    options,
    (existing?.Parameters ?? []).map((parameter) => parameter.ParameterKey ?? ''),
  );
  try {
    if (existing === undefined) {
      await cloudformation.send(
        new sdk.CreateStackCommand({
          StackName: name,
          TemplateBody: template,
          Parameters: parameters,
          Capabilities: ['CAPABILITY_NAMED_IAM'],
        }),
      );
    } else {
      await cloudformation.send(
        new sdk.UpdateStackCommand({
          StackName: name,
          TemplateBody: template,
          Parameters: parameters,
          Capabilities: ['CAPABILITY_NAMED_IAM'],
        }),
      );
    }
  } catch (error) {
    if (!/No updates are to be performed/.test((error as Error).message)) throw error;
    process.stdout.write(`stack ${name} is up to date\n`);
  }
  const stack = await waitForStack(stacks, name);
  const status = String(stack?.StackStatus);
  if (!status.endsWith('_COMPLETE')) {
    process.stderr.write(
      `stack ${name} is ${status}: ${stack?.StackStatusReason ?? 'no reason given'}\nrun vellum deploy again to resume once the cause is fixed\n`,
    );
    return 1;
  }
  process.stdout.write(`stack ${name} is ${status}\n`);
  printOutputs(stack?.Outputs ?? [], options.json === true);
  return 0;
}

/** `vellum outputs`: the stack's outputs as `key: value` lines or a JSON object. */
export async function runOutputs(options: StackCommandOptions): Promise<number> {
  const name = stackName(options.file, options.stage);
  const stacks = await client(options);
  const stack = await describe(stacks, name);
  if (stack === undefined) {
    process.stderr.write(
      `stack ${name} does not exist; deploy it with vellum deploy --stage ${options.stage}\n`,
    );
    return 1;
  }
  const status = String(stack.StackStatus);
  if (!status.endsWith('_COMPLETE') || status.startsWith('DELETE')) {
    process.stderr.write(
      `stack ${name} is ${status}${stack.StackStatusReason === undefined ? '' : `: ${stack.StackStatusReason}`}; ` +
        'its outputs may be missing or stale\n',
    );
    printOutputs(stack.Outputs ?? [], options.json === true);
    return 1;
  }
  printOutputs(stack.Outputs ?? [], options.json === true);
  return 0;
}

/** `vellum remove`: delete the stack's ledger and roles and schedule its keys for deletion. */
export async function runRemove(options: StackCommandOptions): Promise<number> {
  const name = stackName(options.file, options.stage);
  const stacks = await client(options);
  const { sdk, cloudformation } = stacks;
  if ((await describe(stacks, name)) === undefined) {
    // As CloudFormation's DeleteStack does, removing a missing stack succeeds.
    process.stderr.write(`stack ${name} does not exist, so there is nothing to remove\n`);
    return 0;
  }
  await cloudformation.send(new sdk.DeleteStackCommand({ StackName: name }));
  const stack = await waitForStack(stacks, name);
  if (stack !== undefined) {
    process.stderr.write(
      `stack ${name} is ${stack.StackStatus}: ${stack.StackStatusReason ?? ''}\n`,
    );
    return 1;
  }
  process.stdout.write(
    `stack ${name} removed: its ledgers, aliases and roles are deleted, and its KMS keys scheduled for deletion\n`,
  );
  return 0;
}

function printOutputs(
  outputs: Array<{ OutputKey?: string; OutputValue?: string }>,
  json: boolean,
): void {
  if (json) {
    const values: Record<string, string> = {};
    for (const output of outputs) values[output.OutputKey ?? ''] = output.OutputValue ?? '';
    process.stdout.write(`${JSON.stringify(values, null, 2)}\n`);
    return;
  }
  for (const output of outputs)
    process.stdout.write(`${output.OutputKey}: ${output.OutputValue}\n`);
}
