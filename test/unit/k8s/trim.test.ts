/**
 * `ClusterState.trim` (what the list+watch sources keep of each object as it arrives) must not
 * change anything resolution sees: applying trimmed objects gives the same state and the same
 * answers as applying the raw ones, over random event sequences and the fixture cluster.
 */
import { readFileSync } from 'node:fs';
import { loadAllYaml } from '@kubernetes/client-node';
import test from 'ava';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { ClusterState, type StateEventType, type StateKind } from '../../../mapper/k8s/cluster-state.ts';
import { KubeResolver } from '../../../mapper/k8s/resolver.ts';
import { endpointSlice, endpoints, iso, node, pod, service, T0, workload } from './objects.ts';

type Ev = { kind: StateKind; type: StateEventType; obj: Record<string, unknown>; at: number };

/** Everything the state holds that resolution can read, in insertion order (caches left out). */
function dump(st: ClusterState): string {
  const replacer = (k: string, v: unknown): unknown => {
    if (k === 'cache' || k === 'cacheEpoch') return undefined;
    if (k === 'pod' && v !== null && typeof v === 'object') return (v as { uid: string }).uid;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (v instanceof Map) return [...v];
    return v;
  };
  return JSON.stringify(
    [
      st.podsByUid,
      st.podsByKey,
      st.deletedPodsByKey,
      st.spansByIp,
      st.podsByHostname,
      st.servicesByKey,
      st.servicesByIp,
      st.endpointsByService,
      st.nodeIps,
      st.hostNetworkIps,
      st.owners,
      st.ownerEpoch,
      st.identityEpoch,
      st.counts(),
    ],
    replacer,
  );
}

function answers(r: KubeResolver, ips: readonly string[], names: readonly string[], at: number): string {
  const out: unknown[] = [];
  for (const ip of ips) out.push(r.resolveIp(ip, at));
  for (const n of names) {
    out.push(r.resolveDnsName(n, ips.slice(0, 3), at, 'a'));
    out.push(r.resolvePod({ name: n.split('.')[0] ?? n, namespace: 'a' }, at));
    out.push(r.resolveWorkloadName({ name: n.split('.')[0] ?? n, namespace: 'a' }));
  }
  return JSON.stringify(out);
}

const IPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.96.0.1', '10.96.0.2', '192.168.0.1'];
const NAMES = [
  'p0',
  'p1',
  'p2',
  'p3',
  'web',
  'db',
  'web.a.svc.cluster.local',
  'h0.db.a.svc.cluster.local',
  '10-0-0-1.a.pod.cluster.local',
];
const OWNERS = [
  ['Deployment', 'web'],
  ['ReplicaSet', 'web-1'],
  ['StatefulSet', 'db'],
  ['Job', 'j'],
  ['CronJob', 'cj'],
  ['Rollout', 'ro'],
] as const;

const labelsArb = fc.option(
  fc.dictionary(fc.constantFrom('app', 'tier', 'pod-template-hash'), fc.constantFrom('x', 'y')),
  {
    nil: undefined,
  },
);
const annotationsArb = fc.option(
  fc.dictionary(
    fc.constantFrom('callmap.io/workload-name', 'intents.otterize.com/service-name', 'x.io/name', 'junk'),
    fc.constantFrom('n1', 'n2', ''),
  ),
  { nil: undefined },
);
const ownerArb = fc.option(fc.constantFrom(...OWNERS), { nil: undefined });

