import test from 'ava';
import { httpTransport, ObservationReporter } from '../../../mapper/client/index.ts';
import type { TcpObservation } from '../../../mapper/contract/index.ts';
import { startReportReceiver } from '../../helpers/report-receiver.ts';

const T = Date.UTC(2026, 10, 21, 12, 0, 0);
const tcp = (i: number, extra: Partial<TcpObservation> = {}): TcpObservation => ({
  kind: 'tcp',
  clientIp: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`,
  serverIp: '10.1.0.1',
  serverPort: 443,
  source: 'capture',
  time: T + i,
  ...extra,
});
const fastRetry = { initialDelayMs: 5, maxDelayMs: 50, maxElapsedMs: 15_000 };

test('aggregates identical observations and splits batches at maxBatchSize', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'sniffer', instance: 'node-a' },
    maxBatchSize: 100,
    retry: fastRetry,
  });
  // Aggregation works on what is not yet sealed: repeats of #7 before the first batch fills up.
  for (let i = 0; i < 250; i++) {
    rep.add(tcp(i));
    if (i === 50) for (let k = 0; k < 5; k++) rep.add(tcp(7, { time: T + 1000 + k }));
  }
  await rep.flush();
  t.is(rx.batches.length, 3);
  t.deepEqual(
    rx.batches.map((b) => b.observations.length),
    [100, 100, 50],
  );
  const seven = rx.observations().find((o) => o.kind === 'tcp' && o.clientIp === tcp(7).clientIp);
  t.is(seven?.count, 6);
  t.is(seven?.time, T + 1004);
  const s = rep.stats();
  t.is(s.sentObservations, 250);
  t.is(s.queuedObservations, 0);
  await rep.shutdown();
});

test('honours 503 Retry-After and retries the same batchId (counted once)', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const retries: string[] = [];
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'sniffer', instance: 'node-a' },
    retry: { ...fastRetry, onRetry: (i) => retries.push(`${i.reason}:${i.delayMs}`) },
  });
  rx.failNext(2, 503, '0.2');
  rep.add(tcp(1));
  const started = Date.now();
  await rep.flush();
  t.true(Date.now() - started >= 390, 'waited at least the two Retry-After delays');
  t.is(rx.batches.length, 1);
  t.is(retries.length, 2);
  t.true(retries.every((r) => r.startsWith('HTTP 503')));
  await rep.shutdown();
});

test('nothing is lost while the mapper restarts within the retry window', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url, { timeoutMs: 1000 }),
    reporter: { component: 'sniffer', instance: 'node-a' },
    maxBatchSize: 50,
    retry: { initialDelayMs: 20, maxDelayMs: 200, maxElapsedMs: 20_000 },
  });
  for (let i = 0; i < 100; i++) rep.add(tcp(i));
  await rep.flush();
  const restarting = rx.restart(600);
  for (let i = 100; i < 300; i++) rep.add(tcp(i));
  await rep.flush();
  await restarting;
  t.is(rx.observations().length, 300);
  t.is(new Set(rx.observations().map((o) => (o.kind === 'tcp' ? o.clientIp : ''))).size, 300);
  t.is(rep.stats().droppedObservations, 0);
  await rep.shutdown();
});

test('a batch that outlives the retry window stays queued and goes out on the next flush', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'istio-watcher', instance: 'w' },
    retry: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 2 },
  });
  rx.failNext(2, 500);
  rep.add(tcp(1));
  await rep.flush();
  t.is(rx.batches.length, 0);
  t.is(rep.stats().queuedObservations, 1);
  t.is(rep.stats().failedSends, 1);
  await rep.flush();
  t.is(rx.batches.length, 1);
  t.is(rep.stats().queuedObservations, 0);
  await rep.shutdown();
});

test('when the bound is hit the oldest observations are dropped and counted', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'sniffer', instance: 'n' },
    maxBatchSize: 10,
    maxQueuedObservations: 25,
    retry: false,
  });
  for (let i = 0; i < 40; i++) rep.add(tcp(i));
  t.is(rep.stats().droppedObservations, 15);
  await rep.flush();
  const got = rx.observations().map((o) => o.time - T);
  t.is(got.length, 25);
  t.deepEqual(
    got.sort((a, b) => a - b),
    Array.from({ length: 25 }, (_, i) => i + 15),
    'the newest 25 survive',
  );
  await rep.shutdown();
});

test('a 400 from the mapper drops that batch, counts it, and keeps going', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const logs: string[] = [];
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'sniffer', instance: 'n' },
    maxBatchSize: 1,
    retry: false,
    log: (l) => logs.push(l),
  });
  rx.failNext(1, 400);
  rep.add(tcp(1));
  rep.add(tcp(2));
  await rep.flush();
  t.is(rx.batches.length, 1);
  t.is(rep.stats().rejectedBatches, 1);
  t.is(rep.stats().droppedObservations, 1);
  t.true(logs.some((l) => l.includes('rejected')));
  await rep.shutdown();
});

test('mapper down for good: shutdown respects its deadline and reports what is undelivered', async (t) => {
  const rx = await startReportReceiver();
  await rx.close();
  const logs: string[] = [];
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'kafka-watcher', instance: 'n' },
    retry: { initialDelayMs: 50, maxDelayMs: 100, maxElapsedMs: 60_000, maxAttempts: 1000 },
    log: (l) => logs.push(l),
  });
  rep.add(tcp(1));
  const started = Date.now();
  const stats = await rep.shutdown(500);
  // Far below the 60 s retry window, generous for a loaded CI machine (the first request also loads undici).
  t.true(Date.now() - started < 20_000, `shutdown took ${Date.now() - started} ms`);
  t.is(stats.queuedObservations, 1);
  t.true(logs.some((l) => l.includes('could not be delivered')));
  rep.add(tcp(2));
  t.is(rep.stats().droppedObservations, 1, 'adds after shutdown are counted as dropped');
});

test('start() flushes periodically without overlapping', async (t) => {
  const rx = await startReportReceiver();
  t.teardown(() => rx.close());
  const rep = new ObservationReporter({
    transport: httpTransport(rx.url),
    reporter: { component: 'sniffer', instance: 'n' },
    flushIntervalMs: 30,
    retry: false,
  });
  rep.start();
  rep.add(tcp(1));
  await rx.waitFor(() => rx.batches.length === 1, 15_000);
  rep.add(tcp(2));
  await rx.waitFor(() => rx.batches.length === 2, 15_000);
  t.pass();
  await rep.shutdown();
});

test('a one-shot process waits for retries to finish instead of exiting mid-backoff', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const rx = await startReportReceiver();
  await rx.close(); // nothing listens: every attempt fails, the reporter backs off between them
  const script = `
    import { httpTransport, ObservationReporter } from './mapper/client/index.ts';
    const rep = new ObservationReporter({
      transport: httpTransport('${rx.url}'),
      reporter: { component: 'sniffer', instance: 'once' },
      retry: { initialDelayMs: 200, maxDelayMs: 400, maxElapsedMs: 1200 },
    });
    rep.add({ kind: 'tcp', clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 80, source: 'capture', time: ${T} });
    rep.flush().then(() => console.log('flushed failedSends=' + rep.stats().failedSends));
  `;
  const r = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /flushed failedSends=1/, 'the process stayed alive through the backoff');
});
