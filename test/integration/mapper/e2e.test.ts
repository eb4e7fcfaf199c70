/**
 * The real `callmap mapper` process (child) against the Kubernetes API test server: identity
 * resolution through informers end to end, SIGTERM right after a 202 keeps the data, and start-up
 * failures on a corrupt or locked database. Fixture: test/fixtures/k8s/resolution.yaml.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { IntentsResponse, Observation } from '../../../mapper/contract/index.ts';
import { openMapStore } from '../../../mapper/store/index.ts';
import { eventually } from '../../helpers/eventually.ts';
import { startKubeApiServer } from '../../kube-api-server/index.ts';
import { batch, tempDir } from '../../unit/mapper/fixtures.ts';
import { runCli, runMain, spawnMapper, startTestMapper } from './harness.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/k8s/resolution.yaml', import.meta.url));

const tcp = (clientIp: string, serverIp: string, serverPort: number, time: number): Observation => ({
  kind: 'tcp',
  clientIp,
  serverIp,
  serverPort,
  source: 'capture',
  time,
});

test('callmap mapper resolves through the Kubernetes API, survives SIGTERM after a 202, keeps the map on restart', async (t) => {
  const kube = await startKubeApiServer({ fixture: FIXTURE, bookmarkIntervalMs: 500 });
  t.teardown(() => kube.close());
  const db = path.join(tempDir(), 'e2e.db');
  const args = ['--db', db, '--kubeconfig', kube.kubeconfigPath];
  const m1 = await spawnMapper(args);
  t.teardown(() => {
    m1.child.kill('SIGKILL');
  });
  t.true(await eventually(async () => (await fetch(`${m1.url}/readyz`)).status === 200), m1.stderr());

  const now = Date.now();
  const before = Date.parse('2025-06-01T00:00:00Z'); // before every fixture pod existed
  const obs: Observation[] = [
    tcp('10.50.0.11', '10.50.0.20', 8080, now), // web pod → bare pod with Otterize service-name annotation
    tcp('10.50.0.30', '10.96.50.10', 80, now), // cart pod (override annotation: basket) → web ClusterIP
    tcp('10.50.1.20', '10.50.1.10', 9092, now), // CronJob pod → kafka-0 (StatefulSet)
    tcp('192.168.50.1', '10.50.0.11', 80, now), // node IP (hostNetwork DaemonSet): never attributed
    tcp('10.50.0.11', '10.50.0.30', 80, before), // pod did not exist yet at that time
    { kind: 'dns', clientIp: '10.50.0.20', name: 'web.shop.svc.cluster.local', ips: ['10.96.50.10'], time: now },
    {
      kind: 'kafka',
      clientIp: '10.50.0.30',
      serverPod: { name: 'kafka-1', namespace: 'data' },
      resourceType: 'Topic',
      resourceName: 'orders',
      patternType: 'LITERAL',
      operation: 'produce',
      allowed: true,
      count: 1,
      time: now,
    },
  ];
  const post = await fetch(`${m1.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(batch(obs)),
  });
  t.is(post.status, 202);
  // SIGTERM right after the acknowledgement: the data must survive.
  m1.child.kill('SIGTERM');
  t.is(await m1.exited, 0, m1.stderr());
  t.regex(m1.stderr(), /stopped; database closed/);

  const m2 = await spawnMapper(args);
  t.teardown(() => {
    m2.child.kill('SIGKILL');
  });
  const list = await runMain(['list', '--mapper-url', m2.url]);
  t.is(list.code, 0, list.stderr);
  t.is(
    list.stdout,
    [
      'report in namespace data calls:',
      '  - kafka',
      'basket in namespace shop calls:',
      '  - kafka in namespace data',
      '    orders: produce',
      '  - web',
      'checkout-svc in namespace shop calls:',
      '  - web',
      'web in namespace shop calls:',
      '  - checkout-svc',
      '',
    ].join('\n'),
  );
  const intents = ((await (await fetch(`${m2.url}/api/v1/intents`)).json()) as IntentsResponse).intents;
  const kinds = Object.fromEntries(
    intents.map((i) => [`${i.client.name}>${i.server?.name}`, `${i.client.kind}>${i.server?.kind}`]),
  );
  t.is(kinds['report>kafka'], 'CronJob>StatefulSet');
  t.is(kinds['web>checkout-svc'], 'Deployment>Pod');
  t.is(kinds['basket>web'], 'Deployment>Deployment');
  const svc = await runMain(['list', '--mapper-url', m2.url, '--as-kubernetes-service', '-n', 'shop']);
  t.regex(svc.stdout, /basket in namespace shop calls:\n(.*\n)* {2}- web\n/);
  const metrics = await (await fetch(`${m2.url}/metrics`)).text();
  // counters are per process: the restarted mapper starts from zero, the map does not
  t.regex(metrics, /callmap_intents 5/);

  // Unresolved observations are counted per reason by the real resolver, never stored.
  const res = await fetch(`${m2.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      batch([
        tcp('192.168.50.1', '10.50.0.11', 80, Date.now()),
        tcp('10.50.0.11', '10.50.0.30', 80, before),
        tcp('10.99.99.99', '10.50.0.11', 80, Date.now()),
      ]),
    ),
  });
  t.is(res.status, 202);
  const after = await (await fetch(`${m2.url}/metrics`)).text();
  t.regex(after, /callmap_unresolved_total\{kind="tcp",reason="host-network"\} 1/);
  t.regex(after, /callmap_unresolved_total\{kind="tcp",reason="not-alive-at-time"\} 1/);
  t.regex(after, /callmap_unresolved_total\{kind="tcp",reason="unknown-ip"\} 1/);
  t.regex(after, /callmap_intents 5/);

  m2.child.kill('SIGTERM');
  t.is(await m2.exited, 0);
});

test('a corrupt database stops start-up with one clear line (DB_CORRUPT), exit 1', async (t) => {
  const db = path.join(tempDir(), 'corrupt.db');
  fs.writeFileSync(db, 'not a database, just text '.repeat(100));
  const r = await runCli(['mapper', '--port', '0', '--host', '127.0.0.1', '--db', db, '--kubeconfig', '/nonexistent']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^callmap mapper: .*not an SQLite database.*\[DB_CORRUPT\]\n$/);
});

test('a database held by another mapper stops start-up with DB_LOCKED, exit 1', async (t) => {
  const db = path.join(tempDir(), 'locked.db');
  const holder = openMapStore({ path: db });
  t.teardown(() => holder.close());
  const r = await runMain(['mapper', '--port', '0', '--host', '127.0.0.1', '--db', db, '--kubeconfig', '/nonexistent']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^callmap mapper: database .* is locked by another process.*\[DB_LOCKED\]\n$/);
});

test('in-process restart: close and reopen on the same DB path keeps the map and idempotency', async (t) => {
  const m1 = await startTestMapper();
  const b = batch([tcp('10.0.0.1', '10.0.0.2', 80, Date.now())]);
  t.is((await m1.post(b)).status, 202);
  await m1.close();
  const m2 = await startTestMapper({ dbPath: m1.dbPath });
  t.teardown(() => m2.close());
  const intents = ((await (await m2.get('/api/v1/intents')).json()) as IntentsResponse).intents;
  t.is(intents.length, 1);
  const again = await m2.post(b);
  t.is(((await again.json()) as { duplicate: boolean }).duplicate, true);
});
