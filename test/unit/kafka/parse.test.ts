import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { KAFKA_OPERATIONS } from '../../../mapper/contract/index.ts';
import {
  mapOperation,
  normaliseHost,
  parseAuthorizerMessage,
  parseLine,
  parseStampAt,
  prefixTime,
  prefixTimeBytes,
} from '../../../watchers/kafka/parse.ts';

const FIX = new URL('../../fixtures/kafka/', import.meta.url);
const corpus = readFileSync(new URL('corpus.log', FIX), 'utf8').split('\n');
const expected = JSON.parse(readFileSync(new URL('corpus.expected.json', FIX), 'utf8')) as Array<
  Record<string, unknown>
>;

test('corpus: every line parses to its expected result, field by field', (t) => {
  t.is(corpus.length, expected.length);
  for (const [i, line] of corpus.entries()) {
    const want = expected[i] as Record<string, unknown>;
    const r = parseLine(line);
    const got: Record<string, unknown> =
      r.kind === 'decision'
        ? {
            line: i + 1,
            kind: 'decision',
            ...r.decision,
            time: r.time === undefined ? null : new Date(r.time).toISOString(),
          }
        : { line: i + 1, ...r };
    t.deepEqual(got, want, `line ${i + 1}: ${line}`);
  }
});

test('corpus covers every dialect, verdict, resource type and skip reason', (t) => {
  const seen = new Set<string>();
  for (const e of expected) {
    if (e['kind'] === 'decision') {
      seen.add(`dialect:${e['dialect']}`);
      seen.add(`allowed:${e['allowed']}`);
      seen.add(`type:${e['resourceType']}`);
      seen.add(`pattern:${e['patternType']}`);
      seen.add(`op:${e['operation']}`);
      if (e['rule'] !== undefined) seen.add(`rule:${e['rule']}`);
    } else seen.add(`${e['kind']}:${e['reason'] ?? ''}`);
  }
  for (const want of [
    'dialect:acl-authorizer',
    'dialect:standard-authorizer',
    'dialect:simple-acl-authorizer',
    'allowed:true',
    'allowed:false',
    'type:Topic',
    'type:Group',
    'type:Cluster',
    'type:TransactionalId',
    'pattern:LITERAL',
    'pattern:PREFIXED',
    'rule:SuperUser',
    'rule:DefaultAllow',
    'rule:DefaultDeny',
    'rule:MatchingAcl',
    'other:',
    'skipped:garbled',
    'skipped:unknown-operation',
    'skipped:unknown-resource-type',
    'skipped:bad-host',
    ...KAFKA_OPERATIONS.map((o) => `op:${o}`),
  ]) {
    t.true(seen.has(want), want);
  }
});

test('operations map to ClientIntents names in both casings', (t) => {
  const table: Array<[string, string, string]> = [
    ['Read', 'READ', 'consume'],
    ['Write', 'WRITE', 'produce'],
    ['Describe', 'DESCRIBE', 'describe'],
    ['Create', 'CREATE', 'create'],
    ['Alter', 'ALTER', 'alter'],
    ['Delete', 'DELETE', 'delete'],
    ['ClusterAction', 'CLUSTER_ACTION', 'ClusterAction'],
    ['DescribeConfigs', 'DESCRIBE_CONFIGS', 'DescribeConfigs'],
    ['AlterConfigs', 'ALTER_CONFIGS', 'AlterConfigs'],
    ['IdempotentWrite', 'IDEMPOTENT_WRITE', 'IdempotentWrite'],
    ['All', 'ALL', 'all'],
  ];
  for (const [camel, snake, want] of table) {
    t.is<string | undefined, string | undefined>(mapOperation(camel), want, camel);
    t.is<string | undefined, string | undefined>(mapOperation(snake), want, snake);
  }
  for (const bad of ['Any', 'UNKNOWN', 'CreateTokens', 'DESCRIBE_TOKENS', 'read', 'toString', '__proto__', '']) {
    t.is(mapOperation(bad), undefined, bad);
  }
});

test('hosts: leading slash, IPv6 zone and brackets are stripped', (t) => {
  t.is(normaliseHost('/10.0.0.1'), '10.0.0.1');
  t.is(normaliseHost('/0:0:0:0:0:0:0:1'), '0:0:0:0:0:0:0:1');
  t.is(normaliseHost('fe80:0:0:0:1:2:3:4%eth0'), 'fe80:0:0:0:1:2:3:4');
  t.is(normaliseHost('[::1]'), '::1');
});

const msg = (over: Partial<Record<'p' | 'v' | 'o' | 'h' | 'r' | 'tail', string>> = {}): string =>
  `Principal = ${over.p ?? 'User:a'} is ${over.v ?? 'Allowed'} Operation = ${over.o ?? 'Read'} from host = ${over.h ?? '10.0.0.1'} on resource = ${over.r ?? 'Topic:LITERAL:t'}${over.tail ?? ' for request = Fetch with resourceRefCount = 1'}`;

test('principals containing " is " and commas still split at the verdict', (t) => {
  const d = parseAuthorizerMessage(msg({ p: 'User:CN=this is x,O=Corp, Inc.' }));
  t.is(typeof d, 'object');
  if (typeof d === 'object') t.is(d.principal, 'User:CN=this is x,O=Corp, Inc.');
});

test('"via listener" after the host is tolerated', (t) => {
  const d = parseAuthorizerMessage(msg({ h: '127.0.0.1 via listener SECURE-9095' }));
  t.true(typeof d === 'object' && d.clientIp === '127.0.0.1');
});

