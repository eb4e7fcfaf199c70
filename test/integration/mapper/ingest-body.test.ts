/**
 * ADR 0101: the ingest route reads the usual reporter request (`Content-Type: application/json`,
 * a Content-Length, no Content-Encoding) with its own body reader. `Content-Encoding: identity`
 * means the same bytes to body-parser but sends the request down the previous path
 * (`express.json`), so every body is posted both ways and the answers (status and body) must be
 * equal: valid batches, empty bodies, a BOM, whitespace, strict-mode violations, broken JSON,
 * invalid UTF-8, oversized bodies.
 */
import test from 'ava';
import fc from 'fast-check';
import { batch, tcp } from '../../unit/mapper/fixtures.ts';
import { startTestMapper } from './harness.ts';

const MAX_BODY = 4096;

async function post(url: string, body: Uint8Array, identity: boolean): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (identity) headers['content-encoding'] = 'identity';
  const res = await fetch(`${url}/api/v1/reports`, { method: 'POST', headers, body: new Uint8Array(body) });
  const text = await res.text();
  // the retry of an accepted batch is its duplicate: compare the receipts without that flag
  return { status: res.status, body: res.status === 202 ? text.replace(/"duplicate":(true|false)/, '') : text };
}

const enc = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s);

test('ingest body reader: the same answers as express.json for random bodies', async (t) => {
  const m = await startTestMapper({ maxBodyBytes: MAX_BODY });
  t.teardown(() => m.close());
  let n = 0;
  const valid = fc
    .constantFrom('', ' ', '\n\t ', '\ufeff', '\ufeff ')
    .map((pre) => enc(`${pre}${JSON.stringify(batch([tcp('10.0.0.1', '10.0.0.2', 80)], `body-${n++}`))}`));
  const body = fc.oneof(
    valid,
    valid.chain((b) => fc.nat(b.length).map((cut) => b.slice(0, cut))),
    fc.constantFrom('', ' ', '\ufeff', '{}', '[]', 'null', ' 1', '"x"', 'true', ' \n', '{"batchId":', '[1,').map(enc),
    fc.string({ unit: 'binary', maxLength: 40 }).map(enc),
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Uint8Array.from([0x7b, ...b])), // "{" + bytes
    fc.constant(enc(`{"pad":"${'x'.repeat(MAX_BODY)}"}`)), // over --max-body
  );
  let compared = 0;
  await fc.assert(
    fc.asyncProperty(body, async (b) => {
      const fast = await post(m.url, b, false);
      const previous = await post(m.url, b, true);
      t.deepEqual(fast, previous, Buffer.from(b).toString('latin1'));
      compared++;
    }),
    { numRuns: 300 },
  );
  t.true(compared >= 300);
});

test('ingest body reader: a valid batch is stored once and its retry is a duplicate', async (t) => {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  const b = enc(JSON.stringify(batch([tcp('10.0.0.1', '10.0.0.2', 80)], 'once')));
  const r1 = await fetch(`${m.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: b,
  });
  t.is(r1.status, 202);
  t.deepEqual(await r1.json(), { batchId: 'once', accepted: 1, duplicate: false });
  const r2 = await fetch(`${m.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: b,
  });
  t.deepEqual(await r2.json(), { batchId: 'once', accepted: 1, duplicate: true });
});
