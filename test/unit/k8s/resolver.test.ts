import test from 'ava';
import { ClusterState, type ClusterStateOptions, type StateKind } from '../../../mapper/k8s/cluster-state.ts';
import { alternateIp, KubeResolver, type KubeResolverOptions, undashIp } from '../../../mapper/k8s/resolver.ts';
import type { Resolution } from '../../../mapper/k8s/types.ts';
import { endpointSlice, endpoints, node, pod, service, T0, workload } from './objects.ts';

const S = 1000;

function world(opts: KubeResolverOptions & ClusterStateOptions = {}) {
  const state = new ClusterState(opts);
  const r = new KubeResolver(state, opts);
  const add = (kind: StateKind, obj: unknown, now = T0) => state.apply(kind, 'ADDED', obj, now);
  const mod = (kind: StateKind, obj: unknown, now = T0) => state.apply(kind, 'MODIFIED', obj, now);
  const del = (kind: StateKind, obj: unknown, now = T0) => state.apply(kind, 'DELETED', obj, now);
  return { state, r, add, mod, del };
}

function who(res: Resolution): string {
  if (!res.ok) return `!${res.reason}`;
  return `${res.workload.kind}/${res.workload.namespace}/${res.workload.name}`;
}

/** A Deployment web → ReplicaSet web-abc → pod. */
function deployment(
  w: ReturnType<typeof world>,
  name: string,
  ip: string,
  opts: { ns?: string; created?: number } = {},
) {
  const ns = opts.ns ?? 'default';
  w.add('Deployment', workload('Deployment', name, { ns, labels: { app: name, tier: 'deploy' } }));
  w.add(
    'ReplicaSet',
    workload('ReplicaSet', `${name}-abc`, { ns, owner: ['Deployment', name], labels: { app: name } }),
  );
  const p = pod({
    ns,
    name: `${name}-abc-x1`,
    ip,
    owner: ['ReplicaSet', `${name}-abc`],
    labels: { app: name, 'pod-template-hash': 'abc' },
    created: opts.created ?? T0,
  });
  w.add('Pod', p);
  return p;
}

// ---- IP → pod ----

test('pod IP resolves to the Deployment at the root of its owner chain, with the root labels', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5');
  const res = w.r.resolveIp('10.0.0.5', T0 + 10 * S);
  t.true(res.ok);
  if (!res.ok) return;
  t.deepEqual(res.workload, {
    name: 'web',
    namespace: 'default',
    kind: 'Deployment',
    labels: { app: 'web', tier: 'deploy' },
  });
  t.deepEqual(res.pod, { name: 'web-abc-x1', namespace: 'default' });
  t.is(res.service, undefined);
});

test('resolveIp returns the same frozen object every time (no per-call allocation)', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5');
  const a = w.r.resolveIp('10.0.0.5', T0 + S);
  const b = w.r.resolveIp('10.0.0.5', T0 + 2 * S);
  t.is(a, b);
  t.true(Object.isFrozen(a));
  t.is(w.r.resolveIp('10.9.9.9', T0), w.r.resolveIp('10.9.9.8', T0));
});

test('status.podIPs: both the IPv4 and the IPv6 address resolve to the pod', (t) => {
  const w = world();
  w.add('Pod', pod({ name: 'dual', ip: '10.0.0.7', ips: ['10.0.0.7', 'fd00:10::7'] }));
  t.is(who(w.r.resolveIp('10.0.0.7', T0 + S)), 'Pod/default/dual');
  t.is(who(w.r.resolveIp('fd00:10::7', T0 + S)), 'Pod/default/dual');
  // Non-canonical and IPv4-mapped spellings are retried in canonical form.
  t.is(who(w.r.resolveIp('FD00:0010:0:0::7', T0 + S)), 'Pod/default/dual');
  t.is(who(w.r.resolveIp('::ffff:10.0.0.7', T0 + S)), 'Pod/default/dual');
});

test('podIPs without podIP (IPv6-only pod) resolves', (t) => {
  const w = world();
  const p = pod({ name: 'v6', ips: ['fd00::9'] });
  t.is(w.r.resolveIp('fd00::9', T0).ok, false);
  w.add('Pod', p);
  t.is(who(w.r.resolveIp('fd00::9', T0 + S)), 'Pod/default/v6');
});

test('IP reuse: A had X until t1, B got X at t2 — before t1 → A, after t2 → B, between → nobody', (t) => {
  const w = world({ skewMs: 2 * S });
  const t1 = T0 + 60 * S;
  const t2 = T0 + 120 * S;
  const a = pod({ name: 'a', ip: '10.0.0.9', created: T0 });
  w.add('Pod', a, T0);
  w.del('Pod', a, t1);
  w.add('Pod', pod({ name: 'b', ip: '10.0.0.9', created: t2 }), t2);
  t.is(who(w.r.resolveIp('10.0.0.9', T0 + 30 * S)), 'Pod/default/a');
  t.is(who(w.r.resolveIp('10.0.0.9', t1 - 1)), 'Pod/default/a');
  t.is(who(w.r.resolveIp('10.0.0.9', T0 + 90 * S)), '!not-alive-at-time');
  t.is(who(w.r.resolveIp('10.0.0.9', t2 + 1)), 'Pod/default/b');
  t.is(who(w.r.resolveIp('10.0.0.9', t2 + 600 * S)), 'Pod/default/b');
});