test('garbled messages are skipped with a reason, never thrown', (t) => {
  const cases: Array<[string, string]> = [
    ['Principal = ', 'garbled'],
    ['Principal =  is Allowed Operation = Read from host = 1.2.3.4 on resource = Topic:LITERAL:t', 'garbled'],
    [msg({ v: 'Maybe' }), 'garbled'],
    [msg({ o: '' }), 'garbled'],
    [msg({ r: 'Topic' }), 'garbled'],
    [msg({ r: 'Topic:LITERAL:' }), 'garbled'],
    [msg({ r: ':LITERAL:x' }), 'garbled'],
    [msg({ r: 'Th!ng:LITERAL:x' }), 'garbled'],
    [msg({ tail: ' for request = Fetch' }), 'garbled'],
    [msg({ tail: ' for request = Fetch with resourceRefCount = x' }), 'garbled'],
    [msg({ tail: ' for request =  with resourceRefCount = 1' }), 'garbled'],
    [msg({ tail: ' for request = Fetch with resourceRefCount = 1 based on rule (x)' }), 'garbled'],
    [msg({ o: 'Frobnicate' }), 'unknown-operation'],
    [msg({ r: 'Widget:LITERAL:x' }), 'unknown-resource-type'],
    [msg({ h: 'not-an-ip' }), 'bad-host'],
    [msg({ h: '999.1.1.1' }), 'bad-host'],
    ['Principal: nothing', 'garbled'],
  ];
  for (const [line, reason] of cases) t.is<unknown, unknown>(parseAuthorizerMessage(line), reason, line);
});

test('old resources without pattern type and group names with colons', (t) => {
  const a = parseAuthorizerMessage(msg({ r: 'Group:LITERAL:a:b:c' }));
  t.true(typeof a === 'object' && a.resourceName === 'a:b:c' && a.patternType === 'LITERAL');
  const b = parseAuthorizerMessage(msg({ r: 'Topic:t1', tail: '' }));
  t.true(typeof b === 'object' && b.resourceName === 't1' && b.dialect === 'simple-acl-authorizer');
  const c = parseAuthorizerMessage(msg({ r: 'Topic:PREFIXED:p', tail: ' (kafka.authorizer.logger) [t-1]' }));
  t.true(typeof c === 'object' && c.resourceName === 'p' && c.patternType === 'PREFIXED');
  const d = parseAuthorizerMessage(msg({ r: 'TOPIC:LITERAL:upper' }));
  t.true(typeof d === 'object' && d.resourceType === 'Topic');
});

test('timestamps: RFC3339Nano, offsets, log4j layouts, absent', (t) => {
  t.is(parseStampAt('2024-05-01T12:00:07.123456789Z', 0)?.ms, Date.UTC(2024, 4, 1, 12, 0, 7, 123));
  t.is(parseStampAt('2024-05-01T12:00:07.123456789Z', 0)?.nanos, 123456789);
  t.is(parseStampAt('2024-05-01T12:00:07Z', 0)?.nanos, 0);
  t.is(parseStampAt('2024-05-01T12:00:07.5Z', 0)?.nanos, 500_000_000);
  t.is(parseStampAt('2024-05-01T14:00:07-0130', 0)?.ms, Date.UTC(2024, 4, 1, 15, 30, 7));
  t.is(parseStampAt('2024-13-01T12:00:07Z', 0), undefined);
  t.is(parseStampAt('2024-05-01X12:00:07Z', 0), undefined);
  t.is(parseStampAt('2024-05-01', 0), undefined);
  t.is(prefixTime('[2024-05-01 12:00:00,101] INFO '), Date.UTC(2024, 4, 1, 12, 0, 0, 101));
  t.is(prefixTime('2024-05-01 12:00:00,101 INFO  [x] logger:? - '), Date.UTC(2024, 4, 1, 12, 0, 0, 101));
  t.is(prefixTime('kafka 12:00:06.00 INFO  ==> '), undefined);
  t.is(prefixTime(''), undefined);
  t.is(
    prefixTime('2024-05-01T12:00:07.9Z [2020-01-01 00:00:00,000] INFO '),
    Date.UTC(2024, 4, 1, 12, 0, 7, 900),
    'the Kubernetes stamp wins',
  );
});

test('byte and string timestamp parsers agree (corpus prefixes and random stamps)', (t) => {
  const prefixes = corpus.map((l) => l.slice(0, Math.max(0, l.indexOf('Principal = '))));
  for (const p of prefixes) {
    const b = Buffer.from(`xx${p}yy`);
    t.is(prefixTimeBytes(b, 2, b.length - 2), prefixTime(p), p);
  }
  const stamp = fc
    .tuple(
      fc.integer({ min: 1970, max: 2199 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 0, max: 60 }),
      fc.integer({ min: 0, max: 60 }),
      fc.constantFrom('', '.', ',', '.5', ',123', '.123456789', '.1234567891'),
      fc.constantFrom('', 'Z', '+02:00', '-0130', '+1'),
      fc.constantFrom('T', ' ', 'x'),
      fc.constantFrom('', '[', 'INFO '),
    )
    .map(([y, mo, d, h, mi, s, frac, zone, sep, lead]) => {
      const p2 = (n: number) => String(n).padStart(2, '0');
      return `${lead}${y}-${p2(mo)}-${p2(d)}${sep}${p2(h)}:${p2(mi)}:${p2(s)}${frac}${zone} INFO `;
    });
  fc.assert(
    fc.property(stamp, (p) => {
      const b = Buffer.from(p);
      return prefixTimeBytes(b, 0, b.length) === prefixTime(p);
    }),
    { numRuns: 2000 },
  );
  t.is(
    prefixTime('[2024-02-29 23:59:59,999] '),
    Date.UTC(2024, 1, 29, 23, 59, 59, 999),
    'leap day, arithmetic calendar',
  );
  t.is(prefixTime('1969-12-31T23:59:59Z '), -1000, 'before the epoch');
});
