import test from 'ava';
import { ClusterState, toMs } from '../../../mapper/k8s/cluster-state.ts';
import { endpointSlice, endpoints, node, pod, service, T0, workload } from './objects.ts';

const S = 1000;

test('replace (initial list / relist) upserts the listed objects and deletes the missing ones as of now', (t) => {
  const st = new ClusterState();
  const a = pod({ name: 'a', uid: 'ua', ip: '10.0.0.1' });
  const b = pod({ name: 'b', uid: 'ub', ip: '10.0.0.2' });
  st.replace('Pod', [a, b], T0);
  t.is(st.counts().pods, 2);
  st.replace('Pod', [b], T0 + 30 * S);
  t.is(st.counts().pods, 1);
  t.is(st.counts().deletedPodsRemembered, 1);
  const spans = st.spansByIp.get('10.0.0.1');
  t.is(spans?.length, 1);
  t.is(spans?.[0]?.to, T0 + 30 * S);

  st.replace('Service', [service('s1', '10.96.0.1'), service('s2', '10.96.0.2')], T0);
  st.replace('Service', [service('s2', '10.96.0.2')], T0);
  t.false(st.servicesByIp.has('10.96.0.1'));
  t.true(st.servicesByIp.has('10.96.0.2'));

  st.replace('Node', [node('n1', '192.168.0.1'), node('n2', '192.168.0.2')], T0);
  st.replace('Node', [node('n2', '192.168.0.2')], T0);
  t.false(st.isHostIp('192.168.0.1'));
  t.true(st.isHostIp('192.168.0.2'));

  st.replace('EndpointSlice', [endpointSlice('s2', [{ ip: '10.0.0.2' }], { name: 's2-a' })], T0);
  st.replace('Endpoints', [endpoints('s2', [{ ip: '10.0.0.9' }])], T0);
  t.is(st.endpointTargets('default/s2').length, 2);
  st.replace('EndpointSlice', [], T0);
  t.deepEqual(
    st.endpointTargets('default/s2').map((e) => e.ip),
    ['10.0.0.9'],
  );

  st.replace('Deployment', [workload('Deployment', 'd1'), workload('Deployment', 'd2')], T0);
  const epoch = st.ownerEpoch;
  st.replace('Deployment', [workload('Deployment', 'd2')], T0);
  t.is(st.owner('Deployment', 'default', 'd1'), undefined);
  t.truthy(st.owner('Deployment', 'default', 'd2'));
  t.true(st.ownerEpoch > epoch);
});

test('an IP assigned after creation counts from creation; a changed IP counts from when it was seen', (t) => {
  const st = new ClusterState();
  st.apply('Pod', 'ADDED', pod({ name: 'p', uid: 'u', created: T0 }), T0);
  t.is(st.spansByIp.size, 0);
  st.apply('Pod', 'MODIFIED', pod({ name: 'p', uid: 'u', ip: '10.0.0.5', created: T0 }), T0 + 3 * S);
  t.is(st.spansByIp.get('10.0.0.5')?.[0]?.from, T0);
  st.apply('Pod', 'MODIFIED', pod({ name: 'p', uid: 'u', ip: '10.0.0.6', created: T0 }), T0 + 60 * S);
  t.is(st.spansByIp.get('10.0.0.5')?.[0]?.to, T0 + 60 * S);
  t.is(st.spansByIp.get('10.0.0.6')?.[0]?.from, T0 + 60 * S);
});

test('a pod recreated under the same name (new uid) retires the old one', (t) => {
  const st = new ClusterState();
  st.apply('Pod', 'ADDED', pod({ name: 'kafka-0', uid: 'u1', ip: '10.0.1.1' }), T0);
  st.apply('Pod', 'ADDED', pod({ name: 'kafka-0', uid: 'u2', ip: '10.0.1.2', created: T0 + 10 * S }), T0 + 10 * S);
  t.is(st.podsByKey.get('default/kafka-0')?.uid, 'u2');
  t.is(st.deletedPodsByKey.get('default/kafka-0')?.[0]?.uid, 'u1');
  t.is(st.spansByIp.get('10.0.1.1')?.[0]?.to, T0 + 10 * S);
});

test('a DELETED event for an unknown uid changes nothing; one without uid matches by name', (t) => {
  const st = new ClusterState();
  st.apply('Pod', 'ADDED', pod({ name: 'x', uid: 'ux', ip: '10.0.2.1' }), T0);
  st.apply('Pod', 'DELETED', pod({ name: 'x', uid: 'other', ip: '10.0.2.1' }), T0 + S);
  t.is(st.counts().pods, 1);
  st.apply('Pod', 'DELETED', { metadata: { name: 'x', namespace: 'default' } }, T0 + 2 * S);
  t.is(st.counts().pods, 0);
});

test('hostname index follows hostname/subdomain and deletion', (t) => {
  const st = new ClusterState();
  st.apply('Pod', 'ADDED', pod({ name: 'z-0', uid: 'uz', ip: '10.0.3.1', hostname: 'z-0', subdomain: 'zk' }), T0);
  t.is(st.podsByHostname.get('default/zk/z-0')?.uid, 'uz');
  st.apply('Pod', 'DELETED', pod({ name: 'z-0', uid: 'uz', ip: '10.0.3.1', hostname: 'z-0', subdomain: 'zk' }), T0 + S);
  t.false(st.podsByHostname.has('default/zk/z-0'));
});

