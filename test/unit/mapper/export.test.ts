import test from 'ava';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import type { Intent } from '../../../mapper/contract/index.ts';
import {
  type ClientIntentsDocument,
  documentFileName,
  objectName,
  renderDocuments,
  toClientIntents,
} from '../../../mapper/export/clientintents.ts';
import { crdErrors, crdValidators } from './crd-validator.ts';
import { T0, W } from './fixtures.ts';

const validators = crdValidators();

const base = { ports: [], http: [], kafka: [], firstSeen: T0, lastSeen: T0, count: 1 };
const intents: Intent[] = [
  {
    ...base,
    client: W.frontend,
    server: W.checkout,
    ports: [8080],
    http: [
      { path: '/cart', methods: ['GET', 'HEAD', 'POST'] },
      { path: '/weird', methods: ['PROPFIND'] },
    ],
  },
  { ...base, client: W.frontend, server: W.payments, ports: [443] },
  {
    ...base,
    client: W.checkout,
    server: W.kafka,
    kafka: [
      { topic: 'orders', operations: ['produce', 'describe'], deniedOperations: ['consume'] },
      { topic: 'secret', operations: [], deniedOperations: ['consume'] },
    ],
  },
  {
    ...base,
    client: W.checkout,
    external: { domain: 'api.stripe.com', ips: ['52.1.1.1'] },
    ports: [443],
  },
  { ...base, client: W.payments, server: { name: 'ledger-svc', namespace: 'billing', kind: 'Service' } },
  { ...base, client: W.payments, server: { name: 'ghost', namespace: 'billing', kind: 'Unknown' } },
];

function assertValid(t: import('ava').ExecutionContext, docs: readonly ClientIntentsDocument[]): void {
  t.true(docs.length > 0);
  for (const d of docs) t.is(crdErrors(validators, d), '', `${d.metadata.namespace}/${d.metadata.name}`);
}

test('v2beta1: one document per client, kubernetes/kafka/internet targets, all valid against the CRD', (t) => {
  const r = toClientIntents(intents, { external: true });
  assertValid(t, r.documents);
  t.is(r.documents.length, 3);
  const fe = r.documents.find((d) => d.metadata.name === 'frontend');
  t.deepEqual(fe?.spec, {
    workload: { name: 'frontend', kind: 'Deployment' },
    targets: [
      { kubernetes: { name: 'checkout', kind: 'Deployment', http: [{ path: '/cart', methods: ['GET', 'POST'] }] } },
      { kubernetes: { name: 'payments.billing', kind: 'Deployment' } },
    ],
  });
  t.is(r.mappedMethods, 1);
  t.is(r.droppedMethods, 1);
  t.is(r.droppedPaths, 1);
  const co = r.documents.find((d) => d.metadata.name === 'checkout');
  t.deepEqual(co?.spec['targets'], [
    { kafka: { name: 'kafka.data', topics: [{ name: 'orders', operations: ['produce', 'describe'] }] } },
    { internet: { domains: ['api.stripe.com'], ips: ['52.1.1.1'], ports: [443] } },
  ]);
  const pay = r.documents.find((d) => d.metadata.name === 'payments');
  t.deepEqual(pay?.spec['targets'], [
    { kubernetes: { name: 'ledger-svc', kind: 'Service' } },
    { kubernetes: { name: 'ghost' } },
  ]);
});

test('external destinations are left out unless asked for', (t) => {
  const r = toClientIntents(intents);
  const co = r.documents.find((d) => d.metadata.name === 'checkout');
  t.false(JSON.stringify(co).includes('internet'));
  assertValid(t, r.documents);
});

test('v1alpha3: spec.service and calls with HTTPResources / kafkaTopics, valid against the CRD', (t) => {
  const r = toClientIntents(intents, { outputVersion: 'v1alpha3', external: true });
  assertValid(t, r.documents);
  const fe = r.documents.find((d) => d.metadata.name === 'frontend');
  t.is(fe?.apiVersion, 'k8s.otterize.com/v1alpha3');
  t.deepEqual(fe?.spec, {
    service: { name: 'frontend', kind: 'Deployment' },
    calls: [
      {
        name: 'checkout',
        kind: 'Deployment',
        type: 'http',
        HTTPResources: [{ path: '/cart', methods: ['GET', 'POST'] }],
      },
      { name: 'payments.billing', kind: 'Deployment' },
    ],
  });
  const co = r.documents.find((d) => d.metadata.name === 'checkout');
  t.deepEqual(co?.spec['calls'], [
    { name: 'kafka.data', type: 'kafka', kafkaTopics: [{ name: 'orders', operations: ['produce', 'describe'] }] },
    { type: 'internet', internet: { domains: ['api.stripe.com'], ips: ['52.1.1.1'], ports: [443] } },
  ]);
});

