import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { CallmapError } from '../../../mapper/contract/index.ts';
import { kubeconfigSourceFrom, loadKubeConfig } from '../../../mapper/k8s/sources.ts';

const none = () => false;

test('explicit path wins, then KUBECONFIG (first existing entry), then ~/.kube/config, then in-cluster', (t) => {
  const env = {
    KUBECONFIG: '/nope:/a/config:/b/config',
    HOME: '/home/u',
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
    KUBERNETES_SERVICE_PORT: '443',
  };
  const exists = (p: string) => p === '/a/config' || p === '/b/config' || p === '/home/u/.kube/config';
  t.deepEqual(kubeconfigSourceFrom({ path: '/x', env, exists }), { kind: 'file', path: '/x' });
  t.deepEqual(kubeconfigSourceFrom({ path: '/x', context: 'c', env, exists }), {
    kind: 'file',
    path: '/x',
    context: 'c',
  });
  t.deepEqual(kubeconfigSourceFrom({ env, exists }), { kind: 'file', path: '/a/config' });
  t.deepEqual(kubeconfigSourceFrom({ env: { ...env, KUBECONFIG: '' }, exists }), {
    kind: 'file',
    path: '/home/u/.kube/config',
  });
  t.deepEqual(kubeconfigSourceFrom({ env, exists: none }), { kind: 'in-cluster', host: '10.0.0.1', port: '443' });
});

test('no credentials anywhere is a CallmapError that says what to do', (t) => {
  const err = t.throws(() => kubeconfigSourceFrom({ env: {}, exists: none }));
  t.true(err instanceof CallmapError);
  t.is((err as CallmapError).code, 'K8S_NO_KUBECONFIG');
  t.regex(err?.message ?? '', /--kubeconfig/);
});

test('loadKubeConfig: file, bad file, missing context, in-cluster, object', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callmap-k8s-'));
  try {
    const good = join(dir, 'good.yaml');
    await writeFile(
      good,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    t.is(loadKubeConfig({ kind: 'file', path: good }).getCurrentCluster()?.server, 'http://127.0.0.1:1');
    const e1 = t.throws(() => loadKubeConfig({ kind: 'file', path: join(dir, 'missing.yaml') }));
    t.is((e1 as CallmapError).code, 'K8S_BAD_KUBECONFIG');
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'this: [is not');
    t.is((t.throws(() => loadKubeConfig({ kind: 'file', path: bad })) as CallmapError).code, 'K8S_BAD_KUBECONFIG');
    const e3 = t.throws(() => loadKubeConfig({ kind: 'file', path: good, context: 'nope' }));
    t.is((e3 as CallmapError).code, 'K8S_BAD_KUBECONFIG');
    const inCluster = loadKubeConfig({ kind: 'in-cluster', host: 'fd00::1', port: '6443', serviceAccountDir: dir });
    t.is(inCluster.getCurrentCluster()?.server, 'https://[fd00::1]:6443');
    const kc = new KubeConfig();
    t.is(loadKubeConfig({ kind: 'object', kubeConfig: kc }), kc);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
