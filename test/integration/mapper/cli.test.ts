/** `callmap list|export|reset` as child processes against a real mapper on loopback. */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import type { Observation } from '../../../mapper/contract/index.ts';
import { crdErrors, crdValidators } from '../../unit/mapper/crd-validator.ts';
import { batch, T0, tcp, tempDir } from '../../unit/mapper/fixtures.ts';
import { runCli, runMain, startTestMapper } from './harness.ts';

const kafka = (operation: 'produce' | 'consume', allowed: boolean): Observation => ({
  kind: 'kafka',
  clientIp: '10.0.0.2',
  serverPod: { name: 'kafka-0', namespace: 'data' },
  resourceType: 'Topic',
  resourceName: 'orders',
  patternType: 'LITERAL',
  operation,
  allowed,
  count: 1,
  time: T0,
});

const observations: Observation[] = [
  tcp('10.0.0.1', '10.96.0.2', 8080),
  {
    kind: 'http',
    client: { name: 'frontend', namespace: 'shop' },
    server: { name: 'checkout', namespace: 'shop' },
    serverService: 'checkout-svc',
    method: 'GET',
    path: '/cart',
    count: 1,
    time: T0,
  },
  {
    kind: 'http',
    client: { name: 'frontend', namespace: 'shop' },
    server: { name: 'checkout', namespace: 'shop' },
    serverService: 'checkout-svc',
    method: 'POST',
    path: '/cart',
    count: 1,
    time: T0,
  },
  tcp('10.0.0.2', '10.96.0.3', 443),
  kafka('produce', true),
  kafka('consume', false),
  { kind: 'dns', clientIp: '10.0.0.3', name: 'api.stripe.com', ips: ['52.1.1.1'], ttl: 60, time: T0 },
  tcp('10.0.0.3', '52.1.1.1', 443, T0 + 5),
];

async function loaded(t: import('ava').ExecutionContext) {
  const m = await startTestMapper();
  t.teardown(() => m.close());
  t.is((await m.post(batch(observations))).status, 202);
  return m;
}

test('list prints clients, servers, HTTP and Kafka lines exactly', async (t) => {
  const m = await loaded(t);
  const r = await runCli(['list', '--mapper-url', m.url]);
  t.is(r.code, 0, r.stderr);
  t.is(
    r.stdout,
    [
      'checkout in namespace shop calls:',
      '  - payments in namespace billing',
      '  - kafka in namespace data',
      '    orders: produce',
      '    orders: consume (denied)',
      'frontend in namespace shop calls:',
      '  - checkout',
      '    GET /cart',
      '    POST /cart',
      '',
    ].join('\n'),
  );
  t.is(r.stderr, '');
});

test('list filters: -n, --server, --external, --as-kubernetes-service, env CALLMAP_MAPPER_URL', async (t) => {
  const m = await loaded(t);
  const ns = await runMain(['list', '-n', 'billing', '--external'], { CALLMAP_MAPPER_URL: m.url });
  t.is(ns.code, 0, ns.stderr);
  t.is(ns.stdout, 'payments in namespace billing calls:\n  - api.stripe.com (external: 52.1.1.1, port 443)\n');
  const srv = await runMain(['list', '--mapper-url', m.url, '--server', 'payments.billing']);
  t.is(srv.stdout, 'checkout in namespace shop calls:\n  - payments in namespace billing\n');
  const svc = await runMain(['list', '--mapper-url', m.url, '-n', 'shop', '--as-kubernetes-service']);
  t.regex(svc.stdout, /frontend in namespace shop calls:\n {2}- checkout-svc\n {4}GET \/cart/);
  const none = await runMain(['list', '--mapper-url', m.url, '-n', 'nowhere']);
  t.is(none.stdout, 'No intents found.\n');
});

