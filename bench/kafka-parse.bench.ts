/**
 * Kafka watcher benchmark.
 *
 * 1. Generates a 1,000,000-line mixed broker log (60% authorizer lines: AclAuthorizer and KRaft
 *    StandardAuthorizer, in the Apache and Strimzi layouts; 40% other loggers and stack traces).
 * 2. Parses + aggregates it in a child process (the watcher's file path: LineScanner in marker mode
 *    → KafkaLineProcessor) and reads the child's peak RSS.
 * 3. Times `rg -c 'Principal = ' FILE` on the same file in the same run and prints the ratio.
 * 4. Feeds 5,000,000 lines through the streaming path used for pod logs (every line decoded),
 *    draining observations every 100,000 lines like a report tick, and samples RSS to show memory
 *    stays flat while following an endless stream.
 *
 * Run: node --import=tsx bench/kafka-parse.bench.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileTailer } from '../watchers/kafka/file.ts';
import { LineScanner } from '../watchers/kafka/lines.ts';
import { KafkaLineProcessor } from '../watchers/kafka/processor.ts';
import { KafkaStats } from '../watchers/kafka/stats.ts';

const LINES = 1_000_000;
const STREAM_LINES = 5_000_000;

/** Deterministic PRNG so every run benchmarks the same file. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Client {
  ip: string;
  principal: string;
  topics: string[];
}

/** A line generator: realistic repetition (each client uses a few topics), varying timestamps. */
function generator(seed: number): () => string {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)] as T;
  const topics = Array.from({ length: 80 }, (_, i) => `team-${i % 9}.orders_v${i}-events`);
  const clients: Client[] = Array.from({ length: 300 }, (_, i) => ({
    ip: `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) % 250}`,
    principal: i % 3 === 0 ? `User:CN=svc-${i},OU=Team ${i % 5},O=Corp` : `User:svc-${i}`,
    topics: [pick(topics), pick(topics), pick(topics)],
  }));
  const aclOps = [
    ['Read', 'Fetch'],
    ['Write', 'Produce'],
    ['Describe', 'Metadata'],
  ] as const;
  const kraftOps = [
    ['READ', 'Fetch'],
    ['WRITE', 'Produce'],
    ['DESCRIBE', 'Metadata'],
    ['IDEMPOTENT_WRITE', 'InitProducerId'],
  ] as const;
  const others = [
    'INFO [GroupCoordinator 0]: Preparing to rebalance group billing in state PreparingRebalance with old generation 12 (kafka.coordinator.group.GroupCoordinator)',
    'INFO [Log partition=orders-3, dir=/var/lib/kafka/data] Rolled new log segment at offset 123456 in 3 ms. (kafka.log.Log)',
    'WARN [ReplicaFetcher replicaId=1, leaderId=0, fetcherId=0] Error in response for fetch request (kafka.server.ReplicaFetcherThread)',
    'INFO [Controller id=0] Processing automatic preferred replica leader election (kafka.controller.KafkaController)',
  ];
  const trace = [
    'java.io.IOException: Connection to 2 was disconnected before the response was read',
    '\tat org.apache.kafka.clients.NetworkClientUtils.sendAndReceive(NetworkClientUtils.java:100)',
    '\tat kafka.server.ReplicaFetcherBlockingSend.sendRequest(ReplicaFetcherBlockingSend.scala:110)',
  ];
  let ms = Date.UTC(2024, 4, 1, 12, 0, 0);
  let traceLeft = 0;
  let n = 0;
  const stamp = (): string => {
    const d = new Date(ms);
    const iso = d.toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)},${iso.slice(20, 23)}`;
  };
  return () => {
    ms += Math.floor(r() * 3);
    if (traceLeft > 0) return trace[trace.length - traceLeft--] as string;
    const x = r();
    n++;
    if (x < 0.6) {
      const c = pick(clients);
      const topic = pick(c.topics);
      const allowed = r() < 0.97 ? 'Allowed' : 'Denied';
      const strimzi = n % 4 === 0;
      if (x < 0.3) {
        const [op, req] = pick(aclOps);
        const msg = `Principal = ${c.principal} is ${allowed} Operation = ${op} from host = ${c.ip} on resource = Topic:LITERAL:${topic} for request = ${req} with resourceRefCount = 1`;
        return strimzi
          ? `${stamp()} DEBUG ${msg} (kafka.authorizer.logger) [data-plane-kafka-request-handler-${n % 8}]`
          : `[${stamp()}] DEBUG ${msg} (kafka.authorizer.logger)`;
      }
      const [op, req] = pick(kraftOps);
      const res = op === 'IDEMPOTENT_WRITE' ? 'Cluster:LITERAL:kafka-cluster' : `Topic:LITERAL:${topic}`;
      const rule =
        allowed === 'Denied'
          ? 'DefaultDeny'
          : `MatchingAcl(acl=StandardAcl[resourceType=TOPIC, resourceName=${topic}, patternType=LITERAL, principal=${c.principal}, host=*, operation=${op}, permissionType=ALLOW])`;
      return `[${stamp()}] DEBUG Principal = ${c.principal} is ${allowed} operation = ${op} from host = ${c.ip} on resource = ${res} for request = ${req} with resourceRefCount = 1 based on rule ${rule} (kafka.authorizer.logger)`;
    }
    if (x < 0.62) {
      traceLeft = trace.length;
      return `[${stamp()}] ERROR [ReplicaFetcher replicaId=1, leaderId=2, fetcherId=0] Error sending fetch request (kafka.server.ReplicaFetcherThread)`;
    }
    return `[${stamp()}] ${pick(others)}`;
  };
}

function generateFile(path: string, lines: number): { authorizer: number } {
  const next = generator(42);
  const parts: string[] = [];
  let authorizer = 0;
  for (let i = 0; i < lines; i++) {
    const l = next();
    if (l.includes('Principal = ')) authorizer++;
    parts.push(l);
  }
  writeFileSync(path, `${parts.join('\n')}\n`);
  return { authorizer };
}

// ---------------------------------------------------------------------------- child modes

async function childParse(file: string): Promise<void> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const stats = new KafkaStats();
  const processor = new KafkaLineProcessor({
    serverPod: { name: 'kafka-0', namespace: 'kafka' },
    stats,
    now: Date.now,
    overflow: (o) => {
      stats.observationsReported += o.length;
    },
  });
  // The watcher's own file path (`--log-file … --once`): FileTailer → LineScanner → processor.
  await new FileTailer({ path: file, processor, stats, log: () => {}, once: true }).run(new AbortController().signal);
  const obs = processor.drain();
  stats.observationsReported += obs.length;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(
    `${JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: process.resourceUsage().maxRSS, lines: stats.linesRead, parsed: stats.parsed, skipped: stats.skippedTotal, observations: stats.observationsReported })}\n`,
  );
}

function childStream(): void {
  const next = generator(7);
  const stats = new KafkaStats();
  const p = new KafkaLineProcessor({ serverPod: { name: 'kafka-0', namespace: 'kafka' }, stats, now: Date.now });
  const scanner = new LineScanner({ line: (l) => p.line(l), tooLong: () => p.tooLong() }, { all: true });
  const samples: Array<{ lines: number; rssMb: number; heapMb: number }> = [];
  const batch: string[] = [];
  let drained = 0;
  for (let i = 1; i <= STREAM_LINES; i++) {
    batch.push(next());
    if (batch.length === 1000) {
      // ~200 KB chunk split at an arbitrary byte, like a network read
      const buf = Buffer.from(`${batch.join('\n')}\n`);
      const cut = Math.floor(buf.length / 3);
      scanner.push(buf.subarray(0, cut));
      scanner.push(buf.subarray(cut));
      batch.length = 0;
    }
    if (i % 100_000 === 0) drained += p.drain().length;
    if (i % 500_000 === 0) {
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      samples.push({ lines: i, rssMb: Math.round(m.rss / 1e5) / 10, heapMb: Math.round(m.heapUsed / 1e5) / 10 });
    }
  }
  process.stdout.write(
    `${JSON.stringify({ samples, maxRssKb: process.resourceUsage().maxRSS, parsed: stats.parsed, drained })}\n`,
  );
}

// ---------------------------------------------------------------------------- driver

function timeIt(cmd: string, args: string[]): { ms: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`);
  return { ms, stdout: r.stdout };
}

