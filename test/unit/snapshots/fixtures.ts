/** Builders for snapshot bodies in unit tests. */
import type { Intent, KafkaOperation, WorkloadIdentity } from '../../../mapper/contract/index.ts';
import type { SnapshotAclEntry, SnapshotBody } from '../../../mapper/snapshots/types.ts';

export const wl = (ref: string, kind = 'Deployment'): WorkloadIdentity => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { name, namespace, kind };
};

export interface EdgeSpec {
  ports?: number[];
  http?: Record<string, string[]>;
  kafka?: Record<string, { ok?: KafkaOperation[]; denied?: KafkaOperation[] }>;
  ips?: string[];
}

/** `edge('shop/a', 'shop/b', {...})`, or `edge('shop/a', 'ext:api.example.com')`. */
export function edge(client: string, target: string, spec: EdgeSpec = {}): Intent {
  const it: Intent = {
    client: wl(client),
    ports: spec.ports ?? [],
    http: Object.entries(spec.http ?? {})
      .map(([path, methods]) => ({ path, methods: [...methods].sort() }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    kafka: Object.entries(spec.kafka ?? {})
      .map(([topic, k]) => ({
        topic,
        operations: [...(k.ok ?? [])].sort(),
        deniedOperations: [...(k.denied ?? [])].sort(),
      }))
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0)),
    firstSeen: 1,
    lastSeen: 2,
    count: 1,
  };
  if (target.startsWith('ext:')) it.external = { domain: target.slice(4), ips: spec.ips ?? [] };
  else it.server = wl(target);
  return it;
}

export function body(intents: Intent[], kafkaAcl: SnapshotAclEntry[] = []): SnapshotBody {
  return { intents, kafkaAcl };
}

export function acl(
  client: string,
  server: string,
  resourceType: string,
  resourceName: string,
  operation: string,
  allowed: boolean,
): SnapshotAclEntry {
  const c = wl(client);
  const s = wl(server);
  return {
    client: { name: c.name, namespace: c.namespace },
    server: { name: s.name, namespace: s.namespace },
    resourceType,
    resourceName,
    operation,
    allowed,
  };
}
