import test from 'ava';
import { FixtureError, parseFixture, readFixtureFile } from '../../kube-api-server/fixture.ts';

const pod = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: shop\n`;

test('multi-document YAML, empty documents, comments and kind: List', (t) => {
  const text = [
    '# leading comment',
    pod('a'),
    '---',
    '---',
    pod('b'),
    '---',
    'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: shop}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d, namespace: shop}',
    '---',
    '{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"shop"}}',
  ].join('\n');
  const objs = parseFixture(text, 'fixture t.yaml');
  t.deepEqual(
    objs.map((o) => `${o.kind}/${o.metadata.name}`),
    ['Pod/a', 'Pod/b', 'Namespace/shop', 'Deployment/d', 'Service/s'],
  );
  t.deepEqual(parseFixture(''), []);
  t.deepEqual(parseFixture('---\n# only comments\n'), []);
});

test('the basic fixture loads and has the documented shape', async (t) => {
  const objs = await readFixtureFile('test/fixtures/kube/basic.yaml');
  const count = (kind: string) => objs.filter((o) => o.kind === kind).length;
  t.is(count('Namespace'), 4);
  t.is(count('Node'), 2);
  t.is(count('Pod'), 11);
  t.is(count('Service'), 7);
  t.is(count('Endpoints'), 7);
  t.is(count('EndpointSlice'), 7);
  t.is(count('StatefulSet'), 1);
  t.is(count('DaemonSet'), 1);
  t.is(count('CronJob'), 1);
  t.is(count('Job'), 1);
  // Every controller reference points at an object in the fixture with that uid.
  const uids = new Map(objs.filter((o) => o.metadata.uid).map((o) => [o.metadata.uid, o]));
  for (const o of objs) {
    for (const ref of (o.metadata.ownerReferences ?? []) as { kind: string; name: string; uid: string }[]) {
      const owner = uids.get(ref.uid);
      t.truthy(owner, `${o.kind}/${o.metadata.name} owner ${ref.kind}/${ref.name}`);
      t.is(owner?.kind, ref.kind);
      t.is(owner?.metadata.name, ref.name);
    }
  }
  const hostNet = objs.filter((o) => o.kind === 'Pod' && (o.spec as { hostNetwork?: boolean }).hostNetwork);
  t.deepEqual(
    hostNet.map((p) => (p.status as { podIP: string }).podIP),
    ['10.0.0.11', '10.0.0.12'],
  );
});

test('malformed YAML names the document', (t) => {
  const text = `${pod('a')}---\n${pod('b')}---\nmetadata: {name: [unclosed\n`;
  const e = t.throws(() => parseFixture(text, 'fixture bad.yaml'), { instanceOf: FixtureError });
  t.regex(e?.message ?? '', /^fixture bad\.yaml: document 3: invalid YAML: /);
  t.is(e?.code, 'KUBE_FIXTURE_INVALID');
});

test('documents that are not servable objects are rejected with the document number', (t) => {
  const cases: [string, RegExp][] = [
    ['- a\n- b', /document 2: expected a Kubernetes object \(a mapping\), got a sequence/],
    ['just a string', /document 2: expected a Kubernetes object .*got the string/],
    ['kind: Pod\nmetadata: {name: x}', /document 2: apiVersion is missing/],
    ['apiVersion: v1\nmetadata: {name: x}', /document 2: kind is missing/],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}', /document 2: v1 ConfigMap is not served/],
    ['apiVersion: apps/v1\nkind: Pod\nmetadata: {name: x}', /document 2: apps\/v1 Pod is not served/],
    ['apiVersion: v1\nkind: Pod', /document 2: Pod has no metadata mapping/],
    ['apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}', /document 2: Pod has no metadata.name/],
    ['apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: {a: 1}}', /metadata.labels must map strings to strings/],
    ['apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: 3}', /metadata.namespace must be a string/],
    ['apiVersion: v1\nkind: List\nitems: {a: 1}', /document 2: List.items must be a sequence/],
    ['apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod}', /document 2 items\[0\]: Pod has no metadata/],
  ];
  for (const [doc, re] of cases) {
    t.throws(() => parseFixture(`${pod('ok')}---\n${doc}\n`, 'f'), { instanceOf: FixtureError, message: re }, doc);
  }
});

test('a missing fixture file is a FixtureError naming the path', async (t) => {
  await t.throwsAsync(readFixtureFile('/nonexistent/fixture.yaml'), {
    instanceOf: FixtureError,
    message: /cannot read fixture \/nonexistent\/fixture\.yaml/,
  });
});
