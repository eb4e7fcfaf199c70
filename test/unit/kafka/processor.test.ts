import { readFileSync } from 'node:fs';
import test from 'ava';
import { parseObservation } from '../../../mapper/contract/index.ts';
import { KafkaLineProcessor } from '../../../watchers/kafka/processor.ts';
import { KafkaStats } from '../../../watchers/kafka/stats.ts';

const server = { name: 'kafka-0', namespace: 'kafka' };
const NOW = Date.UTC(2024, 5, 1);
const line = (ts: string, op = 'Read', host = '10.0.0.5', topic = 'orders', verdict = 'Allowed') =>
  `[${ts}] INFO Principal = User:alice is ${verdict} Operation = ${op} from host = ${host} on resource = Topic:LITERAL:${topic} for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)`;

function make(opts: { maxEntries?: number } = {}) {
  const stats = new KafkaStats();
  const overflowed: unknown[][] = [];
  const p = new KafkaLineProcessor({
    serverPod: server,
    stats,
    now: () => NOW,
    ...opts,
    overflow: (o) => overflowed.push(o),
  });
  return { p, stats, overflowed };
}

test('identical decisions in a tick become one observation with a count and the latest time', (t) => {
  const { p, stats } = make();
  p.line(line('2024-05-01 12:00:00,300'));
  p.line(line('2024-05-01 12:00:00,100'));
  p.line(line('2024-05-01 12:00:00,200'));
  p.line(line('2024-05-01 12:00:00,200', 'Write'));
  p.line(line('2024-05-01 12:00:00,200', 'Read', '10.0.0.6'));
  p.line(line('2024-05-01 12:00:00,200', 'Read', '10.0.0.5', 'orders', 'Denied'));
  p.line('[2024-05-01 12:00:00,200] INFO unrelated (kafka.server.KafkaServer)');
  const obs = p.drain();
  t.is(obs.length, 4);
  const first = obs[0];
  t.deepEqual(first, {
    kind: 'kafka',
    clientIp: '10.0.0.5',
    serverPod: server,
    resourceType: 'Topic',
    resourceName: 'orders',
    patternType: 'LITERAL',
    operation: 'consume',
    allowed: true,
    principal: 'User:alice',
    count: 3,
    time: Date.UTC(2024, 4, 1, 12, 0, 0, 300),
  });
  t.is(obs.find((o) => o.allowed === false)?.operation, 'consume');
  t.is(stats.parsed, 6);
  t.deepEqual(p.drain(), [], 'drain forgets what it returned');
});

test('every observation from the corpus passes the wire contract', (t) => {
  const { p, stats } = make();
  for (const l of readFileSync(new URL('../../fixtures/kafka/corpus.log', import.meta.url), 'utf8').split('\n'))
    p.line(l);
  const obs = p.drain();
  t.true(obs.length > 20);
  for (const [i, o] of obs.entries()) t.notThrows(() => parseObservation(o, `obs[${i}]`));
  t.deepEqual(stats.skipped, {
    garbled: 3,
    'unknown-operation': 2,
    'unknown-resource-type': 1,
    'bad-host': 1,
    'line-too-long': 0,
  });
  t.true(
    obs.some((o) => o.resourceType === 'Group') &&
      obs.some((o) => o.resourceType === 'Cluster') &&
      obs.some((o) => o.resourceType === 'TransactionalId'),
  );
});

test('lines without a usable timestamp take the receive time', (t) => {
  const { p } = make();
  p.line(
    'Principal = User:b is Allowed Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t for request = Fetch with resourceRefCount = 1',
  );
  p.line(line('1970-01-01 00:00:00,000', 'Write'));
  const obs = p.drain();
  t.deepEqual(
    obs.map((o) => o.time),
    [NOW, NOW],
  );
});

test('a skipped line never drops the rest of the batch', (t) => {
  const { p, stats } = make();
  p.line(line('2024-05-01 12:00:00,000'));
  p.line(line('2024-05-01 12:00:00,000', 'Frobnicate'));
  p.line(line('2024-05-01 12:00:00,000', 'Write'));
  t.is(p.drain().length, 2);
  t.is(stats.skipped['unknown-operation'], 1);
  p.tooLong();
  t.is(stats.skipped['line-too-long'], 1);
  t.is(stats.skippedTotal, 2);
});

test('pending observations are bounded: overflow hands them over early', (t) => {
  const { p, overflowed } = make({ maxEntries: 10 });
  for (let i = 0; i < 25; i++) p.line(line('2024-05-01 12:00:00,000', 'Read', `10.0.1.${i}`));
  t.is(overflowed.length, 2);
  t.is(overflowed[0]?.length, 10);
  t.is(p.pendingSize, 5);
});
