/**
 * End to end: a generated capture → `callmap sniffer --pcap` → the real mapper service (SQLite,
 * KubeResolver over the Kubernetes API test server) → intents between the workloads.
 */
import { join } from 'node:path';
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import type { IntentsResponse } from '../../../mapper/contract/index.ts';
import { buildDnsResponse, buildTcpSyn, writePcap } from '../../../sniffer/index.ts';
import { captureCtx } from '../../helpers/mapper-stub.ts';
import { owner, startResolvedMapper, workload } from '../../helpers/resolved-mapper.ts';

const pod = (name: string, ns: string, ip: string, ownerRefs: object[]) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, ownerReferences: ownerRefs, labels: { app: name.replace(/-.*/, '') } },
  spec: { containers: [{ name: 'main', image: 'x' }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], containerStatuses: [{ name: 'main', restartCount: 0 }] },
});

test('a replayed capture becomes intents in the real mapper', async (t) => {
  const { mapper, dir } = await startResolvedMapper(
    t,
    [
      workload('Deployment', 'web', 'shop'),
      workload('ReplicaSet', 'web-5d8', 'shop', owner('Deployment', 'web')),
      pod('web-5d8-abcde', 'shop', '10.244.1.5', owner('ReplicaSet', 'web-5d8')),
      workload('Deployment', 'api', 'shop'),
      workload('ReplicaSet', 'api-7f9', 'shop', owner('Deployment', 'api')),
      pod('api-7f9-xyz12', 'shop', '10.244.2.7', owner('ReplicaSet', 'api-7f9')),
      workload('StatefulSet', 'db', 'data'),
      pod('db-0', 'data', '10.244.3.9', owner('StatefulSet', 'db')),
    ],
    'callmap-sniffer-e2e-',
  );

  // packets stamped "now", after the pods were created (IP ownership has lifetimes)
  const now = Date.now();
  const file = join(dir, 'node.pcap');
  writePcap(
    file,
    [
      {
        data: buildDnsResponse({
          clientIp: '10.244.1.5',
          name: 'api.shop.svc.cluster.local',
          answers: [{ type: 'A', value: '10.244.2.7' }],
          link: 'sll',
        }),
        time: now,
      },
      {
        data: buildTcpSyn({ clientIp: '10.244.1.5', serverIp: '10.244.2.7', serverPort: 8080, link: 'sll' }),
        time: now + 1,
      },
      {
        data: buildTcpSyn({
          clientIp: '10.244.2.7',
          serverIp: '10.244.3.9',
          serverPort: 5432,
          synAck: true,
          link: 'sll',
        }),
        time: now + 2,
      },
    ],
    { linkType: 113 },
  );

  const c = captureCtx();
  const code = await main(['sniffer', '--pcap', file, '--mapper-url', mapper.url, '--node-name', 'node-1'], c);
  t.is(code, 0, c.err());
  t.regex(c.out(), /3 packets, 1 DNS answers, 2 TCP connections, 0 malformed skipped/);

  const res = await fetch(`${mapper.url}/api/v1/intents`);
  t.is(res.status, 200);
  const body = (await res.json()) as IntentsResponse;
  const edges = body.intents
    .filter((i) => i.server)
    .map(
      (i) => `${i.client.namespace}/${i.client.name} -> ${i.server?.namespace}/${i.server?.name} ${i.ports.join(',')}`,
    )
    .sort();
  t.true(edges.includes('shop/web -> shop/api 8080'), JSON.stringify(body.intents, null, 1));
  t.true(edges.includes('shop/api -> data/db 5432'), JSON.stringify(body.intents, null, 1));
});