test('a pod created after the observation is not a match (beyond the skew); within the skew it is', (t) => {
  const w = world({ skewMs: 2 * S });
  w.add('Pod', pod({ name: 'late', ip: '10.0.1.1', created: T0 + 100 * S }), T0 + 100 * S);
  t.is(who(w.r.resolveIp('10.0.1.1', T0 + 50 * S)), '!not-alive-at-time');
  t.is(who(w.r.resolveIp('10.0.1.1', T0 + 97 * S)), '!not-alive-at-time');
  t.is(who(w.r.resolveIp('10.0.1.1', T0 + 99 * S)), 'Pod/default/late');
});

test('when intervals overlap within the skew, the one that contains the time exactly wins', (t) => {
  const w = world({ skewMs: 2 * S });
  const a = pod({ name: 'a', ip: '10.0.1.2', created: T0 });
  w.add('Pod', a, T0);
  w.del('Pod', a, T0 + 10 * S);
  w.add('Pod', pod({ name: 'b', ip: '10.0.1.2', created: T0 + 11 * S }), T0 + 11 * S);
  t.is(who(w.r.resolveIp('10.0.1.2', T0 + 10 * S - 100)), 'Pod/default/a');
  t.is(who(w.r.resolveIp('10.0.1.2', T0 + 11 * S + 100)), 'Pod/default/b');
});

test('two pods that started holding one IP at the same instant are ambiguous, not guessed', (t) => {
  const w = world();
  w.add('Pod', pod({ name: 'x', ip: '10.0.1.9', created: T0 }));
  w.add('Pod', pod({ name: 'y', ip: '10.0.1.9', created: T0 }));
  t.is(who(w.r.resolveIp('10.0.1.9', T0 + S)), '!ambiguous');
  t.is(who(w.r.resolveDnsName('10-0-1-9.default.pod.cluster.local', [], T0 + S)), '!ambiguous');
  t.is(w.r.stats().unresolved.ambiguous, 2);
});

test('deletionTimestamp (graceful deletion) ends the interval even before the DELETED event', (t) => {
  const w = world({ skewMs: 0 });
  const p = pod({ name: 'g', ip: '10.0.1.3', created: T0 });
  w.add('Pod', p);
  w.mod(
    'Pod',
    pod({ name: 'g', uid: (p['metadata'] as { uid: string }).uid, ip: '10.0.1.3', deletionTimestamp: T0 + 30 * S }),
    T0 + 5 * S,
  );
  t.is(who(w.r.resolveIp('10.0.1.3', T0 + 20 * S)), 'Pod/default/g');
  t.is(who(w.r.resolveIp('10.0.1.3', T0 + 31 * S)), '!not-alive-at-time');
});

test('a finished Job pod keeps podIP in status but no longer holds the IP', (t) => {
  const w = world({ skewMs: 0 });
  w.add('Job', workload('Job', 'once'));
  w.add(
    'Pod',
    pod({ name: 'once-x', ip: '10.0.1.4', owner: ['Job', 'once'], phase: 'Succeeded', finishedAt: T0 + 20 * S }),
    T0 + 60 * S,
  );
  t.is(who(w.r.resolveIp('10.0.1.4', T0 + 10 * S)), 'Job/default/once');
  t.is(who(w.r.resolveIp('10.0.1.4', T0 + 40 * S)), '!not-alive-at-time');
  w.add('Pod', pod({ name: 'new', ip: '10.0.1.4', created: T0 + 50 * S }), T0 + 60 * S);
  t.is(who(w.r.resolveIp('10.0.1.4', T0 + 55 * S)), 'Pod/default/new');
});

test('a pod deleted before its deletionTimestamp ends at the observed deletion time', (t) => {
  const w = world({ skewMs: 0 });
  const p = pod({ name: 'q', ip: '10.0.1.5', deletionTimestamp: T0 + 100 * S });
  w.add('Pod', p, T0);
  w.del('Pod', p, T0 + 10 * S);
  t.is(who(w.r.resolveIp('10.0.1.5', T0 + 5 * S)), 'Pod/default/q');
  t.is(who(w.r.resolveIp('10.0.1.5', T0 + 50 * S)), '!not-alive-at-time');
});

