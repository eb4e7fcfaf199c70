/** Builders for the Kubernetes objects the k8s tests feed to ClusterState / the test API server. */

export const T0 = Date.parse('2026-01-01T00:00:00Z');
export const iso = (ms: number): string => new Date(ms).toISOString();

type Owner = readonly [kind: string, name: string];

function ownerRefs(owner: Owner | undefined): object[] | undefined {
  if (owner === undefined) return undefined;
  return [{ apiVersion: 'v1', kind: owner[0], name: owner[1], uid: `uid-${owner[0]}-${owner[1]}`, controller: true }];
}

let seq = 0;

export interface PodSpec {
  ns?: string;
  name: string;
  uid?: string;
  ip?: string;
  ips?: string[];
  created?: number;
  deletionTimestamp?: number;
  owner?: Owner;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  hostNetwork?: boolean;
  hostname?: string;
  subdomain?: string;
  nodeName?: string;
  phase?: string;
  finishedAt?: number;
}

export function pod(p: PodSpec): Record<string, unknown> {
  const status: Record<string, unknown> = { phase: p.phase ?? 'Running' };
  if (p.ip !== undefined) status['podIP'] = p.ip;
  const ips = p.ips ?? (p.ip !== undefined ? [p.ip] : undefined);
  if (ips !== undefined) status['podIPs'] = ips.map((ip) => ({ ip }));
  if (p.finishedAt !== undefined) {
    status['containerStatuses'] = [
      { name: 'main', state: { terminated: { exitCode: 0, finishedAt: iso(p.finishedAt) } } },
    ];
  }
  const spec: Record<string, unknown> = { containers: [{ name: 'main', image: 'busybox' }] };
  if (p.hostNetwork) spec['hostNetwork'] = true;
  if (p.hostname !== undefined) spec['hostname'] = p.hostname;
  if (p.subdomain !== undefined) spec['subdomain'] = p.subdomain;
  if (p.nodeName !== undefined) spec['nodeName'] = p.nodeName;
  const metadata: Record<string, unknown> = {
    name: p.name,
    namespace: p.ns ?? 'default',
    uid: p.uid ?? `uid-pod-${p.name}-${++seq}`,
    creationTimestamp: iso(p.created ?? T0),
  };
  if (p.labels !== undefined) metadata['labels'] = p.labels;
  if (p.annotations !== undefined) metadata['annotations'] = p.annotations;
  if (p.deletionTimestamp !== undefined) metadata['deletionTimestamp'] = iso(p.deletionTimestamp);
  const refs = ownerRefs(p.owner);
  if (refs !== undefined) metadata['ownerReferences'] = refs;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status };
}

const GROUP: Record<string, string> = {
  ReplicaSet: 'apps/v1',
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
};

export function workload(
  kind: string,
  name: string,
  opts: { ns?: string; owner?: Owner; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    name,
    namespace: opts.ns ?? 'default',
    uid: `uid-${kind}-${name}`,
    creationTimestamp: iso(T0 - 3600_000),
  };
  if (opts.labels !== undefined) metadata['labels'] = opts.labels;
  if (opts.annotations !== undefined) metadata['annotations'] = opts.annotations;
  const refs = ownerRefs(opts.owner);
  if (refs !== undefined) metadata['ownerReferences'] = refs;
  const spec: Record<string, unknown> =
    kind === 'CronJob'
      ? { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { containers: [] } } } } }
      : {
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [] } },
        };
  return { apiVersion: GROUP[kind] ?? 'v1', kind, metadata, spec };
}

export function service(
  name: string,
  clusterIP: string,
  opts: { ns?: string; clusterIPs?: string[]; labels?: Record<string, string>; created?: number } = {},
): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    clusterIP,
    ports: [{ port: 80, protocol: 'TCP' }],
    selector: { app: name },
    type: 'ClusterIP',
  };
  if (opts.clusterIPs !== undefined) spec['clusterIPs'] = opts.clusterIPs;
  else if (clusterIP !== 'None') spec['clusterIPs'] = [clusterIP];
  const metadata: Record<string, unknown> = {
    name,
    namespace: opts.ns ?? 'default',
    uid: `uid-svc-${name}`,
    creationTimestamp: iso(opts.created ?? T0 - 3600_000),
  };
  if (opts.labels !== undefined) metadata['labels'] = opts.labels;
  return { apiVersion: 'v1', kind: 'Service', metadata, spec };
}

export interface EndpointSpec {
  ip: string;
  pod?: string;
  hostname?: string;
  ready?: boolean;
}

export function endpointSlice(
  svc: string,
  endpoints: EndpointSpec[],
  opts: { ns?: string; name?: string; addressType?: string } = {},
): Record<string, unknown> {
  const ns = opts.ns ?? 'default';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: opts.name ?? `${svc}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: opts.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true },
      ...(e.hostname !== undefined ? { hostname: e.hostname } : {}),
      ...(e.pod !== undefined ? { targetRef: { kind: 'Pod', name: e.pod, namespace: ns } } : {}),
    })),
    ports: [{ port: 80, protocol: 'TCP' }],
  };
}

export function endpoints(svc: string, addrs: EndpointSpec[], opts: { ns?: string } = {}): Record<string, unknown> {
  const ns = opts.ns ?? 'default';
  const toAddr = (e: EndpointSpec) => ({
    ip: e.ip,
    ...(e.hostname !== undefined ? { hostname: e.hostname } : {}),
    ...(e.pod !== undefined ? { targetRef: { kind: 'Pod', name: e.pod, namespace: ns } } : {}),
  });
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: svc, namespace: ns },
    subsets: [
      {
        addresses: addrs.filter((a) => a.ready !== false).map(toAddr),
        notReadyAddresses: addrs.filter((a) => a.ready === false).map(toAddr),
        ports: [{ port: 80 }],
      },
    ],
  };
}

export function node(name: string, internalIP: string, externalIP?: string): Record<string, unknown> {
  const addresses = [
    { type: 'InternalIP', address: internalIP },
    { type: 'Hostname', address: name },
  ];
  if (externalIP !== undefined) addresses.push({ type: 'ExternalIP', address: externalIP });
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: `uid-node-${name}` }, status: { addresses } };
}
