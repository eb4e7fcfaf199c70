/**
 * Memory of the mapper's cluster view: `createKubeResolver` (what `callmap mapper` runs) listing and
 * watching a cluster of 10,000 workloads (Deployment → ReplicaSet → one Pod each, 1,000 Services
 * with EndpointSlices) served over the real Kubernetes wire protocol by the test API server (in
 * this parent process) and read through @kubernetes/client-node, the resolver in a child process running compiled JavaScript, so its peak
 * RSS and heap are its own. Pods look like real ones (containers with env and resources,
 * managedFields, a last-applied annotation, conditions, container statuses): ≈ 6 KB of JSON each.
 * Then 2,000 pod updates arrive over the watches. Reference measured in the same run: `kubectl get
 * pods -A -o json` over the same server (peak RSS of a tool that only lists them once).
 *
 *   node --import=tsx --expose-gc bench/mapper-kube-sync.bench.ts [--workloads N] [--tsx]
 */
import { execFile, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startKubeApiServer } from '../test/kube-api-server/index.ts';
import { builtChild } from './lib/built.ts';
import { samplePeakMemory } from './lib/peak-memory.ts';

type Msg = {
  synced?: boolean;
  ms?: number;
  maxRssKb?: number;
  heapMb?: number;
  rssMb?: number;
  peakHeapMb?: number;
  pods?: number;
  owners?: number;
  resolved?: number;
};

async function child(): Promise<void> {
  // What `callmap mapper` does at start-up (ADR 0100): V8's old generation grows by 50 % at most.
  const { tuneMapperHeap } = await import('../mapper/service.ts');
  tuneMapperHeap();
  const { createKubeResolver } = await import('../mapper/k8s/resolver.ts');
  const peak = samplePeakMemory();
  const kubeconfig = process.argv[3] as string;
  const start = performance.now();
  const kube = createKubeResolver({ kubeconfig: { kind: 'file', path: kubeconfig } });
  kube.start();
  const synced = await kube.waitForSync(120_000);
  const ms = performance.now() - start;
  const gc = (globalThis as { gc?: () => void }).gc;
  const report = (): Msg => {
    const maxRssKb = process.resourceUsage().maxRSS;
    for (let i = 0; i < 3; i++) gc?.();
    const m = process.memoryUsage();
    const st = kube.stats();
    let resolved = 0;
    const n = Number(process.argv[4]);
    for (let i = 0; i < n; i++) if (kube.resolver.resolveIp(ip(i), Date.now()).ok) resolved++;
    return {
      synced,
      ms,
      maxRssKb,
      heapMb: m.heapUsed / 2 ** 20,
      rssMb: m.rss / 2 ** 20,
      peakHeapMb: peak.heapTotal / 2 ** 20,
      pods: st.state.pods,
      owners: st.state.owners,
      resolved,
    };
  };
  process.send?.(report());
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') process.send?.(report());
    else if (m.cmd === 'stop') void kube.shutdown().then(() => process.exit(0));
  });
}