test('deleted pods are remembered for the retention window only', (t) => {
  const w = world({ deletedPodRetentionMs: 60 * S, skewMs: 0 });
  const p = pod({ name: 'gone', ip: '10.0.1.6' });
  w.add('Pod', p, T0);
  w.del('Pod', p, T0 + 10 * S);
  t.is(who(w.r.resolveIp('10.0.1.6', T0 + 5 * S)), 'Pod/default/gone');
  // Any later event prunes the history.
  w.add('Node', node('n1', '192.168.0.1'), T0 + 80 * S);
  t.is(who(w.r.resolveIp('10.0.1.6', T0 + 5 * S)), '!unknown-ip');
  t.is(w.state.counts().deletedPodsRemembered, 0);
});

test('at most maxDeletedPods deleted pods are remembered, oldest forgotten first', (t) => {
  const w = world({ maxDeletedPods: 2, skewMs: 0 });
  for (let i = 0; i < 3; i++) {
    const p = pod({ name: `p${i}`, ip: `10.0.2.${i}` });
    w.add('Pod', p, T0);
    w.del('Pod', p, T0 + (i + 1) * S);
  }
  t.is(who(w.r.resolveIp('10.0.2.0', T0 + 500)), '!unknown-ip');
  t.is(who(w.r.resolveIp('10.0.2.1', T0 + 500)), 'Pod/default/p1');
  t.is(who(w.r.resolveIp('10.0.2.2', T0 + 500)), 'Pod/default/p2');
  t.is(w.state.counts().deletedPodsRemembered, 2);
});

test('a deleted pod keeps the identity it had, even after its owners are deleted', (t) => {
  const w = world({ skewMs: 0 });
  const p = deployment(w, 'api', '10.0.2.9');
  w.del('Pod', p, T0 + 10 * S);
  w.del('ReplicaSet', workload('ReplicaSet', 'api-abc'), T0 + 11 * S);
  w.del('Deployment', workload('Deployment', 'api'), T0 + 11 * S);
  t.is(who(w.r.resolveIp('10.0.2.9', T0 + 5 * S)), 'Deployment/default/api');
});

// ---- host network ----

test('node IPs resolve to host-network, never to a hostNetwork pod on that node', (t) => {
  const w = world();
  w.add('Node', node('n1', '192.168.0.10', '203.0.113.10'));
  w.add('DaemonSet', workload('DaemonSet', 'agent'));
  w.add('Pod', pod({ name: 'agent-1', ip: '192.168.0.10', hostNetwork: true, owner: ['DaemonSet', 'agent'] }));
  t.is(who(w.r.resolveIp('192.168.0.10', T0 + S)), '!host-network');
  t.is(who(w.r.resolveIp('203.0.113.10', T0 + S)), '!host-network');
  // Still resolvable by name (e.g. a watcher naming the pod).
  t.is(who(w.r.resolvePod({ name: 'agent-1', namespace: 'default' }, T0 + S)), 'DaemonSet/default/agent');
});

test('a hostNetwork pod IP is host-network even when Node objects are not visible', (t) => {
  const w = world();
  const p = pod({ name: 'hn', ip: '192.168.7.7', hostNetwork: true });
  w.add('Pod', p);
  t.is(who(w.r.resolveIp('192.168.7.7', T0 + S)), '!host-network');
  w.del('Pod', p, T0 + 5 * S);
  t.is(who(w.r.resolveIp('192.168.7.7', T0 + S)), '!unknown-ip');
});

test('a deleted node no longer marks its IP as host-network', (t) => {
  const w = world();
  w.add('Node', node('n2', '192.168.0.20'));
  t.is(who(w.r.resolveIp('192.168.0.20', T0)), '!host-network');
  w.del('Node', node('n2', '192.168.0.20'));
  t.is(who(w.r.resolveIp('192.168.0.20', T0)), '!unknown-ip');
});

// ---- services ----

test('ClusterIP → Service → endpoint pods → their shared workload, with the service set', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5');
  w.add('Pod', pod({ name: 'web-abc-x2', ip: '10.0.0.6', owner: ['ReplicaSet', 'web-abc'], labels: { app: 'web' } }));
  w.add('Service', service('web', '10.96.0.10'));
  w.add(
    'EndpointSlice',
    endpointSlice('web', [
      { ip: '10.0.0.5', pod: 'web-abc-x1' },
      { ip: '10.0.0.6', pod: 'web-abc-x2' },
    ]),
  );
  const res = w.r.resolveIp('10.96.0.10', T0 + S);
  t.is(who(res), 'Deployment/default/web');
  if (!res.ok) return;
  t.deepEqual(res.service, { name: 'web', namespace: 'default' });
  t.is(res.pod, undefined, 'two pods: no single pod');
});

test('a service over one pod carries that pod', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5');
  w.add('Service', service('web', '10.96.0.10'));
  w.add('EndpointSlice', endpointSlice('web', [{ ip: '10.0.0.5' }]));
  const res = w.r.resolveIp('10.96.0.10', T0 + S);
  t.true(res.ok && res.pod?.name === 'web-abc-x1');
});

