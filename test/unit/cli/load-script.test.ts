import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadScript, ScriptError } from '../../../src/cli/load-script.js';
import { tempDir } from '../../helpers/backends.js';

const scripts = fileURLToPath(new URL('../../../scripts/', import.meta.url));

const PHASE = '  phases:\n    - duration: 1\n      arrivalRate: 2\n';

/** Scripts that use what vellum load does not implement, with a problem each must report. */
const REJECTED: Array<{ name: string; yaml: string; problem: RegExp }> = [
  {
    name: 'rampTo',
    yaml: `config:\n  phases:\n    - duration: 3\n      arrivalRate: 1\n      rampTo: 5\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem:
      /^ {2}config\.phases\[0\]\.rampTo is not supported by vellum load; supported phase keys: duration, arrivalRate, arrivalCount, name$/m,
  },
  {
    name: 'phase with only rampTo, no duration',
    yaml: `config:\n  phases:\n    - rampTo: 5\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.phases\[0\]\.duration is missing; set it to a number of seconds/,
  },
  {
    name: 'phase with only rampTo, no arrivals',
    yaml: `config:\n  phases:\n    - rampTo: 5\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.phases\[0\] needs exactly one of arrivalRate and arrivalCount/,
  },
  {
    name: 'duration string',
    yaml: `config:\n  phases:\n    - duration: '3s'\n      arrivalRate: 1\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem:
      /config\.phases\[0\]\.duration is the string "3s"; vellum load takes a plain number of seconds, such as 3/,
  },
  {
    name: 'phase that starts nobody',
    yaml: `config:\n  phases:\n    - duration: 3\n      arrivalRate: 0.1\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.phases\[0\] starts no virtual user: arrivalRate 0\.1 for 3 s rounds to 0/,
  },
  {
    name: 'pause phase',
    yaml: `config:\n  phases:\n    - pause: 5\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.phases\[0\]\.pause is not supported by vellum load/,
  },
  {
    name: 'payload',
    yaml: `config:\n  payload:\n    path: users.csv\n    fields: [id]\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem:
      /config\.payload\.path is not supported by vellum load; supported config keys: target, phases, processor, variables/,
  },
  {
    name: 'defaults.headers',
    yaml: `config:\n  defaults:\n    headers:\n      x-key: abc\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.defaults\.headers is not supported by vellum load/,
  },
  {
    name: 'http.timeout',
    yaml: `config:\n  http:\n    timeout: 10\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.http\.timeout is not supported by vellum load/,
  },
  {
    name: 'ensure',
    yaml: `config:\n  ensure:\n    p95: 200\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem: /config\.ensure\.p95 is not supported by vellum load/,
  },
  {
    name: 'capture',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - post:\n          url: '/record'\n          capture:\n            json: '$.id'\n            as: id\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.post\.capture is not supported by vellum load; supported request keys: url, json, headers/,
  },
  {
    name: 'qs',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/record'\n          qs:\n            id: 1\n`,
    problem: /scenarios\[0\]\.flow\[0\]\.get\.qs is not supported by vellum load/,
  },
  {
    name: 'expect',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/record'\n          expect:\n            - statusCode: 200\n`,
    problem: /scenarios\[0\]\.flow\[0\]\.get\.expect is not supported by vellum load/,
  },
  {
    name: 'beforeRequest on a request',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n          beforeRequest: sign\n`,
    problem: /scenarios\[0\]\.flow\[0\]\.get\.beforeRequest is not supported by vellum load/,
  },
  {
    name: 'afterResponse on a scenario',
    yaml: `config:\n${PHASE}scenarios:\n  - afterResponse: check\n    flow:\n      - get:\n          url: '/'\n`,
    problem:
      /scenarios\[0\]\.afterResponse is not supported by vellum load; supported scenario keys: name, weight, flow/,
  },
  {
    name: 'body',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - post:\n          url: '/record'\n          body: 'id=1'\n`,
    problem: /scenarios\[0\]\.flow\[0\]\.post\.body is not supported by vellum load/,
  },
  {
    name: 'form',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - post:\n          url: '/record'\n          form:\n            id: 1\n`,
    problem: /scenarios\[0\]\.flow\[0\]\.post\.form is not supported by vellum load/,
  },
  {
    name: 'loop',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - loop:\n          - get:\n              url: '/'\n        count: 3\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.loop is not supported by vellum load; supported flow steps: function, get, post, put, delete, log, think/,
  },
  {
    name: 'two actions in one step',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n        think: 1\n`,
    problem: /scenarios\[0\]\.flow\[0\] has get and think; give each action a step of its own/,
  },
  {
    name: 'think string',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - think: '2s'\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.think must be a plain number of seconds, such as 1, got "2s"/,
  },
  {
    name: '$randomNumber',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - post:\n          url: '/record'\n          json:\n            id: '{{ $randomNumber(1,10) }}'\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.post\.json\.id uses \{\{ \$randomNumber\(1,10\) \}\}, but vellum load does not support \$randomNumber/,
  },
  {
    name: '$processEnvironment',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n          headers:\n            x-key: '{{ $processEnvironment.KEY }}'\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.get\.headers\.x-key uses \{\{ \$processEnvironment\.KEY \}\}, but vellum load does not support \$processEnvironment/,
  },
  {
    name: 'dotted template',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - log: 'user {{ user.name }}'\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.log uses \{\{ user\.name \}\}, but vellum load renders only plain variable names/,
  },
  {
    name: 'template in config',
    yaml: `config:\n  target: '{{ $processEnvironment.TARGET }}'\n${PHASE}scenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem:
      /config\.target contains \{\{ \$processEnvironment\.TARGET \}\}, but vellum load does not render templates in config/,
  },
  {
    name: 'variable no step defines',
    yaml: `config:\n${PHASE}  variables:\n    name: Ada\nscenarios:\n  - flow:\n      - get:\n          url: '/record/{{ id }}?name={{ name }}'\n`,
    problem:
      /scenarios\[0\]\.flow\[0\]\.get\.url uses \{\{ id \}\}, but no variable id is defined there; set it in config\.variables or in a processor function that an earlier step calls/,
  },
  {
    name: 'function without a processor',
    yaml: `config:\n${PHASE}scenarios:\n  - flow:\n      - function: setId\n`,
    problem: /scenarios\[0\]\.flow\[0\]\.function names setId, but config\.processor is not set/,
  },
  {
    name: 'top-level before',
    yaml: `config:\n${PHASE}before:\n  flow:\n    - get:\n        url: '/'\nscenarios:\n  - flow:\n      - get:\n          url: '/'\n`,
    problem:
      /^ {2}before is not supported by vellum load; supported top-level keys: config, scenarios$/m,
  },
];

test('repository scripts pass validation', async () => {
  for (const [file, name] of [
    ['create-record.yml', 'createNewRecord'],
    ['get-record.yml', 'getNewRecord'],
  ]) {
    const { script, processor } = await loadScript(join(scripts, file!));
    assert.equal(typeof processor[name!], 'function', `${file} processor exports ${name}`);
    assert.equal(script.scenarios.length, 1, file);
  }
});

test('scripts with unsupported features rejected', async () => {
  const dir = tempDir('vellum-load-script-');
  try {
    for (const [i, { name, yaml, problem }] of REJECTED.entries()) {
      const file = join(dir.path, `case-${i}.yml`);
      writeFileSync(file, yaml);
      await assert.rejects(
        loadScript(file),
        (error: unknown) => {
          assert.ok(error instanceof ScriptError, `${name}: ${String(error)}`);
          assert.match(error.message, problem, name);
          assert.match(error.message, /can still run with Artillery$/, name);
          return true;
        },
        name,
      );
    }
  } finally {
    dir.remove();
  }
});

test('script problems all listed at once', async () => {
  const dir = tempDir('vellum-load-script-');
  try {
    const file = join(dir.path, 'many.yml');
    writeFileSync(
      file,
      `config:\n  http:\n    timeout: 10\n  phases:\n    - duration: 2\n      arrivalRate: 1\n      rampTo: 4\n` +
        `scenarios:\n  - flow:\n      - post:\n          url: '/record'\n          body: 'x'\n`,
    );
    await assert.rejects(loadScript(file), (error: unknown) => {
      assert.ok(error instanceof ScriptError);
      assert.equal(error.problems.length, 3, error.message);
      assert.match(
        error.message,
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot run with vellum load:`),
      );
      return true;
    });
  } finally {
    dir.remove();
  }
});

test('processor without the named function rejected', async () => {
  const dir = tempDir('vellum-load-script-');
  try {
    const processor = join(dir.path, 'processor.cjs');
    writeFileSync(
      processor,
      'module.exports = { createNewRecord(context, events, done) { done(); } };\n',
    );
    const file = join(dir.path, 'typo.yml');
    writeFileSync(
      file,
      `config:\n  processor: './processor.cjs'\n${PHASE}scenarios:\n  - flow:\n      - function: createNewRecrod\n      - get:\n          url: '/record/{{ id }}'\n`,
    );
    await assert.rejects(loadScript(file), (error: unknown) => {
      assert.ok(error instanceof ScriptError);
      assert.match(
        error.message,
        /scenarios\[0\]\.flow\[0\]\.function names createNewRecrod, but the processor \S+processor\.cjs does not export it; it exports createNewRecord/,
      );
      assert.ok(error.message.includes(processor), error.message);
      return true;
    });
  } finally {
    dir.remove();
  }
});
