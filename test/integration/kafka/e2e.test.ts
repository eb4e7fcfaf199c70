/**
 * End to end: broker pod logs (Kubernetes API test server) → `callmap watch kafka --once` → the real
 * mapper service (SQLite store, KubeResolver over the same test server) → Kafka intents.
 */
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import type { IntentsResponse } from '../../../mapper/contract/index.ts';
import { owner, startResolvedMapper, workload } from '../../helpers/resolved-mapper.ts';
import { fakeCtx } from './helpers.ts';

const pod = (name: string, ns: string, ip: string, ownerRefs: object[], container = 'main') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, ownerReferences: ownerRefs, labels: { app: name.replace(/-.*/, '') } },
  spec: { containers: [{ name: container, image: 'x' }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], containerStatuses: [{ name: container, restartCount: 0 }] },
});

test('authorizer lines become Kafka intents in the mapper (allowed and denied)', async (t) => {
  const { kube, mapper } = await startResolvedMapper(
    t,
    [
      workload('StatefulSet', 'kafka', 'data'),
      pod('kafka-0', 'data', '10.60.0.10', owner('StatefulSet', 'kafka'), 'kafka'),
      workload('Deployment', 'orders', 'shop'),
      workload('ReplicaSet', 'orders-7d9f', 'shop', owner('Deployment', 'orders')),
      pod('orders-7d9f-abcde', 'shop', '10.60.1.5', owner('ReplicaSet', 'orders-7d9f')),
      workload('Deployment', 'billing', 'shop'),
      workload('ReplicaSet', 'billing-55f', 'shop', owner('Deployment', 'billing')),
      pod('billing-55f-xyz12', 'shop', '10.60.1.6', owner('ReplicaSet', 'billing-55f')),
    ],
    'callmap-kafka-e2e-',
  );

  const apache = (ip: string, verdict: string, op: string, topic: string) =>
    `[2024-05-01 12:00:00,000] INFO Principal = User:CN=svc,O=Corp is ${verdict} Operation = ${op} from host = ${ip} on resource = Topic:LITERAL:${topic} for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)`;
  const kraft = (ip: string, verdict: string, op: string, res: string) =>
    `[2024-05-01 12:00:00,000] INFO Principal = User:svc is ${verdict} operation = ${op} from host = ${ip} on resource = ${res} for request = Produce with resourceRefCount = 1 based on rule DefaultDeny (kafka.authorizer.logger)`;
  // No explicit time: the kubelet-style stamp is "now", after the pods were created.
  for (const l of [
    apache('10.60.1.5', 'Allowed', 'Read', 'orders'),
    apache('10.60.1.5', 'Allowed', 'Describe', 'orders'),
    kraft('10.60.1.5', 'Denied', 'WRITE', 'Topic:LITERAL:orders'),
    kraft('10.60.1.6', 'Allowed', 'WRITE', 'Topic:LITERAL:invoices'),
    kraft('10.60.1.6', 'Allowed', 'READ', 'Group:LITERAL:billing-group'),
    '[2024-05-01 12:00:00,000] INFO unrelated broker line (kafka.server.KafkaServer)',
  ])
    kube.appendLog('data', 'kafka-0', 'kafka', l);

  const f = fakeCtx();
  const code = await main(
    [
      'watch',
      'kafka',
      '--once',
      '--server',
      'kafka-0.data',
      '--kubeconfig',
      kube.kubeconfigPath,
      '--mapper-url',
      mapper.url,
    ],
    f.ctx,
  );
  t.is(code, 0, f.err());

  const res = await fetch(`${mapper.url}/api/v1/intents`);
  t.is(res.status, 200);
  const body = (await res.json()) as IntentsResponse;
  const kafka = body.intents.filter((i) => i.kafka.length > 0);
  const byClient = Object.fromEntries(kafka.map((i) => [`${i.client.namespace}/${i.client.name}`, i]));
  const orders = byClient['shop/orders'];
  t.truthy(orders, JSON.stringify(body.intents));
  t.deepEqual(
    { name: orders?.server?.name, namespace: orders?.server?.namespace, kind: orders?.server?.kind },
    { name: 'kafka', namespace: 'data', kind: 'StatefulSet' },
  );
  const ordersTopic = orders?.kafka.find((k) => k.topic === 'orders');
  t.deepEqual([...(ordersTopic?.operations ?? [])].sort(), ['consume', 'describe']);
  t.deepEqual(ordersTopic?.deniedOperations, ['produce']);
  const billing = byClient['shop/billing'];
  t.deepEqual(
    billing?.kafka.map((k) => ({ topic: k.topic, operations: k.operations })),
    [{ topic: 'invoices', operations: ['produce'] }],
    'the Group resource is not a topic intent',
  );
});