test('a service whose endpoints span several workloads (or none) resolves to the Service itself', (t) => {
  const w = world();
  deployment(w, 'v1', '10.0.3.1');
  deployment(w, 'v2', '10.0.3.2');
  w.add('Service', service('shop', '10.96.0.20', { labels: { team: 'a' } }));
  w.add('EndpointSlice', endpointSlice('shop', [{ ip: '10.0.3.1' }, { ip: '10.0.3.2' }]));
  const res = w.r.resolveIp('10.96.0.20', T0 + S);
  t.is(who(res), 'Service/default/shop');
  t.true(res.ok && res.workload.labels?.['team'] === 'a' && res.service?.name === 'shop');
  w.add('Service', service('empty', '10.96.0.21'));
  t.is(who(w.r.resolveIp('10.96.0.21', T0 + S)), 'Service/default/empty');
});

test('service resolution follows endpoint changes', (t) => {
  const w = world();
  deployment(w, 'v1', '10.0.3.1');
  deployment(w, 'v2', '10.0.3.2');
  w.add('Service', service('shop', '10.96.0.20'));
  w.add('EndpointSlice', endpointSlice('shop', [{ ip: '10.0.3.1' }]));
  t.is(who(w.r.resolveIp('10.96.0.20', T0 + S)), 'Deployment/default/v1');
  w.mod('EndpointSlice', endpointSlice('shop', [{ ip: '10.0.3.2' }]));
  t.is(who(w.r.resolveIp('10.96.0.20', T0 + S)), 'Deployment/default/v2');
  w.del('EndpointSlice', endpointSlice('shop', []));
  t.is(who(w.r.resolveIp('10.96.0.20', T0 + S)), 'Service/default/shop');
});

test('core/v1 Endpoints (incl. notReadyAddresses) map a service to its pods', (t) => {
  const w = world();
  deployment(w, 'db', '10.0.4.1');
  w.add('Service', service('db', '10.96.0.30'));
  w.add('Endpoints', endpoints('db', [{ ip: '10.0.4.1', pod: 'db-abc-x1', ready: false }]));
  t.is(who(w.r.resolveIp('10.96.0.30', T0 + S)), 'Deployment/default/db');
});

test('dual-stack ClusterIPs both resolve; a service created after the observation does not', (t) => {
  const w = world({ skewMs: 0 });
  deployment(w, 'web', '10.0.0.5');
  w.add('Service', service('web', '10.96.0.10', { clusterIPs: ['10.96.0.10', 'fd00:96::10'], created: T0 + 10 * S }));
  w.add('EndpointSlice', endpointSlice('web', [{ ip: '10.0.0.5' }]));
  t.is(who(w.r.resolveIp('fd00:96::10', T0 + 20 * S)), 'Deployment/default/web');
  t.is(who(w.r.resolveIp('10.96.0.10', T0 + 20 * S)), 'Deployment/default/web');
  t.is(who(w.r.resolveIp('10.96.0.10', T0 + 5 * S)), '!not-alive-at-time');
});

test('a deleted service no longer resolves', (t) => {
  const w = world();
  w.add('Service', service('tmp', '10.96.0.40'));
  t.true(w.r.resolveIp('10.96.0.40', T0).ok);
  w.del('Service', service('tmp', '10.96.0.40'));
  t.is(who(w.r.resolveIp('10.96.0.40', T0)), '!unknown-ip');
});

// ---- DNS names ----

function dnsWorld(opts: KubeResolverOptions = {}) {
  const w = world(opts);
  deployment(w, 'web', '10.0.0.5', { ns: 'shop' });
  w.add('Service', service('web', '10.96.0.10', { ns: 'shop' }));
  w.add('EndpointSlice', endpointSlice('web', [{ ip: '10.0.0.5', pod: 'web-abc-x1' }], { ns: 'shop' }));
  return w;
}

test('service DNS names in every form resolve to the workload with the service set', (t) => {
  const w = dnsWorld();
  for (const name of ['web.shop.svc.cluster.local', 'web.shop.svc.cluster.local.', 'WEB.Shop.SVC', 'web.shop']) {
    const res = w.r.resolveDnsName(name, [], T0 + S);
    t.is(who(res), 'Deployment/shop/web', name);
    t.true(res.ok && res.service?.name === 'web' && res.service.namespace === 'shop', name);
  }
  t.is(who(w.r.resolveDnsName('web', [], T0 + S, 'shop')), 'Deployment/shop/web');
  t.is(who(w.r.resolveDnsName('web', [], T0 + S)), '!unknown-name');
  t.is(who(w.r.resolveDnsName('web', [], T0 + S, 'other')), '!unknown-name');
  t.is(who(w.r.resolveDnsName('nope.shop.svc.cluster.local', [], T0 + S)), '!unknown-name');
  t.is(who(w.r.resolveDnsName('example.com', ['93.184.216.34'], T0 + S)), '!unknown-name');
  t.is(who(w.r.resolveDnsName('a.b.c.svc.cluster.local', [], T0 + S)), '!unknown-name');
  t.is(who(w.r.resolveDnsName('', [], T0 + S)), '!unknown-name');
});

