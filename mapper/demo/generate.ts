/**
 * Turns the demo description (cluster.ts) into the data each real component consumes:
 * Kubernetes objects for the API test server, a traffic plan for the packet capture, Envoy stats
 * pages for the Istio watcher, and authorizer log lines for the Kafka watcher. Pure functions.
 */
import {
  DEMO_CALLS,
  DEMO_EXTERNAL,
  DEMO_KAFKA,
  DEMO_NAMESPACES,
  DEMO_WORKLOADS,
  type DemoHttpCall,
  type DemoWorkload,
} from './cluster.ts';

export const CLUSTER_DOMAIN = 'cluster.local';
const NODES = [
  { name: 'demo-node-1', ip: '127.2.0.1' },
  { name: 'demo-node-2', ip: '127.2.0.2' },
] as const;
/** A fixed start so generated objects are identical run to run (creation times are before any traffic). */
const CREATED = '2026-01-01T00:00:00Z';

export interface DemoPod {
  name: string;
  namespace: string;
  workload: DemoWorkload;
  /** Pod IPs are loopback addresses so the Istio watcher can scrape the demo's stats servers without root. */
  ip: string;
  node: string;
  uid: string;
}

const hash = (s: string): string => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
};
const uid = (s: string): string => {
  const h = hash(s) + hash(`${s}#`) + hash(`${s}##`) + hash(`${s}###`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

export function workloadByName(name: string): DemoWorkload {
  const w = DEMO_WORKLOADS.find((x) => x.name === name);
  if (!w) throw new Error(`demo description names unknown workload ${name}`);
  return w;
}

/** Pods in a stable order, with their IPs (127.1.<workload>.<replica+1>). */
export function demoPods(): DemoPod[] {
  const pods: DemoPod[] = [];
  DEMO_WORKLOADS.forEach((w, wi) => {
    const rsHash = hash(w.name)
      .slice(0, 9)
      .replace(/[^a-z0-9]/g, 'x');
    for (let r = 0; r < w.replicas; r++) {
      const name =
        w.kind === 'StatefulSet' ? `${w.name}-${r}` : `${w.name}-${rsHash}-${hash(`${w.name}${r}`).slice(0, 5)}`;
      pods.push({
        name,
        namespace: w.namespace,
        workload: w,
        ip: `127.1.${wi + 1}.${r + 1}`,
        node: (NODES[(wi + r) % NODES.length] as (typeof NODES)[number]).name,
        uid: uid(`pod/${w.namespace}/${name}`),
      });
    }
  });
  return pods;
}

export const serviceIp = (w: DemoWorkload): string => `10.96.${DEMO_WORKLOADS.indexOf(w) + 1}.10`;
export const serviceName = (w: DemoWorkload): string => `${w.name}.${w.namespace}.svc.${CLUSTER_DOMAIN}`;

export interface KubeObjectsOptions {
  /** Port of the demo's Envoy stats servers, put in each Istio pod's `prometheus.io/port` annotation. */
  statsPort: number;
}

/** Every Kubernetes object of the demo cluster, as ordinary manifests. */
export function demoKubeObjects(opts: KubeObjectsOptions): object[] {
  const objs: object[] = [];
  for (const ns of DEMO_NAMESPACES) {
    objs.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, uid: uid(`ns/${ns}`), creationTimestamp: CREATED },
    });
  }
  for (const n of NODES) {
    objs.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        uid: uid(`node/${n.name}`),
        creationTimestamp: CREATED,
        labels: { 'kubernetes.io/hostname': n.name },
      },
      status: {
        addresses: [
          { type: 'InternalIP', address: n.ip },
          { type: 'Hostname', address: n.name },
        ],
      },
    });
  }
  const pods = demoPods();
  for (const w of DEMO_WORKLOADS) {
    const labels = { app: w.name };
    const meta = (kind: string, name: string) => ({
      name,
      namespace: w.namespace,
      uid: uid(`${kind}/${w.namespace}/${name}`),
      creationTimestamp: CREATED,
      labels,
    });
    const ownerRef = (kind: string, name: string, apiVersion: string) => ({
      apiVersion,
      kind,
      name,
      uid: uid(`${kind}/${w.namespace}/${name}`),
      controller: true,
      blockOwnerDeletion: true,
    });
    const podTemplate = {
      metadata: { labels },
      spec: { containers: [{ name: w.name, image: `demo/${w.name}:1.0` }] },
    };
    let podOwner: object;
    if (w.kind === 'Deployment') {
      const rsName = `${w.name}-${hash(w.name)
        .slice(0, 9)
        .replace(/[^a-z0-9]/g, 'x')}`;
      objs.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta('Deployment', w.name),
        spec: { replicas: w.replicas, selector: { matchLabels: labels }, template: podTemplate },
        status: { replicas: w.replicas, readyReplicas: w.replicas, availableReplicas: w.replicas },
      });
      objs.push({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { ...meta('ReplicaSet', rsName), ownerReferences: [ownerRef('Deployment', w.name, 'apps/v1')] },
        spec: { replicas: w.replicas, selector: { matchLabels: labels }, template: podTemplate },
        status: { replicas: w.replicas, readyReplicas: w.replicas },
      });
      podOwner = ownerRef('ReplicaSet', rsName, 'apps/v1');
    } else {
      objs.push({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta('StatefulSet', w.name),
        spec: { replicas: w.replicas, serviceName: w.name, selector: { matchLabels: labels }, template: podTemplate },
        status: { replicas: w.replicas, readyReplicas: w.replicas },
      });
      podOwner = ownerRef('StatefulSet', w.name, 'apps/v1');
    }
    const mine = pods.filter((p) => p.workload === w);
    for (const p of mine) {
      const containers: object[] = [
        { name: w.name, image: `demo/${w.name}:1.0`, ...(w.port ? { ports: [{ containerPort: w.port }] } : {}) },
      ];
      if (w.istio)
        containers.push({
          name: 'istio-proxy',
          image: 'docker.io/istio/proxyv2:1.24.0',
          ports: [{ containerPort: 15090, name: 'http-envoy-prom' }],
        });
      objs.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: p.name,
          namespace: p.namespace,
          uid: p.uid,
          creationTimestamp: CREATED,
          labels: {
            ...labels,
            ...(w.istio ? { 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': w.name } : {}),
          },
          annotations: w.istio
            ? {
                'prometheus.io/scrape': 'true',
                'prometheus.io/port': String(opts.statsPort),
                'prometheus.io/path': '/stats/prometheus',
              }
            : {},
          ownerReferences: [podOwner],
        },
        spec: {
          nodeName: p.node,
          containers,
          ...(w.kind === 'StatefulSet' ? { hostname: p.name, subdomain: w.name } : {}),
        },
        status: {
          phase: 'Running',
          podIP: p.ip,
          podIPs: [{ ip: p.ip }],
          hostIP: NODES.find((n) => n.name === p.node)?.ip,
          startTime: CREATED,
        },
      });
    }
    if (w.port) {
      const headless = w.kind === 'StatefulSet';
      objs.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('Service', w.name),
        spec: {
          selector: labels,
          ports: [{ name: 'main', port: w.port, targetPort: w.port, protocol: 'TCP' }],
          ...(headless
            ? { clusterIP: 'None', clusterIPs: ['None'] }
            : { clusterIP: serviceIp(w), clusterIPs: [serviceIp(w)] }),
          type: 'ClusterIP',
        },
      });
      const addresses = mine.map((p) => ({
        ip: p.ip,
        nodeName: p.node,
        targetRef: { kind: 'Pod', name: p.name, namespace: p.namespace, uid: p.uid },
      }));
      objs.push({
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: meta('Endpoints', w.name),
        subsets: [{ addresses, ports: [{ name: 'main', port: w.port, protocol: 'TCP' }] }],
      });
      objs.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { ...meta('EndpointSlice', `${w.name}-abcde`), labels: { 'kubernetes.io/service-name': w.name } },
        addressType: 'IPv4',
        endpoints: mine.map((p) => ({
          addresses: [p.ip],
          conditions: { ready: true },
          nodeName: p.node,
          targetRef: { kind: 'Pod', name: p.name, namespace: p.namespace, uid: p.uid },
        })),
        ports: [{ name: 'main', port: w.port, protocol: 'TCP' }],
      });
    }
  }
  return objs;
}

