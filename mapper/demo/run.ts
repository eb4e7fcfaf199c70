/**
 * `callmap demo` orchestration. Everything runs for real, on loopback, without root:
 *   1. the Kubernetes API test server serves the demo cluster generated from cluster.ts;
 *   2. Envoy stats servers listen on the Istio pods' (loopback) IPs;
 *   3. the mapper resolves through informers against that API server;
 *   4. the sniffer replays a generated capture (`callmap sniffer --pcap`);
 *   5. the Istio watcher scrapes the stats servers (`callmap watch istio --once`);
 *   6. the Kafka watcher reads kafka-0's authorizer log through the pod-log API
 *      (`callmap watch kafka --once`);
 *   7. `callmap list` prints the map and `callmap visualize` writes the SVG.
 * Each component is driven through its own CLI entry, exactly as a user would run it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startKubeApiServer } from '../../test/kube-api-server/index.ts';
import type { CliContext } from '../cli/command.ts';
import { CallmapError } from '../contract/index.ts';
import { type RunningMapper, startMapper } from '../main.ts';
import { type DemoPod, demoKafkaLog, demoKubeObjects, demoPods, demoStatsPage, demoTraffic } from './generate.ts';

export interface DemoOptions {
  host: string;
  port: number;
  /** Where the picture goes; undefined to skip it. */
  svgPath: string | undefined;
  /** Stop after printing (tests, CI). */
  exit: boolean;
  /** Interval of live rounds while serving, ms. */
  roundMs: number;
  /** Runs a `callmap` command in-process (the CLI dispatcher's `main`). */
  run: (argv: string[], ctx: CliContext) => Promise<number>;
}

/** A Writable that prefixes each line, so component output reads as demo progress. */
function prefixed(out: Writable, prefix: string): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) out.write(`${prefix}${l}\n`);
      cb();
    },
    final(cb) {
      if (partial !== '') out.write(`${prefix}${partial}\n`);
      cb();
    },
  });
}

interface StatsServers {
  port: number;
  round: number;
  close(): Promise<void>;
}