test('a configurable cluster domain is honoured', (t) => {
  const w = dnsWorld({ clusterDomain: 'corp.internal' });
  t.is(who(w.r.resolveDnsName('web.shop.svc.corp.internal', [], T0 + S)), 'Deployment/shop/web');
  t.is(who(w.r.resolveDnsName('web.shop.svc.cluster.local', [], T0 + S)), '!unknown-name');
  t.true(w.r.isClusterName('x.y.svc.corp.internal'));
  t.false(w.r.isClusterName('x.y.cluster.local.example.com'));
});

test('a service name prefers the pod whose IP is in the DNS answer', (t) => {
  const w = world();
  deployment(w, 'v1', '10.0.3.1');
  deployment(w, 'v2', '10.0.3.2');
  w.add('Service', service('shop', 'None'));
  w.add('EndpointSlice', endpointSlice('shop', [{ ip: '10.0.3.1' }, { ip: '10.0.3.2' }]));
  const res = w.r.resolveDnsName('shop.default.svc.cluster.local', ['10.0.3.2'], T0 + S);
  t.is(who(res), 'Deployment/default/v2');
  t.true(res.ok && res.pod?.name === 'v2-abc-x1' && res.service?.name === 'shop');
  // Without answer IPs, the mixed headless service is the Service itself.
  t.is(who(w.r.resolveDnsName('shop.default.svc.cluster.local', [], T0 + S)), 'Service/default/shop');
});

test('pod DNS names (dashed IPv4 and IPv6) resolve to the pod workload in that namespace', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5', { ns: 'shop' });
  w.add('Pod', pod({ ns: 'shop', name: 'six', ips: ['fd00:10::5'] }));
  t.is(who(w.r.resolveDnsName('10-0-0-5.shop.pod.cluster.local', [], T0 + S)), 'Deployment/shop/web');
  t.is(who(w.r.resolveDnsName('10-0-0-5.shop.pod', [], T0 + S)), 'Deployment/shop/web');
  t.is(who(w.r.resolveDnsName('fd00-10--5.shop.pod.cluster.local', [], T0 + S)), 'Pod/shop/six');
  t.is(who(w.r.resolveDnsName('10-0-0-5.other.pod.cluster.local', [], T0 + S)), '!unknown-name');
  t.is(who(w.r.resolveDnsName('10-0-0-99.shop.pod.cluster.local', [], T0 + S)), '!unknown-name');
  t.is(who(w.r.resolveDnsName('10-0-0-5.shop.pod.cluster.local', [], T0 - 100 * S)), '!not-alive-at-time');
});

test('headless StatefulSet pod names (hostname.subdomain) resolve to the StatefulSet', (t) => {
  const w = world();
  w.add('StatefulSet', workload('StatefulSet', 'kafka', { ns: 'data', labels: { app: 'kafka' } }));
  w.add('Service', service('kafka-headless', 'None', { ns: 'data' }));
  for (const i of [0, 1]) {
    w.add(
      'Pod',
      pod({
        ns: 'data',
        name: `kafka-${i}`,
        ip: `10.0.5.${i}`,
        owner: ['StatefulSet', 'kafka'],
        hostname: `kafka-${i}`,
        subdomain: 'kafka-headless',
      }),
    );
  }
  const res = w.r.resolveDnsName('kafka-1.kafka-headless.data.svc.cluster.local', ['10.0.5.1'], T0 + S);
  t.is(who(res), 'StatefulSet/data/kafka');
  t.true(res.ok && res.pod?.name === 'kafka-1' && res.service?.name === 'kafka-headless');
  t.is(who(w.r.resolveDnsName('kafka-7.kafka-headless.data.svc.cluster.local', [], T0 + S)), '!unknown-name');
});

test('headless names resolve through endpoint hostnames and dashed-IP hosts too', (t) => {
  const w = world();
  w.add('StatefulSet', workload('StatefulSet', 'zk'));
  w.add('Pod', pod({ name: 'zk-0', ip: '10.0.6.1', owner: ['StatefulSet', 'zk'] }));
  w.add('Service', service('zk-hs', 'None'));
  w.add('EndpointSlice', endpointSlice('zk-hs', [{ ip: '10.0.6.1', pod: 'zk-0', hostname: 'zk-0' }]));
  t.is(who(w.r.resolveDnsName('zk-0.zk-hs.default.svc.cluster.local', [], T0 + S)), 'StatefulSet/default/zk');
  t.is(who(w.r.resolveDnsName('10-0-6-1.zk-hs.default.svc.cluster.local', [], T0 + S)), 'StatefulSet/default/zk');
});

