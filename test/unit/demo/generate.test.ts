import test from 'ava';
import { DEMO_CALLS, DEMO_EXTERNAL, DEMO_KAFKA, DEMO_WORKLOADS } from '../../../mapper/demo/cluster.ts';
import { demoKafkaLog, demoKubeObjects, demoPods, demoStatsPage, demoTraffic } from '../../../mapper/demo/generate.ts';

type Obj = {
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; ownerReferences?: Array<{ uid: string }> };
};

test('every call, Kafka access and external destination names a described workload', (t) => {
  const names = new Set(DEMO_WORKLOADS.map((w) => w.name));
  for (const c of DEMO_CALLS) t.true(names.has(c.from) && names.has(c.to), `${c.from} -> ${c.to}`);
  for (const k of DEMO_KAFKA) t.true(names.has(k.client), k.client);
  for (const e of DEMO_EXTERNAL) t.true(names.has(e.from), e.from);
});

test('pods have unique names and loopback IPs, and generation is deterministic', (t) => {
  const pods = demoPods();
  t.is(new Set(pods.map((p) => p.ip)).size, pods.length);
  t.is(new Set(pods.map((p) => `${p.namespace}/${p.name}`)).size, pods.length);
  t.true(pods.every((p) => p.ip.startsWith('127.')));
  t.deepEqual(demoKubeObjects({ statsPort: 1 }), demoKubeObjects({ statsPort: 1 }));
});

test('owner references point at objects that exist (pod -> ReplicaSet -> Deployment, pod -> StatefulSet)', (t) => {
  const objs = demoKubeObjects({ statsPort: 15090 }) as Obj[];
  const uids = new Set(objs.map((o) => o.metadata.uid));
  let refs = 0;
  for (const o of objs) {
    for (const r of o.metadata.ownerReferences ?? []) {
      refs += 1;
      t.true(uids.has(r.uid), `${o.kind}/${o.metadata.name}`);
    }
  }
  t.true(refs >= demoPods().length);
  t.is(objs.filter((o) => o.kind === 'Pod').length, demoPods().length);
});

test('traffic covers every L4 call and external destination', (t) => {
  const { dns, connections } = demoTraffic();
  const pods = demoPods();
  const ipOf = (name: string) => new Set(pods.filter((p) => p.workload.name === name).map((p) => p.ip));
  for (const c of DEMO_CALLS) {
    const from = ipOf(c.from);
    const to = ipOf(c.to);
    t.true(
      connections.some((x) => from.has(x.clientIp) && to.has(x.serverIp)),
      `${c.from} -> ${c.to}`,
    );
  }
  for (const e of DEMO_EXTERNAL) t.true(dns.some((d) => d.name === e.domain));
});

test('stats pages grow with rounds and carry path and method labels', (t) => {
  const cart = demoPods().find((p) => p.workload.name === 'cartservice');
  if (!cart) return t.fail();
  const v = (page: string) => Number(/GetCart"[^}]*\} (\d+)/.exec(page)?.[1]);
  t.true(v(demoStatsPage(cart, 4)) > v(demoStatsPage(cart, 2)));
  t.regex(demoStatsPage(cart, 1), /request_method="POST",request_path="\/hipstershop.CartService\/GetCart"/);
});

test('the Kafka log carries one authorizer line per operation, including the denied one', (t) => {
  const lines = demoKafkaLog(Date.UTC(2026, 10, 21));
  const ops = DEMO_KAFKA.reduce((n, k) => n + k.operations.length, 0);
  t.is(lines.filter((l) => l.includes('Principal = ')).length, ops);
  t.is(lines.filter((l) => l.includes(' is Denied ')).length, 1);
});
