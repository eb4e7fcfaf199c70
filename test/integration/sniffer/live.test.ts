import test from 'ava';
import { httpTransport, ObservationReporter } from '../../../mapper/client/index.ts';
import type { TcpObservation } from '../../../mapper/contract/index.ts';
import type { CaptureOpener } from '../../../sniffer/capture.ts';
import { buildDnsResponse, buildTcpSyn } from '../../../sniffer/index.ts';
import { startLiveSniffer } from '../../../sniffer/live.ts';
import { promtoolCheckMetrics } from '../../helpers/promtool.ts';
import { startReceiver } from './receiver.ts';

/** A capture seam: records what was opened and lets the test inject packets (SLL link type). */
function fakeCapture() {
  const handlers: Array<(buf: Buffer, len: number, lt: number, cut: boolean) => void> = [];
  const opened: Array<{ device: string; filter: string; closed: boolean }> = [];
  const opener: CaptureOpener = (device, filter, onPacket) => {
    const rec = { device, filter, closed: false };
    opened.push(rec);
    handlers.push(onPacket);
    return { device, linkType: 113, close: () => (rec.closed = true) };
  };
  const inject = (data: Buffer, cut = false): void => {
    const buf = Buffer.alloc(65535);
    data.copy(buf);
    for (const h of handlers) h(buf, data.length, 113, cut);
  };
  return { opener, opened, inject };
}

test('live: captured packets and socket-scan connections reach the receiver; metrics and health served; shutdown flushes', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const transport = httpTransport(rx.url);
  t.teardown(() => transport.close());
  const reporter = new ObservationReporter({ transport, reporter: { component: 'sniffer', instance: 'n1' } });
  const cap = fakeCapture();
  const logs: string[] = [];
  const sniffer = await startLiveSniffer(
    {
      interfaces: ['veth-a', 'veth-b'],
      scanIntervalMs: 60_000,
      reportIntervalMs: 60_000,
      socketScan: true,
      procRoot: '/nonexistent',
      metricsHost: '127.0.0.1',
      metricsPort: 0,
    },
    {
      reporter,
      openCapture: cap.opener,
      scan: async () => ({
        connections: [{ clientIp: '10.244.1.7', serverIp: '10.96.0.50', serverPort: 5432 }],
        namespaces: 3,
        errors: 0,
      }),
      log: (l) => logs.push(l),
    },
  );
  t.deepEqual(
    cap.opened.map((o) => o.device),
    ['veth-a', 'veth-b'],
  );
  t.true(cap.opened.every((o) => o.filter.includes('udp src port 53')));
  // every packet arrives on both "interfaces" (as on a bridge): counted once
  cap.inject(
    buildDnsResponse({
      clientIp: '10.244.1.5',
      name: 'web.default.svc.cluster.local',
      answers: [{ type: 'A', value: '10.96.0.20' }],
      link: 'sll',
    }),
  );
  cap.inject(buildTcpSyn({ clientIp: '10.244.1.5', serverIp: '10.96.0.20', serverPort: 80, link: 'sll' }));
  cap.inject(Buffer.from('garbage that is not a frame'));
  const shortIp = Buffer.alloc(19);
  shortIp.writeUInt16BE(0x0800, 14);
  shortIp[16] = 0x45;
  cap.inject(shortIp);
  cap.inject(buildTcpSyn({ clientIp: '10.244.1.5', serverIp: '10.96.0.21', serverPort: 81, link: 'sll' }), true);
  await sniffer.scanNow();

  const health = await fetch(`${sniffer.metricsUrl}/healthz`);
  t.is(health.status, 200);
  const metrics = await (await fetch(`${sniffer.metricsUrl}/metrics`)).text();
  t.regex(metrics, /callmap_sniffer_packets_seen_total 10/);
  t.regex(metrics, /callmap_sniffer_packets_duplicate_total 3/);
  t.regex(metrics, /callmap_sniffer_packets_malformed_total 2/);
  t.regex(metrics, /callmap_sniffer_packets_ignored_total 2/);
  t.regex(metrics, /callmap_sniffer_dns_answers_total 1/);
  t.regex(metrics, /callmap_sniffer_tcp_connections_total 2/);
  t.regex(metrics, /callmap_sniffer_packets_truncated_total 2/);
  t.regex(metrics, /callmap_sniffer_socket_scan_namespaces 3/);
  t.regex(metrics, /callmap_sniffer_reports_sent_total 0/);
  t.is((await fetch(`${sniffer.metricsUrl}/nope`)).status, 404);

  await sniffer.reportNow();
  const after = await (await fetch(`${sniffer.metricsUrl}/metrics`)).text();
  t.regex(after, /callmap_sniffer_reports_sent_total 1/);

  cap.inject(buildTcpSyn({ clientIp: '10.244.1.9', serverIp: '10.96.0.22', serverPort: 82, link: 'sll' }));
  const final = await sniffer.shutdown(5000);
  t.true(cap.opened.every((o) => o.closed));
  t.is(final.queuedObservations + final.pendingObservations, 0);
  const obs = rx.observations();
  t.deepEqual(
    obs
      .filter((o): o is TcpObservation => o.kind === 'tcp')
      .map((o) => `${o.source} ${o.clientIp}>${o.serverIp}:${o.serverPort}`)
      .sort(),
    [
      'capture 10.244.1.5>10.96.0.20:80',
      'capture 10.244.1.5>10.96.0.21:81',
      'capture 10.244.1.9>10.96.0.22:82',
      'socket-scan 10.244.1.7>10.96.0.50:5432',
    ],
  );
  t.like(
    obs.find((o) => o.kind === 'dns'),
    { clientIp: '10.244.1.5', name: 'web.default.svc.cluster.local', ips: ['10.96.0.20'], count: 1 },
  );
  await t.throwsAsync(fetch(`${sniffer.metricsUrl}/healthz`));
  t.true(logs.some((l) => l.includes('capturing on veth-a (linktype 113), veth-b (linktype 113)')));
});