test('isClusterName: cluster suffixes and known services are in-cluster, internet names are not', (t) => {
  const w = dnsWorld();
  t.true(w.r.isClusterName('web.shop.svc.cluster.local'));
  t.true(w.r.isClusterName('WEB.SHOP.SVC.CLUSTER.LOCAL.'));
  t.true(w.r.isClusterName('web.shop.svc'));
  t.true(w.r.isClusterName('1-2-3-4.shop.pod'));
  t.true(w.r.isClusterName('web.shop'));
  t.true(w.r.isClusterName('web'));
  t.false(w.r.isClusterName('example.com'));
  t.false(w.r.isClusterName('api.github.com'));
  t.false(w.r.isClusterName('cluster.local.evil.com'));
  t.false(w.r.isClusterName(''));
});

// ---- owner chains ----

test('owner chains crawl to the root and keep its kind', (t) => {
  const w = world();
  w.add('CronJob', workload('CronJob', 'nightly', { labels: { app: 'nightly' } }));
  w.add('Job', workload('Job', 'nightly-2900', { owner: ['CronJob', 'nightly'] }));
  w.add('Pod', pod({ name: 'nightly-2900-q', ip: '10.1.0.1', owner: ['Job', 'nightly-2900'] }));
  w.add('Job', workload('Job', 'migrate'));
  w.add('Pod', pod({ name: 'migrate-q', ip: '10.1.0.2', owner: ['Job', 'migrate'] }));
  w.add('StatefulSet', workload('StatefulSet', 'pg'));
  w.add('Pod', pod({ name: 'pg-0', ip: '10.1.0.3', owner: ['StatefulSet', 'pg'] }));
  w.add('DaemonSet', workload('DaemonSet', 'fluent'));
  w.add('Pod', pod({ name: 'fluent-x', ip: '10.1.0.4', owner: ['DaemonSet', 'fluent'] }));
  w.add('Pod', pod({ name: 'bare', ip: '10.1.0.5', labels: { run: 'bare' } }));
  w.add('ReplicaSet', workload('ReplicaSet', 'orphan-rs', { labels: { app: 'orphan' } }));
  w.add('Pod', pod({ name: 'orphan-rs-q', ip: '10.1.0.6', owner: ['ReplicaSet', 'orphan-rs'] }));
  const at = T0 + S;
  t.is(who(w.r.resolveIp('10.1.0.1', at)), 'CronJob/default/nightly');
  t.is(who(w.r.resolveIp('10.1.0.2', at)), 'Job/default/migrate');
  t.is(who(w.r.resolveIp('10.1.0.3', at)), 'StatefulSet/default/pg');
  t.is(who(w.r.resolveIp('10.1.0.4', at)), 'DaemonSet/default/fluent');
  t.is(who(w.r.resolveIp('10.1.0.5', at)), 'Pod/default/bare');
  t.is(who(w.r.resolveIp('10.1.0.6', at)), 'ReplicaSet/default/orphan-rs');
  const bare = w.r.resolveIp('10.1.0.5', at);
  t.true(bare.ok && bare.workload.labels?.['run'] === 'bare');
  const cron = w.r.resolveIp('10.1.0.1', at);
  t.true(cron.ok && cron.workload.labels?.['app'] === 'nightly');
});

test('unknown owner kinds (Argo Rollout) keep the owner kind and name, with the pod labels', (t) => {
  const w = world();
  w.add('ReplicaSet', workload('ReplicaSet', 'canary-7f', { owner: ['Rollout', 'canary'] }));
  w.add(
    'Pod',
    pod({ name: 'canary-7f-a', ip: '10.1.1.1', owner: ['ReplicaSet', 'canary-7f'], labels: { app: 'canary' } }),
  );
  const res = w.r.resolveIp('10.1.1.1', T0 + S);
  t.is(who(res), 'Rollout/default/canary');
  t.true(res.ok && res.workload.labels?.['app'] === 'canary');
});

test('a Deployment not (yet) cached: kind Deployment from the ReplicaSet reference, pod labels', (t) => {
  const w = world();
  w.add('ReplicaSet', workload('ReplicaSet', 'api-5d', { owner: ['Deployment', 'api'] }));
  w.add('Pod', pod({ name: 'api-5d-z', ip: '10.1.1.2', owner: ['ReplicaSet', 'api-5d'], labels: { app: 'api' } }));
  const res = w.r.resolveIp('10.1.1.2', T0 + S);
  t.is(who(res), 'Deployment/default/api');
  t.deepEqual(res.ok && res.workload.labels, { app: 'api' });
  // Once the Deployment arrives, its own labels are used (cache invalidated).
  w.add('Deployment', workload('Deployment', 'api', { labels: { app: 'api', owner: 'team-x' } }));
  const again = w.r.resolveIp('10.1.1.2', T0 + S);
  t.deepEqual(again.ok && again.workload.labels, { app: 'api', owner: 'team-x' });
});

