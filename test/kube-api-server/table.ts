/**
 * Server-side printing (`meta.k8s.io/v1` Table) as `kubectl get` requests it with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Columns follow the real server's
 * printers for the served kinds (a subset of the wide columns).
 */
import { fieldValue, type KubeObject, type ResourceDef } from './resources.ts';

export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io') && params.includes('v=v1');
  });
}

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  priority: number;
  cell: (o: KubeObject, now: number) => string | number;
}

/** Human-readable age like the API server's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (d < 365 * 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

const rec = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown, dflt = '<none>'): string => (typeof v === 'string' && v !== '' ? v : dflt);

const name: Column = { name: 'Name', type: 'string', priority: 0, cell: (o) => o.metadata.name };
const age: Column = {
  name: 'Age',
  type: 'string',
  priority: 0,
  cell: (o, now) => {
    const t = Date.parse(o.metadata.creationTimestamp ?? '');
    return Number.isFinite(t) ? humanDuration(now - t) : '<unknown>';
  },
};
const col = (n: string, cell: Column['cell'], priority = 0, type: Column['type'] = 'string'): Column => ({
  name: n,
  type,
  priority,
  cell,
});

const containers = (o: KubeObject, path: string) => arr(rec(rec(fieldValueObj(o, path)).spec).containers);
function fieldValueObj(o: KubeObject, path: string): unknown {
  let cur: unknown = o;
  for (const p of path.split('.')) cur = rec(cur)[p];
  return cur;
}
const selectorText = (sel: unknown) => {
  const labels = rec(rec(sel).matchLabels);
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? parts.join(',') : '<none>';
};

function podStatus(o: KubeObject): string {
  const status = rec(o.status);
  if (o.metadata.deletionTimestamp) return 'Terminating';
  for (const cs of arr(status.containerStatuses)) {
    const st = rec(rec(cs).state);
    const waiting = rec(st.waiting);
    if (typeof waiting.reason === 'string') return waiting.reason;
    const term = rec(st.terminated);
    if (typeof term.reason === 'string') return term.reason;
  }
  return str(status.reason, str(status.phase, 'Unknown'));
}

function podReady(o: KubeObject): string {
  const total = arr(rec(o.spec).containers).length;
  const statuses = arr(rec(o.status).containerStatuses);
  const ready = statuses.filter((c) => rec(c).ready === true).length;
  return `${ready}/${total}`;
}

function servicePorts(o: KubeObject): string {
  const ports = arr(rec(o.spec).ports).map((p) => {
    const r = rec(p);
    const node = typeof r.nodePort === 'number' ? `:${r.nodePort}` : '';
    return `${num(r.port)}${node}/${str(r.protocol, 'TCP')}`;
  });
  return ports.length ? ports.join(',') : '<none>';
}

function endpointsText(o: KubeObject): string {
  const out: string[] = [];
  for (const subset of arr(o.subsets)) {
    const s = rec(subset);
    const ports = arr(s.ports).map((p) => num(rec(p).port));
    for (const a of arr(s.addresses)) {
      const ip = str(rec(a).ip, '');
      if (ports.length === 0) out.push(ip);
      for (const p of ports) out.push(`${ip}:${p}`);
    }
  }
  if (out.length === 0) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function sliceEndpoints(o: KubeObject): string {
  const ips = arr(o.endpoints).flatMap((e) => arr(rec(e).addresses).map(String));
  if (ips.length === 0) return '<unset>';
  return ips.length > 3 ? `${ips.slice(0, 3).join(',')} + ${ips.length - 3} more...` : ips.join(',');
}

function nodeAddress(o: KubeObject, type: string): string {
  const a = arr(rec(o.status).addresses).find((x) => rec(x).type === type);
  return a ? str(rec(a).address) : '<none>';
}

function nodeReady(o: KubeObject): string {
  const c = arr(rec(o.status).conditions).find((x) => rec(x).type === 'Ready');
  const ready = c ? rec(c).status === 'True' : false;
  return (ready ? 'Ready' : 'NotReady') + (rec(o.spec).unschedulable === true ? ',SchedulingDisabled' : '');
}

function nodeRoles(o: KubeObject): string {
  const roles = Object.keys(o.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter((r) => r !== '');
  return roles.length ? roles.sort().join(',') : '<none>';
}

/** `-o wide` columns of workloads with a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet, …). */
const templateField = (field: 'name' | 'image') => (o: KubeObject) =>
  containers(o, 'spec.template')
    .map((c) => str(rec(c)[field]))
    .join(',');
