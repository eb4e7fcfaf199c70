// A live capture left open in a worker thread, in a process where only that worker loaded the
// addon: at worker exit Node unloads the addon (dlclose) and then runs the loop's closing handles.
// The uv_poll close callback must have run before that, or libuv jumps into unmapped code (SIGSEGV).
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { addonPath } from './addon.ts';

const root = new URL('../../../', import.meta.url).pathname;

test('a live capture left open in a worker (the only loader of the addon) does not crash the process at worker exit', (t) => {
  const path = addonPath('@callmap/pcap');
  if (path === undefined) {
    t.log('@callmap/pcap not built: skipped');
    t.pass();
    return;
  }
  if (process.getuid?.() !== 0) {
    t.log('not root (a live capture on lo needs CAP_NET_RAW): skipped');
    t.pass();
    return;
  }
  // the child never loads the addon on its main thread, so the worker's exit unloads it
  const worker = `
    const p = require(${JSON.stringify(path)});
    const h = p.open('lo', 'udp port 9', {}, Buffer.alloc(4096), () => {});
    p.stats(h);
    globalThis.keep = h;
    require('node:worker_threads').parentPort.postMessage('open');`;
  const main = `
    const { Worker } = require('node:worker_threads');
    (async () => {
      for (let i = 0; i < 3; i++) {
        const w = new Worker(${JSON.stringify(worker)}, { eval: true });
        await new Promise((r) => w.once('message', r));
        if (i === 1) await new Promise((r) => w.once('exit', r)); // let it end by itself once
        else await w.terminate();
      }
      console.log('done');
    })();`;
  const child = spawnSync(process.execPath, ['-e', main], { encoding: 'utf8', cwd: root, timeout: 60_000 });
  t.is(child.signal, null, `child died of ${child.signal}: ${child.stderr}`);
  t.is(child.status, 0, child.stderr);
  t.is(child.stdout.trim(), 'done');
});
