/**
 * Mapper ingest throughput through the HTTP API: batches of 1,000 `tcp` observations among 10,000
 * workloads (100,000 distinct edges), POSTed with 8 concurrent connections to a mapper running in
 * a child process (so its peak RSS is its own). Reference measured in the same run: raw
 * better-sqlite3 inserts of the same rows (one transaction per 1,000, prepared statement, no HTTP,
 * no resolution, no aggregation).
 *
 *   node --import=tsx --expose-gc bench/mapper-ingest.bench.ts [--batches N] [--sync full|normal]
 *     [--writer thread|inline] [--resolver kube|static] [--semi] [--arena] [--prof] [--tsx]
 *
 * (`npm run bench mapper-ingest` runs it with the defaults: `bench/run.ts` does not pass options on.)
 *
 * --writer: where SQLite commits (ADR 0100; `thread`, the product default, or `inline`, the
 * previous path). --resolver: `static` (default) is the test helper's table (what all figures so
 * far used); `kube` resolves through the mapper's own KubeResolver over a ClusterState holding the
 * same workloads as Deployments/ReplicaSets/Pods, as `callmap mapper` does (no faster per lookup,
 * and its cluster state adds ≈ 40 MB of heap, as it would in a real 10,000-pod cluster).
 * --heap-growing-percent: the V8 old-generation growth bound `callmap mapper` sets at start-up
 * (`tuneMapperHeap`, default 50); 0 leaves V8's default (the figures before ADR 0100).
 * The CPU lines split the mapper's CPU per 1,000 observations into its main thread, the SQLite writer
 * thread (the threads the service started) and the rest (GC helper threads, libuv), from /proc.
 * --semi runs the mapper with --max-semi-space-size=4, --arena with MALLOC_ARENA_MAX=2 (RSS knobs),
 * --prof writes a CPU profile of the mapper to the temp directory. The mapper child runs compiled
 * JavaScript like the product (bench/lib/built.ts); --tsx runs it through the tsx loader instead
 * (≈ 35 MB more RSS, the figure earlier versions printed).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import type { Observation, ReportBatch } from '../mapper/contract/index.ts';
import { MAPPER_HEAP_GROWING_PERCENT, startMapperService, tuneMapperHeap } from '../mapper/service.ts';
import type { SyncMode, WriterMode } from '../mapper/store/sqlite-store.ts';
import { builtChild } from './lib/built.ts';
import { samplePeakMemory } from './lib/peak-memory.ts';
import {
  BATCH,
  EDGES_PER_CLIENT,
  observation,
  syntheticKubeResolver,
  syntheticResolver,
  T0,
  WORKLOADS,
} from './lib/synthetic-map.ts';

/** CPU time of one thread of this process (ms), from /proc (Linux; 0 elsewhere). */
function threadCpuMs(tid: number | string): number {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 (utime, stime) are at 11 and 12 after the comm field, in clock ticks
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** Thread ids of this process (Linux; empty elsewhere). */
function threadIds(): string[] {
  try {
    return fs.readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}

async function child(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-bench-'));
  const sync = (process.argv[3] ?? 'full') as SyncMode;
  const writer = (process.argv[4] ?? 'thread') as WriterMode;
  // What `callmap mapper` does at start-up (mapper/main.ts); `--heap-growing-percent 0` leaves V8's default.
  tuneMapperHeap(Number(process.argv[6] ?? MAPPER_HEAP_GROWING_PERCENT));
  // Threads started by the mapper service: the SQLite writer thread (all threads are named "node").
  const before = new Set(threadIds());
  const svc = await startMapperService({
    port: 0,
    resolver: process.argv[5] === 'kube' ? await syntheticKubeResolver() : syntheticResolver(),
    db: { path: path.join(dir, 'bench.db'), sync, writer },
    web: null,
    log: () => {},
  });
  const writerTids = threadIds().filter((t) => !before.has(t));
  process.send?.({ url: svc.url });
  const peak = samplePeakMemory();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') {
      const maxRssKb = process.resourceUsage().maxRSS;
      (globalThis as { gc?: () => void }).gc?.();
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      process.send?.({
        maxRssKb,
        cpuMs: (cpu.user + cpu.system) / 1000,
        mainCpuMs: threadCpuMs(process.pid),
        writerCpuMs: writerTids.reduce((a, t) => a + threadCpuMs(t), 0),
        edges: svc.store.edgeCount,
        liveHeapMb: mem.heapUsed / 2 ** 20,
        rssMb: mem.rss / 2 ** 20,
        peakHeapMb: peak.heapTotal / 2 ** 20,
        peakExternalMb: peak.external / 2 ** 20,
      });
    } else if (m.cmd === 'stop') {
      void svc.close().then(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
}

function reference(rows: number): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-bench-ref-'));
  const db = new Database(path.join(dir, 'ref.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE t (client TEXT, server TEXT, port INTEGER, time INTEGER, PRIMARY KEY (client, server, port)) WITHOUT ROWID',
  );
  const ins = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET time = max(time, excluded.time)');
  const txn = db.transaction((from: number) => {
    for (let n = from; n < from + BATCH; n++) {
      const o = observation(n) as Extract<Observation, { kind: 'tcp' }>;
      ins.run(o.clientIp, o.serverIp, o.serverPort, o.time);
    }
  });
  const start = performance.now();
  for (let b = 0; b < rows / BATCH; b++) txn(b * BATCH);
  const secs = (performance.now() - start) / 1000;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return rows / secs;
}

type Msg = {
  url?: string;
  maxRssKb?: number;
  cpuMs?: number;
  mainCpuMs?: number;
  writerCpuMs?: number;
  edges?: number;
  liveHeapMb?: number;
  rssMb?: number;
  peakHeapMb?: number;
  peakExternalMb?: number;
};

async function parent(): Promise<void> {
  const arg = (name: string, d: string): string => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? (process.argv[i + 1] ?? d) : d;
  };
  const batches = Math.max(Number(arg('--batches', '400')), 200);
  const sync = arg('--sync', 'full');
  const writer = arg('--writer', 'thread');
  const resolverKind = arg('--resolver', 'static');
  const total = batches * BATCH;

  const bodies: string[] = [];
  for (let b = 0; b < batches; b++) {
    const observations: Observation[] = [];
    for (let i = 0; i < BATCH; i++) observations.push(observation(b * BATCH + i));
    const batch: ReportBatch = {
      batchId: `bench-${b}`,
      reporter: { component: 'sniffer', instance: 'bench' },
      sentAt: T0,
      observations,
    };
    bodies.push(JSON.stringify(batch));
  }
  const bytes = bodies.reduce((a, s) => a + s.length, 0);

  const prof = process.argv.includes('--prof') ? ['--cpu-prof', `--cpu-prof-dir=${os.tmpdir()}`] : [];
  const extra = process.argv.includes('--semi') ? ['--max-semi-space-size=4'] : [];
  const env = process.argv.includes('--arena') ? { ...process.env, MALLOC_ARENA_MAX: '2' } : process.env;
  const mapperChild = builtChild(fileURLToPath(import.meta.url));
  const grow = arg('--heap-growing-percent', String(MAPPER_HEAP_GROWING_PERCENT));
  const proc = fork(mapperChild.file, ['--child', sync, writer, resolverKind, grow], {
    execArgv: [...mapperChild.execArgv, '--expose-gc', ...extra, ...prof],
    env,
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const next = (): Promise<Msg> => new Promise((resolve) => proc.once('message', (m) => resolve(m as Msg)));
  const { url } = await next();
  proc.send({ cmd: 'stats' });
  const idle = await next();
  const pool = new Pool(url as string, { connections: 8, pipelining: 1 });

  let failed = 0;
  const post = async (list: string[]): Promise<number> => {
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < list.length) {
        const body = list[i++] as string;
        const res = await pool.request({
          method: 'POST',
          path: '/api/v1/reports',
          headers: { 'content-type': 'application/json' },
          body,
        });
        await res.body.text();
        if (res.statusCode !== 202) failed++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: 8 }, worker));
    return (performance.now() - start) / 1000;
  };
  // Phase 1 builds the map (every observation of the first 100 batches is a new edge);
  // phase 2 is the steady state: known edges, new times and counts.
  const buildBatches = Math.min(batches, (WORKLOADS * EDGES_PER_CLIENT) / BATCH);
  const buildSecs = await post(bodies.slice(0, buildBatches));
  const steadyBodies = bodies.slice(buildBatches);
  proc.send({ cmd: 'stats' });
  const built = await next();
  const secs = await post(steadyBodies);
  proc.send({ cmd: 'stats' });
  const stats = await next();
  proc.send({ cmd: 'stop' });
  await pool.close();
  await exited;
  mapperChild.cleanup();

  const steadyTotal = steadyBodies.length * BATCH;
  const rate = steadyTotal / secs;
  const buildRate = (buildBatches * BATCH) / buildSecs;
  const ref = reference(total);
  const parseStart = performance.now();
  for (const b of bodies) JSON.parse(b);
  const parseRate = total / ((performance.now() - parseStart) / 1000);

  const f = (n: number): string => Math.round(n).toLocaleString('en-US');
  process.stdout.write(
    [
      `mapper ingest over HTTP: ${f(total)} observations in ${batches} batches of ${BATCH} (${(bytes / 1e6).toFixed(1)} MB JSON), 8 connections, db sync=${sync} (PRAGMA synchronous=${sync.toUpperCase()}, WAL), writer=${writer}, heap growing ${grow === '0' ? 'V8 default' : `${grow} %`}, resolver=${resolverKind === 'kube' ? 'KubeResolver over ClusterState' : 'static table (test helper)'}, mapper child: ${mapperChild.mode}`,
      `  build phase (${buildBatches} batches, every observation a new edge): ${f(buildRate)} observations/s`,
      `  steady state (${steadyBodies.length} batches over known edges): ${f(rate)} observations/s (${(steadyBodies.length / secs).toFixed(0)} batches/s); target >= 200,000/s: ${rate >= 200_000 ? 'met' : 'NOT met'}`,
      `  mapper CPU (user+sys) in the steady state: ${(((stats.cpuMs ?? 0) - (built.cpuMs ?? 0)) / (steadyTotal / 1000)).toFixed(2)} ms per 1,000 observations (${f((steadyTotal / ((stats.cpuMs ?? 0) - (built.cpuMs ?? 0))) * 1000)} observations per CPU-second; less sensitive to machine load than the wall-clock rate)`,
      `  of which the main thread (HTTP, JSON, validation, resolution, aggregation, planning; /proc): ${(((stats.mainCpuMs ?? 0) - (built.mainCpuMs ?? 0)) / (steadyTotal / 1000)).toFixed(2)} ms per 1,000 observations`,
      `  writer thread (SQLite statements, commit): ${(((stats.writerCpuMs ?? 0) - (built.writerCpuMs ?? 0)) / (steadyTotal / 1000)).toFixed(2)} ms per 1,000 observations; the rest (GC helper threads, libuv): ${(((stats.cpuMs ?? 0) - (built.cpuMs ?? 0) - ((stats.mainCpuMs ?? 0) - (built.mainCpuMs ?? 0)) - ((stats.writerCpuMs ?? 0) - (built.writerCpuMs ?? 0))) / (steadyTotal / 1000)).toFixed(2)} ms`,
      `  ${failed} non-202 answers`,
      `  edges in the map: ${f(stats.edges ?? 0)}; mapper peak RSS ${((stats.maxRssKb ?? 0) / 1024).toFixed(0)} MB (target <= 250 MB); after GC: heap ${(stats.liveHeapMb ?? 0).toFixed(0)} MB, RSS ${(stats.rssMb ?? 0).toFixed(0)} MB; largest V8 heap (total) ${(stats.peakHeapMb ?? 0).toFixed(0)} MB, largest off-heap (external) ${(stats.peakExternalMb ?? 0).toFixed(0)} MB (sampled)`,
      `  idle mapper before ingest: RSS ${((idle.maxRssKb ?? 0) / 1024).toFixed(0)} MB, heap ${(idle.liveHeapMb ?? 0).toFixed(0)} MB`,
      `reference: raw better-sqlite3 upsert of the same rows (1,000 per transaction, no HTTP): ${f(ref)} rows/s`,
      `reference: JSON.parse of the same bodies: ${f(parseRate)} observations/s`,
      `ratio mapper/raw-sqlite: ${(rate / ref).toFixed(2)}; mapper/JSON.parse: ${(rate / parseRate).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

if (process.argv[2] === '--child') await child();
else await parent();