test('an owner cycle does not hang', (t) => {
  const w = world();
  w.add('ReplicaSet', workload('ReplicaSet', 'x', { owner: ['ReplicaSet', 'y'] }));
  w.add('ReplicaSet', workload('ReplicaSet', 'y', { owner: ['ReplicaSet', 'x'] }));
  w.add('Pod', pod({ name: 'loop', ip: '10.1.1.3', owner: ['ReplicaSet', 'x'] }));
  t.true(w.r.resolveIp('10.1.1.3', T0 + S).ok);
});

test('owner label changes invalidate the cached identity; status-only updates do not', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5');
  const before = w.r.resolveIp('10.0.0.5', T0 + S);
  const epoch = w.state.ownerEpoch;
  w.mod('Deployment', {
    ...workload('Deployment', 'web', { labels: { app: 'web', tier: 'deploy' } }),
    status: { replicas: 3 },
  });
  t.is(w.state.ownerEpoch, epoch);
  t.is(w.r.resolveIp('10.0.0.5', T0 + S), before);
  w.mod('Deployment', workload('Deployment', 'web', { labels: { app: 'web', tier: 'gold' } }));
  const after = w.r.resolveIp('10.0.0.5', T0 + S);
  t.true(after.ok && after.workload.labels?.['tier'] === 'gold');
});

// ---- override annotations ----

test('intents.otterize.com/service-name on the pod overrides the name; the kind stays the root kind', (t) => {
  const w = world();
  w.add('Deployment', workload('Deployment', 'web'));
  w.add('ReplicaSet', workload('ReplicaSet', 'web-abc', { owner: ['Deployment', 'web'] }));
  w.add(
    'Pod',
    pod({
      name: 'web-abc-1',
      ip: '10.2.0.1',
      owner: ['ReplicaSet', 'web-abc'],
      annotations: { 'intents.otterize.com/service-name': 'storefront' },
    }),
  );
  t.is(who(w.r.resolveIp('10.2.0.1', T0 + S)), 'Deployment/default/storefront');
  t.is(w.r.resolveWorkloadName({ name: 'storefront', namespace: 'default' }).kind, 'Deployment');
});

test('the callmap override annotation wins over Otterize, and its name is configurable', (t) => {
  const both = {
    'intents.otterize.com/service-name': 'otter',
    'callmap.io/workload-name': 'mine',
    'x.io/name': 'custom',
  };
  const w = world();
  w.add('Pod', pod({ name: 'p', ip: '10.2.0.2', annotations: both }));
  t.is(who(w.r.resolveIp('10.2.0.2', T0 + S)), 'Pod/default/mine');
  const c = world({ overrideAnnotation: 'x.io/name' });
  c.add('Pod', pod({ name: 'p', ip: '10.2.0.2', annotations: both }));
  t.is(who(c.r.resolveIp('10.2.0.2', T0 + S)), 'Pod/default/custom');
  const o = world({ overrideAnnotation: 'x.io/name' });
  o.add('Pod', pod({ name: 'p', ip: '10.2.0.2', annotations: { 'intents.otterize.com/service-name': 'otter' } }));
  t.is(who(o.r.resolveIp('10.2.0.2', T0 + S)), 'Pod/default/otter');
});

test('an override annotation on the root object applies to its pods', (t) => {
  const w = world();
  w.add('StatefulSet', workload('StatefulSet', 'db', { annotations: { 'callmap.io/workload-name': 'database' } }));
  w.add('Pod', pod({ name: 'db-0', ip: '10.2.0.3', owner: ['StatefulSet', 'db'] }));
  t.is(who(w.r.resolveIp('10.2.0.3', T0 + S)), 'StatefulSet/default/database');
});

test('adding the annotation to a running pod changes its identity', (t) => {
  const w = world();
  const p = pod({ name: 'p', uid: 'u-p', ip: '10.2.0.4' });
  w.add('Pod', p);
  t.is(who(w.r.resolveIp('10.2.0.4', T0 + S)), 'Pod/default/p');
  w.mod('Pod', pod({ name: 'p', uid: 'u-p', ip: '10.2.0.4', annotations: { 'callmap.io/workload-name': 'renamed' } }));
  t.is(who(w.r.resolveIp('10.2.0.4', T0 + S)), 'Pod/default/renamed');
});

// ---- resolvePod / resolveWorkloadName ----

