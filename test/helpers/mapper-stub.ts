/**
 * A mapper stand-in for reporter tests (watchers, sniffer) on 127.0.0.1:0: `GET /healthz` → 200,
 * `POST /api/v1/reports` validated with the contract (`parseReportBatch`) and, like the mapper,
 * a retried batchId is acknowledged but recorded once. Set `status` to refuse reports.
 * Also `captureCtx`, a CLI context whose stdout/stderr are captured in memory.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { CliContext } from '../../mapper/cli/command.ts';
import { type Observation, parseReportBatch, type ReportBatch } from '../../mapper/contract/index.ts';

export interface MapperStub {
  url: string;
  batches: ReportBatch[];
  /** Bodies that failed parseReportBatch (a correct reporter leaves this empty). */
  invalid: string[];
  observations(): Observation[];
  /** Status answered to POST /api/v1/reports (default 202: accept). */
  status: number;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

export async function startMapperStub(): Promise<MapperStub> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (req.method !== 'POST' || req.url !== '/api/v1/reports') {
        res.writeHead(404).end();
        return;
      }
      if (stub.status !== 202) {
        json(res, stub.status, { error: { code: 'TEST', message: 'refused by test' } });
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let batch: ReportBatch;
      try {
        batch = parseReportBatch(JSON.parse(text));
      } catch (e) {
        stub.invalid.push(`${String(e)}: ${text.slice(0, 500)}`);
        json(res, 400, { error: { code: 'CONTRACT_INVALID', message: String(e) } });
        return;
      }
      const duplicate = stub.batches.some((b) => b.batchId === batch.batchId);
      if (!duplicate) stub.batches.push(batch);
      json(res, 202, { batchId: batch.batchId, accepted: batch.observations.length, duplicate });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stub: MapperStub = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    batches: [],
    invalid: [],
    observations: () => stub.batches.flatMap((b) => b.observations),
    status: 202,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return stub;
}

export interface CapturedCtx extends CliContext {
  out(): string;
  err(): string;
  abort(): void;
}

/** A CLI context with in-memory stdout/stderr and an abort() for its signal. */
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
