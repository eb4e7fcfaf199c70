// Misuse of the native handles must throw a JavaScript error, never crash or corrupt memory:
// a handle of one addon given to another (all three use externals), calls made from inside a
// parser callback on the same handle, and a page pushed after commit() without begin().
// Each case runs in a child process, so a crash fails the test instead of the runner.
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { addonPath } from './addon.ts';

const watchers = addonPath('@callmap/watchers-native');
const pcap = addonPath('@callmap/pcap');

const prelude = `
  const w = require(${JSON.stringify(watchers ?? '')});
  const K = w.loadKafka(), I = w.loadIstio();
  const P = ${pcap ? `require(${JSON.stringify(pcap)})` : 'undefined'};
  const expectThrow = (label, f) => {
    try { f(); } catch (e) { return; }
    throw new Error(label + ': did not throw');
  };`;

function runChild(body: string): { status: number | null; signal: NodeJS.Signals | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['-e', `${prelude}\n${body}\nconsole.log('ok');`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, signal: r.signal, out: r.stdout.trim(), err: r.stderr };
}

const cases: [string, string][] = [
  [
    'a kafka handle given to istio (push, commit, stats, destroy) throws',
    `const k = K.create(false, 1024, false);
     const noop = () => -2;
     expectThrow('istio.push', () => I.push(k, Buffer.from('istio_requests_total{a="b"} 1\\n'), noop, Number));
     expectThrow('istio.begin', () => I.begin(k, 3, 1024, 0));
     expectThrow('istio.commit', () => I.commit(k, 1));
     expectThrow('istio.stats', () => I.stats(k, new Float64Array(10)));
     expectThrow('istio.destroy', () => I.destroy(k));
     K.push(k, Buffer.from('x Principal = User:a\\n'), 0, new Float64Array(4));
     K.close(k);`,
  ],
  [
    'an istio handle given to kafka (push, flush, close) throws',
    `const s = I.create();
     expectThrow('kafka.push', () => K.push(s, Buffer.alloc(200, 10), 0, new Float64Array(4)));
     expectThrow('kafka.flush', () => K.flush(s, true));
     expectThrow('kafka.reconnect', () => K.reconnect(s));
     expectThrow('kafka.close', () => K.close(s));
     I.begin(s, 3, 1024, 0);
     I.destroy(s);`,
  ],
  [
    'a watcher handle given to pcap (stats, dispatch, close) throws',
    `if (P) {
       const k = K.create(false, 1024, false), s = I.create();
       for (const h of [k, s]) {
         expectThrow('pcap.stats', () => P.stats(h));
         expectThrow('pcap.dispatch', () => P.dispatch(h));
         expectThrow('pcap.close', () => P.close(h));
       }
       K.close(k); I.destroy(s);
     }`,
  ],
  [
    'istio: destroy, push, begin or commit on the same source from inside the resolve callback throws',
    `const s = I.create();
     I.begin(s, 3, 1 << 20, 0);
     const line = (i) => 'istio_requests_total{reporter="source",source_workload="w' + i + '"} 1\\n';
     for (const inner of [
       () => I.destroy(s),
       () => I.push(s, Buffer.from(line(99)), () => -2, Number),
       () => I.end(s, () => -2, Number),
       () => I.begin(s, 3, 1 << 20, 1),
       () => I.commit(s, 1),
     ]) {
       let threw = false;
       const resolve = () => { try { inner(); } catch { threw = true; } return -2; };
       I.push(s, Buffer.from(line(Math.random())), resolve, Number);
       if (!threw) throw new Error('inner call did not throw: ' + inner);
     }
     // the source still works
     I.push(s, Buffer.from(line(1)), () => -2, Number);
     const o = new Float64Array(10); I.stats(s, o);
     if (o[0] !== 6) throw new Error('parsed ' + o[0]);
     I.destroy(s);`,
  ],
  [
    'istio: a page pushed after commit() without begin() stays in bounds',
    `const s = I.create();
     let page = '';
     for (let i = 0; i < 5000; i++) page += 'istio_requests_total{reporter="source",source_workload="w' + i + '"} 1\\n';
     const gen = I.begin(s, 3, 1 << 20, 0);
     I.push(s, Buffer.from(page), () => -2, Number);
     I.end(s, () => -2, Number);
     I.commit(s, gen + 1); // not this page's generation: every tuple is forgotten, the table shrinks
     I.push(s, Buffer.from(page), () => -2, Number);
     I.end(s, () => -2, Number);
     I.commit(s, gen);
     I.destroy(s);`,
  ],
];

for (const [title, body] of cases) {
  test(title, (t) => {
    if (watchers === undefined) {
      t.log('@callmap/watchers-native not built: skipped');
      t.pass();
      return;
    }
    const r = runChild(body);
    t.is(r.signal, null, `child died of ${r.signal}: ${r.err}`);
    t.is(r.status, 0, r.err);
    t.is(r.out, 'ok');
  });
}

test('istio: a callback that detaches the chunk being parsed makes push() throw (the parser never reads freed memory)', (t) => {
  if (watchers === undefined) {
    t.log('@callmap/watchers-native not built: skipped');
    t.pass();
    return;
  }
  const r = runChild(`
    for (const which of ['resolve', 'number']) {
      const s = I.create(); I.begin(s, 3, 1 << 20, 0);
      let page = '';
      for (let i = 0; i < 200; i++) page += 'istio_requests_total{reporter="source",source_workload="w' + i + '"} 1.5\\n';
      let buf = Buffer.alloc(page.length); buf.write(page);
      let done = false;
      const detach = () => { if (!done) { done = true; structuredClone(buf.buffer, { transfer: [buf.buffer] }); } };
      const resolve = () => { if (which === 'resolve') detach(); return -2; };
      const number = (x) => { if (which === 'number') detach(); return Number(x); };
      let msg = '';
      try { I.push(s, buf, resolve, number); } catch (e) { msg = String(e.message); }
      if (!/detached/.test(msg)) throw new Error(which + ': push did not throw: ' + msg);
      I.destroy(s);
    }`);
  t.is(r.signal, null, `child died of ${r.signal}: ${r.err}`);
  t.is(r.status, 0, r.err);
  t.is(r.out, 'ok');
});
