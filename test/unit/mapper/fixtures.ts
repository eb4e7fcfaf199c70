/** Shared fixtures for mapper tests: a small cluster in a StaticResolver and batch builders. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { Observation, ReportBatch, WorkloadIdentity } from '../../../mapper/contract/index.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';

export const T0 = 1_750_000_000_000;

export const W = {
  frontend: { name: 'frontend', namespace: 'shop', kind: 'Deployment', labels: { app: 'frontend', tier: 'web' } },
  checkout: { name: 'checkout', namespace: 'shop', kind: 'Deployment', labels: { app: 'checkout' } },
  payments: { name: 'payments', namespace: 'billing', kind: 'Deployment', labels: { app: 'payments' } },
  kafka: { name: 'kafka', namespace: 'data', kind: 'StatefulSet', labels: { app: 'kafka' } },
  reporter: { name: 'reporter', namespace: 'shop', kind: 'CronJob' },
} satisfies Record<string, WorkloadIdentity>;

export function shopResolver(): StaticResolver {
  return new StaticResolver({
    ips: {
      '10.0.0.1': W.frontend,
      '10.0.0.2': W.checkout,
      '10.0.0.3': W.payments,
      '10.0.0.4': { workload: W.kafka, pod: { name: 'kafka-0', namespace: 'data' } },
      '10.96.0.2': { workload: W.checkout, service: { name: 'checkout-svc', namespace: 'shop' } },
      '10.96.0.3': { workload: W.payments, service: { name: 'payments', namespace: 'billing' } },
      // a pod that had this IP only before T0 + 1000
      '10.0.0.9': { workload: W.reporter, until: T0 + 1000 },
    },
    names: {
      'checkout-svc.shop.svc.cluster.local': {
        workload: W.checkout,
        service: { name: 'checkout-svc', namespace: 'shop' },
      },
      'payments.billing.svc.cluster.local': {
        workload: W.payments,
        service: { name: 'payments', namespace: 'billing' },
      },
    },
    pods: { 'data/kafka-0': W.kafka },
    workloads: {
      'shop/frontend': W.frontend,
      'shop/checkout': W.checkout,
      'billing/payments': W.payments,
    },
    nodeIps: ['192.168.1.10'],
  });
}

let seq = 0;
export function batch(observations: Observation[], batchId = `b-${process.pid}-${++seq}`): ReportBatch {
  return {
    batchId,
    reporter: { component: 'sniffer', instance: 'node-1' },
    sentAt: T0,
    observations,
  };
}

export const tcp = (clientIp: string, serverIp: string, serverPort: number, time = T0): Observation => ({
  kind: 'tcp',
  clientIp,
  serverIp,
  serverPort,
  source: 'capture',
  time,
});

export function tempDir(prefix = 'callmap-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Random `tcp` observations for the ingest property tests: client `10.0.0.c` (c < clients) to
 * server `10.0.0.s` or, through a Service, `10.96.0.s` (s ≤ servers: the resolver decides which
 * exist), ports 1..ports, times T0 + [minT, 1000], with an optional count.
 */
export function arbTcp(o: {
  clients: number;
  servers: number;
  ports: number;
  minT?: number;
}): fc.Arbitrary<Observation> {
  return fc
    .record({
      c: fc.nat(o.clients - 1),
      s: fc.nat(o.servers),
      svc: fc.boolean(),
      port: fc.integer({ min: 1, max: o.ports }),
      t: fc.integer({ min: o.minT ?? 0, max: 1000 }),
      count: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    })
    .map(
      ({ c, s, svc, port, t, count }): Observation => ({
        kind: 'tcp',
        clientIp: `10.0.0.${c}`,
        serverIp: `10.${svc ? 96 : 0}.0.${s}`,
        serverPort: port,
        source: 'capture',
        time: T0 + t,
        ...(count !== undefined ? { count } : {}),
      }),
    );
}
