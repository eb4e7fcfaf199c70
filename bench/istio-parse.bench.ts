/**
 * Istio watcher: parse + delta of a 100,000-series `istio_requests_total` page, against
 * `rg -c istio_requests_total` over the same file in the same run. The work runs in a child
 * process so its peak RSS (process.resourceUsage().maxRSS) is the parser's own. Both engines are
 * measured: the native one (what `callmap watch istio` uses when the addon is built) and the
 * TypeScript fallback, for reference.
 *
 *   node --import=tsx bench/istio-parse.bench.ts [--series 100000]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createNativeEngine,
  createTypescriptEngine,
  type EngineKind,
  type IstioEngine,
  loadIstioAddon,
} from '../watchers/istio/engine.ts';

/**
 * Scrapes per engine. The first scrape of a proxy learns its page (one JS projection per new label
 * set, every edge handed to JS once) and is printed on its own; the ratio is taken on the median
 * of the steady scrapes after it (runs 2..RUNS), which is what a running watcher pays every
 * interval. The median over all runs is printed too.
 */
const RUNS = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 15));

/**
 * What a child measures: an engine, `feed` (the chunked read alone, no parsing: the floor), or
 * `changing` (the native engine on a page whose every counter grew since the previous scrape, the
 * case of a busy proxy: each steady run then reports a delta for every series).
 */
type Mode = EngineKind | 'feed' | 'changing';

/** A realistic Istio 1.2x sidecar page: full standard label set plus request_path/request_method. */
function generatePage(series: number, scrape = 0): string {
  const out: string[] = ['# HELP istio_requests_total \n# TYPE istio_requests_total counter\n'];
  const codes = ['200', '201', '404', '503'];
  for (let i = 0; i < series; i++) {
    const c = `client-${i % 50}`;
    const s = `server-${i % 40}`;
    const ns = `ns-${i % 7}`;
    out.push(
      `istio_requests_total{reporter="${i % 2 ? 'source' : 'destination'}",source_workload="${c}",source_canonical_service="${c}",source_canonical_revision="latest",source_workload_namespace="${ns}",source_principal="spiffe://cluster.local/ns/${ns}/sa/${c}",source_app="${c}",source_version="v1",source_cluster="Kubernetes",destination_workload="${s}",destination_workload_namespace="${ns}",destination_principal="spiffe://cluster.local/ns/${ns}/sa/${s}",destination_app="${s}",destination_version="v1",destination_service="${s}.${ns}.svc.cluster.local",destination_canonical_service="${s}",destination_canonical_revision="latest",destination_service_name="${s}",destination_service_namespace="${ns}",destination_cluster="Kubernetes",request_protocol="http",response_code="${codes[i % 4]}",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls",request_method="GET",request_path="/api/v1/orders/${i}?page=2"} ${i * 3 + 1 + scrape * (1 + (i % 3))}\n`,
    );
  }
  return out.join('');
}