test('export writes CRD-valid ClientIntents to stdout, a file, or a directory', async (t) => {
  const m = await loaded(t);
  const v = crdValidators();
  const out = await runMain(['export', '--mapper-url', m.url, '--external']);
  t.is(out.code, 0, out.stderr);
  const docs = parseAllDocuments(out.stdout).map((d) => d.toJS() as { metadata: { name: string }; spec: object });
  t.deepEqual(
    docs.map((d) => d.metadata.name),
    ['payments', 'checkout', 'frontend'],
  );
  for (const d of docs) t.is(crdErrors(v, d), '');
  t.true(out.stdout.includes('api.stripe.com'));

  const dir = tempDir();
  const file = path.join(dir, 'all.json');
  const single = await runMain([
    'export',
    '--mapper-url',
    m.url,
    '--format',
    'json',
    '--output-version',
    'v1alpha3',
    '-o',
    file,
  ]);
  t.is(single.code, 0, single.stderr);
  const list = JSON.parse(fs.readFileSync(file, 'utf8')) as { items: object[] };
  t.is(list.items.length, 2);
  for (const d of list.items) t.is(crdErrors(v, d), '');

  const outDir = path.join(dir, 'per-client');
  const many = await runMain(['export', '--mapper-url', m.url, '-o', outDir, '--output-type', 'dir', '-n', 'shop']);
  t.is(many.code, 0, many.stderr);
  t.deepEqual(fs.readdirSync(outDir).sort(), ['checkout.shop.yaml', 'frontend.shop.yaml']);
  t.regex(many.stderr, /Wrote 2 ClientIntents file\(s\)/);
  for (const f of fs.readdirSync(outDir)) {
    const [doc] = parseAllDocuments(fs.readFileSync(path.join(outDir, f), 'utf8')).map((d) => d.toJS() as object);
    t.is(crdErrors(v, doc as object), '');
  }
});

test('reset prints how many entries it removed', async (t) => {
  const m = await loaded(t);
  const r = await runCli(['reset', '--mapper-url', m.url]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Removed 4 entries.\n');
  t.is((await runMain(['reset', '--mapper-url', m.url])).stdout, 'Removed 0 entries.\n');
});

test('mapper unreachable: one clear line and exit code 2', async (t) => {
  const child = await runCli(['list', '--mapper-url', 'http://127.0.0.1:1']);
  t.is(child.code, 2, child.stderr);
  t.regex(
    child.stderr,
    /^callmap list: cannot reach the mapper at http:\/\/127\.0\.0\.1:1 .*\[MAPPER_UNREACHABLE\]\n$/,
  );
  for (const cmd of ['list', 'export', 'reset']) {
    const r = await runMain([cmd, '--mapper-url', 'http://127.0.0.1:1']);
    t.is(r.code, 2, `${cmd}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1);
    t.regex(r.stderr, /cannot reach the mapper at http:\/\/127\.0\.0\.1:1.*MAPPER_UNREACHABLE/);
    t.is(r.stdout, '');
  }
});

test('bad flags: UsageError, exit 64; --help is complete', async (t) => {
  const bad: string[][] = [
    ['list', '--bogus'],
    ['list', '--server', 'nodot'],
    ['export', '--format', 'xml'],
    ['export', '--output-version', 'v9'],
    ['export', '--output-type', 'dir'],
    ['mapper', '--port', '70000'],
    ['mapper', '--max-body', 'lots'],
    ['mapper', '--db-sync', 'sometimes'],
  ];
  const child = await runCli(['list', '--bogus']);
  t.is(child.code, 64, child.stderr);
  for (const args of bad) {
    const r = await runMain(args);
    t.is(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  const childHelp = await runCli(['list', '--help']);
  t.is(childHelp.code, 0);
  t.true(childHelp.stdout.startsWith('Usage: callmap list'));
  for (const cmd of ['list', 'export', 'reset', 'mapper']) {
    const r = await runMain([cmd, '--help']);
    t.is(r.code, 0);
    t.true(r.stdout.startsWith(`Usage: callmap ${cmd}`));
    t.regex(r.stdout, /Exit codes/);
  }
  const help = await runMain(['export', '--help']);
  for (const flag of [
    '--namespaces',
    '--format',
    '--output-version',
    '--output-type',
    '--server',
    '--distinct-by-label',
    '--external',
    '-o, --output',
  ]) {
    t.true(help.stdout.includes(flag), flag);
  }
});