const templateColumns: Column[] = [
  col('Containers', templateField('name'), 1),
  col('Images', templateField('image'), 1),
];

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    name,
    col('Ready', podReady),
    col('Status', podStatus),
    col(
      'Restarts',
      (o) => arr(rec(o.status).containerStatuses).reduce<number>((n, c) => n + num(rec(c).restartCount), 0),
      0,
      'integer',
    ),
    age,
    col('IP', (o) => str(fieldValue(o, 'status.podIP')), 1),
    col('Node', (o) => str(fieldValue(o, 'spec.nodeName')), 1),
    col('Nominated Node', (o) => str(fieldValue(o, 'status.nominatedNodeName')), 1),
    col('Readiness Gates', () => '<none>', 1),
  ],
  Deployment: [
    name,
    col('Ready', (o) => `${num(rec(o.status).readyReplicas)}/${num(rec(o.spec).replicas)}`),
    col('Up-to-date', (o) => num(rec(o.status).updatedReplicas), 0, 'integer'),
    col('Available', (o) => num(rec(o.status).availableReplicas), 0, 'integer'),
    age,
    ...templateColumns,
    col('Selector', (o) => selectorText(rec(o.spec).selector), 1),
  ],
  ReplicaSet: [
    name,
    col('Desired', (o) => num(rec(o.spec).replicas), 0, 'integer'),
    col('Current', (o) => num(rec(o.status).replicas), 0, 'integer'),
    col('Ready', (o) => num(rec(o.status).readyReplicas), 0, 'integer'),
    age,
    ...templateColumns,
    col('Selector', (o) => selectorText(rec(o.spec).selector), 1),
  ],
  StatefulSet: [
    name,
    col('Ready', (o) => `${num(rec(o.status).readyReplicas)}/${num(rec(o.spec).replicas)}`),
    age,
    ...templateColumns,
  ],
  DaemonSet: [
    name,
    col('Desired', (o) => num(rec(o.status).desiredNumberScheduled), 0, 'integer'),
    col('Current', (o) => num(rec(o.status).currentNumberScheduled), 0, 'integer'),
    col('Ready', (o) => num(rec(o.status).numberReady), 0, 'integer'),
    col('Up-to-date', (o) => num(rec(o.status).updatedNumberScheduled), 0, 'integer'),
    col('Available', (o) => num(rec(o.status).numberAvailable), 0, 'integer'),
    col('Node Selector', (o) => {
      const sel = rec(rec(rec(rec(o.spec).template).spec).nodeSelector);
      const parts = Object.entries(sel).map(([k, v]) => `${k}=${String(v)}`);
      return parts.length ? parts.join(',') : '<none>';
    }),
    age,
  ],
  Job: [
    name,
    col('Status', (o) => {
      const conds = arr(rec(o.status).conditions).map(rec);
      if (conds.some((c) => c.type === 'Complete' && c.status === 'True')) return 'Complete';
      if (conds.some((c) => c.type === 'Failed' && c.status === 'True')) return 'Failed';
      return 'Running';
    }),
    col('Completions', (o) => `${num(rec(o.status).succeeded)}/${num(rec(o.spec).completions) || 1}`),
    col('Duration', (o, now) => {
      const st = rec(o.status);
      const start = Date.parse(str(st.startTime, ''));
      if (!Number.isFinite(start)) return '';
      const end = Date.parse(str(st.completionTime, ''));
      return humanDuration((Number.isFinite(end) ? end : now) - start);
    }),
    age,
  ],
  CronJob: [
    name,
    col('Schedule', (o) => str(rec(o.spec).schedule)),
    col('Timezone', (o) => str(rec(o.spec).timeZone)),
    col('Suspend', (o) => (rec(o.spec).suspend === true ? 'True' : 'False')),
    col('Active', (o) => arr(rec(o.status).active).length, 0, 'integer'),
    col('Last Schedule', (o, now) => {
      const t = Date.parse(str(rec(o.status).lastScheduleTime, ''));
      return Number.isFinite(t) ? humanDuration(now - t) : '<none>';
    }),
    age,
  ],
  Service: [
    name,
    col('Type', (o) => str(rec(o.spec).type, 'ClusterIP')),
    col('Cluster-IP', (o) => str(rec(o.spec).clusterIP)),
    col('External-IP', (o) => {
      const ips = arr(rec(o.spec).externalIPs).map(String);
      return ips.length ? ips.join(',') : '<none>';
    }),
    col('Port(s)', servicePorts),
    age,
    col(
      'Selector',
      (o) => {
        const parts = Object.entries(rec(rec(o.spec).selector)).map(([k, v]) => `${k}=${String(v)}`);
        return parts.length ? parts.join(',') : '<none>';
      },
      1,
    ),
  ],
  Endpoints: [name, col('Endpoints', endpointsText), age],
  EndpointSlice: [
    name,
    col('AddressType', (o) => str(o.addressType)),
    col('Ports', (o) => {
      const ports = arr(o.ports).map((p) => num(rec(p).port));
      return ports.length ? ports.join(',') : '<unset>';
    }),
    col('Endpoints', sliceEndpoints),
    age,
  ],
  Namespace: [name, col('Status', (o) => str(rec(o.status).phase, 'Active')), age],
  Node: [
    name,
    col('Status', nodeReady),
    col('Roles', nodeRoles),
    age,
    col('Version', (o) => str(rec(rec(o.status).nodeInfo).kubeletVersion, '')),
    col('Internal-IP', (o) => nodeAddress(o, 'InternalIP'), 1),
    col('External-IP', (o) => nodeAddress(o, 'ExternalIP'), 1),
    col('OS-Image', (o) => str(rec(rec(o.status).nodeInfo).osImage, '<unknown>'), 1),
    col('Kernel-Version', (o) => str(rec(rec(o.status).nodeInfo).kernelVersion, '<unknown>'), 1),
    col('Container-Runtime', (o) => str(rec(rec(o.status).nodeInfo).containerRuntimeVersion, '<unknown>'), 1),
  ],
};

/** A Table for these objects; rows carry PartialObjectMetadata so kubectl can add NAMESPACE. */
export function tableFor(resource: ResourceDef, items: KubeObject[], rv: string, now: number): Record<string, unknown> {
  const cols = COLUMNS[resource.kind] ?? [name, age];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: rv },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.name === 'Name' ? 'name' : '',
      description: '',
      priority: c.priority,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o, now)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
