/** Starts a real mapper service on 127.0.0.1:0 with a temp DB and the static test resolver. */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Observation, ReportBatch } from '../../../mapper/contract/index.ts';
import type { Resolver } from '../../../mapper/k8s/types.ts';
import { type MapperService, type MapperServiceOptions, startMapperService } from '../../../mapper/service.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';
import { shopResolver, T0, tcp, tempDir } from '../../unit/mapper/fixtures.ts';

export interface TestMapper extends MapperService {
  dbPath: string;
  post(batch: unknown, init?: { contentType?: string; raw?: string }): Promise<Response>;
  get(p: string): Promise<Response>;
}

export async function startTestMapper(
  over: Partial<MapperServiceOptions> & { resolver?: Resolver; dbPath?: string } = {},
): Promise<TestMapper> {
  const dbPath = over.dbPath ?? path.join(tempDir(), 'map.db');
  const svc = await startMapperService({
    port: 0,
    host: '127.0.0.1',
    db: { path: dbPath, sync: 'normal' },
    web: null,
    log: () => {},
    ...over,
    resolver: over.resolver ?? shopResolver(),
  });
  return {
    ...svc,
    dbPath,
    post(batch: unknown, init = {}) {
      return fetch(`${svc.url}/api/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': init.contentType ?? 'application/json' },
        body: init.raw ?? JSON.stringify(batch as ReportBatch),
      });
    },
    get(p: string) {
      return fetch(`${svc.url}${p}`);
    },
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const BIN = fileURLToPath(new URL('../../../mapper/cli/bin.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `callmap ARGS` as a child process (node --import=tsx mapper/cli/bin.ts). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, CALLMAP_MAPPER_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export interface MapperProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
}

/** Starts `callmap mapper --port 0 ARGS` as a child and waits for its "listening on" line. */
export function spawnMapper(args: string[], env: Record<string, string> = {}): Promise<MapperProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import=tsx', BIN, 'mapper', '--host', '127.0.0.1', '--port', '0', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, KUBECONFIG: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.stdout?.resume();
    child.stderr?.on('data', (d) => {
      err += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m?.[1]) resolve({ url: m[1], child, stderr: () => err, exited });
    });
    void exited.then((code) => reject(new Error(`mapper exited with ${code} before listening: ${err}`)));
  });
}

/** Runs `callmap ARGS` in this process (same dispatcher as bin.ts), capturing output. Fast. */
export async function runMain(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const { main } = await import('../../../mapper/cli/main.ts');
  let stdout = '';
  let stderr = '';
  const sink = (write: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        write(String(chunk));
        cb();
      },
    });
  const code = await main(args, {
    env: Object.freeze({ ...env }),
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
    signal: new AbortController().signal,
  });
  return { code, signal: null, stdout, stderr };
}

/** The pod IP of synthetic workload `i` (10.x.y.z). */
export const syntheticIp = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/**
 * A large synthetic cluster for body-size tests: `workloads` pods named `w-<i % 50>` in namespace
 * `ns-<i / 50>` (Deployments, labelled by `labels(i)`), and `edge(n)`, the n-th of distinct tcp
 * calls among them (10 servers per client).
 */
export function syntheticCluster(
  workloads: number,
  labels: (i: number) => Record<string, string>,
): { resolver: () => StaticResolver; edge: (n: number, time?: number) => Observation } {
  return {
    resolver() {
      const ips: Record<string, { name: string; namespace: string; kind: string; labels: Record<string, string> }> = {};
      for (let i = 0; i < workloads; i++) {
        ips[syntheticIp(i)] = {
          name: `w-${i % 50}`,
          namespace: `ns-${Math.floor(i / 50)}`,
          kind: 'Deployment',
          labels: labels(i),
        };
      }
      return new StaticResolver({ ips });
    },
    edge(n, time = T0 + n) {
      const c = Math.floor(n / 10) % workloads;
      const k = n % 10;
      return tcp(syntheticIp(c), syntheticIp((c + 1 + k * 397) % workloads), 8000 + k, time);
    },
  };
}