const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function objects(n: number, rev = 0): object[] {
  const out: object[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `ns-${Math.floor(i / 100)}`;
    const name = `w-${i % 100}`;
    const labels = { app: name, team: `t-${i % 7}`, 'app.kubernetes.io/part-of': 'shop' };
    const rsLabels = { ...labels, 'pod-template-hash': '5d8f9c7b4' };
    const container = {
      name: 'main',
      image: `registry.example.com/${name}:1.${i % 50}.0`,
      ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }],
      env: Array.from({ length: 8 }, (_, k) => ({ name: `ENV_${k}`, value: `value-${k}-${i}` })),
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
      volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
      imagePullPolicy: 'IfNotPresent',
    };
    const template = { metadata: { labels }, spec: { containers: [container] } };
    if (rev === 0) {
      out.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name,
          namespace: ns,
          labels,
          annotations: { 'deployment.kubernetes.io/revision': '1' },
        },
        spec: { replicas: 1, selector: { matchLabels: labels }, template },
      });
      out.push({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-5d8f9c7b4`,
          namespace: ns,
          labels: rsLabels,
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `d-${i}`, controller: true }],
        },
        spec: { replicas: 1, selector: { matchLabels: rsLabels }, template },
      });
    }
    out.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${name}-5d8f9c7b4-x${i}`,
        namespace: ns,
        labels: rsLabels,
        annotations: {
          'kubectl.kubernetes.io/restartedAt': '2026-11-01T00:00:00Z',
          'prometheus.io/scrape': 'true',
          'checksum/config': 'a'.repeat(64),
          rev: String(rev),
        },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-5d8f9c7b4`, uid: `rs-${i}`, controller: true },
        ],
        managedFields: [
          {
            manager: 'kube-controller-manager',
            operation: 'Update',
            apiVersion: 'v1',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': {} } },
          },
          {
            manager: 'kubelet',
            operation: 'Update',
            apiVersion: 'v1',
            subresource: 'status',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:podIP': {}, 'f:podIPs': {} } },
          },
        ],
      },
      spec: {
        ...template.spec,
        nodeName: `node-${i % 50}`,
        serviceAccountName: 'default',
        volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }],
        tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }],
      },
      status: {
        phase: 'Running',
        podIP: ip(i),
        podIPs: [{ ip: ip(i) }],
        hostIP: `192.168.0.${i % 50}`,
        conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
          type,
          status: 'True',
          lastTransitionTime: '2026-11-01T00:00:00Z',
        })),
        containerStatuses: [
          {
            name: 'main',
            ready: true,
            restartCount: 0,
            image: container.image,
            imageID: `registry.example.com/${name}@sha256:${'b'.repeat(64)}`,
            containerID: `containerd://${'c'.repeat(64)}`,
            state: { running: { startedAt: '2026-11-01T00:00:00Z' } },
          },
        ],
      },
    });
    if (rev === 0 && i % 10 === 0) {
      out.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: ns, labels },
        spec: { clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`, ports: [{ port: 80 }], selector: labels },
      });
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: [
          {
            addresses: [ip(i)],
            conditions: { ready: true },
            targetRef: { kind: 'Pod', name: `${name}-5d8f9c7b4-x${i}`, namespace: ns },
          },
        ],
        ports: [{ port: 8080 }],
      });
    }
  }
  return out;
}

function kubectlPeakRss(kubeconfig: string): Promise<number> {
  return new Promise((resolve) => {
    // GNU time reports the child's peak RSS; without it, the figure is left out.
    execFile(
      '/usr/bin/time',
      ['-f', '%M', 'kubectl', '--kubeconfig', kubeconfig, 'get', 'pods', '-A', '-o', 'json'],
      { maxBuffer: 1 << 30 },
      (err, _out, stderr) => {
        const kb = Number(stderr.trim().split('\n').at(-1));
        resolve(err || !Number.isFinite(kb) ? Number.NaN : kb / 1024);
      },
    );
  });
}

async function parent(): Promise<void> {
  const i = process.argv.indexOf('--workloads');
  const n = i >= 0 ? Number(process.argv[i + 1]) : 10_000;
  const server = await startKubeApiServer({ objects: objects(n) });
  const built = builtChild(fileURLToPath(import.meta.url));
  const proc = fork(built.file, ['--child', server.kubeconfigPath, String(n)], {
    execArgv: [...built.execArgv, '--expose-gc'],
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const next = (): Promise<Msg> => new Promise((resolve) => proc.once('message', (m) => resolve(m as Msg)));
  const synced = await next();
  // Watch traffic: 2,000 pod updates (a changed annotation each), then a pause for them to land.
  for (const o of objects(Math.min(n, 2_000), 1)) if ((o as { kind: string }).kind === 'Pod') server.apply(o);
  await new Promise((r) => setTimeout(r, 3000));
  proc.send({ cmd: 'stats' });
  const after = await next();
  proc.send({ cmd: 'stop' });
  await exited;
  built.cleanup();
  const kubectl = await kubectlPeakRss(server.kubeconfigPath);
  await server.close();
  const f = (x: number | undefined): string => (x ?? Number.NaN).toFixed(0);
  process.stdout.write(
    [
      `mapper cluster view: ${n.toLocaleString('en-US')} Deployments/ReplicaSets/Pods, ${(n / 10).toLocaleString('en-US')} Services + EndpointSlices, test API server over HTTP; child: ${built.mode}`,
      `  synced ${synced.synced ? 'yes' : 'NO'} in ${f(synced.ms)} ms; state: ${synced.pods} pods, ${synced.owners} owners; ${after.resolved}/${n} pod IPs resolve`,
      `  after sync: peak RSS ${f((synced.maxRssKb ?? 0) / 1024)} MB, largest V8 heap ${f(synced.peakHeapMb)} MB; after GC heap ${f(synced.heapMb)} MB, RSS ${f(synced.rssMb)} MB`,
      `  after 2,000 pod updates over the watches: peak RSS ${f((after.maxRssKb ?? 0) / 1024)} MB; after GC heap ${f(after.heapMb)} MB, RSS ${f(after.rssMb)} MB`,
      `reference: kubectl get pods -A -o json (one list of the same pods): peak RSS ${f(kubectl)} MB; ratio mapper peak / kubectl ${((synced.maxRssKb ?? 0) / 1024 / kubectl).toFixed(2)}`,
      '',
    ].join('\n'),
  );
}

if (process.argv[2] === '--child') await child();
else await parent();
