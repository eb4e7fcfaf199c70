/**
 * End to end: Istio stats pages on loopback "pods" (Kubernetes API test server) →
 * `callmap watch istio --once` → the real mapper service (SQLite, KubeResolver) → HTTP intents.
 */
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import type { IntentsResponse } from '../../../mapper/contract/index.ts';
import { owner, startResolvedMapper, workload } from '../../helpers/resolved-mapper.ts';
import { captureCtx, requestsLine, startStatsServer } from './helpers.ts';

const meshPod = (name: string, ns: string, ip: string, port: number, ownerRefs: object[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: ns,
    uid: `uid-pod-${name}`,
    ownerReferences: ownerRefs,
    labels: { app: name.replace(/-.*/, ''), 'security.istio.io/tlsMode': 'istio' },
    annotations: { 'prometheus.io/port': String(port), 'prometheus.io/path': '/stats/prometheus' },
  },
  spec: {
    containers: [
      { name: 'app', image: 'x' },
      { name: 'istio-proxy', image: 'proxyv2' },
    ],
  },
  status: {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    containerStatuses: [
      { name: 'app', restartCount: 0 },
      { name: 'istio-proxy', restartCount: 0 },
    ],
  },
});

test('Envoy stats become HTTP intents (paths + methods) on the workload pair in the mapper', async (t) => {
  const front = await startStatsServer(
    '127.0.0.30',
    requestsLine('source', 'frontend', 'orders', '/api/orders?page=1', 6) +
      `istio_requests_total{reporter="source",source_workload="frontend",source_workload_namespace="shop",destination_workload="orders",destination_workload_namespace="shop",destination_service_name="orders",request_path="/api/orders/42",request_method="DELETE"} 1\n`,
  );
  // Both proxies count each call; the watcher keeps the server side (orders) and drops the client side.
  const orders = await startStatsServer(
    '127.0.0.31',
    requestsLine('destination', 'frontend', 'orders', '/api/orders', 6) +
      `istio_requests_total{reporter="destination",source_workload="frontend",source_workload_namespace="shop",destination_workload="orders",destination_workload_namespace="shop",destination_service_name="orders",request_path="/api/orders/42",request_method="DELETE"} 1\n`,
  );
  t.teardown(async () => {
    await front.close();
    await orders.close();
  });
  const { kube, mapper } = await startResolvedMapper(
    t,
    [
      workload('Deployment', 'frontend', 'shop'),
      workload('ReplicaSet', 'frontend-6c8d', 'shop', owner('Deployment', 'frontend')),
      meshPod('frontend-6c8d-aaaaa', 'shop', front.ip, front.port, owner('ReplicaSet', 'frontend-6c8d')),
      workload('Deployment', 'orders', 'shop'),
      workload('ReplicaSet', 'orders-7d9f', 'shop', owner('Deployment', 'orders')),
      meshPod('orders-7d9f-bbbbb', 'shop', orders.ip, orders.port, owner('ReplicaSet', 'orders-7d9f')),
    ],
    'callmap-istio-e2e-',
  );

  const ctx = captureCtx();
  const code = await main(
    ['watch', 'istio', '--once', '--kubeconfig', kube.kubeconfigPath, '--mapper-url', mapper.url, '--template-paths'],
    ctx,
  );
  t.is(code, 0, ctx.err());

  const res = await fetch(`${mapper.url}/api/v1/intents`);
  t.is(res.status, 200);
  const body = (await res.json()) as IntentsResponse;
  const edge = body.intents.find((i) => i.client.name === 'frontend' && i.server?.name === 'orders');
  t.truthy(edge, JSON.stringify(body.intents));
  t.is(edge?.count, 7, 'each call counted once, not once per proxy');
  t.is(edge?.server?.namespace, 'shop');
  t.deepEqual(
    [...(edge?.http ?? [])]
      .map((h) => ({ path: h.path, methods: [...h.methods].sort() }))
      .sort((a, b) => a.path.localeCompare(b.path)),
    [
      { path: '/api/orders', methods: ['GET'] },
      { path: '/api/orders/{id}', methods: ['DELETE'] },
    ],
  );
});
