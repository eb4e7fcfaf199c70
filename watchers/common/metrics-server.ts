/**
 * The tiny HTTP server both watchers use to expose their own Prometheus registry on
 * --metrics-port: GET /metrics (also with a query string) and GET /healthz, 404 otherwise.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { CallmapError } from '../../mapper/contract/index.ts';

export interface MetricsServer {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the registry; resolves once listening. A port in use, a port needing privileges or a
 * host that does not resolve rejects with a CallmapError `METRICS_LISTEN` (one clear line for the
 * CLI), never a raw socket error.
 */
export async function serveMetrics(registry: Registry, port: number, host?: string): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics' || req.url?.startsWith('/metrics?')) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        },
      );
      return;
    }
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found; try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${host ?? 'all interfaces'} port ${port}`;
      const why = e.code ?? e.message;
      reject(
        new CallmapError(
          'METRICS_LISTEN',
          `cannot serve metrics on ${where} (${why}); choose a free --metrics-port (0 = any) or another --metrics-host`,
          { cause: e },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
