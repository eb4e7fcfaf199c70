/**
 * `npm run bench`: runs every bench/*.bench.ts (or those whose name contains an argument) one after
 * another in its own process, so one benchmark's heap never skews another's RSS figure.
 * Benchmarks print their own ratios against a reference tool measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  process.stderr.write(`no benchmarks match ${filters.join(' ')}\n`);
  process.exit(1);
}
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n### ${f}\n`);
  const r = spawnSync(process.execPath, ['--import=tsx', '--expose-gc', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed += 1;
    process.stdout.write(`!!! ${f} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
