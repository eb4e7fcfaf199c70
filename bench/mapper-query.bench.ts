/**
 * Mapper query latency: `GET /api/v1/intents` on a map of 10,000 workloads / 100,000 edges held by
 * a mapper in a child process (loaded through the HTTP ingest API). Measures the cold response
 * (first query after a change: build + serialise) and the warm one (cached per store version),
 * unfiltered and filtered by namespace, in the compact shape callmap's own clients ask for
 * (`compact=true`, ADR 0036) and in the full shape, plus the graph in both shapes (ADR 0038), and
 * the mapper's peak RSS after each phase. Reference measured in the same run: a bare node:http server sending the same number
 * of bytes from memory (the floor for moving that body over loopback HTTP).
 *
 *   node --import=tsx bench/mapper-query.bench.ts [--requests N] [--resolver static|kube] [--tsx]
 *
 * --resolver: `static` (default, the figures so far) resolves with the test helper's table; `kube`
 * with the mapper's own KubeResolver over a ClusterState holding the 10,000 workloads as
 * Deployments/ReplicaSets/Pods (what `callmap mapper` runs; it loads @kubernetes/client-node and
 * holds the cluster state, so every RSS figure includes them).
 *
 * The mapper child runs compiled JavaScript like the product (bench/lib/built.ts); `--tsx` runs it
 * through the tsx loader instead (≈ 35 MB more RSS, the figure earlier versions printed).
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { Observation, ReportBatch } from '../mapper/contract/index.ts';
import { startMapperService, tuneMapperHeap } from '../mapper/service.ts';
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

/** The reference: a bare node:http server in its own process sending `size` bytes from memory. */
async function referenceChild(): Promise<void> {
  let body = Buffer.alloc(0);
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  process.send?.({ url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` });
  process.on('message', (m: { cmd: string; size?: number }) => {
    if (m.cmd === 'size') {
      body = Buffer.alloc(m.size ?? 0, 'x');
      process.send?.({});
    } else if (m.cmd === 'stop') srv.close(() => process.exit(0));
  });
}

async function child(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-qbench-'));
  tuneMapperHeap(); // what `callmap mapper` does at start-up (ADR 0100)
  const svc = await startMapperService({
    port: 0,
    resolver: process.argv[3] === 'kube' ? await syntheticKubeResolver() : syntheticResolver(),
    db: { path: path.join(dir, 'bench.db'), sync: 'normal' },
    web: null,
    log: () => {},
  });
  process.send?.({ url: svc.url });
  const peak = samplePeakMemory();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') {
      process.send?.({
        maxRssKb: process.resourceUsage().maxRSS,
        edges: svc.store.edgeCount,
        heapMb: peak.heapTotal / 2 ** 20,
        buffersMb: peak.external / 2 ** 20,
        cpuMs: (() => {
          const u = process.cpuUsage();
          return (u.user + u.system) / 1000;
        })(),
      });
    } else if (m.cmd === 'stop') {
      void svc.close().then(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
}

type Msg = { url?: string; maxRssKb?: number; edges?: number; heapMb?: number; buffersMb?: number; cpuMs?: number };

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function timeGets(
  pool: Pool,
  p: string,
  n: number,
  before?: () => Promise<void>,
): Promise<{ ms: number[]; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    if (before) await before();
    const start = performance.now();
    const res = await pool.request({ method: 'GET', path: p });
    const buf = await res.body.arrayBuffer();
    ms.push(performance.now() - start);
    bytes = buf.byteLength;
    if (res.statusCode !== 200) throw new Error(`GET ${p}: ${res.statusCode}`);
  }
  ms.sort((a, b) => a - b);
  return { ms, bytes };
}

/**
 * Warm latency of `p` and of the reference sending the same number of bytes, requests alternating
 * (mapper, reference, mapper, …) so both see the same machine load.
 */
async function warmPair(
  pool: Pool,
  p: string,
  ref: { pool: Pool; size(n: number): Promise<void> },
  n: number,
): Promise<{ ms: number[]; ref: number[]; bytes: number }> {
  const first = await timeGets(pool, p, 1);
  await ref.size(first.bytes);
  const ms: number[] = [];
  const refMs: number[] = [];
  for (let i = 0; i < n; i++) {
    ms.push(...(await timeGets(pool, p, 1)).ms);
    refMs.push(...(await timeGets(ref.pool, '/', 1)).ms);
  }
  ms.sort((a, b) => a - b);
  refMs.sort((a, b) => a - b);
  return { ms, ref: refMs, bytes: first.bytes };
}

async function parent(): Promise<void> {
  const i = process.argv.indexOf('--requests');
  const requests = i >= 0 ? Number(process.argv[i + 1]) : 300;
  const r = process.argv.indexOf('--resolver');
  const resolverKind = r >= 0 && process.argv[r + 1] === 'kube' ? 'kube' : 'static';
  const built = builtChild(fileURLToPath(import.meta.url));
  const proc = fork(built.file, ['--child', resolverKind], { execArgv: built.execArgv });
  const exited = new Promise((r) => proc.once('exit', r));
  const next = (): Promise<Msg> => new Promise((resolve) => proc.once('message', (m) => resolve(m as Msg)));
  const refProc = fork(built.file, ['--ref'], { execArgv: built.execArgv });
  const refExited = new Promise((r) => refProc.once('exit', r));
  const refNext = (): Promise<Msg> => new Promise((resolve) => refProc.once('message', (m) => resolve(m as Msg)));
  const refUrl = (await refNext()).url as string;
  const ref = {
    pool: new Pool(refUrl, { connections: 4 }),
    size: async (n: number): Promise<void> => {
      refProc.send({ cmd: 'size', size: n });
      await refNext();
    },
  };
  const { url } = await next();
  proc.send({ cmd: 'stats' });
  const idle = await next();
  const pool = new Pool(url as string, { connections: 4 });

  const post = async (b: number, observations: Observation[]): Promise<void> => {
    const batch: ReportBatch = {
      batchId: `q-${b}`,
      reporter: { component: 'sniffer', instance: 'bench' },
      sentAt: T0,
      observations,
    };
    const res = await pool.request({
      method: 'POST',
      path: '/api/v1/reports',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    await res.body.text();
    if (res.statusCode !== 202) throw new Error(`ingest ${res.statusCode}`);
  };
  const total = WORKLOADS * EDGES_PER_CLIENT;
  for (let b = 0; b < total / BATCH; b++) {
    await post(
      b,
      Array.from({ length: BATCH }, (_, k) => observation(b * BATCH + k)),
    );
  }
  proc.send({ cmd: 'stats' });
  const loaded = await next();

  let bump = 0;
  const change = async (): Promise<void> => post(1_000_000 + bump++, [observation(bump)]);
  // What callmap's CLI asks for (MapperClient.intents → compact=true) first, so the RSS figure
  // after this phase is that of a mapper whose clients are callmap's own.
  const cCold = await timeGets(pool, '/api/v1/intents?compact=true', 10, change);
  const cWarm = await warmPair(pool, '/api/v1/intents?compact=true', ref, requests);
  const cColdNs = await timeGets(pool, '/api/v1/intents?namespaces=ns-7&compact=true', 10, change);
  const cWarmNs = await timeGets(pool, '/api/v1/intents?namespaces=ns-7&compact=true', requests);
  proc.send({ cmd: 'stats' });
  const afterCompact = await next();
  // The compact graph (what the web map and MapperClient.graph ask for, ADR 0038).
  const cGraphCold = await timeGets(pool, '/api/v1/graph?compact=true', 5, change);
  const cGraphWarm = await timeGets(pool, '/api/v1/graph?compact=true', 20);
  proc.send({ cmd: 'stats' });
  const afterCompactGraph = await next();
  // The full shape (the route's default, for other consumers).
  const cold = await timeGets(pool, '/api/v1/intents', 10, change);
  const warm = await warmPair(pool, '/api/v1/intents', ref, requests);
  const coldNs = await timeGets(pool, '/api/v1/intents?namespaces=ns-7', 10, change);
  const warmNs = await timeGets(pool, '/api/v1/intents?namespaces=ns-7', requests);
  proc.send({ cmd: 'stats' });
  const afterIntents = await next();
  const graphCold = await timeGets(pool, '/api/v1/graph', 5, change);
  const graphWarm = await timeGets(pool, '/api/v1/graph', 5);
  proc.send({ cmd: 'stats' });
  const after = await next();
  proc.send({ cmd: 'stop' });
  refProc.send({ cmd: 'stop' });
  await pool.close();
  await ref.pool.close();
  await exited;
  await refExited;
  built.cleanup();

  const f = (ms: number): string => `${ms.toFixed(1)} ms`;
  const mb = (m: Msg): string => `${((m.maxRssKb ?? 0) / 1024).toFixed(0)} MB`;
  const line = (name: string, w: { ms: number[]; ref: number[] }): string => {
    const p99 = pct(w.ms, 99);
    return [
      `  ${name} warm (${requests}): p50 ${f(pct(w.ms, 50))}, p99 ${f(p99)}; target p99 <= 50 ms: ${p99 <= 50 ? 'met' : 'NOT met'}`,
      `    bare node:http, same bytes, requests interleaved: p50 ${f(pct(w.ref, 50))}, p99 ${f(pct(w.ref, 99))}; ratio mapper/reference p50 ${(pct(w.ms, 50) / pct(w.ref, 50)).toFixed(2)}, p99 ${(p99 / pct(w.ref, 99)).toFixed(2)}`,
    ].join('\n');
  };
  const mem = (m: Msg): string =>
    `V8 heap ${(m.heapMb ?? 0).toFixed(0)} MB, off-heap ${(m.buffersMb ?? 0).toFixed(0)} MB`;
  const maxRss = (after.maxRssKb ?? 0) / 1024;
  const cpu = (from: Msg, to: Msg): string => `${((to.cpuMs ?? 0) - (from.cpuMs ?? 0)).toFixed(0)} ms`;
  process.stdout.write(
    [
      `mapper query: ${loaded.edges?.toLocaleString('en-US')} edges, ${WORKLOADS.toLocaleString('en-US')} workloads; mapper child: ${built.mode}; resolver: ${resolverKind === 'kube' ? 'KubeResolver over ClusterState' : 'static table (test helper)'}`,
      `  all intents: ${(cWarm.bytes / 1e6).toFixed(1)} MB compact (${(cWarm.bytes / total).toFixed(0)} B/edge), ${(warm.bytes / 1e6).toFixed(1)} MB full shape (${(warm.bytes / total).toFixed(0)} B/edge)`,
      line('GET /api/v1/intents?compact=true (what the callmap CLI asks for)', cWarm),
      `  GET /api/v1/intents?compact=true cold (first after a change, 10): p50 ${f(pct(cCold.ms, 50))}, p99 ${f(pct(cCold.ms, 99))}`,
      `  GET /api/v1/intents?namespaces=ns-7&compact=true (${(cWarmNs.bytes / 1e3).toFixed(0)} KB) warm: p50 ${f(pct(cWarmNs.ms, 50))}, p99 ${f(pct(cWarmNs.ms, 99))}; cold p50 ${f(pct(cColdNs.ms, 50))}`,
      line('GET /api/v1/intents (full shape, the default)', warm),
      `  GET /api/v1/intents cold (first after a change, 10): p50 ${f(pct(cold.ms, 50))}, p99 ${f(pct(cold.ms, 99))}`,
      `  GET /api/v1/intents?namespaces=ns-7 (${(warmNs.bytes / 1e3).toFixed(0)} KB) warm: p50 ${f(pct(warmNs.ms, 50))}, p99 ${f(pct(warmNs.ms, 99))}; cold p50 ${f(pct(coldNs.ms, 50))}`,
      `  GET /api/v1/graph?compact=true (${(cGraphWarm.bytes / 1e6).toFixed(1)} MB): cold p50 ${f(pct(cGraphCold.ms, 50))}, warm (20) p50 ${f(pct(cGraphWarm.ms, 50))}, p99 ${f(pct(cGraphWarm.ms, 99))}`,
      `  GET /api/v1/graph (full shape, ${(graphWarm.bytes / 1e6).toFixed(1)} MB): cold p50 ${f(pct(graphCold.ms, 50))}, again (5, not cached) p50 ${f(pct(graphWarm.ms, 50))}`,
      `  mapper peak RSS: idle ${mb(idle)}, after load ${mb(loaded)}, after the compact intents queries ${mb(afterCompact)}, after the compact graph queries ${mb(afterCompactGraph)}, after the full-shape intents queries ${mb(afterIntents)}, after full-map graph queries ${mb(after)} (target <= 250 MB: ${maxRss <= 250 ? 'met' : 'NOT met'})`,
      `  mapper CPU (user+system) per phase: compact intents ${cpu(loaded, afterCompact)} (${10 + requests + 10 + requests} requests), compact graph ${cpu(afterCompact, afterCompactGraph)} (25), full-shape intents ${cpu(afterCompactGraph, afterIntents)} (${10 + requests + 10 + requests}), full graph ${cpu(afterIntents, after)} (10)`,
      `  largest sizes seen (sampled, cumulative): after load ${mem(loaded)}; after compact ${mem(afterCompact)}; after compact graph ${mem(afterCompactGraph)}; after full ${mem(afterIntents)}; after graph ${mem(after)}`,
      '',
    ].join('\n'),
  );
}

if (process.argv[2] === '--child') await child();
else if (process.argv[2] === '--ref') await referenceChild();
else await parent();