function child(file: string, kind: Mode, series: number): void {
  let engine: IstioEngine | undefined;
  if (kind === 'native' || kind === 'changing') {
    const { addon } = loadIstioAddon();
    if (!addon) throw new Error('the native addon is not built');
    engine = createNativeEngine(addon);
  } else if (kind === 'typescript') engine = createTypescriptEngine();
  const times: number[] = [];
  const cpu: number[] = [];
  let edges = 0;
  let firstDeltas = 0;
  let known = 0;
  for (let r = 0; r < RUNS; r++) {
    // The next scrape of a busy proxy: every counter grew (pages written by the parent beforehand,
    // so generating them does not count in this process's peak RSS).
    const page = kind === 'changing' ? `${file}.${r}` : file;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    // The watcher's path (watcher.ts): the page goes straight into the proxy's delta state.
    const run = engine?.begin('pod', { templatePaths: false });
    // Feed it the way undici delivers a body: 64 KiB chunks, never the whole page in memory.
    const fd = openSync(page, 'r');
    try {
      for (;;) {
        const chunk = Buffer.allocUnsafe(65536);
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        run?.push(chunk.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    run?.end();
    const res = run?.commit(new Set()) ?? { edges: [] };
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    edges = run?.result().parsed ?? -1;
    known = run?.knownLines?.() ?? 0; // lines of the last (steady) scrape read by the known-series fast path
    if (r === 0) firstDeltas = res.edges.length;
    if (kind === 'changing') {
      if (r > 0 && res.edges.length !== series) throw new Error(`a changed page gave ${res.edges.length} deltas`);
    } else if (r > 0 && res.edges.length !== 0) throw new Error('an unchanged page must give no deltas');
  }
  process.stdout.write(
    JSON.stringify({ times, cpu, edges, firstDeltas, known, maxRssKb: process.resourceUsage().maxRSS }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function main(): void {
  const i = process.argv.indexOf('--series');
  const series = i > 0 ? Number(process.argv[i + 1]) : 100_000;
  const dir = mkdtempSync(join(tmpdir(), 'callmap-istio-bench-'));
  const file = join(dir, 'stats.prom');
  try {
    writeFileSync(file, generatePage(series));
    const size = readFileSync(file).length;
    const rgTimes: number[] = [];
    const rgCpu: number[] = [];
    let rgCount = '';
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      const rg = spawnSync('rg', ['-c', 'istio_requests_total', file], { encoding: 'utf8' });
      rgTimes.push(performance.now() - t0);
      if (rg.status !== 0) throw new Error(`rg failed: ${rg.stderr || rg.error?.message}`);
      rgCount = rg.stdout.trim();
      // CPU time of rg itself (bash's `time` has millisecond resolution).
      const timed = spawnSync(
        'bash',
        ['-c', `TIMEFORMAT='%3U %3S'; time rg -c istio_requests_total "$0" > /dev/null`, file],
        { encoding: 'utf8' },
      );
      const [u, sys] = timed.stderr.trim().split(/\s+/).map(Number);
      if (u !== undefined && sys !== undefined && Number.isFinite(u + sys)) rgCpu.push((u + sys) * 1000);
    }
    const self = fileURLToPath(import.meta.url);
    const ref = median(rgTimes);
    const refCpu = rgCpu.length > 0 ? Math.max(1, median(rgCpu)) : Number.NaN;
    const lines = [
      `istio-parse: ${series} series, ${(size / 1e6).toFixed(1)} MB page, rg matched ${rgCount} lines`,
      `  rg -c                 wall median ${ref.toFixed(1)} ms (runs ${rgTimes.map((x) => x.toFixed(0)).join(', ')}), CPU median ${refCpu.toFixed(1)} ms (runs ${rgCpu.map((x) => x.toFixed(0)).join(', ')})`,
      `  (each engine runs ${RUNS} scrapes in its own process; the first scrape learns the page and is shown apart, the ratio is on the steady scrapes after it)`,
    ];
    const kinds: Mode[] = loadIstioAddon().addon
      ? ['feed', 'native', 'changing', 'typescript']
      : ['feed', 'typescript'];
    if (kinds.length === 1) lines.push('  (native addon not built: only the TypeScript fallback is measured)');
    for (const kind of kinds) {
      // `changing` reads page.0, page.1, ...: every counter grows from one to the next.
      const page = kind === 'changing' ? join(dir, 'page') : file;
      if (kind === 'changing') for (let r = 0; r < RUNS; r++) writeFileSync(`${page}.${r}`, generatePage(series, r));
      const c = spawnSync(process.execPath, ['--import=tsx', self, '--child', page, kind, String(series)], {
        encoding: 'utf8',
      });
      if (c.status !== 0) throw new Error(`child failed: ${c.stderr}`);
      const res = JSON.parse(c.stdout) as {
        times: number[];
        cpu: number[];
        edges: number;
        firstDeltas: number;
        known: number;
        maxRssKb: number;
      };
      if (kind !== 'feed' && (res.edges !== series || res.firstDeltas !== series)) {
        throw new Error(`${kind}: read ${res.edges} series, ${res.firstDeltas} first deltas; expected ${series}`);
      }
      // The first run builds the state (first sight); the ratio is on the steady runs after it.
      const steady = median(res.times.slice(1));
      const steadyCpu = median(res.cpu.slice(1));
      const all = median(res.times);
      const allCpu = median(res.cpu);
      const what =
        kind === 'feed'
          ? 'read only (no parsing)'
          : kind === 'changing'
            ? 'native, every counter changed since the last scrape: read+parse+delta'
            : 'read+parse+delta';
      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
      lines.push(
        `  ${kind.padEnd(10)} ${what}: runs wall ${fmt(res.times)} ms, CPU ${fmt(res.cpu)} ms`,
        `  ${kind.padEnd(10)} first scrape wall ${(res.times[0] as number).toFixed(1)} ms, CPU ${(res.cpu[0] as number).toFixed(1)} ms (${((res.times[0] as number) / ref).toFixed(1)}x / ${((res.cpu[0] as number) / refCpu).toFixed(1)}x rg); median of all ${res.times.length} runs wall ${all.toFixed(1)} ms, CPU ${allCpu.toFixed(1)} ms (${(all / ref).toFixed(2)}x / ${(allCpu / refCpu).toFixed(2)}x)`,
        `  ${kind.padEnd(10)} steady (median of runs 2-${res.times.length}) wall ${steady.toFixed(1)} ms, CPU ${steadyCpu.toFixed(1)} ms: ratio wall ${(steady / ref).toFixed(2)}x, CPU ${(steadyCpu / refCpu).toFixed(2)}x (target <= 3x)   peak RSS ${(res.maxRssKb / 1024).toFixed(0)} MiB${kind === 'feed' ? '' : `, ${res.edges} series read`}${kind === 'native' || kind === 'changing' ? ` (${res.known} by the known-series fast path)` : ''}`,
      );
    }
    console.log(lines.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ci = process.argv.indexOf('--child');
const modes: readonly Mode[] = ['feed', 'native', 'changing', 'typescript'];
if (ci > 0) {
  child(
    process.argv[ci + 1] as string,
    modes.find((m) => m === process.argv[ci + 2]) ?? 'typescript',
    Number(process.argv[ci + 3] ?? 100_000),
  );
} else main();
