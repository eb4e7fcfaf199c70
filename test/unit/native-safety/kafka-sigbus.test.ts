// callmap_kafka's mapped reads install a process-wide SIGBUS handler (ADR 0065). It must act only
// on faults inside this module's live mappings: any other SIGBUS goes where it went before (the
// default action kills the process; a handler installed earlier, e.g. a JavaScript
// process.on('SIGBUS') listener, still runs). When another handler replaces it later, mapped reads
// fall back to pread instead of risking a crash. Each case runs in a child process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { addonPath } from './addon.ts';

const line =
  '[2024-05-01 12:00:00,000] INFO Principal = User:a is Allowed Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)\n';

/** The child: a mapped read (map = 1: always), then what `mode` says. Prints what it saw. */
const CHILD = `
const [entry, file, mode] = process.argv.slice(1);
const K = require(entry).loadKafka();
const fs = require('node:fs');
const read = async (h, c) => K.readFile(h, fs.openSync(file, 'r'), 0, 1 << 30, c, undefined, false, 0, undefined, 1);
(async () => {
  if (mode === 'listener-before') process.on('SIGBUS', () => { console.log('listener ran'); process.exit(0); });
  const c = new Float64Array(8);
  const h = K.create(false, 65536, false);
  const [got] = await read(h, c);
  console.log('mapped', c[6], 'lines', c[0], 'bytes', got);
  if (mode === 'listener-after') {
    process.on('SIGBUS', () => {}); // libuv's handler replaces the module's
    const g = K.create(false, 65536, false);
    const cc = new Float64Array(8);
    const [got2] = await read(g, cc);
    console.log('after: mapped', cc[6], 'lines', cc[0], 'bytes', got2);
    process.exit(0);
  }
  process.kill(process.pid, 'SIGBUS');
  setTimeout(() => console.log('survived'), 300);
})();
`;

function run(t: { teardown(f: () => void): void }, mode: string) {
  const entry = addonPath('@callmap/watchers-native') as string;
  const dir = mkdtempSync(join(tmpdir(), 'callmap-kafka-sigbus-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a.log');
  writeFileSync(file, line.repeat(5000));
  return spawnSync(process.execPath, ['-e', CHILD, entry, file, mode], { encoding: 'utf8', timeout: 20_000 });
}

const built = addonPath('@callmap/watchers-native') !== undefined;
const nativeTest = built ? test : test.skip;
if (!built) console.log('kafka SIGBUS tests skipped: @callmap/watchers-native not built');

nativeTest('a SIGBUS outside the mappings still kills the process (default action)', (t) => {
  const r = run(t, 'default');
  t.regex(r.stdout, new RegExp(`mapped 1 lines 5000 bytes ${line.length * 5000}`));
  t.is(r.signal, 'SIGBUS', `stdout ${r.stdout} stderr ${r.stderr}`);
  t.notRegex(r.stdout, /survived/);
});

nativeTest('a SIGBUS outside the mappings reaches a handler installed before (process.on)', (t) => {
  const r = run(t, 'listener-before');
  t.is(r.status, 0, `stdout ${r.stdout} stderr ${r.stderr}`);
  t.regex(r.stdout, /mapped 1 lines 5000/);
  t.regex(r.stdout, /listener ran/);
});

nativeTest('once another SIGBUS handler replaced the module one, reads use pread (no mapping)', (t) => {
  const r = run(t, 'listener-after');
  t.is(r.status, 0, `stdout ${r.stdout} stderr ${r.stderr}`);
  t.regex(r.stdout, /^mapped 1 lines 5000/m);
  t.regex(r.stdout, new RegExp(`after: mapped 0 lines 5000 bytes ${line.length * 5000}`));
});
