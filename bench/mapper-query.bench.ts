/**
 * Mapper query latency: `GET /api/v1/intents` on a map of 10,000 workloads / 100,000 edges held by
 * a mapper in a child process (loaded through the HTTP ingest API). Measures the cold response
 * (first query after a change: build + serialise) and the warm one (cached per store version),
 * unfiltered and filtered by namespace, plus the mapper's peak RSS. Reference measured in the same
 * run: a bare node:http server sending the same response bytes from memory (the floor for moving
 * that body over loopback HTTP).
 *
 *   node --import=tsx bench/mapper-query.bench.ts [--requests N]
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
import { startMapperService } from '../mapper/service.ts';
import { BATCH, EDGES_PER_CLIENT, observation, syntheticResolver, T0, WORKLOADS } from './lib/synthetic-map.ts';

async function child(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-qbench-'));
  const svc = await startMapperService({
    port: 0,
    resolver: syntheticResolver(),
    db: { path: path.join(dir, 'bench.db'), sync: 'normal' },
    web: null,
    log: () => {},
  });
  process.send?.({ url: svc.url });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') {
      process.send?.({ maxRssKb: process.resourceUsage().maxRSS, edges: svc.store.edgeCount });
    } else if (m.cmd === 'stop') {
      void svc.close().then(() => {
        fs.rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
}

type Msg = { url?: string; maxRssKb?: number; edges?: number };

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

async function parent(): Promise<void> {
  const i = process.argv.indexOf('--requests');
  const requests = i >= 0 ? Number(process.argv[i + 1]) : 300;
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import=tsx'] });
  const exited = new Promise((r) => proc.once('exit', r));
  const next = (): Promise<Msg> => new Promise((resolve) => proc.once('message', (m) => resolve(m as Msg)));
  const { url } = await next();
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
  const cold = await timeGets(pool, '/api/v1/intents', 10, change);
  const warm = await timeGets(pool, '/api/v1/intents', requests);
  const coldNs = await timeGets(pool, '/api/v1/intents?namespaces=ns-7', 10, change);
  const warmNs = await timeGets(pool, '/api/v1/intents?namespaces=ns-7', requests);
  proc.send({ cmd: 'stats' });
  const afterIntents = await next();
  const graphCold = await timeGets(pool, '/api/v1/graph', 5, change);
  proc.send({ cmd: 'stats' });
  const after = await next();
  proc.send({ cmd: 'stop' });

  // Reference: the same bytes from a bare node:http server.
  const body = Buffer.alloc(warm.bytes, 'x');
  const ref = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => ref.listen(0, '127.0.0.1', () => r()));
  const refPool = new Pool(`http://127.0.0.1:${(ref.address() as AddressInfo).port}`, { connections: 4 });
  const refT = await timeGets(refPool, '/', requests);
  await refPool.close();
  ref.close();
  await pool.close();
  await exited;

  const f = (ms: number): string => `${ms.toFixed(1)} ms`;
  const p99 = pct(warm.ms, 99);
  process.stdout.write(
    [
      `mapper query: ${loaded.edges?.toLocaleString('en-US')} edges, ${WORKLOADS.toLocaleString('en-US')} workloads; response ${(warm.bytes / 1e6).toFixed(1)} MB (all intents)`,
      `  GET /api/v1/intents warm (${requests}): p50 ${f(pct(warm.ms, 50))}, p99 ${f(p99)}; target p99 <= 50 ms: ${p99 <= 50 ? 'met' : 'NOT met'}`,
      `  GET /api/v1/intents cold (first after a change, 10): p50 ${f(pct(cold.ms, 50))}, p99 ${f(pct(cold.ms, 99))}`,
      `  GET /api/v1/intents?namespaces=ns-7 (${(warmNs.bytes / 1e3).toFixed(0)} KB) warm: p50 ${f(pct(warmNs.ms, 50))}, p99 ${f(pct(warmNs.ms, 99))}; cold p50 ${f(pct(coldNs.ms, 50))}`,
      `  GET /api/v1/graph cold: p50 ${f(pct(graphCold.ms, 50))}`,
      `  mapper peak RSS: after load ${((loaded.maxRssKb ?? 0) / 1024).toFixed(0)} MB, after the intents queries ${((afterIntents.maxRssKb ?? 0) / 1024).toFixed(0)} MB, after full-map graph queries ${((after.maxRssKb ?? 0) / 1024).toFixed(0)} MB (target <= 250 MB)`,
      `reference: bare node:http sending the same ${(warm.bytes / 1e6).toFixed(1)} MB from memory: p50 ${f(pct(refT.ms, 50))}, p99 ${f(pct(refT.ms, 99))}`,
      `ratio mapper/reference (warm p50): ${(pct(warm.ms, 50) / pct(refT.ms, 50)).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

if (process.argv[2] === '--child') await child();
else await parent();
