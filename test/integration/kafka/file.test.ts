import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import { httpTransport, ObservationReporter } from '../../../mapper/client/index.ts';
import { command } from '../../../watchers/kafka/cli.ts';
import { KafkaStats } from '../../../watchers/kafka/stats.ts';
import { KafkaWatcher } from '../../../watchers/kafka/watcher.ts';
import { countsByKey, fakeCtx, startReceiver, until } from './helpers.ts';

const corpusPath = new URL('../../fixtures/kafka/corpus.log', import.meta.url).pathname;
const server = { name: 'kafka-0', namespace: 'kafka' };
const line = (topic: string, op = 'Read', ip = '10.0.0.5') =>
  `[2024-05-01 12:00:00,000] INFO Principal = User:alice is Allowed Operation = ${op} from host = ${ip} on resource = Topic:LITERAL:${topic} for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)\n`;

const tmp = () => mkdtempSync(join(tmpdir(), 'callmap-kafka-file-'));

test('--once reads the whole corpus file, reports valid batches and exits 0', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const f = fakeCtx();
  const code = await command.run(
    ['--once', '--log-file', corpusPath, '--server-name', 'kafka-0.kafka', '--mapper-url', rx.url],
    f.ctx,
  );
  t.is(code, 0, f.err());
  t.deepEqual(rx.invalid, []);
  const obs = rx.observations();
  t.true(obs.length >= 25);
  t.true(obs.every((o) => o.serverPod.name === 'kafka-0' && o.serverPod.namespace === 'kafka'));
  // the partial last line of the file is a real line at end of file
  t.true(obs.some((o) => o.resourceName === 'partial'));
  t.true(obs.some((o) => !o.allowed));
  t.is(rx.batches[0]?.reporter.component, 'kafka-watcher');
  t.regex(f.err(), /kafka watcher: parsed with the (native scanner \(callmap_kafka\)|TypeScript line scanner \(.+\))/);
  t.regex(
    f.out(),
    /51 lines read, 36 authorizer decisions, 7 skipped \(garbled 3, unknown-operation 2, unknown-resource-type 1, bad-host 1\)/,
  );
});

test('--once exits 2 with a clear message when the mapper is unreachable', async (t) => {
  const rx = await startReceiver();
  const deadUrl = rx.url;
  await rx.close();
  const f = fakeCtx();
  const code = await main(
    ['watch', 'kafka', '--once', '--log-file', corpusPath, '--server-name', 'kafka-0.kafka', '--mapper-url', deadUrl],
    f.ctx,
  );
  t.is(code, 2);
  t.regex(f.err(), /cannot reach the mapper at http:\/\/127\.0\.0\.1:\d+ .*MAPPER_UNREACHABLE/);
});

test('--once exits 1 when the log file is missing', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const f = fakeCtx();
  const code = await main(
    [
      'watch',
      'kafka',
      '--once',
      '--log-file',
      '/nonexistent/kafka.log',
      '--server-name',
      'k.ns',
      '--mapper-url',
      rx.url,
    ],
    f.ctx,
  );
  t.is(code, 1);
  t.regex(f.err(), /cannot read --log-file \/nonexistent\/kafka\.log \(ENOENT\)/);
});

test('bad flags are usage errors (exit 64)', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /choose exactly one source/],
    [['--server', 'a.b', '--log-file', 'x', '--server-name', 'a.b'], /choose exactly one source/],
    [['--log-file', 'x'], /--log-file needs --server-name/],
    [['--server', 'nodot'], /--server must be name\.namespace/],
    [['--server', 'a.b', '-n', 'x'], /--namespace only applies to --selector/],
    [['--server', 'a.b', '--report-interval', 'soon'], /--report-interval must be a duration/],
    [['--server', 'a.b', '--metrics-port', '70000'], /--metrics-port must be a port/],
    [['--server', 'a.b', '--bogus'], /Unknown option/],
    [['--server', 'a.b', '--mapper-url', 'ftp://x'], /http:\/\/ or https:\/\//],
    [['--server', 'a.b', '--scan-threads', '2'], /--scan-threads only applies to --log-file/],
    [['--log-file', 'x', '--server-name', 'a.b', '--scan-threads', '3'], /--scan-threads must be 1 or 2/],
  ];
  for (const [args, re] of cases) {
    const f = fakeCtx();
    t.is(await main(['watch', 'kafka', ...args], f.ctx), 64, args.join(' '));
    t.regex(f.err(), re, args.join(' '));
  }
});

test('--once --scan-threads 2 reads the corpus file with the same summary', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const f = fakeCtx();
  const code = await command.run(
    [
      '--once',
      '--scan-threads',
      '2',
      '--log-file',
      corpusPath,
      '--server-name',
      'kafka-0.kafka',
      '--mapper-url',
      rx.url,
    ],
    f.ctx,
  );
  t.is(code, 0, f.err());
  t.regex(
    f.out(),
    /51 lines read, 36 authorizer decisions, 7 skipped \(garbled 3, unknown-operation 2, unknown-resource-type 1, bad-host 1\)/,
  );
});

