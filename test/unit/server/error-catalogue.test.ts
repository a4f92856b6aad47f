import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AUTH_ERROR_CODES } from '../../../src/server/sigv4/auth-failure.js';

const doc = readFileSync(new URL('../../../docs/http.md', import.meta.url), 'utf8');

test('every verification error is documented', () => {
  for (const [protocol, codes] of Object.entries(AUTH_ERROR_CODES)) {
    for (const [kind, { code, status }] of Object.entries(codes)) {
      assert.ok(doc.includes(`\`${code}\` ${status}`), `${protocol} ${kind}: ${code} ${status}`);
    }
  }
});
