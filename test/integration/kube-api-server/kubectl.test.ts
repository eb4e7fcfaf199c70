/**
 * The real kubectl against the test server: discovery, get (Table output), -o json, logs, logs -f,
 * get -w, delete. Skips with a printed reason only if kubectl is not installed.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { type KubeApiTestServer, startKubeApiServer } from '../../kube-api-server/index.ts';

const run = promisify(execFile);
const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
if (!KUBECTL) console.log('kubectl tests skipped: kubectl is not installed (apt-get install kubectl)');
const kt = KUBECTL ? test.serial : test.skip;

let server: KubeApiTestServer;
test.before(async () => {
  server = await startKubeApiServer({ fixture: 'test/fixtures/kube/basic.yaml' });
});
test.after.always(async () => {
  await server?.close();
});

/** kubectl with --server (no kubeconfig) and a short request timeout so discovery cannot hang. */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(
    KUBECTL as string,
    ['--server', server.url, '--insecure-skip-tls-verify', '--request-timeout=5s', ...args],
    { timeout: 15_000, env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', KUBECONFIG: '/dev/null' } },
  );
  return stdout;
}

async function kubectlFails(...args: string[]): Promise<string> {
  try {
    await kubectl(...args);
  } catch (e) {
    return String((e as { stderr?: string }).stderr);
  }
  throw new Error(`kubectl ${args.join(' ')} unexpectedly succeeded`);
}

kt('get pods -A lists every fixture pod with namespace, status and IP', async (t) => {
  const out = await kubectl('get', 'pods', '-A', '-o', 'wide');
  const lines = out.trim().split('\n');
  t.regex(lines[0] ?? '', /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
  t.is(lines.length, 1 + 11);
  t.regex(out, /\nkafka\s+kafka-0\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.1\.20\s+node-a/);
  t.regex(out, /\nshop\s+checkout-5b8f9c7d6-tx4rn\s+2\/2\s+Running/);
  t.regex(out, /\nshop\s+report-nightly-29397600-hz6nq\s+0\/1\s+Completed/);
  t.regex(out, /\nkube-system\s+kube-proxy-7xk9p\s+1\/1\s+Running\s+0\s+\S+\s+10\.0\.0\.11\s+node-a/);
});

kt('get deploy -n shop, short names and label selectors', async (t) => {
  const out = await kubectl('get', 'deploy', '-n', 'shop');
  t.deepEqual(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).slice(0, 4).join(' ')),
    ['NAME READY UP-TO-DATE AVAILABLE', 'cart 1/1 1 1', 'checkout 1/1 1 1', 'frontend 2/2 2 2'],
  );
  const sts = await kubectl('get', 'sts,svc', '-n', 'kafka', '-o', 'name');
  t.deepEqual(sts.trim().split('\n'), ['statefulset.apps/kafka', 'service/kafka', 'service/kafka-headless']);
  const sel = await kubectl('get', 'po', '-A', '-l', 'app in (cart,kafka)', '-o', 'name');
  t.deepEqual(sel.trim().split('\n'), ['pod/kafka-0', 'pod/kafka-1', 'pod/cart-6c4d5f8b7-wq8jn']);
  const nodes = await kubectl('get', 'no', '-o', 'wide');
  t.regex(nodes, /node-b\s+Ready\s+<none>\s+\S+\s+v1\.32\.4\s+10\.0\.0\.12/);
});

kt('get pod X -o json returns the stored object; a missing pod is NotFound', async (t) => {
  const pod = JSON.parse(await kubectl('get', 'pod', 'kafka-1', '-n', 'kafka', '-o', 'json')) as {
    metadata: { name: string; uid: string; resourceVersion: string; ownerReferences: { kind: string }[] };
    status: { podIP: string };
  };
  t.is(pod.metadata.name, 'kafka-1');
  t.is(pod.status.podIP, '10.244.2.21');
  t.is(pod.metadata.ownerReferences[0]?.kind, 'StatefulSet');
  t.regex(pod.metadata.resourceVersion, /^\d+$/);
  t.regex(await kubectlFails('get', 'pod', 'ghost', '-n', 'kafka'), /NotFound.*pods "ghost" not found/);
  t.regex(
    await kubectl('wait', '--for=condition=Ready', 'pod', '-l', 'app=kafka', '-n', 'kafka', '--timeout=5s'),
    /pod\/kafka-0 condition met\npod\/kafka-1 condition met/,
  );
  t.regex(await kubectlFails('get', 'pods', '-l', 'app in ('), /BadRequest|unable to parse/);
});

