/** Loopback stand-ins for Istio proxies and for the mapper's ingest endpoint. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { CliContext } from '../../../mapper/cli/command.ts';
import { type Observation, parseReportBatch, type ReportBatch } from '../../../mapper/contract/index.ts';

export interface StatsServer {
  ip: string;
  port: number;
  /** What the next scrape returns. */
  body: string | Buffer;
  status: number;
  /** Delay before answering, ms (a slow pod). */
  delayMs: number;
  hits: number;
  close(): Promise<void>;
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/** An HTTP server on a 127.x address pretending to be a proxy's stats endpoint. */
export async function startStatsServer(ip: string, body: string | Buffer = ''): Promise<StatsServer> {
  const timers = new Set<NodeJS.Timeout>();
  const state: StatsServer = {
    ip,
    port: 0,
    body,
    status: 200,
    delayMs: 0,
    hits: 0,
    close: () => {
      for (const t of timers) clearTimeout(t);
      return closeServer(server);
    },
  };
  const server = createServer((req, res) => {
    state.hits++;
    const answer = (): void => {
      res.writeHead(state.status, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(state.status === 200 ? state.body : 'upstream connect error');
    };
    if (state.delayMs > 0) {
      const t = setTimeout(answer, state.delayMs);
      timers.add(t);
    } else answer();
    req.resume();
  });
  state.port = await listen(server, ip);
  return state;
}

export interface MapperStub {
  url: string;
  batches: ReportBatch[];
  observations(): Observation[];
  /** Status answered to POST /api/v1/reports. */
  status: number;
  close(): Promise<void>;
}

/** Records report batches (validated with the contract) on 127.0.0.1. */
export async function startMapperStub(): Promise<MapperStub> {
  const stub: MapperStub = {
    url: '',
    batches: [],
    observations: () => stub.batches.flatMap((b) => b.observations),
    status: 202,
    close: () => closeServer(server),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200).end('ok');
        return;
      }
      if (req.method === 'POST' && req.url === '/api/v1/reports') {
        if (stub.status !== 202) {
          res.writeHead(stub.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'TEST', message: 'refused by test' } }));
          return;
        }
        let batch: ReportBatch;
        try {
          batch = parseReportBatch(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'CONTRACT_INVALID', message: String(e) } }));
          return;
        }
        stub.batches.push(batch);
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ batchId: batch.batchId, accepted: batch.observations.length, duplicate: false }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  const port = await listen(server, '127.0.0.1');
  stub.url = `http://127.0.0.1:${port}`;
  return stub;
}

/** A sidecar-injected pod as the Kubernetes API reports it. */
export function pod(
  name: string,
  opts: {
    ip?: string;
    port?: number;
    namespace?: string;
    phase?: string;
    labels?: Record<string, string>;
    containers?: string[];
    restarts?: number;
  },
): object {
  const containers = opts.containers ?? ['app', 'istio-proxy'];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: opts.namespace ?? 'shop',
      uid: `uid-${name}`,
      labels: opts.labels ?? { app: name, 'security.istio.io/tlsMode': 'istio' },
      annotations:
        opts.port === undefined
          ? {}
          : { 'prometheus.io/port': String(opts.port), 'prometheus.io/path': '/stats/prometheus' },
    },
    spec: { containers: containers.map((c) => ({ name: c, image: `${c}:1` })) },
    status: {
      phase: opts.phase ?? 'Running',
      ...(opts.ip === undefined ? {} : { podIP: opts.ip }),
      containerStatuses: containers.map((c) => ({ name: c, ready: true, restartCount: opts.restarts ?? 0 })),
    },
  };
}

export function requestsLine(
  reporter: string,
  client: string,
  server: string,
  path: string | undefined,
  value: number,
  ns = 'shop',
): string {
  const p = path === undefined ? '' : `,request_path="${path}",request_method="GET"`;
  return `istio_requests_total{reporter="${reporter}",source_workload="${client}",source_workload_namespace="${ns}",destination_workload="${server}",destination_workload_namespace="${ns}",destination_service_name="${server}"${p}} ${value}\n`;
}

export interface CapturedCtx extends CliContext {
  out(): string;
  err(): string;
  abort(): void;
}

export function captureCtx(env: Record<string, string | undefined> = {}): CapturedCtx {
  let out = '';
  let err = '';
  const ac = new AbortController();
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        append(chunk.toString('utf8'));
        cb();
      },
    });
  return {
    env,
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }),
    signal: ac.signal,
    out: () => out,
    err: () => err,
    abort: () => ac.abort(),
  };
}