// ---------------------------------------------------------------------------
// Traffic plan for the packet capture

export interface DemoDnsAnswer {
  clientIp: string;
  name: string;
  ips: string[];
}

export interface DemoConnection {
  clientIp: string;
  serverIp: string;
  serverPort: number;
}

export interface DemoTraffic {
  dns: DemoDnsAnswer[];
  connections: DemoConnection[];
}

/**
 * What the sniffer would see on the nodes: each client pod resolves the server's Service name
 * (kube-dns answers the ClusterIP; for the headless Kafka service, the broker pod IPs) and opens
 * TCP connections to the server pods (kube-proxy has already translated the ClusterIP), plus DNS
 * lookups and connections to the external destinations.
 */
export function demoTraffic(): DemoTraffic {
  const pods = demoPods();
  const podsOf = (name: string) => pods.filter((p) => p.workload.name === name);
  const dns: DemoDnsAnswer[] = [];
  const connections: DemoConnection[] = [];
  for (const c of DEMO_CALLS) {
    const server = workloadByName(c.to);
    if (!server.port) continue;
    const serverPods = podsOf(c.to);
    const answerIps = server.kind === 'StatefulSet' ? serverPods.map((p) => p.ip) : [serviceIp(server)];
    for (const client of podsOf(c.from)) {
      dns.push({ clientIp: client.ip, name: serviceName(server), ips: answerIps });
      for (const sp of serverPods) connections.push({ clientIp: client.ip, serverIp: sp.ip, serverPort: server.port });
    }
  }
  for (const e of DEMO_EXTERNAL) {
    for (const client of podsOf(e.from)) {
      dns.push({ clientIp: client.ip, name: e.domain, ips: e.ips });
      for (const ip of e.ips) connections.push({ clientIp: client.ip, serverIp: ip, serverPort: e.port });
    }
  }
  return { dns, connections };
}

