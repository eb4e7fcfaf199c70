import type { V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { discoverTargets, kindOf, kubeError, type PodLister, podTarget } from '../../../watchers/istio/discovery.ts';

const base = (
  over: Partial<{
    ann: Record<string, string>;
    ip: string;
    phase: string;
    init: boolean;
    labels: Record<string, string>;
  }> = {},
): V1Pod =>
  ({
    metadata: {
      name: 'orders-1',
      namespace: 'shop',
      uid: 'u1',
      labels: over.labels ?? { 'security.istio.io/tlsMode': 'istio' },
      annotations: over.ann ?? {},
    },
    spec: over.init
      ? { containers: [{ name: 'app' }], initContainers: [{ name: 'istio-proxy', restartPolicy: 'Always' }] }
      : { containers: [{ name: 'app' }, { name: 'istio-proxy' }] },
    status: {
      phase: over.phase ?? 'Running',
      podIP: over.ip ?? '10.0.0.5',
      containerStatuses: [
        { name: 'app', restartCount: 9 },
        { name: 'istio-proxy', restartCount: 2 },
      ],
    },
  }) as unknown as V1Pod;

test('sidecar defaults, restart-aware id', (t) => {
  const v = podTarget(base(), 'sidecar');
  t.deepEqual(v, {
    ok: true,
    target: {
      id: 'shop/orders-1/u1/2',
      pod: { name: 'orders-1', namespace: 'shop' },
      kind: 'sidecar',
      url: 'http://10.0.0.5:15090/stats/prometheus',
    },
  });
});

test('annotations override port and path; bad ones are ignored', (t) => {
  const a = podTarget(
    base({ ann: { 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' } }),
    'sidecar',
  );
  t.is(a.ok && a.target.url, 'http://10.0.0.5:15020/stats/prometheus');
  const b = podTarget(base({ ann: { 'prometheus.io/port': 'http', 'prometheus.io/path': 'metrics' } }), 'sidecar');
  t.is(b.ok && b.target.url, 'http://10.0.0.5:15090/stats/prometheus');
  const z = podTarget(base(), 'ztunnel');
  t.is(z.ok && z.target.url, 'http://10.0.0.5:15020/stats/prometheus');
});

test('IPv6 pod IPs are bracketed; native sidecars (init containers) count as a proxy', (t) => {
  const v = podTarget(base({ ip: 'fd00::5', init: true }), 'sidecar');
  t.is(v.ok && v.target.url, 'http://[fd00::5]:15090/stats/prometheus');
});

test('not running, no IP, no proxy container', (t) => {
  t.deepEqual(podTarget(base({ phase: 'Pending' }), 'sidecar'), { ok: false, reason: 'not-running' });
  t.deepEqual(podTarget(base({ phase: 'Succeeded' }), 'sidecar'), { ok: false, reason: 'not-running' });
  t.deepEqual(podTarget(base({ ip: '' }), 'sidecar'), { ok: false, reason: 'no-pod-ip' });
  const noProxy = base();
  noProxy.spec = { containers: [{ name: 'app' }] } as V1Pod['spec'];
  t.deepEqual(podTarget(noProxy, 'sidecar'), { ok: false, reason: 'no-proxy-container' });
  t.true(podTarget(noProxy, 'waypoint').ok, 'waypoints are not checked for the container name');
});

test('kind from labels: waypoints and ztunnel also found by the tlsMode selector', (t) => {
  t.is(kindOf(base({ labels: { 'gateway.istio.io/managed': 'istio.io-mesh-controller' } }), 'sidecar'), 'waypoint');
  t.is(kindOf(base({ labels: { app: 'ztunnel' } }), 'sidecar'), 'ztunnel');
  t.is(kindOf(base(), 'sidecar'), 'sidecar');
});

test('discovery lists per namespace, ztunnel cluster-wide, and de-duplicates pods', async (t) => {
  const calls: string[] = [];
  const lister: PodLister = {
    async list(ns, selector) {
      calls.push(`${ns ?? '*'} ${selector}`);
      if (selector === 'app=ztunnel') return [base({ labels: { app: 'ztunnel' } })];
      return [base()];
    },
  };
  const d = await discoverTargets(lister, ['shop']);
  t.deepEqual(calls.sort(), ['* app=ztunnel', 'shop gateway.istio.io/managed', 'shop security.istio.io/tlsMode']);
  t.is(d.targets.length, 1, 'the same uid is scraped once');
});

test('kubeError tells an aborted list apart from an HTTP status (DOMException codes are not statuses)', (t) => {
  const aborted = kubeError(new DOMException('This operation was aborted', 'AbortError'), 'http://api');
  t.is(aborted.code, 'KUBE_ABORTED');
  t.notRegex(aborted.message, /answered 20/);
  t.is(kubeError(Object.assign(new Error('forbidden'), { code: 403 }), 'http://api').code, 'KUBE_API_ERROR');
  t.regex(
    kubeError(Object.assign(new Error('x'), { code: 403 }), 'http://api').message,
    /grant the watcher `list` on `pods`/,
  );
  t.is(kubeError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'http://api').code, 'KUBE_UNREACHABLE');
});
