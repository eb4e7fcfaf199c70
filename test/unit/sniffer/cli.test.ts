import test from 'ava';
import { UsageError } from '../../../mapper/cli/command.ts';
import { command, parseSnifferArgs } from '../../../sniffer/cli.ts';
import { CAPTURE_FILTER } from '../../../sniffer/filter.ts';

test('defaults, and env below flags', (t) => {
  const c = parseSnifferArgs([], { NODE_NAME: 'node-a', CALLMAP_MAPPER_URL: 'http://mapper:9090' });
  t.like(c, {
    mapperUrl: 'http://mapper:9090',
    interfaces: ['any'],
    pcap: undefined,
    scanIntervalMs: 10_000,
    reportIntervalMs: 10_000,
    socketScan: true,
    procRoot: '/proc',
    metricsPort: 9091,
    metricsHost: '0.0.0.0',
    nodeName: 'node-a',
  });
  const d = parseSnifferArgs(
    [
      '--mapper-url=http://127.0.0.1:1234',
      '--interface',
      'eth0,cni0',
      '--interface=lo',
      '--scan-interval=2s',
      '--report-interval=500ms',
      '--no-socket-scan',
      '--proc-root=/host/proc',
      '--metrics-port=0',
      '--metrics-host=127.0.0.1',
      '--node-name=n1',
    ],
    { NODE_NAME: 'node-a', CALLMAP_MAPPER_URL: 'http://mapper:9090' },
  );
  t.like(d, {
    mapperUrl: 'http://127.0.0.1:1234',
    interfaces: ['eth0', 'cni0', 'lo'],
    scanIntervalMs: 2000,
    reportIntervalMs: 500,
    socketScan: false,
    procRoot: '/host/proc',
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    nodeName: 'n1',
  });
});

test('bad flags are usage errors', (t) => {
  const bad = [
    ['--scan-interval=soon'],
    ['--metrics-port=70000'],
    ['--interface=eth0;rm'],
    ['--pcap=x.pcap', '--interface=eth0'],
    ['--bogus'],
    ['--node-name='],
  ];
  for (const argv of bad) t.throws(() => parseSnifferArgs(argv, {}), { instanceOf: UsageError }, argv.join(' '));
  t.throws(() => parseSnifferArgs(['--mapper-url=ftp://x'], {}), { message: /http/ });
});

test('command metadata and help text', (t) => {
  t.is(command.name, 'sniffer');
  for (const flag of [
    '--mapper-url',
    '--interface',
    '--pcap',
    '--scan-interval',
    '--report-interval',
    '--no-socket-scan',
    '--proc-root',
    '--metrics-port',
    '--metrics-host',
    '--node-name',
  ]) {
    t.true(command.usage.includes(flag), flag);
  }
});

test('the kernel filter covers DNS responses, TCP DNS and SYNs on IPv4 and IPv6', (t) => {
  for (const part of [
    'udp src port 53',
    'udp[10] & 0x80',
    'ip6[50] & 0x80',
    'tcp src port 53',
    'tcp-syn',
    'ip6[53] & 0x02',
  ]) {
    t.true(CAPTURE_FILTER.includes(part), part);
  }
});
