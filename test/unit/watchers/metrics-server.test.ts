import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { Counter, Registry } from 'prom-client';
import { isCallmapError } from '../../../mapper/contract/index.ts';
import { serveMetrics } from '../../../watchers/common/metrics-server.ts';

function registry(): Registry {
  const r = new Registry();
  new Counter({ name: 'callmap_test_total', help: 'test', registers: [r] }).inc(3);
  return r;
}

test('serves /metrics (also with a query), /healthz, and 404 elsewhere', async (t) => {
  const m = await serveMetrics(registry(), 0, '127.0.0.1');
  t.teardown(() => m.close());
  t.true(m.port > 0);
  const base = `http://127.0.0.1:${m.port}`;
  const res = await fetch(`${base}/metrics`);
  t.is(res.status, 200);
  t.regex(await res.text(), /^callmap_test_total 3$/m);
  t.regex(await (await fetch(`${base}/metrics?x=1`)).text(), /^callmap_test_total 3$/m);
  t.is(await (await fetch(`${base}/healthz`)).text(), 'ok\n');
  t.is((await fetch(`${base}/nope`)).status, 404);
});

test('a port in use rejects with one clear METRICS_LISTEN error', async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => busy.close(() => r())));
  const port = (busy.address() as AddressInfo).port;
  const e = await t.throwsAsync(serveMetrics(registry(), port, '127.0.0.1'));
  t.true(isCallmapError(e));
  t.is((e as { code?: string }).code, 'METRICS_LISTEN');
  t.is(
    e?.message,
    `cannot serve metrics on 127.0.0.1 port ${port} (EADDRINUSE); choose a free --metrics-port (0 = any) or another --metrics-host`,
  );
});

test('a host that does not resolve rejects with METRICS_LISTEN, not a raw socket error', async (t) => {
  const e = await t.throwsAsync(serveMetrics(registry(), 0, 'no-such-host.invalid'));
  t.is((e as { code?: string }).code, 'METRICS_LISTEN');
  t.regex(e?.message ?? '', /^cannot serve metrics on no-such-host\.invalid port 0 \(E[A-Z_]+\)/);
});
