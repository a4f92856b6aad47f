// Runs every test file under test/ with Node's test runner and TypeScript
// loaded through tsx, then prints one closing line: "N passed, N failed, N skipped".
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const filter = process.argv.slice(2);
const files = [...findTests('test'), ...findTests('examples/record-service/test')]
  .filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)))
  .sort();

process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import tsx`.trim();

const counts = { passed: 0, failed: 0, skipped: 0 };
const stream = run({ files, concurrency: 2, timeout: 15 * 60 * 1000 });

stream.on('test:pass', (event) => {
  if (event.details?.type === 'suite') return;
  if (event.skip || event.todo) counts.skipped += 1;
  else counts.passed += 1;
});
stream.on('test:fail', (event) => {
  if (event.details?.type === 'suite' && event.details?.error?.failureType === 'subtestsFailed')
    return;
  counts.failed += 1;
});

stream.compose(spec).pipe(process.stdout);

stream.on('end', () => {
  const line = `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`;
  setImmediate(() => {
    process.stdout.write(`\n${line}\n`);
    process.exitCode = counts.failed > 0 || counts.passed === 0 ? 1 : 0;
  });
});
