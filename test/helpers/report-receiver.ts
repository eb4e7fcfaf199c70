/**
 * A real HTTP server on 127.0.0.1 that accepts `POST /api/v1/reports` like the mapper does:
 * validates with the contract, de-duplicates batchIds, and records what it accepted.
 * `failNext(n, status, retryAfter?)` makes the next n requests fail; `restart()` closes the
 * listening socket and re-opens it on the same port after a delay.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Observation, parseReportBatch, type ReportBatch } from '../../mapper/contract/index.ts';

export interface ReportReceiver {
  url: string;
  port: number;
  batches: ReportBatch[];
  observations(): Observation[];
  requests: number;
  failNext(n: number, status: number, retryAfter?: string): void;
  /** Close, wait `downMs`, listen again on the same port. */
  restart(downMs: number): Promise<void>;
  waitFor(pred: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReportReceiver(): Promise<ReportReceiver> {
  const batches: ReportBatch[] = [];
  const seen = new Set<string>();
  let failures: { n: number; status: number; retryAfter?: string } = { n: 0, status: 503 };
  const state = { requests: 0 };

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests += 1;
      if (failures.n > 0) {
        failures.n -= 1;
        res.writeHead(failures.status, failures.retryAfter ? { 'retry-after': failures.retryAfter } : {});
        res.end(JSON.stringify({ error: { code: 'TEST_FAILURE', message: 'injected failure' } }));
        return;
      }
      try {
        const batch = parseReportBatch(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        const duplicate = seen.has(batch.batchId);
        if (!duplicate) {
          seen.add(batch.batchId);
          batches.push(batch);
        }
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ batchId: batch.batchId, accepted: batch.observations.length, duplicate }));
      } catch (e) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'CONTRACT_INVALID', message: String((e as Error).message) } }));
      }
    });
  };

  let server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const closeServer = (s: Server) =>
    new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });

  const receiver: ReportReceiver = {
    url: `http://127.0.0.1:${port}`,
    port,
    batches,
    observations: () => batches.flatMap((b) => b.observations),
    get requests() {
      return state.requests;
    },
    failNext(n, status, retryAfter) {
      failures = retryAfter === undefined ? { n, status } : { n, status, retryAfter };
    },
    async restart(downMs) {
      await closeServer(server);
      await new Promise((r) => setTimeout(r, downMs));
      server = createServer(handler);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    async waitFor(pred, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > end) throw new Error('timed out waiting for the report receiver');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => closeServer(server),
  };
  return receiver;
}