const eventArb: fc.Arbitrary<Ev> = fc.oneof(
  fc
    .record({
      n: fc.integer({ min: 0, max: 3 }),
      uid: fc.integer({ min: 0, max: 5 }),
      ip: fc.option(fc.constantFrom(...IPS.slice(0, 4)), { nil: undefined }),
      owner: ownerArb,
      labels: labelsArb,
      annotations: annotationsArb,
      hostNetwork: fc.boolean(),
      hostname: fc.option(fc.constantFrom('h0', 'h1'), { nil: undefined }),
      subdomain: fc.option(fc.constantFrom('db'), { nil: undefined }),
      phase: fc.constantFrom('Running', 'Pending', 'Succeeded', 'Failed'),
      finished: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
      deletion: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
      type: fc.constantFrom<StateEventType>('ADDED', 'MODIFIED', 'DELETED'),
      at: fc.integer({ min: 0, max: 20 }),
    })
    .map((p) => {
      const obj = pod({
        ns: 'a',
        name: `p${p.n}`,
        uid: `u${p.uid}`,
        ...(p.ip !== undefined ? { ip: p.ip } : {}),
        ...(p.owner !== undefined ? { owner: p.owner } : {}),
        ...(p.labels !== undefined ? { labels: p.labels } : {}),
        ...(p.annotations !== undefined ? { annotations: p.annotations } : {}),
        hostNetwork: p.hostNetwork,
        ...(p.hostname !== undefined ? { hostname: p.hostname } : {}),
        ...(p.subdomain !== undefined ? { subdomain: p.subdomain } : {}),
        nodeName: 'n1',
        phase: p.phase,
        ...(p.finished !== undefined ? { finishedAt: T0 + p.finished * 1000 } : {}),
        ...(p.deletion !== undefined ? { deletionTimestamp: T0 + p.deletion * 1000 } : {}),
      });
      // Unrelated owner references and a second container status, as real pods have.
      const meta = obj['metadata'] as Record<string, unknown>;
      meta['ownerReferences'] = [
        ...((meta['ownerReferences'] as object[] | undefined) ?? []),
        { kind: 'Other', name: 'o', controller: false },
      ];
      const status = obj['status'] as Record<string, unknown>;
      if (status['containerStatuses'] !== undefined)
        (status['containerStatuses'] as object[]).push({ name: 'side', state: { running: { startedAt: iso(T0) } } });
      return { kind: 'Pod' as const, type: p.type, obj, at: T0 + p.at * 1000 };
    }),
  fc
    .record({
      o: fc.constantFrom(...OWNERS),
      owner: ownerArb,
      labels: labelsArb,
      annotations: annotationsArb,
      type: fc.constantFrom<StateEventType>('ADDED', 'MODIFIED', 'DELETED'),
    })
    .filter((w) => w.o[0] !== 'Rollout')
    .map((w) => ({
      kind: w.o[0] as StateKind,
      type: w.type,
      obj: workload(w.o[0], w.o[1], {
        ns: 'a',
        ...(w.owner !== undefined && w.owner[1] !== w.o[1] ? { owner: w.owner } : {}),
        ...(w.labels !== undefined ? { labels: w.labels } : {}),
        ...(w.annotations !== undefined ? { annotations: w.annotations } : {}),
      }),
      at: T0,
    })),
  fc
    .record({
      name: fc.constantFrom('web', 'db'),
      ip: fc.constantFrom('10.96.0.1', '10.96.0.2', 'None'),
      labels: labelsArb,
      type: fc.constantFrom<StateEventType>('ADDED', 'MODIFIED', 'DELETED'),
    })
    .map((s) => ({
      kind: 'Service' as const,
      type: s.type,
      obj: service(s.name, s.ip, { ns: 'a', ...(s.labels !== undefined ? { labels: s.labels } : {}) }),
      at: T0,
    })),
  fc
    .record({
      svc: fc.constantFrom('web', 'db'),
      slices: fc.boolean(),
      eps: fc.array(
        fc.record({
          ip: fc.constantFrom(...IPS.slice(0, 4)),
          pod: fc.option(fc.constantFrom('p0', 'p1', 'p2'), { nil: undefined }),
          hostname: fc.option(fc.constantFrom('h0', 'h1'), { nil: undefined }),
          ready: fc.boolean(),
        }),
        { maxLength: 3 },
      ),
      type: fc.constantFrom<StateEventType>('ADDED', 'MODIFIED', 'DELETED'),
    })
    .map((e) => {
      const eps = e.eps.map((x) => ({
        ip: x.ip,
        ready: x.ready,
        ...(x.pod !== undefined ? { pod: x.pod } : {}),
        ...(x.hostname !== undefined ? { hostname: x.hostname } : {}),
      }));
      return e.slices
        ? { kind: 'EndpointSlice' as const, type: e.type, obj: endpointSlice(e.svc, eps, { ns: 'a' }), at: T0 }
        : { kind: 'Endpoints' as const, type: e.type, obj: endpoints(e.svc, eps, { ns: 'a' }), at: T0 };
    }),
  fc.record({ ext: fc.boolean(), type: fc.constantFrom<StateEventType>('ADDED', 'MODIFIED', 'DELETED') }).map((n) => ({
    kind: 'Node' as const,
    type: n.type,
    obj: node('n1', '192.168.0.1', n.ext ? '10.0.0.4' : undefined),
    at: T0,
  })),
  fc.constantFrom<Ev>(
    { kind: 'Pod', type: 'ADDED', obj: { metadata: { namespace: 'a' } }, at: T0 },
    { kind: 'Service', type: 'ADDED', obj: { spec: {} }, at: T0 },
  ),
);