test('endpoint slices move between services when their service-name label changes', (t) => {
  const st = new ClusterState();
  st.apply('EndpointSlice', 'ADDED', endpointSlice('a', [{ ip: '10.0.4.1' }], { name: 'sl' }), T0);
  t.is(st.endpointTargets('default/a').length, 1);
  st.apply('EndpointSlice', 'MODIFIED', endpointSlice('b', [{ ip: '10.0.4.1' }], { name: 'sl' }), T0);
  t.is(st.endpointTargets('default/a').length, 0);
  t.is(st.endpointTargets('default/b').length, 1);
});

test('toMs reads Dates, RFC 3339 strings and numbers; NaN otherwise', (t) => {
  t.is(toMs(new Date(T0)), T0);
  t.is(toMs(new Date(T0).toISOString()), T0);
  t.is(toMs(T0), T0);
  t.true(Number.isNaN(toMs(undefined)));
  t.true(Number.isNaN(toMs('')));
  t.true(Number.isNaN(toMs('garbage')));
  t.true(Number.isNaN(toMs({})));
});

test('typed client-node objects (Date timestamps) are read like watch JSON', (t) => {
  const st = new ClusterState();
  const obj = pod({ name: 'typed', uid: 'ut', ip: '10.0.5.1' }) as { metadata: Record<string, unknown> };
  obj.metadata['creationTimestamp'] = new Date(T0 + 5 * S);
  obj.metadata['deletionTimestamp'] = new Date(T0 + 50 * S);
  st.apply('Pod', 'ADDED', obj, T0 + 6 * S);
  const p = st.podsByUid.get('ut');
  t.is(p?.createdAt, T0 + 5 * S);
  t.is(p?.endAt, T0 + 50 * S);
});

test('records keep only what resolution reads: the override annotations, and the owner labels object when equal', (t) => {
  const st = new ClusterState();
  const labels = { app: 'web', 'pod-template-hash': 'abc' };
  st.apply('ReplicaSet', 'ADDED', workload('ReplicaSet', 'web-abc', { labels: { ...labels } }), T0);
  const annotations = {
    'callmap.io/workload-name': 'front',
    'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(500),
    'prometheus.io/scrape': 'true',
  };
  st.apply(
    'Pod',
    'ADDED',
    pod({ name: 'p1', ip: '10.0.0.1', owner: ['ReplicaSet', 'web-abc'], labels: { ...labels }, annotations }),
    T0,
  );
  st.apply(
    'Pod',
    'ADDED',
    pod({ name: 'p2', ip: '10.0.0.2', owner: ['ReplicaSet', 'web-abc'], labels: { ...labels } }),
    T0,
  );
  st.apply(
    'Pod',
    'ADDED',
    pod({ name: 'p3', ip: '10.0.0.3', owner: ['ReplicaSet', 'web-abc'], labels: { app: 'other' } }),
    T0,
  );
  const rs = st.owner('ReplicaSet', 'default', 'web-abc');
  const p1 = st.podsByKey.get('default/p1');
  t.deepEqual(p1?.annotations, { 'callmap.io/workload-name': 'front' });
  t.deepEqual(st.podsByKey.get('default/p2')?.annotations, {});
  // Same content as the ReplicaSet's labels → the same object; different content → its own.
  t.is(p1?.labels, rs?.labels);
  t.is(st.podsByKey.get('default/p2')?.labels, rs?.labels);
  t.deepEqual(st.podsByKey.get('default/p3')?.labels, { app: 'other' });
  t.not(st.podsByKey.get('default/p3')?.labels, rs?.labels);
  // A status-only owner update changes nothing identity depends on.
  const epoch = st.ownerEpoch;
  const rs2 = workload('ReplicaSet', 'web-abc', { labels: { ...labels } });
  rs2['status'] = { replicas: 3 };
  st.apply('ReplicaSet', 'MODIFIED', rs2, T0);
  t.is(st.ownerEpoch, epoch);
  st.apply('ReplicaSet', 'MODIFIED', workload('ReplicaSet', 'web-abc', { labels: { app: 'web' } }), T0);
  t.is(st.ownerEpoch, epoch + 1);
  // Keys to keep must be known before objects arrive (a resolver built late would miss its annotation).
  t.throws(() => st.keepAnnotation('x.io/name'), { message: /before objects are applied/ });
  t.notThrows(() => st.keepAnnotation('callmap.io/workload-name'));
  const fresh = new ClusterState({ annotationKeys: ['x.io/name'] });
  fresh.apply(
    'Pod',
    'ADDED',
    pod({ name: 'q', ip: '10.0.0.9', annotations: { ...annotations, 'x.io/name': 'n' } }),
    T0,
  );
  t.deepEqual(fresh.podsByKey.get('default/q')?.annotations, { 'x.io/name': 'n' });
});
