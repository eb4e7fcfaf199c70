/** Loopback stand-ins for Istio proxies and for the mapper's ingest endpoint. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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

export { type CapturedCtx, captureCtx, type MapperStub, startMapperStub } from '../../helpers/mapper-stub.ts';