/** One HTTP server per Istio pod, on the pod's loopback IP, all on the same port. */
async function startStatsServers(pods: DemoPod[]): Promise<StatsServers> {
  const istioPods = pods.filter((p) => p.workload.istio);
  const state = { round: 1 };
  const listen = (pod: DemoPod, port: number): Promise<Server> =>
    new Promise((resolve, reject) => {
      const s = createServer((req, res) => {
        if (req.url?.startsWith('/stats/prometheus')) {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(demoStatsPage(pod, state.round));
        } else {
          res.writeHead(404).end();
        }
      });
      s.once('error', reject);
      s.listen(port, pod.ip, () => resolve(s));
    });
  for (let attempt = 0; attempt < 5; attempt++) {
    const servers: Server[] = [];
    try {
      const first = await listen(istioPods[0] as DemoPod, 0);
      servers.push(first);
      const port = (first.address() as AddressInfo).port;
      for (const p of istioPods.slice(1)) servers.push(await listen(p, port));
      return {
        port,
        get round() {
          return state.round;
        },
        set round(r: number) {
          state.round = r;
        },
        close: async () => {
          await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
        },
      };
    } catch (e) {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      if ((e as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') {
        throw new CallmapError(
          'DEMO_LOOPBACK',
          'the demo needs the whole 127.0.0.0/8 loopback range (Linux has it by default); on macOS run: sudo ifconfig lo0 alias 127.1.1.1 up (and the other demo pod IPs)',
        );
      }
    }
  }
  throw new CallmapError('DEMO_PORTS', 'could not find a free port for the demo Envoy stats servers; try again');
}

/** Builds the demo capture: DNS answers, then SYN and SYN-ACK per connection, 3 ms apart from `start`. */
async function writeDemoPcap(path: string, start: number): Promise<number> {
  const { buildDnsResponse, buildTcpSyn, writePcap } = await import('../../sniffer/index.ts');
  const { dns, connections } = demoTraffic();
  const packets: Array<{ data: Buffer; time: number }> = [];
  // 3 ms between packets; each connection gets its own client port (SYN then SYN-ACK).
  const at = (i: number) => start + i * 3;
  // Like a real resolver's clients, every query has its own source port and DNS id (the sniffer
  // de-duplicates copies of one response by client address, port and id).
  dns.forEach((d, i) => {
    const answers = d.ips.map((ip) => ({
      type: ip.includes(':') ? ('AAAA' as const) : ('A' as const),
      value: ip,
      ttl: 30,
    }));
    const spec = { clientIp: d.clientIp, clientPort: 30000 + i, id: (i * 7919) & 0xffff, name: d.name, answers };
    packets.push({ time: at(packets.length), data: buildDnsResponse(spec) });
  });
  connections.forEach((c, i) => {
    const spec = {
      clientIp: c.clientIp,
      serverIp: c.serverIp,
      serverPort: c.serverPort,
      clientPort: 40000 + (i % 20000),
    };
    packets.push({ time: at(packets.length), data: buildTcpSyn(spec) });
    packets.push({ time: at(packets.length), data: buildTcpSyn({ ...spec, synAck: true }) });
  });
  writePcap(path, packets);
  return packets.length;
}

export async function runDemo(opts: DemoOptions, ctx: CliContext): Promise<number> {
  const say = (line: string) => ctx.stderr.write(`${line}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'callmap-demo-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort while shutting down
      }
    }
  };
  try {
    const pods = demoPods();
    const started = Date.now();
    say('callmap demo: mapping the demo shop (14 workloads, Kafka, 2 external APIs) — nothing leaves this machine');

    say('[1/7] Envoy stats servers on the Istio pods’ loopback IPs');
    const stats = await startStatsServers(pods);
    cleanups.push(() => stats.close());

    const objects = demoKubeObjects({ statsPort: stats.port });
    say(`[2/7] Kubernetes API test server with the demo cluster (${objects.length} objects, ${pods.length} pods)`);
    const kube = await startKubeApiServer({ objects });
    cleanups.push(() => kube.close());

    say('[3/7] mapper (resolving workloads through Kubernetes informers)');
    let mapper: RunningMapper;
    try {
      mapper = await startMapper({
        host: opts.host,
        port: opts.port,
        dbPath: join(dir, 'demo.db'),
        dbSync: 'normal',
        maxBodyBytes: 8 * 1024 * 1024,
        kube: { kubeconfig: { kind: 'file', path: kube.kubeconfigPath } },
        log: () => {},
      });
    } catch (e) {
      if ((e as CallmapError).code === 'PORT_IN_USE') {
        throw new CallmapError(
          'PORT_IN_USE',
          `port ${opts.port} is in use; run \`callmap demo --port 0\` (any free port) or pick one with --port`,
        );
      }
      throw e;
    }
    cleanups.push(() => mapper.close());
    const url = mapper.url;
    await waitReady(url, 15_000);
    say(`      mapper: listening on ${url}, informers synced`);

    const env = { ...ctx.env, KUBECONFIG: kube.kubeconfigPath, CALLMAP_MAPPER_URL: url };
    const sub = (prefix: string): CliContext => ({
      env,
      stdout: prefixed(ctx.stderr, prefix),
      stderr: prefixed(ctx.stderr, prefix),
      signal: ctx.signal,
    });
    const must = async (what: string, argv: string[], c: CliContext) => {
      const code = await opts.run(argv, c);
      if (code !== 0) throw new CallmapError('DEMO_STEP_FAILED', `${what} exited with ${code}; see the lines above`);
    };

    const pcap = join(dir, 'demo.pcap');
    const n = await writeDemoPcap(pcap, Date.now() - 60_000);
    say(`[4/7] sniffer replays the demo capture (${n} packets: DNS answers and TCP handshakes)`);
    await must(
      'callmap sniffer --pcap',
      ['sniffer', '--pcap', pcap, '--mapper-url', url, '--node-name', 'demo-node-1'],
      sub('      sniffer: '),
    );

    say('[5/7] Istio watcher scrapes the Envoy stats (HTTP paths and methods)');
    await must(
      'callmap watch istio --once',
      ['watch', 'istio', '--once', '--mapper-url', url, '--kubeconfig', kube.kubeconfigPath],
      sub('      istio: '),
    );

    say('[6/7] Kafka watcher reads kafka-0’s authorizer log through the Kubernetes API');
    const kafkaPod = pods.find((p) => p.workload.name === 'kafka');
    if (!kafkaPod) throw new CallmapError('DEMO_BROKEN', 'the demo description has no kafka pod');
    const appendKafka = (time: number) => {
      for (const line of demoKafkaLog(time))
        kube.appendLog(kafkaPod.namespace, kafkaPod.name, undefined, line, new Date(time));
    };
    appendKafka(Date.now() - 30_000);
    await must(
      'callmap watch kafka --once',
      [
        'watch',
        'kafka',
        '--once',
        '--server',
        `${kafkaPod.name}.${kafkaPod.namespace}`,
        '--mapper-url',
        url,
        '--kubeconfig',
        kube.kubeconfigPath,
      ],
      sub('      kafka: '),
    );

    say(`[7/7] the map (${((Date.now() - started) / 1000).toFixed(1)} s):\n`);
    const listCtx: CliContext = { ...ctx, env };
    await must('callmap list', ['list', '--external', '--mapper-url', url], listCtx);
    if (opts.svgPath) {
      await must(
        'callmap visualize',
        ['visualize', '--format', 'svg', '-o', opts.svgPath, '--mapper-url', url],
        sub('      '),
      );
      say(`\nWrote ${opts.svgPath}. Try: callmap export --mapper-url ${url}   (ClientIntents for the whole map)`);
    }
    if (opts.exit) return 0;

    say(`\nLive map: ${url}/   (new traffic every ${Math.round(opts.roundMs / 1000)} s; Ctrl-C to stop)`);
    // While serving, the watchers run as the daemons they are: Istio scrapes every round and
    // reports counter deltas; Kafka follows kafka-0's log. New traffic arrives every round.
    const daemons = [
      opts.run(
        ['watch', 'istio', '--interval', `${opts.roundMs}ms`, '--mapper-url', url, '--kubeconfig', kube.kubeconfigPath],
        sub('      istio: '),
      ),
      opts.run(
        [
          'watch',
          'kafka',
          '--server',
          `${kafkaPod.name}.${kafkaPod.namespace}`,
          '--report-interval',
          `${opts.roundMs}ms`,
          '--mapper-url',
          url,
          '--kubeconfig',
          kube.kubeconfigPath,
        ],
        sub('      kafka: '),
      ),
    ];
    await liveRounds(opts, ctx, stats, appendKafka);
    await Promise.allSettled(daemons);
    say('callmap demo: stopped');
    return 0;
  } catch (e) {
    if (ctx.signal.aborted) {
      say('callmap demo: interrupted while starting; stopped');
      return 130;
    }
    throw e;
  } finally {
    await cleanup();
  }
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/readyz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end)
      throw new CallmapError(
        'DEMO_NOT_READY',
        `the demo mapper at ${url} did not become ready in ${timeoutMs / 1000} s`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Makes new traffic every round until the signal aborts: Envoy counters grow, kafka-0 logs more lines. */
async function liveRounds(
  opts: DemoOptions,
  ctx: CliContext,
  stats: StatsServers,
  appendKafka: (time: number) => void,
): Promise<void> {
  while (!ctx.signal.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, opts.roundMs);
      ctx.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    if (ctx.signal.aborted) break;
    stats.round += 1;
    appendKafka(Date.now());
  }
}
