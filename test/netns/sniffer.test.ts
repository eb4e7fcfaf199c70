/**
 * Root-only: real packets through real namespaces. Pods are network namespaces on a bridge in a
 * "node" namespace; dnsmasq is cluster DNS; a client opens a TCP connection BEFORE the sniffer
 * starts (found by the /proc socket scan), then resolves names (A, and a CNAME chain) and opens
 * a new connection (found by SYN capture). The sniffer runs in the node namespace on `any`, with
 * the chart's default capabilities (NET_RAW only).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import type { DnsObservation, Observation, ReportBatch, TcpObservation } from '../../mapper/contract/index.ts';
import { netnsUnavailable, removeLeftovers, sh, tryRun } from './netns.ts';

const root = new URL('../../', import.meta.url).pathname;
const SETPRIV = '/usr/bin/setpriv';
/** Why the test cannot run here, or undefined when it can (root, iproute2, dnsmasq, netns allowed). */
const cannotRun = ((): string | undefined => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, raw capture)';
  try {
    execFileSync('test', ['-x', '/usr/sbin/dnsmasq']);
  } catch {
    return 'needs /usr/sbin/dnsmasq';
  }
  try {
    execFileSync('test', ['-x', SETPRIV]);
  } catch {
    return `needs ${SETPRIV} (util-linux) to run the sniffer with NET_RAW only`;
  }
  return netnsUnavailable(`cmsnprobe${process.pid}`);
})();

const PREFIX = 'cmsn';
const id = `${PREFIX}${process.pid}`;
const NS = { node: `${id}-node`, dns: `${id}-dns`, a: `${id}-a`, b: `${id}-b` } as const;
const IP = { gw: '10.244.77.1', dns: '10.244.77.10', a: '10.244.77.11', b: '10.244.77.12' } as const;