// ---------------------------------------------------------------------------
// Envoy stats (Prometheus text) served per Istio pod

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function requestSeries(
  reporter: 'source' | 'destination',
  from: DemoWorkload,
  to: DemoWorkload,
  call: DemoHttpCall,
  value: number,
): string {
  const labels: Array<[string, string]> = [
    ['reporter', reporter],
    ['source_workload', from.name],
    ['source_workload_namespace', from.namespace],
    ['source_canonical_service', from.name],
    ['destination_workload', to.name],
    ['destination_workload_namespace', to.namespace],
    ['destination_service', serviceName(to)],
    ['destination_service_name', to.name],
    ['destination_service_namespace', to.namespace],
    ['request_protocol', call.path.startsWith('/hipstershop.') ? 'grpc' : 'http'],
    ['response_code', '200'],
    ['request_method', call.method],
    ['request_path', call.path],
    ['connection_security_policy', reporter === 'destination' ? 'mutual_tls' : 'unknown'],
  ];
  return `istio_requests_total{${labels.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}} ${value}`;
}

/**
 * The stats page of one pod after `round` demo rounds: counters grow by each call's rate per round.
 * Server pods report `reporter="destination"` series for calls they receive; client pods report
 * `reporter="source"` for calls they make (the watcher de-duplicates by reporter).
 */
export function demoStatsPage(pod: DemoPod, round: number): string {
  const lines = ['# HELP istio_requests_total Total requests.', '# TYPE istio_requests_total counter'];
  const w = pod.workload;
  const replicas = w.replicas;
  for (const c of DEMO_CALLS) {
    if (!c.http) continue;
    const from = workloadByName(c.from);
    const to = workloadByName(c.to);
    for (const call of c.http) {
      const total = Math.max(1, Math.round((call.rate * round) / replicas));
      if (to === w) lines.push(requestSeries('destination', from, to, call, total));
      if (from === w) lines.push(requestSeries('source', from, to, call, total));
    }
  }
  lines.push(
    '# HELP envoy_server_uptime Server uptime.',
    '# TYPE envoy_server_uptime gauge',
    `envoy_server_uptime ${round * 30}`,
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Kafka authorizer log (Apache log4j layout `[%d] %p %m (%c)`)

const OP_KRAFT: Record<string, string> = {
  Read: 'READ',
  Write: 'WRITE',
  Describe: 'DESCRIBE',
  Create: 'CREATE',
  Alter: 'ALTER',
  Delete: 'DELETE',
};
const REQUEST: Record<string, string> = {
  Read: 'Fetch',
  Write: 'Produce',
  Describe: 'Metadata',
  Create: 'CreateTopics',
  Alter: 'AlterConfigs',
  Delete: 'DeleteTopics',
};

const log4jTime = (ms: number): string =>
  new Date(ms).toISOString().replace('T', ' ').replace('Z', '').replace('.', ',');

/**
 * Authorizer lines for one demo round, as broker `kafka-0` would log them: ZooKeeper-mode
 * AclAuthorizer lines for some clients and KRaft StandardAuthorizer lines for others, mixed with
 * ordinary broker log lines, so the watcher's parser is exercised on both formats.
 */
export function demoKafkaLog(time: number): string[] {
  const pods = demoPods();
  const lines: string[] = [`[${log4jTime(time)}] INFO [Broker id=0] Processing requests (kafka.server.KafkaApis)`];
  DEMO_KAFKA.forEach((a, i) => {
    const client = pods.find((p) => p.workload.name === a.client);
    if (!client) throw new Error(`demo Kafka client ${a.client} has no pod`);
    for (const op of a.operations) {
      const verdict = a.denied ? 'Denied' : 'Allowed';
      const level = a.denied ? 'INFO' : 'DEBUG';
      const principal = `User:${a.client}`;
      const resource = `Topic:LITERAL:${a.topic}`;
      const kraft = i % 2 === 1;
      const msg = kraft
        ? `Principal = ${principal} is ${verdict} operation = ${OP_KRAFT[op]} from host = ${client.ip} on resource = ${resource} for request = ${REQUEST[op]} with resourceRefCount = 1 based on rule ${a.denied ? 'DefaultDeny' : `MatchingAcl(acl=StandardAcl(resourceType=TOPIC, resourceName=${a.topic}, patternType=LITERAL, principal=${principal}, host=*, operation=${OP_KRAFT[op]}, permissionType=ALLOW))`}`
        : `Principal = ${principal} is ${verdict} Operation = ${op} from host = ${client.ip} on resource = ${resource} for request = ${REQUEST[op]} with resourceRefCount = 1`;
      lines.push(`[${log4jTime(time)}] ${level} ${msg} (kafka.authorizer.logger)`);
    }
  });
  return lines;
}
