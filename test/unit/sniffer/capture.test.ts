/**
 * The libpcap binding without privileges: the batch format and its walker, the 32-bit counter
 * wrap, error mapping, and the C batching path driven by libpcap's savefile reader
 * (openOffline + dispatch), checked against the TypeScript pcap reader as the oracle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { CallmapError } from '../../../mapper/contract/index.ts';
import {
  captureError,
  LibpcapCounters,
  loadPcap,
  type PcapAddon,
  type PcapHandle,
  walkBatch,
} from '../../../sniffer/capture.ts';
import { buildDnsResponse, buildTcpSyn, readPcapFile, writePcap } from '../../../sniffer/index.ts';
import { captureFds } from '../../helpers/fds.ts';

const dir = mkdtempSync(join(tmpdir(), 'callmap-capture-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

let pcap: PcapAddon | undefined;
let loadError = '';
try {
  pcap = loadPcap();
} catch (e) {
  loadError = (e as Error).message;
}
/** The addon is optional: without it these tests say so (CI builds it: libpcap-dev is installed). */
const native = (t: { log: (s: string) => void; pass: () => void }): PcapAddon | undefined => {
  if (!pcap) {
    t.log(`skipped: @callmap/pcap not built (${loadError})`);
    t.pass();
  }
  return pcap;
};

function record(caplen: number, wire: number, fill: number): Buffer {
  const b = Buffer.alloc(16 + caplen, fill);
  b.writeUInt32LE(caplen, 0);
  b.writeUInt32LE(wire, 4);
  b.writeUInt32LE(1_700_000_000, 8);
  b.writeUInt32LE(123, 12);
  return b;
}

test('walkBatch hands on each record with its offset, length and truncation', (t) => {
  const buf = Buffer.concat([record(3, 3, 0xaa), record(5, 60, 0xbb), record(0, 0, 0)]);
  const seen: Array<[number, number, boolean, number, number]> = [];
  const n = walkBatch(buf, buf.length, 3, 113, (b, len, lt, cut, off) =>
    seen.push([len, lt, cut, off ?? -1, b[off ?? 0] ?? -1]),
  );
  t.is(n, 3);
  t.deepEqual(seen, [
    [3, 113, false, 16, 0xaa],
    [5, 113, true, 35, 0xbb],
    [0, 113, false, 56, -1],
  ]);
});

test('walkBatch never reads past the bytes it was given (fuzzed headers)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(400), fc.nat(50), (bytes, used, count) => {
      const buf = Buffer.from(bytes);
      const end = Math.min(used, buf.length);
      let n = 0;
      const got = walkBatch(buf, used, count, 1, (_b, len, _lt, _cut, off) => {
        n++;
        if ((off ?? 0) < 16 || (off ?? 0) + len > end) throw new Error(`record ${off}+${len} beyond ${end}`);
      });
      return got === n && n <= count;
    }),
  );
  t.pass();
});

test('LibpcapCounters adds deltas modulo 2^32, so a wrap keeps the total growing', (t) => {
  const c = new LibpcapCounters();
  t.deepEqual(c.update({ received: 10, dropped: 1, ifDropped: 0 }), { received: 10, dropped: 1, ifDropped: 0 });
  t.deepEqual(c.update({ received: 4294967290, dropped: 1, ifDropped: 0 }), {
    received: 4294967290,
    dropped: 1,
    ifDropped: 0,
  });
  // wrapped: 4294967290 → 5 is 11 more packets
  t.deepEqual(c.update({ received: 5, dropped: 3, ifDropped: 2 }), { received: 4294967301, dropped: 3, ifDropped: 2 });
  t.deepEqual(c.update({ received: 5, dropped: 3, ifDropped: 2 }), { received: 4294967301, dropped: 3, ifDropped: 2 });
});

test('binding errors map to CallmapErrors that say what to do', (t) => {
  const code = (c: string) => Object.assign(new Error('boom'), { code: c });
  const noDev = captureError('nope0', code('NO_SUCH_DEVICE'), () => ['eth0', 'any']);
  t.true(noDev instanceof CallmapError);
  t.is(noDev.code, 'SNIFFER_NO_DEVICE');
  t.regex(noDev.message, /no capture device "nope0".*pick --interface from: eth0, any/);
  t.is(captureError('eth0', code('PERM_DENIED'), () => []).code, 'SNIFFER_CAPTURE');
  t.regex(captureError('eth0', code('PERM_DENIED'), () => []).message, /CAP_NET_RAW/);
  t.regex(captureError('eth0', code('FILTER'), () => []).message, /pcap-filter\(7\)/);
  t.is(captureError('eth0', new Error('odd'), () => []).code, 'SNIFFER_CAPTURE');
  t.regex(captureError('x', code('NO_SUCH_DEVICE'), () => []).message, /none visible/);
});

