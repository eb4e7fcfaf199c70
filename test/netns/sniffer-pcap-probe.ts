/**
 * Helper process for test/netns/sniffer-pcap.test.ts, run inside a network namespace.
 *
 *   probe.ts live  DEV PEER_NS SELF_IP           live sniffer on DEV (real binding), traffic from
 *                                                the peer namespace; prints one JSON result line
 *   probe.ts drop  DEV PEER_NS SELF_IP           same with a small ring, the event loop blocked
 *                                                while the peer floods: libpcap must count drops
 *   probe.ts send  TARGET_IP COUNT PAD           (in the peer) DNS answers from port 53 + a SYN
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { httpTransport, ObservationReporter } from '../../mapper/client/index.ts';
import type { DnsObservation, TcpObservation } from '../../mapper/contract/index.ts';
import { buildDnsMessage } from '../../sniffer/build.ts';
import { startLiveSniffer } from '../../sniffer/live.ts';
import { startReceiver } from '../integration/sniffer/receiver.ts';

const [mode, a1, a2, a3] = process.argv.slice(2);
const self = new URL(import.meta.url).pathname;

async function send(target: string, count: number, pad: number): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(53, () => resolve());
  });
  for (let i = 0; i < count; i++) {
    const msg = buildDnsMessage({
      clientIp: target,
      id: i & 0xffff,
      name: `svc-${i % 5}.default.svc.cluster.local`,
      answers: [{ type: 'A', value: `10.96.0.${(i % 5) + 1}` }],
    });
    const payload = pad > 0 ? Buffer.concat([msg, Buffer.alloc(pad)]) : msg;
    await new Promise<void>((resolve) => sock.send(payload, 40000, target, () => resolve()));
  }
  sock.close();
  // a TCP connection attempt (refused: the SYN is what the sniffer reports)
  await new Promise<void>((resolve) => {
    const c = connect(8080, target);
    c.on('error', () => resolve());
    c.on('connect', () => {
      c.end();
      resolve();
    });
  });
}

const sendArgs = (peerNs: string, target: string, count: number, pad: number): string[] => [
  'netns',
  'exec',
  peerNs,
  process.execPath,
  '--import=tsx',
  self,
  'send',
  target,
  String(count),
  String(pad),
];

async function capture(drop: boolean, dev: string, peerNs: string, selfIp: string): Promise<void> {
  const rx = await startReceiver();
  const transport = httpTransport(rx.url);
  const reporter = new ObservationReporter({ transport, reporter: { component: 'sniffer', instance: 'probe' } });
  const logs: string[] = [];
  const sniffer = await startLiveSniffer(
    {
      interfaces: [dev],
      scanIntervalMs: 60_000,
      reportIntervalMs: 60_000,
      socketScan: false,
      procRoot: '/proc',
      metricsHost: '127.0.0.1',
      metricsPort: 0,
      // the drop test: a ring of a few blocks, filled while the event loop is blocked
      ...(drop ? { captureBufferBytes: 256 * 1024 } : {}),
    },
    { reporter, log: (l) => logs.push(l) },
  );
  const count = drop ? 20_000 : 50;
  if (drop) {
    // Blocks this process (so nothing reads the ring) while the peer floods full-size packets.
    const r = spawnSync('ip', sendArgs(peerNs, selfIp, count, 1200), { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`sender failed: ${r.stderr}`);
  } else {
    const p = spawn('ip', sendArgs(peerNs, selfIp, count, 0), { stdio: ['ignore', 'ignore', 'inherit'] });
    const code = await new Promise<number | null>((r) => p.once('exit', r));
    if (code !== 0) throw new Error(`sender exited ${code}`);
  }
  // wait until the ring is drained (the kernel hands a partly filled block over after its timeout)
  const until = Date.now() + 10_000;
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const s = sniffer.stats();
    if (!drop && s.dnsAnswers >= count && s.tcpConnections >= 1) break;
    if (drop && s.seen === last) break;
    last = s.seen;
    if (Date.now() > until) break;
  }
  await sniffer.reportNow();
  const metrics = await (await fetch(`${sniffer.metricsUrl}/metrics`)).text();
  const libpcap = sniffer.libpcapStats();
  const stats = { ...sniffer.stats() };
  await sniffer.shutdown(2000);
  await transport.close();
  await rx.close();
  const obs = rx.observations();
  process.stdout.write(
    `${JSON.stringify({
      sent: count,
      stats,
      libpcap,
      metrics,
      logs,
      dns: obs.filter((o): o is DnsObservation => o.kind === 'dns'),
      tcp: obs.filter((o): o is TcpObservation => o.kind === 'tcp'),
    })}\n`,
  );
}

if (mode === 'send') await send(a1 ?? '', Number(a2), Number(a3));
else if (mode === 'live' || mode === 'drop') await capture(mode === 'drop', a1 ?? '', a2 ?? '', a3 ?? '');
else throw new Error(`unknown mode ${mode}`);