test('distinct-by-label splits a client per label value and names documents after it', (t) => {
  const v1 = { ...W.frontend, labels: { version: 'v1' } };
  const v2 = { ...W.frontend, labels: { version: 'V2_beta' } };
  const r = toClientIntents(
    [
      { ...base, client: v1, server: W.checkout },
      { ...base, client: v2, server: W.payments },
    ],
    { distinctByLabel: 'version' },
  );
  t.deepEqual(
    r.documents.map((d) => d.metadata.name),
    ['frontend-v1', 'frontend-v2-beta'],
  );
  t.deepEqual(r.documents[1]?.metadata.labels, { version: 'V2_beta' });
  assertValid(t, r.documents);
});

test('YAML and JSON rendering round-trip; JSON with several documents is a List', (t) => {
  const { documents } = toClientIntents(intents, { external: true });
  const yaml = renderDocuments(documents, 'yaml');
  const parsed = parseAllDocuments(yaml).map((d) => d.toJS() as ClientIntentsDocument);
  t.deepEqual(parsed, documents);
  const json = JSON.parse(renderDocuments(documents, 'json')) as { kind: string; items: unknown[] };
  t.is(json.kind, 'List');
  t.deepEqual(json.items, documents);
  const one = JSON.parse(renderDocuments(documents.slice(0, 1), 'json')) as ClientIntentsDocument;
  t.deepEqual(one, documents[0]);
  t.deepEqual(parse(renderDocuments(documents.slice(0, 1), 'yaml')), documents[0]);
  t.is(documentFileName(documents[0]!, 'yaml'), 'payments.billing.yaml');
});

test('objectName makes DNS-1123 names', (t) => {
  t.is(objectName('Foo_Bar.baz-'), 'foo-bar.baz');
  t.is(objectName('---'), 'unnamed');
  t.is(objectName('x'.repeat(300)).length, 253);
});

test('property: every exported document of random intents validates against its CRD version', (t) => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
  const ref = fc.record({
    name,
    namespace: name,
    kind: fc.constantFrom('Deployment', 'StatefulSet', 'Unknown', 'Service'),
  });
  const method = fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'PROPFIND', 'DELETE', 'PATCH');
  const op = fc.constantFrom('consume', 'produce', 'describe', 'all', 'IdempotentWrite' as const);
  const intent = fc.record({
    client: ref,
    server: ref,
    ports: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }),
    http: fc.array(fc.record({ path: name.map((n) => `/${n}`), methods: fc.array(method, { maxLength: 3 }) }), {
      maxLength: 3,
    }),
    kafka: fc.array(
      fc.record({
        topic: name,
        operations: fc.array(op, { maxLength: 3 }),
        deniedOperations: fc.array(op, { maxLength: 2 }),
      }),
      { maxLength: 2 },
    ),
    firstSeen: fc.constant(T0),
    lastSeen: fc.constant(T0),
    count: fc.constant(1),
  });
  fc.assert(
    fc.property(fc.array(intent, { maxLength: 8 }), fc.constantFrom('v2beta1', 'v1alpha3' as const), (list, v) => {
      const { documents } = toClientIntents(list as Intent[], { outputVersion: v, external: true });
      for (const d of documents) {
        const err = crdErrors(validators, d);
        if (err !== '') throw new Error(err);
      }
    }),
  );
  t.pass();
});

test('the CRD validator used above does reject bad documents', (t) => {
  const { documents } = toClientIntents(intents);
  const doc = structuredClone(documents[0]!);
  (doc.spec['targets'] as Array<Record<string, unknown>>).push({
    kubernetes: { name: 'x', http: [{ path: '/', methods: ['HEAD'] }] },
  });
  t.regex(crdErrors(validators, doc), /enum/);
  t.regex(crdErrors(validators, { ...doc, spec: { workload: { name: 'x' }, target: [] } }), /targets|additional/);
  t.regex(crdErrors(validators, { ...doc, apiVersion: 'k8s.otterize.com/v9' }), /no CRD schema/);
});