test('resolvePod: current pod, before creation, unknown, and a recreated StatefulSet pod', (t) => {
  const w = world({ skewMs: 0 });
  w.add('StatefulSet', workload('StatefulSet', 'kafka', { ns: 'data' }));
  const old = pod({ ns: 'data', name: 'kafka-0', ip: '10.3.0.1', owner: ['StatefulSet', 'kafka'], created: T0 });
  w.add('Pod', old, T0);
  const ref = { name: 'kafka-0', namespace: 'data' };
  t.is(who(w.r.resolvePod(ref, T0 + 5 * S)), 'StatefulSet/data/kafka');
  t.is(who(w.r.resolvePod(ref, T0 - 5 * S)), '!not-alive-at-time');
  t.is(who(w.r.resolvePod({ name: 'kafka-9', namespace: 'data' }, T0)), '!unknown-pod');
  w.del('Pod', old, T0 + 10 * S);
  w.add(
    'Pod',
    pod({ ns: 'data', name: 'kafka-0', ip: '10.3.0.2', owner: ['StatefulSet', 'kafka'], created: T0 + 20 * S }),
    T0 + 20 * S,
  );
  t.is(who(w.r.resolvePod(ref, T0 + 5 * S)), 'StatefulSet/data/kafka', 'the old incarnation, from history');
  t.is(who(w.r.resolvePod(ref, T0 + 15 * S)), '!not-alive-at-time');
  const now = w.r.resolvePod(ref, T0 + 25 * S);
  t.true(now.ok && now.pod?.name === 'kafka-0');
});

test('resolveWorkloadName: pods, override names, scaled-to-zero roots, unknown', (t) => {
  const w = world();
  deployment(w, 'web', '10.0.0.5');
  t.deepEqual(w.r.resolveWorkloadName({ name: 'web', namespace: 'default' }), {
    name: 'web',
    namespace: 'default',
    kind: 'Deployment',
    labels: { app: 'web', tier: 'deploy' },
  });
  w.add('StatefulSet', workload('StatefulSet', 'idle', { labels: { app: 'idle' } }));
  t.is(w.r.resolveWorkloadName({ name: 'idle', namespace: 'default' }).kind, 'StatefulSet');
  t.deepEqual(w.r.resolveWorkloadName({ name: 'ghost', namespace: 'default' }), {
    name: 'ghost',
    namespace: 'default',
    kind: 'Unknown',
  });
  t.is(w.r.resolveWorkloadName({ name: 'web', namespace: 'other' }).kind, 'Unknown');
});

// ---- stats / garbage ----

test('stats count resolutions and unresolved calls by reason', (t) => {
  const w = world();
  w.add('Node', node('n1', '192.168.0.1'));
  deployment(w, 'web', '10.0.0.5');
  w.r.resolveIp('10.0.0.5', T0 + S);
  w.r.resolveIp('10.0.0.5', T0 - 100 * S);
  w.r.resolveIp('192.168.0.1', T0);
  w.r.resolveIp('1.2.3.4', T0);
  w.r.resolveIp('1.2.3.5', T0);
  w.r.resolveDnsName('x.y.svc.cluster.local', [], T0);
  w.r.resolvePod({ name: 'x', namespace: 'y' }, T0);
  const s = w.r.stats();
  t.is(s.resolved, 1);
  t.deepEqual(s.unresolved, {
    'unknown-ip': 2,
    'host-network': 1,
    'not-alive-at-time': 1,
    ambiguous: 0,
    'unknown-name': 1,
    'unknown-pod': 1,
  });
});

test('garbage objects are skipped and counted, never crash', (t) => {
  const w = world();
  const junk: unknown[] = [
    null,
    42,
    'pod',
    {},
    { metadata: {} },
    { metadata: { name: 7 } },
    { metadata: { name: 'x' } },
  ];
  for (const j of junk) {
    t.notThrows(() => w.add('Pod', j));
    t.notThrows(() => w.add('Service', j));
    t.notThrows(() => w.add('Deployment', j));
    t.notThrows(() => w.del('Pod', j));
  }
  t.notThrows(() =>
    w.add('Pod', {
      metadata: { name: 'weird', namespace: 'd', creationTimestamp: 'not a date', ownerReferences: 'x', labels: [1] },
      spec: 5,
      status: { podIPs: [null, { ip: 3 }, { ip: '10.9.0.1' }], containerStatuses: 'x' },
    }),
  );
  t.notThrows(() =>
    w.add('EndpointSlice', { metadata: { name: 's', namespace: 'd' }, endpoints: [null, { addresses: 'x' }] }),
  );
  t.notThrows(() => w.add('Node', { metadata: { name: 'n' }, status: { addresses: [null, { type: 'InternalIP' }] } }));
  t.true(w.state.counts().skipped > 0);
  t.is(who(w.r.resolveIp('10.9.0.1', T0)), 'Pod/d/weird');
});

test('helpers: alternateIp and undashIp', (t) => {
  t.is(alternateIp('::ffff:10.1.2.3'), '10.1.2.3');
  t.is(alternateIp('FD00::1'), 'fd00::1');
  t.is(alternateIp('fd00::1'), undefined);
  t.is(alternateIp('10.0.0.1'), undefined);
  t.is(alternateIp('zz::zz'), undefined);
  t.is(undashIp('10-1-2-3'), '10.1.2.3');
  t.is(undashIp('300-1-2-3'), undefined);
  t.is(undashIp('fd00-10--5'), 'fd00:10::5');
  t.is(undashIp('web'), undefined);
  t.is(undashIp('abc'), undefined);
});
