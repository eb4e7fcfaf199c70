// Reads ava's output on stdin, passes it through, and ends with the plain closing line
// "ava: N passed, N failed, N skipped" that CI tooling reads. Exit code is ava's (set by the caller).
import { createInterface } from 'node:readline';

let passed = 0;
let failed = 0;
let skipped = 0;
let total = 0;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  process.stdout.write(`${line}\n`);
  const m =
    /^\s*(\d+) (tests?|known failures?|tests? skipped|tests? todo|uncaught exceptions?|unhandled rejections?) ?(passed|failed|skipped)?/.exec(
      line,
    );
  if (!m) continue;
  const n = Number(m[1]);
  if (m[3] === 'passed') passed = n;
  else if (m[3] === 'failed' || /uncaught|unhandled/.test(m[2] ?? '')) failed += n;
  else if (/skipped/.test(m[2] ?? '') || m[3] === 'skipped') skipped += n;
  total += n;
}
if (total === 0) process.stdout.write('ava: 0 passed, 0 failed (no summary line seen)\n');
else process.stdout.write(`ava: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
