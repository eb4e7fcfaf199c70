import test from 'ava';
import { serveMetrics } from '../../../watchers/common/metrics-server.ts';
import { parseKafkaArgs, summary } from '../../../watchers/kafka/cli.ts';
import { kafkaRegistry } from '../../../watchers/kafka/metrics.ts';
import { KafkaStats } from '../../../watchers/kafka/stats.ts';

test('registry exposes lines read, parsed, skipped by reason, reconnects, observations reported', async (t) => {
  const s = new KafkaStats();
  s.linesRead = 10;
  s.parsed = 6;
  s.skip('garbled');
  s.skip('unknown-operation');
  s.skip('unknown-operation');
  s.reconnects = 2;
  s.observationsReported = 4;
  const text = await kafkaRegistry(s).metrics();
  t.regex(text, /^callmap_kafka_lines_read_total 10$/m);
  t.regex(text, /^callmap_kafka_authorizer_lines_parsed_total 6$/m);
  t.regex(text, /^callmap_kafka_lines_skipped_total\{reason="unknown-operation"\} 2$/m);
  t.regex(text, /^callmap_kafka_lines_skipped_total\{reason="bad-host"\} 0$/m);
  t.regex(text, /^callmap_kafka_reconnects_total 2$/m);
  t.regex(text, /^callmap_kafka_observations_reported_total 4$/m);
  s.linesRead = 11;
  t.regex(await kafkaRegistry(s).metrics(), /^callmap_kafka_lines_read_total 11$/m);
});

test('metrics are served over HTTP on 127.0.0.1', async (t) => {
  const s = new KafkaStats();
  s.parsed = 3;
  const server = await serveMetrics(kafkaRegistry(s), 0, '127.0.0.1');
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${server.port}`;
  const res = await fetch(`${base}/metrics`);
  t.is(res.status, 200);
  t.regex(await res.text(), /callmap_kafka_authorizer_lines_parsed_total 3/);
  t.is((await fetch(`${base}/nope`)).status, 404);
});

test('summary names the skip reasons that occurred', (t) => {
  const s = new KafkaStats();
  s.linesRead = 5;
  s.parsed = 2;
  s.skip('bad-host');
  t.is(
    summary(s),
    'kafka watcher: 5 lines read, 2 authorizer decisions, 1 skipped (bad-host 1), 0 observations reported',
  );
});

test('flags: option > env > default; comma lists and repeats are de-duplicated', (t) => {
  const here = new URL(import.meta.url).pathname;
  const c = parseKafkaArgs(['--server', 'kafka-0.kafka,kafka-1.kafka', '--server', 'kafka-0.kafka'], {
    CALLMAP_MAPPER_URL: 'http://mapper:9090',
    KUBECONFIG: `/nonexistent/kc:${here}`,
  });
  t.deepEqual(c.source, {
    kind: 'servers',
    servers: [
      { name: 'kafka-0', namespace: 'kafka' },
      { name: 'kafka-1', namespace: 'kafka' },
    ],
  });
  t.is(c.mapperUrl, 'http://mapper:9090');
  t.is(c.kubeconfig, here, 'first existing file of a KUBECONFIG list');
  t.is(parseKafkaArgs(['--server', 'a.b', '--kubeconfig', '/x'], { KUBECONFIG: here }).kubeconfig, '/x');
  t.is(c.reportIntervalMs, 10_000);
  t.false(c.once);
  const d = parseKafkaArgs(
    ['--selector', 'app=kafka', '-n', 'data', '--mapper-url', 'http://x:1', '--report-interval', '2s', '--once'],
    { CALLMAP_MAPPER_URL: 'http://mapper:9090' },
  );
  t.deepEqual(d.source, { kind: 'selector', selector: 'app=kafka', namespace: 'data' });
  t.is(d.mapperUrl, 'http://x:1');
  t.is(d.reportIntervalMs, 2000);
  t.true(d.once);
  const f = parseKafkaArgs(['--log-file', '/var/log/kafka/kafka-authorizer.log', '--server-name', 'kafka-0.kafka'], {});
  t.deepEqual(f.source, {
    kind: 'file',
    path: '/var/log/kafka/kafka-authorizer.log',
    server: { name: 'kafka-0', namespace: 'kafka' },
  });
  t.is(f.mapperUrl, 'http://localhost:9090');
});
