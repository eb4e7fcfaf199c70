/**
 * The ingest route's content-type check: the exact `application/json` header of every reporter
 * takes a shortcut (no header parsing); every other header, and a request that announces no body,
 * gets the answers `req.is` gave before (415 UNSUPPORTED_MEDIA_TYPE with an ErrorBody, or 202).
 * Raw sockets, so the exact header bytes are under the test's control.
 */
import net from 'node:net';
import test from 'ava';
import { batch, tcp } from '../../unit/mapper/fixtures.ts';
import { startTestMapper } from './harness.ts';

/** Sends one raw HTTP/1.1 request and returns the status and body of the answer. */
function raw(url: string, head: string[], body: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => {
      sock.write(
        `POST /api/v1/reports HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n${head.map((h) => `${h}\r\n`).join('')}\r\n${body}`,
      );
    });
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
    });
    sock.on('error', reject);
    sock.on('end', () => {
      const status = Number(data.slice(9, 12));
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

test('content type: the exact header, parameters, case and a missing body answer as before', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  let n = 0;
  const body = (): string => JSON.stringify({ ...batch([tcp('10.0.0.1', '10.0.0.2', 80)]), batchId: `ct-${n++}` });
  const len = (b: string): string => `Content-Length: ${Buffer.byteLength(b)}`;

  for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
    const b = body();
    const r = await raw(m.url, [`Content-Type: ${type}`, len(b)], b);
    t.is(r.status, 202, type);
  }
  const chunked = body();
  const r0 = await raw(
    m.url,
    ['Content-Type: application/json', 'Transfer-Encoding: chunked'],
    `${Buffer.byteLength(chunked).toString(16)}\r\n${chunked}\r\n0\r\n\r\n`,
  );
  t.is(r0.status, 202, 'chunked');

  // No Content-Length and no Transfer-Encoding: no body announced, so not JSON (415, as req.is says).
  const r1 = await raw(m.url, ['Content-Type: application/json'], '');
  t.is(r1.status, 415);
  t.is((JSON.parse(r1.body) as { error: { code: string } }).error.code, 'UNSUPPORTED_MEDIA_TYPE');
  for (const type of ['text/plain', 'application/jsonx', 'application/x-json']) {
    const b = body();
    const r = await raw(m.url, [`Content-Type: ${type}`, len(b)], b);
    t.is(r.status, 415, type);
    t.is((JSON.parse(r.body) as { error: { code: string } }).error.code, 'UNSUPPORTED_MEDIA_TYPE');
  }
});