kt('label, patch, create and apply (validated server-side) write through POST/PATCH', async (t) => {
  t.regex(await kubectl('label', 'pod', '-n', 'kafka', 'kafka-1', 'role=leader'), /pod\/kafka-1 labeled/);
  t.is(await kubectl('get', 'pods', '-n', 'kafka', '-l', 'role=leader', '-o', 'name'), 'pod/kafka-1\n');
  await kubectl('patch', 'svc', '-n', 'kafka', 'kafka', '--type=merge', '-p', '{"spec":{"clusterIP":"10.96.20.11"}}');
  t.like(server.get('svc', 'kafka', 'kafka'), { spec: { clusterIP: '10.96.20.11' } });
  const dir = await mkdtemp(join(tmpdir(), 'callmap-kubectl-'));
  try {
    const file = join(dir, 'pod.yaml');
    const manifest = (image: string) =>
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata: {name: applied, namespace: shop, labels: {app: applied}}',
        'spec:',
        '  containers:',
        `  - {name: app, image: "${image}", ports: [{containerPort: 8080}]}`,
        '  - {name: sidecar, image: "envoy:1"}',
        '',
      ].join('\n');
    await writeFile(file, manifest('app:1'));
    t.regex(await kubectl('apply', '-f', file), /pod\/applied created/);
    await writeFile(file, manifest('app:2'));
    t.regex(await kubectl('apply', '-f', file), /pod\/applied configured/);
    const pod = server.get('pod', 'shop', 'applied') as unknown as { spec: Record<string, unknown> };
    t.deepEqual(pod.spec, {
      containers: [
        { name: 'app', image: 'app:2', ports: [{ containerPort: 8080 }] },
        { name: 'sidecar', image: 'envoy:1' },
      ],
    });
    await writeFile(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: created}\n');
    t.regex(await kubectl('create', '-f', join(dir, 'ns.yaml')), /namespace\/created created/);
    t.regex(await kubectlFails('create', '-f', join(dir, 'ns.yaml')), /AlreadyExists/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

kt('logs POD prints stored lines; --timestamps and --tail work', async (t) => {
  server.appendLog('shop', 'debug-shell', undefined, 'first', '2026-11-21T20:00:00.123456789Z');
  server.appendLog('shop', 'debug-shell', undefined, 'second\nthird', '2026-11-21T20:00:01Z');
  t.is(await kubectl('logs', '-n', 'shop', 'debug-shell'), 'first\nsecond\nthird\n');
  t.is(
    await kubectl('logs', '-n', 'shop', 'debug-shell', '--timestamps', '--tail=2'),
    '2026-11-21T20:00:01.000000000Z second\n2026-11-21T20:00:01.000000000Z third\n',
  );
  t.is(await kubectl('logs', '-n', 'shop', 'debug-shell', '--since-time=2026-11-21T20:00:01Z'), 'second\nthird\n');
  // Multi-container pod: kubectl picks the default-container annotation; -c picks another.
  server.appendLog('shop', 'checkout-5b8f9c7d6-tx4rn', 'istio-proxy', 'envoy up');
  t.is(await kubectl('logs', '-n', 'shop', 'checkout-5b8f9c7d6-tx4rn', '-c', 'istio-proxy'), 'envoy up\n');
  t.is(await kubectl('logs', '-n', 'shop', 'checkout-5b8f9c7d6-tx4rn'), '');
  t.regex(await kubectlFails('logs', '-n', 'shop', 'ghost'), /pods "ghost" not found/);
});

/** A long-running kubectl (follow / watch) against the test server, with its stdout collected. */
function spawnKubectl(...args: string[]): { out(): string; kill(): Promise<void> } {
  const child = spawn(KUBECTL as string, ['--server', server.url, '--insecure-skip-tls-verify', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', KUBECONFIG: '/dev/null' },
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    out: () => out,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

kt('logs -f receives lines appended while following', async (t) => {
  server.appendLog('kafka', 'kafka-0', undefined, 'broker started');
  const follow = spawnKubectl('--request-timeout=0', 'logs', '-f', '-n', 'kafka', 'kafka-0');
  try {
    const waitFor = async (s: string) => {
      const deadline = Date.now() + 8000;
      while (!follow.out().includes(s)) {
        if (Date.now() > deadline)
          throw new Error(`kubectl logs -f never printed ${JSON.stringify(s)}; got ${follow.out()}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await waitFor('broker started\n');
    server.appendLog('kafka', 'kafka-0', 'kafka', 'topic orders created');
    server.appendLog('kafka', 'kafka-0', 'kafka', 'consumer group billing joined');
    await waitFor('consumer group billing joined\n');
    t.is(follow.out(), 'broker started\ntopic orders created\nconsumer group billing joined\n');
    t.is(server.openStreams().logs, 1);
  } finally {
    await follow.kill();
  }
});

kt('get -w prints pods added and deleted at run time; kubectl delete removes one', async (t) => {
  const watch = spawnKubectl('get', 'pods', '-n', 'default', '-w', '--output-watch-events');
  try {
    const deadline = Date.now() + 8000;
    while (server.openStreams().watches === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    server.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'watch-me', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Pending' },
    });
    server.remove('pod', 'default', 'watch-me');
    while (!watch.out().includes('DELETED') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    // Watch events arrive as one-row Tables, like the real server sends them to kubectl.
    t.regex(
      watch.out(),
      /^EVENT\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nADDED\s+watch-me\s+0\/1\s+Pending\s+0\s+\d+s\nDELETED\s+watch-me/,
    );
  } finally {
    await watch.kill();
  }
  t.regex(await kubectl('delete', 'pod', 'debug-shell', '-n', 'shop', '--wait=false'), /pod "debug-shell" deleted/);
  t.is(server.get('Pod', 'shop', 'debug-shell'), undefined);
});
