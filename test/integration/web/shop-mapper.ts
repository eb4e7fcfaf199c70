/**
 * Feeds a real mapper with a fixture map: turns Intent fixtures into the observations a sniffer,
 * Istio watcher and Kafka watcher would report, plus the StaticResolver tables that name them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  Intent,
  KafkaObservation,
  Observation,
  ReportBatch,
  WorkloadIdentity,
} from '../../../mapper/contract/index.ts';
import { type MapperService, type MapperServiceOptions, startMapperService } from '../../../mapper/service.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';

const key = (w: { name: string; namespace: string }) => `${w.namespace}/${w.name}`;

export interface FixtureFeed {
  resolver: StaticResolver;
  observations(intents: readonly Intent[], time: number): Observation[];
}

/** A resolver that knows every workload of `intents` (and `extra`), with one pod IP each. */
export function fixtureFeed(intents: readonly Intent[], extra: readonly WorkloadIdentity[] = []): FixtureFeed {
  const workloads = new Map<string, WorkloadIdentity>();
  for (const it of intents) {
    workloads.set(key(it.client), it.client);
    if (it.server) workloads.set(key(it.server), it.server);
  }
  for (const w of extra) workloads.set(key(w), w);
  const ipOf = new Map<string, string>();
  const ips: Record<string, WorkloadIdentity> = {};
  const pods: Record<string, WorkloadIdentity> = {};
  const byName: Record<string, WorkloadIdentity> = {};
  let i = 1;
  for (const [k, w] of workloads) {
    const ip = `10.1.${i >> 8}.${i & 255}`;
    i++;
    ipOf.set(k, ip);
    ips[ip] = w;
    pods[`${w.namespace}/${w.name}-0`] = w;
    byName[k] = w;
  }
  const resolver = new StaticResolver({ ips, pods, workloads: byName });
  const extIp = (domain: string) => `198.51.100.${(domain.length * 7) % 250}`;

  return {
    resolver,
    observations(list, time) {
      const obs: Observation[] = [];
      for (const it of list) {
        const clientIp = ipOf.get(key(it.client)) ?? '10.9.9.9';
        if (it.external) {
          const ip = it.external.ips[0] ?? extIp(it.external.domain);
          obs.push({ kind: 'dns', clientIp, name: it.external.domain, ips: [ip], ttl: 300, time });
          for (const port of it.ports.length > 0 ? it.ports : [443])
            obs.push({ kind: 'tcp', clientIp, serverIp: ip, serverPort: port, source: 'capture', time });
          continue;
        }
        const server = it.server;
        if (!server) continue;
        const serverIp = ipOf.get(key(server)) ?? '10.9.9.8';
        for (const port of it.ports)
          obs.push({ kind: 'tcp', clientIp, serverIp, serverPort: port, source: 'capture', time });
        for (const h of it.http) {
          for (const method of h.methods.length > 0 ? h.methods : [undefined]) {
            obs.push({
              kind: 'http',
              client: { name: it.client.name, namespace: it.client.namespace },
              server: { name: server.name, namespace: server.namespace },
              ...(method ? { method } : {}),
              path: h.path,
              ...(it.ports[0] ? { port: it.ports[0] } : {}),
              reporter: 'destination',
              count: 1,
              time,
            });
          }
        }
        for (const k of it.kafka) {
          const base = {
            kind: 'kafka' as const,
            clientIp,
            serverPod: { name: `${server.name}-0`, namespace: server.namespace },
            resourceType: 'Topic' as const,
            resourceName: k.topic,
            patternType: 'LITERAL' as const,
            count: 1,
            time,
          };
          for (const operation of k.operations) obs.push({ ...base, operation, allowed: true } as KafkaObservation);
          for (const operation of k.deniedOperations)
            obs.push({ ...base, operation, allowed: false } as KafkaObservation);
        }
      }
      return obs;
    },
  };
}

let seq = 0;
export function reportBatch(observations: Observation[], sentAt: number): ReportBatch {
  return {
    batchId: `web-${process.pid}-${++seq}`,
    reporter: { component: 'demo', instance: 'web-test' },
    sentAt,
    observations,
  };
}

export async function postReport(mapperUrl: string, batch: ReportBatch): Promise<void> {
  const res = await fetch(`${mapperUrl}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(batch),
  });
  if (res.status !== 202) throw new Error(`POST /api/v1/reports answered ${res.status}: ${await res.text()}`);
}

export interface ShopMapper {
  mapper: MapperService;
  /** Temp directory holding the map database (removed by `close()` unless told to keep files). */
  dir: string;
  feed: FixtureFeed;
  /** Closes the mapper; removes `dir` except the files `keep` accepts. */
  close(keep?: (file: string) => boolean): Promise<void>;
}

/**
 * A real mapper on 127.0.0.1:0 with a fresh database, whose resolver knows every workload of
 * `intents` and `alsoKnown`, already fed the observations of `intents`.
 */
export async function startShopMapper(opts: {
  prefix: string;
  intents: readonly Intent[];
  alsoKnown?: readonly Intent[];
  service?: Omit<MapperServiceOptions, 'port' | 'host' | 'db' | 'resolver'>;
}): Promise<ShopMapper> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix));
  const feed = fixtureFeed([...opts.intents, ...(opts.alsoKnown ?? [])]);
  const mapper = await startMapperService({
    log: () => {},
    ...opts.service,
    port: 0,
    host: '127.0.0.1',
    db: { path: path.join(dir, 'map.db') },
    resolver: feed.resolver,
  });
  const now = Date.now();
  await postReport(mapper.url, reportBatch(feed.observations(opts.intents, now), now));
  return {
    mapper,
    dir,
    feed,
    async close(keep) {
      await mapper.close();
      if (keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
      else for (const f of fs.readdirSync(dir)) if (!keep(f)) fs.rmSync(path.join(dir, f), { force: true });
    },
  };
}