test('live: a capture that cannot open closes the ones already open and throws', async (t) => {
  const closed: string[] = [];
  const transport = httpTransport('http://127.0.0.1:9');
  t.teardown(() => transport.close());
  const reporter = new ObservationReporter({ transport, reporter: { component: 'sniffer', instance: 'n1' } });
  await t.throwsAsync(
    startLiveSniffer(
      {
        interfaces: ['ok0', 'bad0'],
        scanIntervalMs: 1000,
        reportIntervalMs: 1000,
        socketScan: false,
        procRoot: '/proc',
        metricsHost: '127.0.0.1',
        metricsPort: 0,
      },
      {
        reporter,
        openCapture: (device) => {
          if (device === 'bad0') throw new Error('no such device');
          return { device, linkType: 1, close: () => closed.push(device) };
        },
        log: () => {},
      },
    ),
    { message: 'no such device' },
  );
  t.deepEqual(closed, ['ok0']);
});

test('live: libpcap counters per device on /metrics (32-bit wraps counted through) pass promtool check metrics', async (t) => {
  const transport = httpTransport('http://127.0.0.1:9');
  t.teardown(() => transport.close());
  const reporter = new ObservationReporter({ transport, reporter: { component: 'sniffer', instance: 'n1' } });
  const raw: Record<string, { received: number; dropped: number; ifDropped: number }> = {
    eth0: { received: 4294967000, dropped: 7, ifDropped: 1 },
    cni0: { received: 12, dropped: 0, ifDropped: 0 },
  };
  const sniffer = await startLiveSniffer(
    {
      interfaces: ['eth0', 'cni0'],
      scanIntervalMs: 60_000,
      reportIntervalMs: 60_000,
      socketScan: false,
      procRoot: '/proc',
      metricsHost: '127.0.0.1',
      metricsPort: 0,
    },
    {
      reporter,
      openCapture: (device) => ({ device, linkType: 1, close: () => {}, stats: () => ({ ...raw[device]! }) }),
      log: () => {},
    },
  );
  const scrape = async (): Promise<string> => (await fetch(`${sniffer.metricsUrl}/metrics`)).text();
  const first = await scrape();
  t.regex(first, /callmap_sniffer_libpcap_received_total\{device="eth0"\} 4294967000\n/);
  t.regex(first, /callmap_sniffer_libpcap_dropped_total\{device="eth0"\} 7\n/);
  t.regex(first, /callmap_sniffer_libpcap_if_dropped_total\{device="eth0"\} 1\n/);
  t.regex(first, /callmap_sniffer_libpcap_received_total\{device="cni0"\} 12\n/);
  t.regex(first, /callmap_sniffer_libpcap_dropped_total\{device="cni0"\} 0\n/);
  t.regex(first, /callmap_sniffer_capture_errors_total 0\n/);
  // libpcap's 32-bit counter wraps: 4294967000 → 100 is 396 more packets
  raw.eth0 = { received: 100, dropped: 9, ifDropped: 1 };
  const second = await scrape();
  t.regex(second, /callmap_sniffer_libpcap_received_total\{device="eth0"\} 4294967396\n/);
  t.regex(second, /callmap_sniffer_libpcap_dropped_total\{device="eth0"\} 9\n/);
  t.deepEqual(
    sniffer.libpcapStats().map((d) => `${d.device} ${d.received} ${d.dropped} ${d.ifDropped}`),
    ['eth0 4294967396 9 1', 'cni0 12 0 0'],
  );
  const { code, output } = await promtoolCheckMetrics(second);
  t.is(code, 0, output);
  await sniffer.shutdown(1000);
});
