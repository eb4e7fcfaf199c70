/**
 * A small real HTTP receiver standing in for the mapper's ingest endpoint: records every POSTed
 * batch after validating it with the wire contract, answers 202 with an IngestReceipt (duplicate
 * batchIds are recognised), and can be stopped and restarted on the same port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Observation, parseReportBatch, type ReportBatch } from '../../../mapper/contract/index.ts';

export interface Receiver {
  url: string;
  port: number;
  batches: ReportBatch[];
  /** Accepted batches, deduplicated by batchId (what the mapper would count). */
  observations(): Observation[];
  invalid: string[];
  /** Requests answered (any status). */
  requests: number;
  /** Called after each accepted batch (before the response is sent). */
  onBatch?: (b: ReportBatch) => void;
  /** Stops listening and cuts open connections. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const seen = new Set<string>();
  let server: Server | undefined;
  const r: Receiver = {
    url: '',
    port: 0,
    batches: [],
    invalid: [],
    requests: 0,
    observations: () => r.batches.flatMap((b) => b.observations),
    stop: async () => {
      const s = server;
      server = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
    restart: () => listen(r.port),
    close: () => r.stop(),
  };
  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          r.requests++;
          if (req.method !== 'POST' || req.url !== '/api/v1/reports') {
            res.writeHead(404).end();
            return;
          }
          let batch: ReportBatch;
          try {
            batch = parseReportBatch(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (e) {
            r.invalid.push(String((e as Error).message));
            res.writeHead(400, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: { code: 'CONTRACT_INVALID', message: String(e) } }));
            return;
          }
          const duplicate = seen.has(batch.batchId);
          if (!duplicate) {
            seen.add(batch.batchId);
            r.batches.push(batch);
            r.onBatch?.(batch);
          }
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ batchId: batch.batchId, accepted: batch.observations.length, duplicate }));
        });
      });
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => {
        server = s;
        r.port = (s.address() as AddressInfo).port;
        r.url = `http://127.0.0.1:${r.port}`;
        resolve();
      });
    });
  await listen(port);
  return r;
}