/** Wall and CPU (user+sys) time of `rg -c 'Principal = ' FILE`, via bash's `time`. */
function timeRg(file: string): { wallMs: number; cpuMs: number; count: string } {
  const r = spawnSync(
    'bash',
    ['-c', 'TIMEFORMAT="%R %U %S"; { time rg -c "Principal = " "$1" ; } 2>&1', 'bash', file],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`rg failed (is ripgrep installed?): ${r.stdout}${r.stderr}`);
  const [count, times] = r.stdout.trim().split('\n');
  const [real, user, sys] = (times ?? '').split(' ').map(Number);
  return { wallMs: (real ?? 0) * 1000, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000, count: count ?? '' };
}

const self = fileURLToPath(import.meta.url);
const child = (args: string[]) => timeIt(process.execPath, ['--import=tsx', '--expose-gc', self, ...args]);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === '--child-parse') return childParse(process.argv[3] as string);
  if (mode === '--child-stream') return childStream();
  if (mode === '--generate') {
    generateFile(process.argv[3] as string, LINES);
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), 'callmap-kafka-bench-'));
  try {
    const file = join(dir, 'server.log');
    const g0 = Date.now();
    const { authorizer } = generateFile(file, LINES);
    const size = statSync(file).size;
    process.stdout.write(
      `generated ${LINES.toLocaleString('en')} lines (${authorizer.toLocaleString('en')} authorizer, ${(size / 1e6).toFixed(1)} MB) in ${Date.now() - g0} ms\n`,
    );
    const rgRuns: Array<{ wallMs: number; cpuMs: number }> = [];
    let rgCount = '';
    const ours: Array<{ wall: number; work: number; cpu: number; rss: number; parsed: number; observations: number }> =
      [];
    // Interleave the runs so both tools see the same machine load.
    for (let i = 0; i < 5; i++) {
      const r = timeRg(file);
      rgRuns.push(r);
      rgCount = r.count;
      if (i < 3) {
        const c = child(['--child-parse', file]);
        const j = JSON.parse(c.stdout) as {
          ms: number;
          cpuMs: number;
          maxRssKb: number;
          parsed: number;
          observations: number;
        };
        ours.push({
          wall: c.ms,
          work: j.ms,
          cpu: j.cpuMs,
          rss: j.maxRssKb,
          parsed: j.parsed,
          observations: j.observations,
        });
      }
    }
    const rgWall = median(rgRuns.map((r) => r.wallMs));
    const rgCpu = median(rgRuns.map((r) => r.cpuMs));
    const work = median(ours.map((o) => o.work));
    const cpu = median(ours.map((o) => o.cpu));
    const wall = median(ours.map((o) => o.wall));
    const rss = Math.max(...ours.map((o) => o.rss)) / 1024;
    const o0 = ours[0] as (typeof ours)[number];
    process.stdout.write(
      [
        `rg -c 'Principal = '          ${rgWall.toFixed(0)} ms wall, ${rgCpu.toFixed(0)} ms CPU (median of 5; count ${rgCount})`,
        `callmap parse + aggregate     ${work.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU in-process; ${wall.toFixed(0)} ms incl. node+tsx start-up (median of 3)`,
        `                              ${o0.parsed.toLocaleString('en')} decisions → ${o0.observations.toLocaleString('en')} observations`,
        `ratio vs rg                   ${(work / rgWall).toFixed(1)}× wall, ${(cpu / Math.max(rgCpu, 1)).toFixed(1)}× CPU, ${(wall / rgWall).toFixed(1)}× incl. start-up   (target ≤ 2×)`,
        `peak RSS                      ${rss.toFixed(1)} MB   (target ≤ 150 MB)`,
        '',
      ].join('\n'),
    );
    const s = child(['--child-stream']);
    const sj = JSON.parse(s.stdout) as {
      samples: Array<{ lines: number; rssMb: number; heapMb: number }>;
      maxRssKb: number;
    };
    process.stdout.write(
      `endless stream: ${STREAM_LINES.toLocaleString('en')} lines through the pod-log path (every line decoded) in ${(s.ms / 1000).toFixed(1)} s\n`,
    );
    for (const x of sj.samples)
      process.stdout.write(
        `  after ${x.lines.toLocaleString('en').padStart(9)} lines: RSS ${x.rssMb} MB, heap after GC ${x.heapMb} MB\n`,
      );
    const first = sj.samples[0];
    const last = sj.samples.at(-1);
    process.stdout.write(
      `  from first to last sample: RSS ${((last?.rssMb ?? 0) - (first?.rssMb ?? 0)).toFixed(1)} MB, heap ${((last?.heapMb ?? 0) - (first?.heapMb ?? 0)).toFixed(1)} MB; peak RSS ${(sj.maxRssKb / 1024).toFixed(1)} MB\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
