import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { writeAwsProfile } from '../../../src/cli/aws-profile.js';
import { parseDuration } from '../../../src/cli/duration.js';
import { tempDir } from '../../helpers/backends.js';

test('durations parse into milliseconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('1.5s'), 1500);
});

test('bad durations name the accepted forms', () => {
  for (const text of ['', '10', 'ms', '5 m', '-5s', '3x', '0s', '1e3s']) {
    assert.throws(
      () => parseDuration(text),
      (error: Error) =>
        error instanceof InvalidArgumentError &&
        error.message.includes(JSON.stringify(text)) &&
        /500ms|at least 1ms/.test(error.message),
      text,
    );
  }
});

test('duration parser raises only InvalidArgumentError', () => {
  fc.assert(
    fc.property(fc.string(), (text) => {
      try {
        const value = parseDuration(text);
        assert.ok(Number.isSafeInteger(value) && value >= 1);
      } catch (error) {
        assert.ok(error instanceof InvalidArgumentError);
      }
    }),
  );
});

test('AWS profile files are private and current', () => {
  const dir = tempDir();
  try {
    const settings = {
      accessKeyId: 'AKIAEXAMPLE000000001',
      secretAccessKey: 'secret/with+chars',
      region: 'eu-west-2',
      endpointUrl: 'http://127.0.0.1:8600',
    };
    const paths = writeAwsProfile(dir.path, settings);
    assert.equal(
      readFileSync(paths.credentialsFile, 'utf8'),
      '[vellum]\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = secret/with+chars\n',
    );
    assert.equal(
      readFileSync(join(dir.path, 'config'), 'utf8'),
      '[profile vellum]\nregion = eu-west-2\nendpoint_url = http://127.0.0.1:8600\n',
    );

    chmodSync(paths.configFile, 0o644);
    writeAwsProfile(dir.path, settings);
    assert.equal(statSync(paths.configFile).mode & 0o777, 0o600, 'loose mode is tightened');

    writeFileSync(paths.configFile, 'stale', { mode: 0o600 });
    writeAwsProfile(dir.path, { ...settings, endpointUrl: 'http://127.0.0.1:9000' });
    assert.match(
      readFileSync(paths.configFile, 'utf8'),
      /endpoint_url = http:\/\/127\.0\.0\.1:9000/,
    );
    assert.equal(statSync(paths.credentialsFile).mode & 0o777, 0o600);
  } finally {
    dir.remove();
  }
});
