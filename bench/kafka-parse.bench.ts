/**
 * Kafka watcher benchmark.
 *
 * 1. Generates a 1,000,000-line mixed broker log (60% authorizer lines: AclAuthorizer and KRaft
 *    StandardAuthorizer, in the Apache and Strimzi layouts; 40% other loggers and stack traces).
 * 2. Parses + aggregates it in child processes through the watcher's own file path (`FileTailer`,
 *    as `callmap watch kafka --log-file … --once` runs it): with the native scanner
 *    (NativeLineFeed.readFile → callmap_kafka, 5 runs: the C module maps the file in 8 MiB pieces
 *    and scans it on libuv's thread pool (ADR 0065; pread with a read-ahead thread where it cannot
 *    map), so wall and CPU can differ; CPU counts every thread), the
 *    same with `--scan-threads 2` (3 runs: the backlog split at a newline and scanned on two
 *    threads, the second half's table merged; ADR 0064) and with the TypeScript fallback
 *    (LineScanner in marker mode → KafkaLineProcessor, 2 runs), and reads each child's wall, CPU
 *    and peak RSS.
 * 3. Times `rg -c 'Principal = ' FILE` (wall and user+sys CPU) on the same file in the same run,
 *    interleaved with the above, and prints both ratios.
 * 4. Feeds 5,000,000 kubelet-stamped lines through the pod-log path (PodLogFollower's pieces:
 *    de-duplication, parsing), native and TypeScript, draining observations every 100,000 lines
 *    like a report tick, and samples RSS to show memory stays flat while following an endless
 *    stream.
 *
 * Run: npm run bench kafka-parse
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileTailer } from '../watchers/kafka/file.ts';
import { LineScanner } from '../watchers/kafka/lines.ts';
import { loadKafkaNative, NativeLineFeed } from '../watchers/kafka/native.ts';
import { KafkaLineProcessor } from '../watchers/kafka/processor.ts';
import { ResumeTracker } from '../watchers/kafka/resume.ts';
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

async function childParse(file: string, parser: string): Promise<void> {
  const native = parser.startsWith('native') ? loadKafkaNative().addon : undefined;
  if (parser.startsWith('native') && native === undefined) throw new Error(loadKafkaNative().why);
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
  await new FileTailer({
    path: file,
    processor,
    stats,
    log: () => {},
    once: true,
    ...(native === undefined ? {} : { native }),
    // `--scan-threads 2`: the backlog is split at a newline and scanned on two threads
    ...(parser === 'native2' ? { scanThreads: 2 as const } : {}),
  }).run(new AbortController().signal);
  const obs = processor.drain();
  stats.observationsReported += obs.length;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(
    `${JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: process.resourceUsage().maxRSS, lines: stats.linesRead, parsed: stats.parsed, skipped: stats.skippedTotal, observations: stats.observationsReported })}\n`,
  );
}

function childStream(parser: string): void {
  const native = parser === 'native' ? loadKafkaNative().addon : undefined;
  if (parser === 'native' && native === undefined) throw new Error(loadKafkaNative().why);
  const next = generator(7);
  const stats = new KafkaStats();
  const p = new KafkaLineProcessor({ serverPod: { name: 'kafka-0', namespace: 'kafka' }, stats, now: Date.now });
  // The pod-log path of PodLogFollower: kubelet-stamped lines, de-duplicated, parsed.
  let push: (b: Buffer) => void;
  if (native !== undefined) {
    const feed = new NativeLineFeed({ addon: native, processor: p, stats, mode: 'pod' });
    push = (b) => feed.push(b);
  } else {
    const resume = new ResumeTracker();
    const scanner = new LineScanner(
      {
        line: (l, b, st, e) => {
          if (!resume.accept(l)) {
            stats.duplicateLines++;
            return;
          }
          stats.linesRead++;
          p.lineBytes(l, b, st, e);
        },
        tooLong: () => {
          stats.linesRead++;
          p.tooLong();
        },
      },
      { all: true },
    );
    push = (b) => scanner.push(b);
  }
  const samples: Array<{ lines: number; rssMb: number; heapMb: number }> = [];
  const batch: string[] = [];
  let drained = 0;
  let ns = Date.UTC(2024, 4, 1, 12) * 1e6;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 1; i <= STREAM_LINES; i++) {
    ns += 1_000 + (i % 7) * 100_000;
    const sec = Math.floor(ns / 1e9);
    const stamp = `${new Date(sec * 1000).toISOString().slice(0, 19)}.${String(ns % 1e9).padStart(9, '0')}Z`;
    batch.push(`${stamp} ${next()}`);
    if (batch.length === 1000) {
      // ~200 KB chunk split at an arbitrary byte, like a network read
      const buf = Buffer.from(`${batch.join('\n')}\n`);
      const cut = Math.floor(buf.length / 3);
      push(buf.subarray(0, cut));
      push(buf.subarray(cut));
      batch.length = 0;
    }
    if (i % 100_000 === 0) drained += p.drain().length;
    if (i % 500_000 === 0) {
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      samples.push({ lines: i, rssMb: Math.round(m.rss / 1e5) / 10, heapMb: Math.round(m.heapUsed / 1e5) / 10 });
    }
  }
  const cpu = process.cpuUsage(c0);
  process.stdout.write(
    `${JSON.stringify({ samples, ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: process.resourceUsage().maxRSS, parsed: stats.parsed, linesRead: stats.linesRead, drained })}\n`,
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

interface ParseRun {
  wall: number;
  work: number;
  cpu: number;
  rss: number;
  parsed: number;
  lines: number;
  observations: number;
}

type Parser = 'native' | 'native2' | 'ts';

function parseRun(file: string, parser: Parser): ParseRun {
  const c = child(['--child-parse', file, parser]);
  const j = JSON.parse(c.stdout) as {
    ms: number;
    cpuMs: number;
    maxRssKb: number;
    lines: number;
    parsed: number;
    observations: number;
  };
  return {
    wall: c.ms,
    work: j.ms,
    cpu: j.cpuMs,
    rss: j.maxRssKb,
    lines: j.lines,
    parsed: j.parsed,
    observations: j.observations,
  };
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === '--child-parse') return childParse(process.argv[3] as string, process.argv[4] ?? 'native');
  if (mode === '--child-stream') return childStream(process.argv[3] ?? 'native');
  if (mode === '--generate') {
    generateFile(process.argv[3] as string, LINES);
    return;
  }
  const nat = loadKafkaNative();
  if (nat.addon === undefined) process.stdout.write(`!!! ${nat.why}: only the TypeScript fallback is measured\n`);
  const parsers: Parser[] = nat.addon === undefined ? ['ts'] : ['native', 'native2', 'ts'];

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
    const runs: Record<Parser, ParseRun[]> = { native: [], native2: [], ts: [] };
    // Interleave the runs so every tool sees the same machine load: rg 7×, native 5×, native on
    // two threads 3×, TS 2×.
    for (let i = 0; i < 7; i++) {
      const r = timeRg(file);
      rgRuns.push(r);
      rgCount = r.count;
      if (i < 5 && parsers.includes('native')) runs.native.push(parseRun(file, 'native'));
      if (i < 3 && parsers.includes('native2')) runs.native2.push(parseRun(file, 'native2'));
      if (i < 2) runs.ts.push(parseRun(file, 'ts'));
    }
    const rgWall = median(rgRuns.map((r) => r.wallMs));
    const rgCpu = median(rgRuns.map((r) => r.cpuMs));
    const out = [
      `rg -c 'Principal = '          ${rgWall.toFixed(0)} ms wall, ${rgCpu.toFixed(0)} ms CPU (median of ${rgRuns.length}; count ${rgCount}; rg memory-maps the file)`,
    ];
    for (const parser of parsers) {
      const rs = runs[parser];
      const work = median(rs.map((o) => o.work));
      const cpu = median(rs.map((o) => o.cpu));
      const wall = median(rs.map((o) => o.wall));
      const rss = Math.max(...rs.map((o) => o.rss)) / 1024;
      const o0 = rs[0] as ParseRun;
      const same = rs.every(
        (o) => o.parsed === o0.parsed && o.observations === o0.observations && o.lines === o0.lines,
      );
      const name =
        parser === 'native'
          ? 'callmap, native scanner'
          : parser === 'native2'
            ? 'native, --scan-threads 2'
            : 'callmap, TypeScript fallback';
      const threads =
        parser === 'native'
          ? '  (the file mapped and scanned in C on the thread pool: CPU = all threads)'
          : parser === 'native2'
            ? '  (the backlog split at a newline, two mapped scan threads, merged: CPU = all threads)'
            : '';
      out.push(
        `${name.padEnd(30)}${work.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU in-process (min ${Math.min(...rs.map((o) => o.work)).toFixed(0)} / ${Math.min(...rs.map((o) => o.cpu)).toFixed(0)}); ${wall.toFixed(0)} ms incl. node+tsx start-up (median of ${rs.length})${threads}`,
        `                              ${o0.lines.toLocaleString('en')} lines, ${o0.parsed.toLocaleString('en')} decisions → ${o0.observations.toLocaleString('en')} observations${same ? '' : ' (!!! runs disagree)'}`,
        `  ratio vs rg                 ${(work / rgWall).toFixed(1)}× wall, ${(cpu / Math.max(rgCpu, 1)).toFixed(1)}× CPU, ${(wall / rgWall).toFixed(1)}× incl. start-up   (target ≤ 2×)`,
        `  peak RSS                    ${rss.toFixed(1)} MB   (target ≤ 150 MB)`,
      );
    }
    if (parsers.length === 3) {
      const b = runs.ts[0] as ParseRun;
      const agree = (a: ParseRun) => a.lines === b.lines && a.parsed === b.parsed && a.observations === b.observations;
      out.push(
        `native (1 and 2 threads) and TypeScript agree: ${agree(runs.native[0] as ParseRun) && agree(runs.native2[0] as ParseRun) ? 'yes' : '!!! NO'} (lines, decisions, observations)`,
      );
    }
    process.stdout.write(`${out.join('\n')}\n\n`);
    for (const parser of parsers.filter((p) => p !== 'native2')) {
      const s = child(['--child-stream', parser]);
      const sj = JSON.parse(s.stdout) as {
        samples: Array<{ lines: number; rssMb: number; heapMb: number }>;
        maxRssKb: number;
        ms: number;
        cpuMs: number;
      };
      process.stdout.write(
        `endless stream (${parser === 'native' ? 'native' : 'TypeScript'}): ${STREAM_LINES.toLocaleString('en')} kubelet-stamped lines through the pod-log path (de-duplicated, parsed, drained every 100,000) in ${(sj.ms / 1000).toFixed(1)} s, ${(sj.cpuMs / 1000).toFixed(1)} s CPU (generating the lines included)\n`,
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
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