// `native, two threads`: every read of 2 bytes or more is split over two threads; `native, mapped`:
// every read goes through a mapping (by default only ranges of 256 KiB or more do, ADR 0065)
for (const scanner of [
  'native',
  'native, two threads',
  'native, mapped',
  'native, mapped, two threads',
  'TypeScript',
] as const)
  test(`follows appends, holds a partial line, follows rotation and truncation (${scanner} scanner)`, async (t) => {
    const dir = tmp();
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'kafka-authorizer.log');
    writeFileSync(path, line('a'));
    const rx = await startReceiver();
    const transport = httpTransport(rx.url);
    const reporter = new ObservationReporter({
      transport,
      reporter: { component: 'kafka-watcher', instance: 'test' },
      retry: false,
    });
    const stats = new KafkaStats();
    const logs: string[] = [];
    const w = new KafkaWatcher(
      {
        source: { kind: 'file', path, server },
        once: false,
        reportIntervalMs: 50,
        filePollMs: 20,
        ...(scanner.endsWith('two threads') ? { fileScanThreads: 2 as const, fileSplitMin: 2 } : {}),
        ...(scanner.startsWith('native, mapped') ? { fileRead: 'map' as const } : {}),
      },
      {
        sink: reporter,
        stats,
        log: (l) => logs.push(l),
        now: Date.now,
        ...(scanner === 'TypeScript' ? { native: null } : {}),
      },
    );
    const ac = new AbortController();
    const done = w.run(ac.signal);
    t.teardown(async () => {
      ac.abort();
      await done;
      await reporter.shutdown(500);
      await transport.close();
      await rx.close();
    });
    const counts = () => countsByKey(rx.observations());
    const key = (topic: string) => `kafka-0.kafka 10.0.0.5 Topic:${topic} consume allowed`;
    await until(() => counts()[key('a')] === 1, 8000, 'first line');

    // a partial line is held until its newline arrives
    const half = line('b');
    appendFileSync(path, half.slice(0, 60));
    await new Promise((r) => setTimeout(r, 200));
    t.is(counts()[key('b')], undefined, 'partial line not parsed yet');
    appendFileSync(path, half.slice(60));
    await until(() => counts()[key('b')] === 1, 8000, 'completed line');

    // rotation: the rest of the old file (with an unterminated last line) is read, then the new file
    appendFileSync(path, line('c').trimEnd());
    renameSync(path, `${path}.1`);
    writeFileSync(path, line('d'));
    await until(() => counts()[key('c')] === 1 && counts()[key('d')] === 1, 8000, 'rotation');

    // truncation (copytruncate): reading starts again at offset 0
    appendFileSync(path, line('e') + line('e'));
    await until(() => counts()[key('e')] === 2, 8000, 'before truncation');
    truncateSync(path, 0);
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(path, line('f'));
    await until(() => counts()[key('f')] === 1, 8000, 'after truncation');

    t.is(counts()[key('a')], 1, 'nothing read twice');
    t.is(counts()[key('d')], 1);
    t.true(logs.some((l) => /was rotated/.test(l)));
    t.true(logs.some((l) => /was truncated/.test(l)));
    t.deepEqual(rx.invalid, []);
    t.is(stats.linesRead, 7, 'a b c d e e f');
    t.truthy(readFileSync(`${path}.1`));
  });

test('follow mode waits for a missing file and picks it up', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'later.log');
  const added: unknown[] = [];
  const logs: string[] = [];
  const stats = new KafkaStats();
  const w = new KafkaWatcher(
    { source: { kind: 'file', path, server }, once: false, reportIntervalMs: 30, filePollMs: 20 },
    {
      sink: { add: (o) => added.push(o), flush: async () => {} },
      stats,
      log: (l) => logs.push(l),
      now: Date.now,
    },
  );
  const ac = new AbortController();
  const done = w.run(ac.signal);
  await until(() => logs.some((l) => /cannot open .*later\.log \(ENOENT\); waiting for it to appear/.test(l)));
  writeFileSync(path, line('late'));
  await until(() => added.length === 1, 8000, 'late file');
  ac.abort();
  await done;
  t.is(logs.filter((l) => /cannot open/.test(l)).length, 1, 'the problem is logged once');
});

test('CLI follow mode: reports as lines arrive, serves metrics, stops cleanly on the signal', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'kafka-authorizer.log');
  writeFileSync(path, line('cli'));
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const f = fakeCtx();
  const running = command.run(
    [
      '--log-file',
      path,
      '--server-name',
      'kafka-0.kafka',
      '--mapper-url',
      rx.url,
      '--report-interval',
      '100ms',
      '--metrics-port',
      '0',
      '--metrics-host',
      '127.0.0.1',
    ],
    f.ctx,
  );
  await until(() => rx.observations().length === 1, 8000, 'first report');
  appendFileSync(path, line('cli2', 'Write'));
  await until(() => rx.observations().length === 2, 8000, 'second report');
  const port = /metrics on :(\d+)\/metrics/.exec(f.err())?.[1];
  t.truthy(port, f.err());
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.regex(metrics, /^callmap_kafka_authorizer_lines_parsed_total 2$/m);
  t.regex(metrics, /^callmap_kafka_observations_reported_total 2$/m);
  f.abort();
  t.is(await running, 0);
  t.regex(f.err(), /following file .*kafka-authorizer\.log; reporting to http:\/\/127\.0\.0\.1:\d+ every 100 ms/);
  t.regex(f.err(), /2 lines read, 2 authorizer decisions, 0 skipped, 2 observations reported/);
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/metrics`), undefined, 'metrics server closed');
});

test('--once exits 1 when the mapper rejects the batches', async (t) => {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(req.url === '/healthz' ? 200 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'CONTRACT_INVALID', message: 'no' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  const f = fakeCtx();
  const code = await main(
    [
      'watch',
      'kafka',
      '--once',
      '--log-file',
      corpusPath,
      '--server-name',
      'k.ns',
      '--mapper-url',
      `http://127.0.0.1:${port}`,
    ],
    f.ctx,
  );
  t.is(code, 1);
  t.regex(f.err(), /rejected 1 report batch\(es\).*KAFKA_REPORT_REJECTED/);
});
