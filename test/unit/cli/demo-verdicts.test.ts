import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestSample } from '../../../src/cli/demo-report.js';
import {
  expectAllDenied,
  expectAllSucceeded,
  formatVerdict,
  judgeKeyDisabled,
  type PhaseCounts,
} from '../../../src/cli/scenario-demo.js';

const GRANT =
  '400 BadRequestException: Vellum does not have grant access on the KMS customer managed key of the ledger.';
const DENIED = '500 AccessDeniedException: The user does not have permissions to use the key';

function counts(samples: RequestSample[], errors: string[]): PhaseCounts {
  const failed = samples.filter((sample) => !sample.ok).length;
  return { requests: samples.length, succeeded: samples.length - failed, failed, errors };
}

/** Reads every 0.1 s from 0 to 3 s, each taking 50 ms, failing from `failFrom` on. */
function reads(failFrom: number): RequestSample[] {
  return Array.from({ length: 31 }, (_, i) => ({
    t: i / 10,
    ms: 50,
    ok: i / 10 < failFrom,
    phase: '3. key disabled',
  }));
}

test('key disabled phase passes as expected', () => {
  const samples = reads(1.5);
  const errors = samples.filter((s) => !s.ok).map(() => GRANT);
  const verdict = judgeKeyDisabled(counts(samples, errors), samples, 1, 2);
  assert.deepEqual(verdict.problems, []);
  assert.equal(verdict.passed, true);
});

test('key disabled phase needs a failure', () => {
  const samples = reads(10);
  const verdict = judgeKeyDisabled(counts(samples, []), samples, 1, 2.5);
  assert.equal(verdict.passed, false);
  assert.ok(verdict.problems.includes('no read failed'), verdict.problems.join('; '));
});

test('key disabled phase rejects early failures', () => {
  const samples = reads(0.5);
  const errors = samples.filter((s) => !s.ok).map(() => GRANT);
  const verdict = judgeKeyDisabled(counts(samples, errors), samples, 1, 2);
  assert.deepEqual(verdict.problems, ['5 failed before DisableKey was sent']);
});

test('key disabled phase rejects other errors', () => {
  const samples = reads(1.5);
  const errors = samples.filter((s) => !s.ok).map((_, i) => (i === 3 ? '500 timeout' : GRANT));
  const verdict = judgeKeyDisabled(counts(samples, errors), samples, 1, 2);
  assert.deepEqual(verdict.problems, [
    '1 failed with another error than the grant-access message, the first with: 500 timeout',
  ]);
});

test('key disabled phase rejects late successes', () => {
  // DescribeLedger returned KMS_KEY_INACCESSIBLE at 2 s, yet reads that started after it succeeded.
  const samples = reads(2.5);
  const errors = samples.filter((s) => !s.ok).map(() => GRANT);
  const verdict = judgeKeyDisabled(counts(samples, errors), samples, 1, 2);
  // Reads ending at 2.1 to 2.4 s started at 2.05 to 2.35 s.
  assert.deepEqual(verdict.problems, [
    '4 started after DescribeLedger returned KMS_KEY_INACCESSIBLE and succeeded',
  ]);
});

test('no-access phase needs AccessDeniedException', () => {
  const denied = { requests: 3, succeeded: 0, failed: 3, errors: [DENIED, DENIED, DENIED] };
  assert.equal(expectAllDenied(denied).passed, true);
  const mixed = { requests: 3, succeeded: 1, failed: 2, errors: [DENIED, GRANT] };
  assert.deepEqual(expectAllDenied(mixed).problems, [
    '1 succeeded',
    `1 failed with another error than AccessDeniedException, the first with: ${GRANT}`,
  ]);
});

test('formatVerdict names phase and expectation', () => {
  const ok = { requests: 5, succeeded: 5, failed: 0, errors: [] };
  assert.equal(
    formatVerdict('1. create records', expectAllSucceeded(ok)),
    'PASS 1. create records: every request succeeded',
  );
  const bad = { requests: 5, succeeded: 3, failed: 2, errors: ['500 x', '500 x'] };
  assert.equal(
    formatVerdict('3. key enabled again', expectAllSucceeded(bad)),
    'FAIL 3. key enabled again: every request succeeded; instead 2 of 5 failed',
  );
});
