/**
 * Root-only: callmap's libpcap binding on real interfaces. Two network namespaces joined by a veth
 * pair; the live sniffer (real binding, kernel BPF filter) captures on one end while the other
 * sends DNS answers and a SYN. Checks decoding, pcap_stats counters, the libpcap metrics, a
 * forced ring overflow (drops counted and exported), and the error codes for a bad filter and a
 * missing device. Skipped with the reason when not root.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import type { DnsObservation, TcpObservation } from '../../mapper/contract/index.ts';
import { loadPcap, openCapture } from '../../sniffer/capture.ts';
import { CAPTURE_FILTER } from '../../sniffer/filter.ts';
import { netnsUnavailable, removeLeftovers, sh, tryRun } from './netns.ts';

const root = new URL('../../', import.meta.url).pathname;
const cannotRun = ((): string | undefined => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, raw capture)';
  try {
    loadPcap();
  } catch (e) {
    return `needs the @callmap/pcap binding (${(e as Error).message})`;
  }
  return netnsUnavailable(`cmpcprobe${process.pid}`);
})();

const PREFIX = 'cmpc';
interface Pair {
  cap: string;
  peer: string;
  capIp: string;
  peerIp: string;
}

/** Two namespaces joined by a veth pair (cap0 ↔ peer0); removed in teardown. */
function vethPair(t: { teardown: (fn: () => void) => void }, tag: string, net: number): Pair {
  const cap = `${PREFIX}${process.pid}-${tag}c`;
  const peer = `${PREFIX}${process.pid}-${tag}p`;
  t.teardown(() => {
    tryRun('ip', ['netns', 'delete', cap]);
    tryRun('ip', ['netns', 'delete', peer]);
  });
  const capIp = `10.251.${net}.1`;
  const peerIp = `10.251.${net}.2`;
  sh('ip', ['netns', 'add', cap]);
  sh('ip', ['netns', 'add', peer]);
  sh('ip', ['-n', cap, 'link', 'add', 'cap0', 'type', 'veth', 'peer', 'name', 'peer0', 'netns', peer]);
  sh('ip', ['-n', cap, 'addr', 'add', `${capIp}/24`, 'dev', 'cap0']);
  sh('ip', ['-n', peer, 'addr', 'add', `${peerIp}/24`, 'dev', 'peer0']);
  for (const [ns, dev] of [
    [cap, 'cap0'],
    [cap, 'lo'],
    [peer, 'peer0'],
    [peer, 'lo'],
  ] as const)
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  return { cap, peer, capIp, peerIp };
}

interface ProbeResult {
  sent: number;
  stats: { seen: number; dnsAnswers: number; tcpConnections: number; malformed: number };
  libpcap: Array<{ device: string; received: number; dropped: number; ifDropped: number }>;
  metrics: string;
  logs: string[];
  dns: DnsObservation[];
  tcp: TcpObservation[];
}

async function runProbe(mode: 'live' | 'drop', p: Pair): Promise<ProbeResult> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      p.cap,
      process.execPath,
      '--import=tsx',
      join(root, 'test/netns/sniffer-pcap-probe.ts'),
      mode,
      'cap0',
      p.peer,
      p.capIp,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`probe ${mode} exited ${code}: ${err}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as ProbeResult;
}

const metric = (text: string, name: string, device: string): number | undefined => {
  const m = new RegExp(`^${name}\\{device="${device}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

test('real capture on a veth: packets decoded, pcap_stats received grows, libpcap metrics exported', async (t) => {
  if (cannotRun !== undefined) {
    t.log(`skipped: ${cannotRun}`);
    t.pass();
    return;
  }
  removeLeftovers(PREFIX);
  const pair = vethPair(t, 'l', 1);
  const r = await runProbe('live', pair);
  t.is(r.stats.dnsAnswers, r.sent, JSON.stringify(r.stats));
  t.true(r.stats.tcpConnections >= 1);
  t.is(r.stats.malformed, 0);
  t.true(
    r.logs.some((l) => /capturing on cap0 \(linktype 1\) via libpcap version/.test(l)),
    r.logs.join('\n'),
  );
  const dnsNames = new Set(r.dns.map((o) => `${o.clientIp} ${o.name} ${o.ips.join(',')}`));
  t.true(dnsNames.has(`${pair.capIp} svc-0.default.svc.cluster.local 10.96.0.1`), [...dnsNames].join('\n'));
  t.true(
    r.tcp.some(
      (o) => o.source === 'capture' && o.clientIp === pair.peerIp && o.serverIp === pair.capIp && o.serverPort === 8080,
    ),
    JSON.stringify(r.tcp),
  );
  const dev = r.libpcap.find((d) => d.device === 'cap0');
  t.truthy(dev);
  // the kernel filter passes the answers and the SYN (plus neighbour-discovery noise it rejects)
  t.true((dev?.received ?? 0) >= r.sent + 1, JSON.stringify(r.libpcap));
  t.is(dev?.dropped, 0);
  const received = metric(r.metrics, 'callmap_sniffer_libpcap_received_total', 'cap0');
  t.true(received !== undefined && received >= r.sent + 1, r.metrics);
  t.is(metric(r.metrics, 'callmap_sniffer_libpcap_dropped_total', 'cap0'), 0);
  t.is(metric(r.metrics, 'callmap_sniffer_libpcap_if_dropped_total', 'cap0'), 0);
});

test('ring overflow while the sniffer is not reading: libpcap drops are counted and exported', async (t) => {
  if (cannotRun !== undefined) {
    t.log(`skipped: ${cannotRun}`);
    t.pass();
    return;
  }
  removeLeftovers(PREFIX);
  const pair = vethPair(t, 'd', 2);
  const r = await runProbe('drop', pair);
  const dev = r.libpcap.find((d) => d.device === 'cap0');
  t.true((dev?.dropped ?? 0) > 0, JSON.stringify({ libpcap: r.libpcap, stats: r.stats }));
  t.true(r.stats.seen < r.sent, 'what was dropped was never seen');
  t.true(r.stats.seen > 0, 'what fitted in the ring was read once the loop ran again');
  const dropped = metric(r.metrics, 'callmap_sniffer_libpcap_dropped_total', 'cap0');
  t.true(dropped !== undefined && dropped > 0, r.metrics);
});

test('bad filter and missing device: clear error codes from the real binding', (t) => {
  if (cannotRun !== undefined) {
    t.log(`skipped: ${cannotRun}`);
    t.pass();
    return;
  }
  const noop = (): void => {};
  t.throws(() => openCapture('nope0', CAPTURE_FILTER, noop), {
    code: 'SNIFFER_NO_DEVICE',
    message: /no capture device "nope0".*pick --interface from: .*\blo\b/,
  });
  t.throws(() => openCapture('lo', 'udp src port', noop), {
    code: 'SNIFFER_CAPTURE',
    message: /cannot capture on lo: bad capture filter: .*pcap-filter\(7\)/,
  });
  // a good open on lo works and closes twice without harm; stats are there
  const h = openCapture('lo', CAPTURE_FILTER, noop);
  t.is(h.linkType, 1);
  t.deepEqual(Object.keys(h.stats?.() ?? {}).sort(), ['dropped', 'ifDropped', 'received']);
  h.close();
  h.close();
});