function world(annotationKeys?: string[]) {
  const st = new ClusterState(annotationKeys === undefined ? {} : { annotationKeys });
  return { st, r: new KubeResolver(st, annotationKeys === undefined ? {} : { overrideAnnotation: 'x.io/name' }) };
}

test('applying trimmed objects gives the same state and answers as the raw ones (random event sequences)', (t) => {
  fc.assert(
    fc.property(
      fc.array(eventArb, { maxLength: 40 }),
      fc.boolean(),
      fc.integer({ min: -2, max: 25 }),
      (events, custom, probe) => {
        const keys = custom ? ['x.io/name', 'intents.otterize.com/service-name'] : undefined;
        const raw = world(keys);
        const trimmed = world(keys);
        for (const e of events) {
          raw.st.apply(e.kind, e.type, structuredClone(e.obj), e.at);
          trimmed.st.apply(e.kind, e.type, trimmed.st.trim(e.kind, structuredClone(e.obj)), e.at);
        }
        if (dump(raw.st) !== dump(trimmed.st)) return false;
        const at = T0 + probe * 1000;
        return answers(raw.r, IPS, NAMES, at) === answers(trimmed.r, IPS, NAMES, at);
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test('the trimmed fixture cluster resolves as the raw one, and trimming drops what is not read', (t) => {
  const docs = parseAllDocuments(readFileSync(new URL('../../fixtures/kube/basic.yaml', import.meta.url), 'utf8'))
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null && typeof d === 'object');
  const byKind = new Map<StateKind, Record<string, unknown>[]>();
  for (const d of docs) {
    const kind = d['kind'] as StateKind;
    byKind.set(kind, [...(byKind.get(kind) ?? []), d]);
  }
  t.true(byKind.size >= 4);
  const raw = world();
  const trimmed = world();
  for (const [kind, items] of byKind) {
    raw.st.replace(kind, structuredClone(items), T0);
    trimmed.st.replace(
      kind,
      structuredClone(items).map((o) => trimmed.st.trim(kind, o)),
      T0,
    );
  }
  t.is(dump(trimmed.st), dump(raw.st));
  const ips = [...raw.st.spansByIp.keys(), ...raw.st.servicesByIp.keys(), ...raw.st.nodeIps.keys()];
  t.true(ips.length > 3);
  const names = [...raw.st.servicesByKey.values()].map((s) => `${s.name}.${s.namespace}.svc.cluster.local`);
  t.is(answers(trimmed.r, ips, names, T0 + 1000), answers(raw.r, ips, names, T0 + 1000));

  const big = pod({
    ns: 'a',
    name: 'p',
    ip: '10.0.0.1',
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(1000) },
  });
  const small = trimmed.st.trim('Pod', big) as Record<string, Record<string, unknown>>;
  t.deepEqual(Object.keys(small), ['metadata', 'spec', 'status']);
  t.is(small['metadata']?.['annotations'], undefined);
  t.deepEqual(small['spec'], {});
  t.true(JSON.stringify(small).length < JSON.stringify(big).length / 3);
});

test("typed objects (what client-node's typed list calls return: Dates, model classes) trim to the same state", (t) => {
  // The fixture with creation times (the test server adds them), deserialized by client-node.
  const docs = parseAllDocuments(readFileSync(new URL('../../fixtures/kube/basic.yaml', import.meta.url), 'utf8'))
    .map((d) => d.toJS() as { metadata?: Record<string, unknown> } | null)
    .filter((d) => d !== null && typeof d === 'object');
  for (const d of docs) if (d?.metadata) d.metadata['creationTimestamp'] ??= iso(T0 - 60_000);
  const text = docs.map((d) => stringify(d)).join('---\n');
  const typed = loadAllYaml(text).filter((d): d is { kind: StateKind } => d !== null && typeof d === 'object');
  t.true(
    typed.some(
      (d) => (d as { metadata?: { creationTimestamp?: unknown } }).metadata?.creationTimestamp instanceof Date,
    ),
  );
  const raw = world();
  const trimmed = world();
  for (const kind of new Set(typed.map((d) => d.kind))) {
    const items = typed.filter((d) => d.kind === kind);
    raw.st.replace(kind, items, T0);
    trimmed.st.replace(
      kind,
      items.map((o) => trimmed.st.trim(kind, o)),
      T0,
    );
  }
  t.is(dump(trimmed.st), dump(raw.st));
  t.true(raw.st.counts().pods > 0);
});
