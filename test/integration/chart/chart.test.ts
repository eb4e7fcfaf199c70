/**
 * Renders the Helm chart with the test-only Go renderer (text/template + sprig, the engine Helm
 * uses; no helm binary here) with default values and with every toggle on, then validates every
 * manifest against the Kubernetes OpenAPI schemas plus a strict unknown-field check, the values
 * against values.schema.json, and the security posture: exact least-privilege RBAC per
 * ServiceAccount, no pods/exec, sniffer capabilities, securityContexts, resources.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import test from 'ava';
import {
  chartDir,
  cleanupRenderer,
  coalescedValues,
  goUnavailableReason,
  type Manifest,
  renderChart,
  renderError,
  renderNotes,
  valuesFile,
} from '../../chart/render.ts';
import { validateManifest } from '../../chart/validate.ts';

type Obj = Record<string, unknown>;
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type Container = {
  name: string;
  image?: string;
  args?: string[];
  env?: Obj[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Obj; limits?: Obj };
  securityContext?: Obj & { capabilities?: { add?: string[]; drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: Obj;
  readinessProbe?: Obj;
};
type PodSpec = Obj & {
  containers: Container[];
  volumes?: (Obj & { name: string })[];
  securityContext?: Obj;
  serviceAccountName?: string;
};

const NS = 'observability';

const ALL_ON = `
mapper:
  persistence: {enabled: true, storageClass: fast}
  dbSync: normal
  serviceNameAnnotation: callmap.io/service-name
  snapshotSchedule: "0 * * * *"
sniffer:
  metricsPort: 9555
  tolerations: [{operator: Exists}]
  sysPtrace: true
istio: {enabled: true, interval: 45s}
kafka: {enabled: true, servers: [kafka-0.kafka, kafka-1.kafka, broker-0.events]}
reports:
  enabled: true
  destination: {type: persistentVolumeClaim}
  webhook: {existingSecret: {name: report-hook, key: url}}
networkPolicy:
  enabled: true
  nodeCIDRs: [10.0.0.0/16]
  allowedNamespaces: [monitoring]
  extraPeers: [{podSelector: {matchLabels: {app: callmap-ui}}}]
`;

const skipReason = goUnavailableReason();
if (skipReason) {
  process.stdout.write(`test/integration/chart: skipping the chart rendering tests: ${skipReason}\n`);
  test.skip(`chart rendering (skipped: ${skipReason})`, () => {});
} else {
  defineTests();
}

function find(manifests: Manifest[], kind: string, name: string, namespace?: string): Manifest {
  const m = manifests.find(
    (x) =>
      x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace),
  );
  if (!m) throw new Error(`no ${kind} ${namespace ?? ''}/${name} among ${summary(manifests).join(', ')}`);
  return m;
}

function summary(manifests: Manifest[]): string[] {
  return manifests.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`).sort();
}

function podSpec(m: Manifest): PodSpec {
  const spec = m.spec as Obj;
  if (m.kind === 'CronJob') {
    return (((spec.jobTemplate as Obj).spec as Obj).template as Obj).spec as PodSpec;
  }
  return (spec.template as Obj).spec as PodSpec;
}

function podLabels(m: Manifest): Record<string, string> {
  const spec = m.spec as Obj;
  const template =
    m.kind === 'CronJob' ? ((spec.jobTemplate as Obj).spec as Obj).template : (spec.template as Obj | undefined);
  return ((template as Obj).metadata as Obj).labels as Record<string, string>;
}

function podAnnotations(m: Manifest): Record<string, string> {
  return (((m.spec as Obj).template as Obj).metadata as Obj).annotations as Record<string, string>;
}

const workloadKinds = new Set(['Deployment', 'DaemonSet', 'CronJob']);

/** RBAC rules each ServiceAccount ends up with: { "sa": { "scope": rules } }, keys sorted. */
function rbacBySubject(manifests: Manifest[]): Record<string, Record<string, Rule[]>> {
  const out: Record<string, Record<string, Rule[]>> = {};
  for (const binding of manifests.filter((m) => m.kind === 'ClusterRoleBinding' || m.kind === 'RoleBinding')) {
    const roleRef = binding.roleRef as { kind: string; name: string };
    const role = find(
      manifests,
      roleRef.kind,
      roleRef.name,
      roleRef.kind === 'Role' ? binding.metadata.namespace : undefined,
    );
    const scope = binding.kind === 'ClusterRoleBinding' ? '*cluster*' : (binding.metadata.namespace ?? '');
    for (const subject of binding.subjects as { kind: string; name: string; namespace: string }[]) {
      const key = `${subject.kind}:${subject.namespace}/${subject.name}`;
      const scopes = out[key] ?? {};
      scopes[scope] = [...(scopes[scope] ?? []), ...(role.rules as Rule[])];
      out[key] = scopes;
    }
  }
  return out;
}