function setupNetwork(): void {
  for (const ns of Object.values(NS)) sh('ip', ['netns', 'add', ns]);
  sh('ip', ['-n', NS.node, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', NS.node, 'link', 'add', 'br0', 'type', 'bridge']);
  sh('ip', ['-n', NS.node, 'addr', 'add', `${IP.gw}/24`, 'dev', 'br0']);
  sh('ip', ['-n', NS.node, 'link', 'set', 'br0', 'up']);
  for (const [pod, ip] of [
    ['dns', IP.dns],
    ['a', IP.a],
    ['b', IP.b],
  ] as const) {
    const ns = NS[pod];
    const host = `v${pod}`;
    sh('ip', ['-n', NS.node, 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['-n', NS.node, 'link', 'set', host, 'master', 'br0', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
}

function inNs(ns: string, cmd: string, args: string[]): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, out: '', err: '' };
  child.stdout?.on('data', (d: Buffer) => (p.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (p.err += d.toString()));
  return p;
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const NODE = process.execPath;
const TSX = ['--import=tsx'];

test('sniffer in the node namespace sees pod DNS, new connections and pre-existing sockets', async (t) => {
  if (cannotRun !== undefined) {
    t.log(`skipped: ${cannotRun}`);
    t.pass();
    return;
  }
  removeLeftovers(PREFIX);
  const procs: Proc[] = [];
  t.teardown(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    for (const ns of Object.values(NS)) tryRun('ip', ['netns', 'delete', ns]);
  });
  setupNetwork();

  // cluster DNS
  const dns = inNs(NS.dns, '/usr/sbin/dnsmasq', [
    '--keep-in-foreground',
    '--no-resolv',
    '--no-hosts',
    '--pid-file=',
    '--bind-interfaces',
    `--listen-address=${IP.dns}`,
    '--log-facility=-',
    `--host-record=web.default.svc.cluster.local,${IP.b}`,
    '--cname=api.default.svc.cluster.local,web.default.svc.cluster.local',
    `--address=/svc.cluster.local/${IP.b}`,
  ]);
  procs.push(dns);
  // server pod
  const server = inNs(NS.b, NODE, [
    '-e',
    `const s=require('node:net').createServer(c=>{c.on('error',()=>{});c.resume()});s.listen(8080,'0.0.0.0',()=>console.log('up'))`,
  ]);
  procs.push(server);
  await waitFor('server', () => server.out.includes('up'));
  // a long-lived connection opened BEFORE the sniffer starts
  const old = inNs(NS.a, NODE, [
    '-e',
    `const c=require('node:net').connect(8080,'${IP.b}',()=>console.log('connected'));c.on('error',e=>console.error(e.message));setInterval(()=>{},1e6)`,
  ]);
  procs.push(old);
  await waitFor('pre-existing connection', () => old.out.includes('connected'));

  // the receiver (stands in for the mapper) lives in the node namespace with the sniffer
  const rx = inNs(NS.node, NODE, [...TSX, join(root, 'test/netns/sniffer-receiver.ts')]);
  procs.push(rx);
  const url = await waitFor('receiver', () => /listening (\S+)/.exec(rx.out)?.[1]);

  // The sniffer gets what the chart gives it by default: root with every capability dropped but
  // NET_RAW (no SYS_PTRACE), so the /proc scan must find pod A's root-owned, fully capable
  // processes without ptrace access to them.
  const sniffer = inNs(NS.node, SETPRIV, [
    '--bounding-set=-all,+net_raw',
    '--inh-caps=-all,+net_raw',
    '--no-new-privs',
    NODE,
    ...TSX,
    join(root, 'mapper/cli/bin.ts'),
    'sniffer',
    '--interface=any',
    `--mapper-url=${url}`,
    '--report-interval=1s',
    '--scan-interval=1s',
    '--metrics-host=127.0.0.1',
    '--metrics-port=0',
    '--node-name=node-1',
  ]);
  procs.push(sniffer);
  await waitFor('sniffer start', () => sniffer.out.includes('running as node-1') || sniffer.child.exitCode !== null);
  t.is(sniffer.child.exitCode, null, sniffer.err);

  // new traffic from pod A: DNS (A and a CNAME chain) then a new TCP connection
  const client = inNs(NS.a, NODE, [
    '-e',
    `const dns=require('node:dns').promises;const r=new dns.Resolver();r.setServers(['${IP.dns}']);
     (async()=>{
       console.log('web',JSON.stringify(await r.resolve4('web.default.svc.cluster.local')));
       console.log('api',JSON.stringify(await r.resolve4('api.default.svc.cluster.local')));
       console.log('other',JSON.stringify(await r.resolve4('db.data.svc.cluster.local')));
       const c=require('node:net').connect(8080,'${IP.b}',()=>{console.log('new');setTimeout(()=>c.end(),300)});
     })().catch(e=>{console.error(e);process.exit(1)})`,
  ]);
  procs.push(client);
  await waitFor('client', () => client.out.includes('new') || client.child.exitCode !== null);
  t.regex(client.out, /web \["10\.244\.77\.12"\]/, client.err);

  const observations = (): Observation[] =>
    rx.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => (JSON.parse(l) as ReportBatch).observations);
  const want = (obs: Observation[]): boolean => {
    const dnsNames = new Set(
      obs.filter((o): o is DnsObservation => o.kind === 'dns' && o.clientIp === IP.a).map((o) => o.name),
    );
    const tcp = obs.filter((o): o is TcpObservation => o.kind === 'tcp' && o.clientIp === IP.a && o.serverIp === IP.b);
    return (
      ['web.default.svc.cluster.local', 'api.default.svc.cluster.local', 'db.data.svc.cluster.local'].every((n) =>
        dnsNames.has(n),
      ) &&
      tcp.some((o) => o.source === 'capture') &&
      tcp.some((o) => o.source === 'socket-scan')
    );
  };
  await waitFor('observations at the receiver', () => want(observations()) || undefined, 15_000).catch((e: Error) => {
    t.log(`sniffer stderr: ${sniffer.err}`);
    t.log(`received: ${JSON.stringify(observations(), null, 1)}`);
    throw e;
  });
  const obs = observations();
  const dnsObs = obs.filter((o): o is DnsObservation => o.kind === 'dns' && o.clientIp === IP.a);
  const api = dnsObs.find((o) => o.name === 'api.default.svc.cluster.local');
  t.deepEqual(api?.ips, [IP.b], 'the CNAME chain ends at the A record, observation names the question');
  t.deepEqual(dnsObs.find((o) => o.name === 'web.default.svc.cluster.local')?.ips, [IP.b]);
  // the bridge shows each packet on two veths: counted once
  const dnsCount = dnsObs
    .filter((o) => o.name === 'web.default.svc.cluster.local')
    .reduce((n, o) => n + (o.count ?? 1), 0);
  t.is(dnsCount, 1);
  const syn = obs.filter(
    (o): o is TcpObservation =>
      o.kind === 'tcp' && o.source === 'capture' && o.clientIp === IP.a && o.serverPort === 8080,
  );
  t.is(
    syn.reduce((n, o) => n + (o.count ?? 1), 0),
    1,
    'SYN and SYN-ACK on two veths are one connection',
  );
  // no loopback sockets reported
  t.false(obs.some((o) => o.kind === 'tcp' && (o.clientIp.startsWith('127.') || o.serverIp.startsWith('127.'))));

  // libpcap's own counters for the `any` device are on /metrics (served inside the node namespace)
  const metricsUrl = /metrics on (\S+\/metrics)/.exec(sniffer.err)?.[1];
  t.truthy(metricsUrl, sniffer.err);
  t.regex(sniffer.err, /capturing on any \(linktype 113\) via libpcap version/);
  const scrape = inNs(NS.node, NODE, [
    '-e',
    `fetch(${JSON.stringify(metricsUrl)}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(e);process.exit(1)})`,
  ]);
  procs.push(scrape);
  await new Promise((r) => scrape.child.once('exit', r));
  const received = /^callmap_sniffer_libpcap_received_total\{device="any"\} (\d+)$/m.exec(scrape.out);
  t.truthy(received, scrape.out + scrape.err);
  t.true(Number(received?.[1]) > 0, 'pcap_stats saw the packets');
  t.regex(scrape.out, /^callmap_sniffer_libpcap_dropped_total\{device="any"\} \d+$/m);
  t.regex(scrape.out, /^callmap_sniffer_libpcap_if_dropped_total\{device="any"\} \d+$/m);

  // graceful shutdown: SIGTERM stops capture, flushes, exits 0 with a summary
  sniffer.child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => sniffer.child.once('exit', (c) => r(c)));
  t.is(code, 0, sniffer.err);
  t.regex(sniffer.out, /stopped after \d+ packets, [1-9]\d* DNS answers, [1-9]\d* TCP connections/);
});
