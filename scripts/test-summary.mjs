// Reads ava's output on stdin, passes it through, and ends with the plain closing line
// "ava: N passed, N failed, N skipped" that CI tooling reads. ava prints only "N tests failed"
// (no passed total) when something fails, so passes are also counted from the ✔ lines.
// The exit code is ava's (set by the caller).
import { createInterface } from 'node:readline';

const summary = { passed: 0, failed: 0, skipped: 0 };
const ticks = { passed: 0, failed: 0 };
let seenAny = false;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  process.stdout.write(`${line}\n`);
  const t = line.trimStart();
  if (t.startsWith('✔')) ticks.passed += 1;
  else if (t.startsWith('✘')) ticks.failed += 1;
  const m =
    /^\s*(\d+) (tests?|known failures?|uncaught exceptions?|unhandled rejections?) ?(passed|failed|skipped)?/.exec(
      line,
    );
  if (!m) continue;
  seenAny = true;
  const n = Number(m[1]);
  if (m[3] === 'passed') summary.passed = n;
  else if (m[3] === 'failed' || /uncaught|unhandled/.test(m[2] ?? '')) summary.failed += n;
  else if (m[3] === 'skipped') summary.skipped += n;
}
const passed = Math.max(summary.passed, ticks.passed);
const failed = Math.max(summary.failed, ticks.failed);
const skipped = summary.skipped;
if (!seenAny && passed + failed === 0) process.stdout.write('ava: 0 passed, 0 failed (no summary line seen)\n');
else process.stdout.write(`ava: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
