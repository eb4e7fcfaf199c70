/**
 * The resource table of the Kubernetes API test server: which kinds it serves, under which
 * group/version/plural, whether they are namespaced, their short names, and the field selectors
 * the real API server accepts for them. Discovery documents are generated from this table.
 */

export interface ResourceDef {
  /** API group; '' for the core group. */
  group: string;
  version: string;
  /** Plural resource name used in URLs, e.g. `pods`. */
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: readonly string[];
  categories: readonly string[];
  /** Field selector labels accepted besides metadata.name / metadata.namespace. */
  fields: Readonly<Record<string, (obj: KubeObject) => string>>;
}

/** Any Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown[];
  [key: string]: unknown;
}

/** Reads a dotted path from an object as the API server would render it for a field selector. */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return '';
}

const f = (path: string) => (obj: KubeObject) => fieldValue(obj, path);

const podFields = {
  'spec.nodeName': f('spec.nodeName'),
  'spec.restartPolicy': f('spec.restartPolicy'),
  'spec.schedulerName': f('spec.schedulerName'),
  'spec.serviceAccountName': f('spec.serviceAccountName'),
  // The real server renders an absent hostNetwork as "false".
  'spec.hostNetwork': (obj: KubeObject) => (fieldValue(obj, 'spec.hostNetwork') === 'true' ? 'true' : 'false'),
  'status.phase': f('status.phase'),
  'status.podIP': f('status.podIP'),
  'status.nominatedNodeName': f('status.nominatedNodeName'),
};

export const RESOURCES: readonly ResourceDef[] = [
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    categories: [],
    fields: { 'status.phase': f('status.phase') },
  },
  {
    group: '',
    version: 'v1',
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    categories: [],
    fields: { 'spec.unschedulable': (o) => (fieldValue(o, 'spec.unschedulable') === 'true' ? 'true' : 'false') },
  },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    fields: podFields,
  },
  {
    group: '',
    version: 'v1',
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    fields: {},
  },
  {
    group: '',
    version: 'v1',
    plural: 'endpoints',
    singular: 'endpoints',
    kind: 'Endpoints',
    namespaced: true,
    shortNames: ['ep'],
    categories: [],
    fields: {},
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    namespaced: true,
    shortNames: [],
    categories: [],
    fields: { addressType: f('addressType') },
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    fields: {},
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'replicasets',
    singular: 'replicaset',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    fields: { 'status.replicas': f('status.replicas') },
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    singular: 'statefulset',
    kind: 'StatefulSet',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
    fields: {},
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'daemonsets',
    singular: 'daemonset',
    kind: 'DaemonSet',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    fields: {},
  },
  {
    group: 'batch',
    version: 'v1',
    plural: 'jobs',
    singular: 'job',
    kind: 'Job',
    namespaced: true,
    shortNames: [],
    categories: ['all'],
    fields: { 'status.successful': f('status.successful') },
  },
  {
    group: 'batch',
    version: 'v1',
    plural: 'cronjobs',
    singular: 'cronjob',
    kind: 'CronJob',
    namespaced: true,
    shortNames: ['cj'],
    categories: ['all'],
    fields: {},
  },
];

export const GROUP_VERSIONS: readonly { group: string; version: string }[] = [
  ...new Map(RESOURCES.map((r) => [`${r.group}/${r.version}`, { group: r.group, version: r.version }])).values(),
];

export const apiVersionOf = (r: ResourceDef): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

/** The resource with this plural under this group/version, if served. */
export function resourceByPath(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The resource for an object's apiVersion + kind, if served. */
export function resourceByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/**
 * Resolves what a test or a control request names a resource by: kind (`Pod`), plural (`pods`),
 * singular (`pod`) or short name (`po`), case-insensitively; `plural.group` is accepted too.
 */
export function resolveResource(name: string): ResourceDef | undefined {
  const n = name.trim().toLowerCase();
  return RESOURCES.find(
    (r) =>
      r.kind.toLowerCase() === n ||
      r.plural === n ||
      r.singular === n ||
      r.shortNames.includes(n) ||
      (r.group !== '' && `${r.plural}.${r.group}` === n),
  );
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] as const;

/** APIResourceList for one group/version, as served by `/api/v1` or `/apis/<group>/<version>`. */
export function apiResourceList(group: string, version: string): Record<string, unknown> {
  const resources: Record<string, unknown>[] = [];
  for (const r of RESOURCES) {
    if (r.group !== group || r.version !== version) continue;
    const entry: Record<string, unknown> = {
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: [...VERBS],
    };
    if (r.shortNames.length > 0) entry.shortNames = [...r.shortNames];
    if (r.categories.length > 0) entry.categories = [...r.categories];
    resources.push(entry);
    if (r.kind === 'Pod') {
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources,
  };
}

/** APIGroup document for one named group. */
export function apiGroup(group: string): Record<string, unknown> | undefined {
  const versions = GROUP_VERSIONS.filter((gv) => gv.group === group).map((gv) => ({
    groupVersion: `${gv.group}/${gv.version}`,
    version: gv.version,
  }));
  const preferred = versions[0];
  if (group === '' || preferred === undefined) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions, preferredVersion: preferred };
}

/** APIGroupList served at `/apis`. */
export function apiGroupList(): Record<string, unknown> {
  const groups = [...new Set(GROUP_VERSIONS.map((gv) => gv.group).filter((g) => g !== ''))].map((g) => {
    const doc = apiGroup(g) as Record<string, unknown>;
    return { name: doc.name, versions: doc.versions, preferredVersion: doc.preferredVersion };
  });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}
