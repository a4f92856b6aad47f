import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { profileEndpoint } from '../../../src/cli/endpoint.js';
import { tempDir } from '../../helpers/backends.js';

const VARIABLES = [
  'AWS_CONFIG_FILE',
  'AWS_PROFILE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_QLDB',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
];

/** Run `check` with `config` as the AWS config file and `env` set, restoring the environment after. */
async function withConfig(
  config: string,
  env: Record<string, string>,
  check: () => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const saved = VARIABLES.map((name) => [name, process.env[name]] as const);
  try {
    for (const name of VARIABLES) delete process.env[name];
    const file = join(dir.path, 'config');
    writeFileSync(file, config);
    Object.assign(process.env, { AWS_CONFIG_FILE: file, AWS_PROFILE: 'vellum' }, env);
    await check();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    dir.remove();
  }
}

const PROFILE =
  '[profile vellum]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:8600 ; local\n';
const SERVICES =
  '[profile vellum]\nendpoint_url = http://127.0.0.1:8600\nservices = local\n' +
  '[services local]\nqldb =\n  endpoint_url = http://127.0.0.1:9000\n';

test('rekey endpoint comes from the profile', async () => {
  await withConfig(PROFILE, {}, async () => {
    assert.equal(await profileEndpoint(), 'http://127.0.0.1:8600');
  });
  await withConfig(PROFILE, { AWS_PROFILE: 'other' }, async () => {
    assert.equal(await profileEndpoint(), undefined);
  });
});

test('rekey endpoint follows the SDK order', async () => {
  await withConfig(SERVICES, {}, async () => {
    assert.equal(await profileEndpoint(), 'http://127.0.0.1:9000');
  });
  await withConfig(SERVICES, { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }, async () => {
    assert.equal(await profileEndpoint(), 'http://127.0.0.1:1');
  });
  const both = { AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_QLDB: 'http://[::1]:2' };
  await withConfig(SERVICES, both, async () => {
    assert.equal(await profileEndpoint(), 'http://[::1]:2');
  });
  await withConfig(SERVICES, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, async () => {
    assert.equal(await profileEndpoint(), undefined);
  });
  await withConfig(`${PROFILE}ignore_configured_endpoint_urls = true\n`, {}, async () => {
    assert.equal(await profileEndpoint(), undefined);
  });
  const ignored = `${PROFILE}ignore_configured_endpoint_urls = true\n`;
  await withConfig(ignored, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false' }, async () => {
    assert.equal(await profileEndpoint(), 'http://127.0.0.1:8600');
  });
  const emptyQldb = { AWS_ENDPOINT_URL_QLDB: '', AWS_ENDPOINT_URL: 'http://127.0.0.1:1' };
  await withConfig(PROFILE, emptyQldb, async () => {
    assert.equal(await profileEndpoint(), 'http://127.0.0.1:1');
  });
});

test('rekey endpoint handles services sections', async () => {
  const otherService =
    '[profile vellum]\nendpoint_url = http://127.0.0.1:8600\nservices = local\n' +
    '[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:9000\n';
  await withConfig(otherService, {}, async () => {
    assert.equal(await profileEndpoint(), 'http://127.0.0.1:8600');
  });
  const missing = '[profile vellum]\nendpoint_url = http://127.0.0.1:8600\nservices = nope\n';
  await withConfig(missing, {}, async () => {
    assert.equal(await profileEndpoint(), undefined);
  });
});