const READ = ['get', 'list', 'watch'];
const MAPPER_RULES: Rule[] = [
  { apiGroups: [''], resources: ['namespaces', 'nodes', 'pods', 'services', 'endpoints'], verbs: READ },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
  { apiGroups: ['apps'], resources: ['replicasets', 'deployments', 'statefulsets', 'daemonsets'], verbs: READ },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: READ },
];
const ISTIO_RULES: Rule[] = [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }];

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= make();
    return p;
  };
}

function defineTests(): void {
  test.after.always(cleanupRenderer);
  const allOn = valuesFile('all-on', ALL_ON);
  // Rendered once, on first use, and shared by the tests below.
  const defaults = once(() => renderChart([]));
  const everything = once(() => renderChart([allOn]));

  test('default values render the mapper and the sniffer only', async (t) => {
    const { manifests } = await defaults();
    t.deepEqual(summary(manifests), [
      `ClusterRole//${NS}-callmap-mapper`,
      `ClusterRoleBinding//${NS}-callmap-mapper`,
      `DaemonSet/${NS}/callmap-sniffer`,
      `Deployment/${NS}/callmap-mapper`,
      `Service/${NS}/callmap-mapper`,
      `ServiceAccount/${NS}/callmap-mapper`,
      `ServiceAccount/${NS}/callmap-sniffer`,
    ]);
  });

  test('every toggle on renders every component', async (t) => {
    const { manifests } = await everything();
    t.deepEqual(summary(manifests), [
      `ClusterRole//${NS}-callmap-istio-watcher`,
      `ClusterRole//${NS}-callmap-mapper`,
      `ClusterRoleBinding//${NS}-callmap-istio-watcher`,
      `ClusterRoleBinding//${NS}-callmap-mapper`,
      `CronJob/${NS}/callmap-reports`,
      `DaemonSet/${NS}/callmap-sniffer`,
      `Deployment/${NS}/callmap-istio-watcher`,
      `Deployment/${NS}/callmap-kafka-watcher`,
      `Deployment/${NS}/callmap-mapper`,
      `NetworkPolicy/${NS}/callmap-mapper`,
      `PersistentVolumeClaim/${NS}/callmap-mapper`,
      `PersistentVolumeClaim/${NS}/callmap-reports`,
      'Role/events/callmap-kafka-watcher',
      'Role/kafka/callmap-kafka-watcher',
      'RoleBinding/events/callmap-kafka-watcher',
      'RoleBinding/kafka/callmap-kafka-watcher',
      `Service/${NS}/callmap-mapper`,
      `ServiceAccount/${NS}/callmap-istio-watcher`,
      `ServiceAccount/${NS}/callmap-kafka-watcher`,
      `ServiceAccount/${NS}/callmap-mapper`,
      `ServiceAccount/${NS}/callmap-reports`,
      `ServiceAccount/${NS}/callmap-sniffer`,
    ]);
  });

  for (const [label, render] of [
    ['default values', defaults],
    ['every toggle on', everything],
  ] as const) {
    test(`${label}: every manifest passes the Kubernetes OpenAPI schema and the strict field check`, async (t) => {
      const { manifests } = await render();
      const problems: string[] = [];
      for (const m of manifests) {
        for (const p of await validateManifest(m)) problems.push(`${m.kind}/${m.metadata.name}: ${p}`);
      }
      t.deepEqual(problems, []);
    });

    test(`${label}: names are valid, unique and carry the standard labels`, async (t) => {
      const { manifests } = await render();
      t.is(new Set(summary(manifests)).size, manifests.length);
      for (const m of manifests) {
        t.regex(m.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
        t.true(m.metadata.name.length <= 63 || m.kind.startsWith('Cluster'), m.metadata.name);
        t.is(m.metadata.labels?.['app.kubernetes.io/instance'], 'callmap');
        t.is(m.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
        if (!m.kind.startsWith('Cluster') && m.kind !== 'Role' && m.kind !== 'RoleBinding') {
          t.is(m.metadata.namespace, NS, `${m.kind}/${m.metadata.name}`);
        }
      }
    });

    test(`${label}: no RBAC rule grants pods/exec, secrets, wildcards or write verbs`, async (t) => {
      const { manifests } = await render();
      const rules = manifests.filter((m) => m.kind.endsWith('Role')).flatMap((m) => m.rules as Rule[]);
      t.true(rules.length > 0);
      for (const r of rules) {
        t.false(r.resources.includes('pods/exec'));
        t.false(r.resources.includes('secrets'));
        t.false([...r.resources, ...r.verbs, ...r.apiGroups].includes('*'));
        t.deepEqual(
          r.verbs.filter((v) => !READ.includes(v)),
          [],
        );
      }
      // Not even in a form the rule parsing above might miss (a comment may mention it).
      t.false(/^[^#\n]*pods\/exec/m.test((await render()).source));
    });

    test(`${label}: every workload runs under its own ServiceAccount and selectors match pod labels`, async (t) => {
      const { manifests } = await render();
      const workloads = manifests.filter((m) => workloadKinds.has(m.kind));
      const accounts = workloads.map((w) => podSpec(w).serviceAccountName);
      t.is(new Set(accounts).size, workloads.length);
      for (const w of workloads) {
        const sa = podSpec(w).serviceAccountName ?? '';
        t.truthy(find(manifests, 'ServiceAccount', sa, NS));
        if (w.kind !== 'CronJob') {
          const selector = ((w.spec as Obj).selector as Obj).matchLabels as Record<string, string>;
          t.like(podLabels(w), selector);
        }
      }
    });

    test(`${label}: coalesced values satisfy values.schema.json`, async (t) => {
      const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Obj;
      const validate = new Ajv({ allErrors: true }).compile(schema);
      const values = await coalescedValues(label === 'default values' ? [] : [allOn]);
      t.true(validate(values), JSON.stringify(validate.errors));
    });
  }

  test('RBAC is exactly the least-privilege set, per ServiceAccount (default values)', async (t) => {
    const { manifests } = await defaults();
    t.deepEqual(rbacBySubject(manifests), { [`ServiceAccount:${NS}/callmap-mapper`]: { '*cluster*': MAPPER_RULES } });
  });

  test('RBAC is exactly the least-privilege set, per ServiceAccount (every toggle on)', async (t) => {
    const { manifests } = await everything();
    const kafkaRule = (pods: string[]): Rule[] => [
      { apiGroups: [''], resources: ['pods', 'pods/log'], resourceNames: pods, verbs: ['get'] },
    ];
    t.deepEqual(rbacBySubject(manifests), {
      [`ServiceAccount:${NS}/callmap-mapper`]: { '*cluster*': MAPPER_RULES },
      [`ServiceAccount:${NS}/callmap-istio-watcher`]: { '*cluster*': ISTIO_RULES },
      [`ServiceAccount:${NS}/callmap-kafka-watcher`]: {
        events: kafkaRule(['broker-0']),
        kafka: kafkaRule(['kafka-0', 'kafka-1']),
      },
    });
    // Components with no API access get no token at all.
    for (const name of ['callmap-sniffer', 'callmap-reports']) {
      t.is(find(manifests, 'ServiceAccount', name, NS).automountServiceAccountToken, false);
    }
    t.is(podSpec(find(manifests, 'DaemonSet', 'callmap-sniffer', NS)).automountServiceAccountToken, false);
    t.is(podSpec(find(manifests, 'CronJob', 'callmap-reports', NS)).automountServiceAccountToken, false);
  });

  test('non-root components: runAsNonRoot, read-only root, no capabilities, RuntimeDefault seccomp', async (t) => {
    const { manifests } = await everything();
    const nonRoot = manifests.filter((m) => workloadKinds.has(m.kind) && m.kind !== 'DaemonSet');
    t.is(nonRoot.length, 4);
    for (const w of nonRoot) {
      const pod = podSpec(w);
      t.like(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of pod.containers) {
        t.deepEqual(c.securityContext, {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
        });
        t.true(
          c.volumeMounts?.some((v) => v.mountPath === '/tmp'),
          `${w.metadata.name} needs a writable /tmp`,
        );
      }
    }
  });

  test('sniffer: host network, read-only host /proc, NET_RAW only, root without privilege escalation', async (t) => {
    const { manifests } = await defaults();
    const ds = find(manifests, 'DaemonSet', 'callmap-sniffer', NS);
    const pod = podSpec(ds);
    t.is(pod.hostNetwork, true);
    t.is(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    t.is(pod.hostPID, undefined);
    t.like(pod.securityContext, { runAsUser: 0, runAsNonRoot: false, seccompProfile: { type: 'RuntimeDefault' } });
    const [c] = pod.containers;
    t.deepEqual(c?.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['NET_RAW'] },
    });
    t.deepEqual(
      c?.volumeMounts?.find((v) => v.name === 'host-proc'),
      { name: 'host-proc', mountPath: '/host/proc', readOnly: true },
    );
    t.deepEqual(
      pod.volumes?.find((v) => v.name === 'host-proc'),
      { name: 'host-proc', hostPath: { path: '/proc', type: 'Directory' } },
    );
    t.deepEqual(c?.env, [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
    t.deepEqual(c?.args, [
      'sniffer',
      '--mapper-url',
      `http://callmap-mapper.${NS}.svc:9090`,
      '--interface',
      'any',
      '--proc-root',
      '/host/proc',
      '--metrics-port',
      '9091',
    ]);
    t.like(c?.livenessProbe, { httpGet: { path: '/healthz', port: 'metrics' } });
    t.deepEqual(c?.ports, [{ name: 'metrics', containerPort: 9091, protocol: 'TCP' }]);
    t.deepEqual(c?.resources, { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '160Mi' } });
    t.is(pod.tolerations, undefined);
  });

  test('sniffer: metrics port, tolerations and the SYS_PTRACE opt-in follow values', async (t) => {
    const { manifests } = await everything();
    const pod = podSpec(find(manifests, 'DaemonSet', 'callmap-sniffer', NS));
    const [c] = pod.containers;
    t.deepEqual(c?.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_RAW', 'SYS_PTRACE'] });
    t.deepEqual(c?.ports, [{ name: 'metrics', containerPort: 9555, protocol: 'TCP' }]);
    t.is(c?.args?.[c.args.indexOf('--metrics-port') + 1], '9555');
    t.is(podAnnotations(find(manifests, 'DaemonSet', 'callmap-sniffer', NS))['prometheus.io/port'], '9555');
    t.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  });

  test('mapper: one replica, Recreate, probes, metrics annotations, emptyDir by default', async (t) => {
    const { manifests } = await defaults();
    const d = find(manifests, 'Deployment', 'callmap-mapper', NS);
    const spec = d.spec as Obj;
    t.is(spec.replicas, 1);
    t.deepEqual(spec.strategy, { type: 'Recreate' });
    t.deepEqual(podAnnotations(d), {
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9090',
      'prometheus.io/path': '/metrics',
    });
    const pod = podSpec(d);
    const [c] = pod.containers;
    t.deepEqual(c?.args, ['mapper', '--port', '9090', '--db', '/data/callmap.db', '--cluster-domain', 'cluster.local']);
    t.like(c?.livenessProbe, { httpGet: { path: '/healthz', port: 'http' } });
    t.like(c?.readinessProbe, { httpGet: { path: '/readyz', port: 'http' } });
    t.deepEqual(c?.resources, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    t.deepEqual(
      pod.volumes?.find((v) => v.name === 'data'),
      { name: 'data', emptyDir: {} },
    );
    t.true(c?.volumeMounts?.some((v) => v.name === 'data' && v.mountPath === '/data'));
    const svc = find(manifests, 'Service', 'callmap-mapper', NS);
    t.like(podLabels(d), (svc.spec as Obj).selector as Obj);
    t.deepEqual((svc.spec as Obj).ports, [{ name: 'http', port: 9090, targetPort: 'http', protocol: 'TCP' }]);
  });

  test('mapper: persistence uses a kept PVC and the optional flags reach the command line', async (t) => {
    const { manifests } = await everything();
    const pvc = find(manifests, 'PersistentVolumeClaim', 'callmap-mapper', NS);
    t.like(pvc, {
      metadata: { annotations: { 'helm.sh/resource-policy': 'keep' } },
      spec: { storageClassName: 'fast', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    const pod = podSpec(find(manifests, 'Deployment', 'callmap-mapper', NS));
    t.deepEqual(
      pod.volumes?.find((v) => v.name === 'data'),
      { name: 'data', persistentVolumeClaim: { claimName: 'callmap-mapper' } },
    );
    t.deepEqual(pod.containers[0]?.args?.slice(7), [
      '--service-name-annotation',
      'callmap.io/service-name',
      '--db-sync',
      'normal',
      '--snapshot-schedule',
      '0 * * * *',
    ]);
  });

  test('watcher options: Istio namespaces and the Kafka container reach the command line', async (t) => {
    const { manifests } = await renderChart([
      allOn,
      valuesFile(
        'watcher-opts',
        'istio: {namespaces: [shop, pay], metrics: {enabled: false}}\nkafka: {container: broker, metrics: {enabled: false}}',
      ),
    ]);
    const istio = find(manifests, 'Deployment', 'callmap-istio-watcher', NS);
    t.deepEqual(podSpec(istio).containers[0]?.args?.slice(-2), ['--namespace', 'shop,pay']);
    const kafka = find(manifests, 'Deployment', 'callmap-kafka-watcher', NS);
    t.deepEqual(podSpec(kafka).containers[0]?.args?.slice(-2), ['--container', 'broker']);
    for (const w of [istio, kafka]) {
      t.is(podSpec(w).containers[0]?.ports, undefined);
      t.is((((w.spec as Obj).template as Obj).metadata as Obj).annotations, undefined);
    }
  });

  test('watchers and the report job point at the mapper Service', async (t) => {
    const { manifests } = await everything();
    const url = `http://callmap-mapper.${NS}.svc:9090`;
    const istio = podSpec(find(manifests, 'Deployment', 'callmap-istio-watcher', NS)).containers[0];
    t.deepEqual(istio?.args, ['watch', 'istio', '--mapper-url', url, '--interval', '45s', '--metrics-port', '9092']);
    const kafka = podSpec(find(manifests, 'Deployment', 'callmap-kafka-watcher', NS)).containers[0];
    t.deepEqual(kafka?.args, [
      'watch',
      'kafka',
      '--mapper-url',
      url,
      '--server',
      'kafka-0.kafka',
      '--server',
      'kafka-1.kafka',
      '--server',
      'broker-0.events',
      '--metrics-port',
      '9093',
    ]);
    t.deepEqual(istio?.ports, [{ name: 'metrics', containerPort: 9092, protocol: 'TCP' }]);
    t.is(podAnnotations(find(manifests, 'Deployment', 'callmap-kafka-watcher', NS))['prometheus.io/port'], '9093');
    for (const c of [istio, kafka]) {
      t.deepEqual(c?.resources, { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '192Mi' } });
    }
    const job = find(manifests, 'CronJob', 'callmap-reports', NS);
    t.like(job.spec, { schedule: '0 6 * * 1', concurrencyPolicy: 'Forbid' });
    const report = podSpec(job).containers[0];
    t.deepEqual(report?.args, [
      'report',
      '--mapper-url',
      url,
      '--format',
      'md',
      '--out',
      '/reports',
      '--webhook',
      '$(CALLMAP_REPORT_WEBHOOK)',
    ]);
    t.deepEqual(report?.env, [
      { name: 'CALLMAP_REPORT_WEBHOOK', valueFrom: { secretKeyRef: { name: 'report-hook', key: 'url' } } },
    ]);
    t.deepEqual(
      podSpec(job).volumes?.find((v) => v.name === 'reports'),
      { name: 'reports', persistentVolumeClaim: { claimName: 'callmap-reports' } },
    );
  });

  test('report job: a plain webhook URL and an emptyDir destination', async (t) => {
    const { manifests } = await renderChart([
      valuesFile('report-url', 'reports: {enabled: true, webhook: {url: "https://hooks.example/r"}}'),
    ]);
    const pod = podSpec(find(manifests, 'CronJob', 'callmap-reports', NS));
    t.deepEqual(pod.containers[0]?.args?.slice(-2), ['--webhook', 'https://hooks.example/r']);
    t.is(pod.containers[0]?.env, undefined);
    t.deepEqual(
      pod.volumes?.find((v) => v.name === 'reports'),
      { name: 'reports', emptyDir: {} },
    );
    t.false(manifests.some((m) => m.kind === 'PersistentVolumeClaim'));
  });

  test('NetworkPolicy admits exactly the reporters, the node CIDRs and the configured peers', async (t) => {
    const { manifests } = await everything();
    const np = find(manifests, 'NetworkPolicy', 'callmap-mapper', NS);
    const spec = np.spec as { podSelector: { matchLabels: Obj }; policyTypes: string[]; ingress: Obj[] };
    t.like(podLabels(find(manifests, 'Deployment', 'callmap-mapper', NS)), spec.podSelector.matchLabels);
    t.deepEqual(spec.policyTypes, ['Ingress']);
    t.is(spec.ingress.length, 1);
    const [rule] = spec.ingress as { ports: Obj[]; from: Obj[] }[];
    t.deepEqual(rule?.ports, [{ port: 9090, protocol: 'TCP' }]);
    const from = rule?.from ?? [];
    // Every reporter's pods are selected by one of the podSelectors.
    for (const [kind, name] of [
      ['DaemonSet', 'callmap-sniffer'],
      ['Deployment', 'callmap-istio-watcher'],
      ['Deployment', 'callmap-kafka-watcher'],
      ['CronJob', 'callmap-reports'],
    ] as const) {
      const labels = podLabels(find(manifests, kind, name, NS));
      t.true(
        from.some((p) => {
          const sel = (p.podSelector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
          return (
            sel !== undefined &&
            p.namespaceSelector === undefined &&
            Object.entries(sel).every(([k, v]) => labels[k] === v)
          );
        }),
        name,
      );
    }
    t.deepEqual(
      from.filter((p) => p.podSelector === undefined),
      [
        { ipBlock: { cidr: '10.0.0.0/16' } },
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      ],
    );
    t.true(
      from.some((p) => JSON.stringify(p) === JSON.stringify({ podSelector: { matchLabels: { app: 'callmap-ui' } } })),
    );
    t.is(from.length, 7);
    // The mapper itself must not be a reporter peer.
    t.false(from.some((p) => JSON.stringify(p).includes('"app.kubernetes.io/component":"mapper"')));
  });

  test('NOTES.txt gives the next command and warns about emptyDir', async (t) => {
    const notes = await renderNotes([]);
    t.true(notes.includes(`kubectl --namespace ${NS} port-forward svc/callmap-mapper 9090:9090`), notes);
    t.true(notes.includes('callmap list --mapper-url http://localhost:9090'));
    t.regex(notes, /emptyDir and is lost/);
    t.true(notes.includes('Reporting to the mapper: sniffer.\n'));
    const withPvc = await renderNotes([allOn]);
    t.true(withPvc.includes('Reporting to the mapper: sniffer, Istio watcher, Kafka watcher.\n'));
    t.notRegex(withPvc, /emptyDir and is lost/);
    t.false(withPvc.includes('<no value>'));
  });

  test('kafka on without servers, or a server without namespace, fails with a clear message', async (t) => {
    t.regex(
      await renderError([valuesFile('kafka-empty', 'kafka: {enabled: true}')]),
      /kafka\.servers is empty: list the broker pods as pod\.namespace/,
    );
    t.regex(
      await renderError([valuesFile('kafka-bad', 'kafka: {enabled: true, servers: [kafka-0]}')]),
      /"kafka-0" must be pod\.namespace/,
    );
  });

  test('an empty image repository fails rendering through required', async (t) => {
    t.regex(await renderError([valuesFile('no-image', 'image: {repository: ""}')]), /image\.repository is required/);
  });

  test('image tag defaults to the appVersion and follows values', async (t) => {
    const { manifests } = await renderChart([
      valuesFile('tag', 'image: {repository: reg.example/callmap, tag: "1.2.3"}'),
    ]);
    for (const w of manifests.filter((m) => workloadKinds.has(m.kind))) {
      t.is(podSpec(w).containers[0]?.image, 'reg.example/callmap:1.2.3');
    }
    const def = await defaults();
    t.is(
      podSpec(find(def.manifests, 'Deployment', 'callmap-mapper', NS)).containers[0]?.image,
      'ghcr.io/callmap/callmap:0.1.0',
    );
  });

  test('a bad values file is rejected by the schema after coalescing', async (t) => {
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Obj;
    const validate = new Ajv({ allErrors: true }).compile(schema);
    const values = await coalescedValues([
      valuesFile('typo', 'sniffer: {metricPort: 9091}\nmapper: {persistence: {enabled: "yes"}}'),
    ]);
    t.false(validate(values));
    const paths = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
    t.true(
      paths.some((p) => p.startsWith('/sniffer ')),
      paths.join('\n'),
    );
    t.true(
      paths.some((p) => p.startsWith('/mapper/persistence/enabled ')),
      paths.join('\n'),
    );
  });

  test('a null in a values file deletes the default, as in Helm', async (t) => {
    const values = (await coalescedValues([valuesFile('null', 'sniffer: {nodeSelector: null}')])) as {
      sniffer: Obj;
    };
    t.false('nodeSelector' in values.sniffer);
    const { manifests } = await renderChart([valuesFile('null', 'sniffer: {nodeSelector: null}')]);
    t.is(podSpec(find(manifests, 'DaemonSet', 'callmap-sniffer', NS)).nodeSelector, undefined);
  });

  test('release name and fullnameOverride shape every name and the mapper URL', async (t) => {
    const { manifests } = await renderChart([], { name: 'prod-callmap', namespace: 'net' });
    t.truthy(find(manifests, 'Deployment', 'prod-callmap-mapper', 'net'));
    const args = podSpec(find(manifests, 'DaemonSet', 'prod-callmap-sniffer', 'net')).containers[0]?.args ?? [];
    t.true(args.includes('http://prod-callmap-mapper.net.svc:9090'));
    const other = await renderChart([valuesFile('fullname', 'fullnameOverride: netmap')], { name: 'x' });
    t.truthy(find(other.manifests, 'ServiceAccount', 'netmap-sniffer', NS));
  });
}