interface Got {
  bytes: string;
  len: number;
  truncated: boolean;
  lt: number;
}

/** Reads a savefile through the binding's batching (buffer of `bufLen` bytes). */
function readNative(p: PcapAddon, file: string, bufLen: number, filter = ''): { got: Got[]; batches: number } {
  const buf = Buffer.alloc(bufLen);
  const got: Got[] = [];
  let batches = 0;
  let lt = -1;
  const h = p.openOffline(file, filter, buf, (bytes, count, err) => {
    if (err !== undefined) throw new Error(err);
    batches++;
    walkBatch(buf, bytes, count, lt, (b, len, l, cut, off) =>
      got.push({ bytes: b.toString('hex', off, (off ?? 0) + len), len, truncated: cut, lt: l }),
    );
  });
  lt = p.linkType(h);
  p.dispatch(h);
  p.close(h);
  return { got, batches };
}

async function readOracle(file: string): Promise<Array<{ data: Buffer; lt: number }>> {
  const out: Array<{ data: Buffer; lt: number }> = [];
  await readPcapFile(file, (buf, off, len, lt) => out.push({ data: Buffer.from(buf.subarray(off, off + len)), lt }));
  return out;
}

test('native batching delivers exactly what the TypeScript reader reads (random packets, buffer sizes)', async (t) => {
  const p = native(t);
  if (!p) return;
  let i = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ data: fc.uint8Array({ minLength: 0, maxLength: 3000 }), cut: fc.nat(100) }), {
        maxLength: 40,
      }),
      fc.integer({ min: 256, max: 20_000 }),
      fc.constantFrom(1, 113, 276, 101),
      async (pkts, bufLen, linkType) => {
        const file = join(dir, `r${i++}.pcap`);
        writePcap(
          file,
          pkts.map((x, k) => ({
            data: Buffer.from(x.data),
            time: 1_700_000_000_000 + k,
            origLen: x.data.length + x.cut,
          })),
          { linkType },
        );
        const oracle = await readOracle(file);
        const { got } = readNative(p, file, bufLen);
        if (got.length !== oracle.length) return false;
        for (let k = 0; k < got.length; k++) {
          const o = oracle[k]!;
          const g = got[k]!;
          const room = bufLen - 16;
          const want = o.data.subarray(0, Math.min(o.data.length, room));
          const origLen = (pkts[k]?.data.length ?? 0) + (pkts[k]?.cut ?? 0);
          if (g.bytes !== want.toString('hex') || g.lt !== o.lt || g.lt !== linkType) return false;
          if (g.truncated !== want.length < origLen) return false;
        }
        return true;
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('native batching: many packets arrive in few batches; the kernel-style filter applies', async (t) => {
  const p = native(t);
  if (!p) return;
  const file = join(dir, 'mixed.pcap');
  const pkts = [];
  for (let k = 0; k < 500; k++) {
    pkts.push({
      data:
        k % 2 === 0
          ? buildDnsResponse({
              clientIp: '10.244.0.5',
              name: `n${k}.svc.cluster.local`,
              answers: [{ type: 'A', value: '10.96.0.1' }],
            })
          : buildTcpSyn({ clientIp: '10.244.0.5', serverIp: '10.96.0.2', serverPort: 80 + k }),
      time: 1_700_000_000_000 + k,
    });
  }
  writePcap(file, pkts);
  const all = readNative(p, file, 256 * 1024);
  t.is(all.got.length, 500);
  t.is(all.batches, 1, 'one JS call for the whole savefile when it fits the buffer');
  const dnsOnly = readNative(p, file, 256 * 1024, 'udp src port 53');
  t.is(dnsOnly.got.length, 250);
  const small = readNative(p, file, 1024);
  t.is(small.got.length, 500);
  t.true(small.batches > 10, 'a small buffer is flushed whenever it fills');
  t.deepEqual(
    small.got.map((g) => g.bytes),
    all.got.map((g) => g.bytes),
  );
});

test('binding: clear error codes for bad files, filters and arguments; close is idempotent; stats after close', (t) => {
  const p = native(t);
  if (!p) return;
  const buf = Buffer.alloc(4096);
  const noop = (): void => {};
  t.throws(() => p.openOffline(join(dir, 'missing.pcap'), '', buf, noop), {
    code: 'CAPTURE',
    message: /missing\.pcap/,
  });
  const file = join(dir, 'one.pcap');
  writePcap(file, [{ data: buildTcpSyn({ clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 1 }), time: 0 }]);
  t.throws(() => p.openOffline(file, 'udp port', buf, noop), {
    code: 'FILTER',
    message: /bad capture filter: .*syntax/,
  });
  t.throws(() => p.openOffline(file, '', Buffer.alloc(10), noop), { code: 'ARG' });
  t.throws(() => p.openOffline(file, '', buf, 'nope' as unknown as () => void), { code: 'ARG' });
  t.throws(() => p.openOffline(file, 'a\0b', buf, noop), { code: 'ARG', message: /NUL/ });
  t.throws(() => p.stats({} as PcapHandle), { code: 'ARG', message: /not a capture handle/ });
  t.throws(() => p.open('nope0', '', {}, buf, noop), { code: 'NO_SUCH_DEVICE' });
  const h = p.openOffline(file, '', buf, noop);
  t.is(p.linkType(h), 1);
  p.close(h);
  p.close(h);
  t.deepEqual(p.stats(h), { received: 0, dropped: 0, ifDropped: 0 });
  t.is(p.dispatch(h), 0);
  t.true(p.deviceList().some((d) => d.name === 'lo'));
  t.regex(p.libVersion(), /libpcap version/);
});

test('binding: a throwing callback propagates out of dispatch; close from inside the callback is safe', (t) => {
  const p = native(t);
  if (!p) return;
  const file = join(dir, 'many.pcap');
  writePcap(
    file,
    Array.from({ length: 200 }, (_, k) => ({
      data: buildTcpSyn({ clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: k + 1 }),
      time: k,
    })),
  );
  const buf = Buffer.alloc(512);
  const h1 = p.openOffline(file, '', buf, () => {
    throw new Error('from the callback');
  });
  t.throws(() => p.dispatch(h1), { message: 'from the callback' });
  p.close(h1);
  let calls = 0;
  let h2: PcapHandle | undefined;
  h2 = p.openOffline(file, '', buf, () => {
    calls++;
    if (h2) p.close(h2);
    t.throws(() => p.dispatch(h2 as PcapHandle), { message: /inside the capture callback/ });
  });
  const n = p.dispatch(h2);
  t.true(n > 0 && n < 200, `${n} packets taken before the close`);
  t.is(p.dispatch(h2), 0);
  t.is(calls, 1, 'no callback after close');
});

// serial: it counts this process's open file descriptors
test.serial('binding: a capture left open is closed when its thread or process ends (env cleanup hook)', async (t) => {
  const p = native(t);
  if (!p) return;
  const file = join(dir, 'cleanup.pcap');
  writePcap(file, [{ data: buildTcpSyn({ clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 1 }), time: 0 }]);
  const { Worker } = await import('node:worker_threads');
  const { spawnSync } = await import('node:child_process');
  const root = new URL('../../../', import.meta.url).pathname;
  // live on lo when root (the uv poll handle is open when the env goes away), a savefile otherwise
  const live = process.getuid?.() === 0;
  const code = `
    const p = require(${JSON.stringify(join(root, 'sniffer/native/index.cjs'))});
    const buf = Buffer.alloc(4096);
    const h = ${live ? `p.open('lo', 'udp port 9', {}, buf, () => {})` : `p.openOffline(${JSON.stringify(file)}, '', buf, () => {})`};
    p.stats(h);
    globalThis.keep = h;`;
  const fds = (): number => captureFds(live ? undefined : file);
  const before = fds();
  for (let i = 0; i < 3; i++) {
    // a ref'd timer: the capture's poll handle is unref'd, so the worker could otherwise exit by
    // itself (code 0) before terminate() and the assertion below would be a race
    const w = new Worker(
      `${code}\nsetInterval(() => {}, 60000);\nrequire('node:worker_threads').parentPort.postMessage('open')`,
      {
        eval: true,
      },
    );
    t.is(await new Promise((r) => w.once('message', r)), 'open');
    t.is(await w.terminate(), 1, 'terminated while the capture is open');
  }
  t.is(fds(), before, 'the threads left no capture descriptor behind');
  const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  t.is(child.status, 0, child.stderr);
});
