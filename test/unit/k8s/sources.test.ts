import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { CallmapError } from '../../../mapper/contract/index.ts';
import { kubeconfigSourceFrom, loadKubeEndpoint } from '../../../mapper/k8s/sources.ts';

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

test('loadKubeEndpoint: file, bad file, missing context, in-cluster, object', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callmap-k8s-'));
  try {
    const good = join(dir, 'good.yaml');
    await writeFile(
      good,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:1/", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const ep = loadKubeEndpoint({ kind: 'file', path: good });
    t.is(ep.server, 'http://127.0.0.1:1');
    t.is(ep.credentials, 'own');
    t.deepEqual((await ep.setup()).headers, {});
    const e1 = t.throws(() => loadKubeEndpoint({ kind: 'file', path: join(dir, 'missing.yaml') }));
    t.is((e1 as CallmapError).code, 'K8S_BAD_KUBECONFIG');
    t.regex((e1 as CallmapError).message, /--kubeconfig/);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'this: [is not');
    t.is((t.throws(() => loadKubeEndpoint({ kind: 'file', path: bad })) as CallmapError).code, 'K8S_BAD_KUBECONFIG');
    const e3 = t.throws(() => loadKubeEndpoint({ kind: 'file', path: good, context: 'nope' }));
    t.is((e3 as CallmapError).code, 'K8S_BAD_KUBECONFIG');
    const noCurrent = join(dir, 'nocurrent.yaml');
    await writeFile(noCurrent, 'apiVersion: v1\nkind: Config\nclusters: []\n');
    t.regex(
      (t.throws(() => loadKubeEndpoint({ kind: 'file', path: noCurrent })) as CallmapError).message,
      /current cluster/,
    );
    // Plain http only with insecure-skip-tls-verify (client-node's rule).
    const plain = join(dir, 'plain.yaml');
    await writeFile(
      plain,
      'clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n',
    );
    t.regex(
      (t.throws(() => loadKubeEndpoint({ kind: 'file', path: plain })) as CallmapError).message,
      /insecure-skip-tls-verify/,
    );

    await writeFile(join(dir, 'token'), 'tok-1\n');
    await writeFile(join(dir, 'ca.crt'), 'not a real CA');
    const inCluster = loadKubeEndpoint({ kind: 'in-cluster', host: 'fd00::1', port: '6443', serviceAccountDir: dir });
    t.is(inCluster.server, 'https://[fd00::1]:6443');
    t.deepEqual((await inCluster.setup()).headers, { authorization: 'Bearer tok-1' });
    // Projected tokens rotate: every request reads the file again.
    await writeFile(join(dir, 'token'), 'tok-2');
    t.deepEqual((await inCluster.setup()).headers, { authorization: 'Bearer tok-2' });

    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://10.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'obj-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const obj = loadKubeEndpoint({ kind: 'object', kubeConfig: kc });
    t.is(obj.server, 'https://10.0.0.1:6443');
    t.is(obj.credentials, 'client-node');
    t.is((await obj.setup()).headers['Authorization'], 'Bearer obj-token');
    t.is(
      (t.throws(() => loadKubeEndpoint({ kind: 'object', kubeConfig: new KubeConfig() })) as CallmapError).code,
      'K8S_BAD_KUBECONFIG',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadKubeEndpoint: token, token file and CA paths relative to the file are read by callmap; exec plugins go to client-node', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callmap-k8s-'));
  try {
    await writeFile(join(dir, 'tok'), 'file-token\n');
    await writeFile(join(dir, 'ca.pem'), 'CA BYTES');
    const kc = (user: string) =>
      [
        'clusters: [{name: c, cluster: {server: "https://k.example:6443", certificate-authority: ca.pem, extensions: []}}]',
        `users: [{name: u, user: ${user}}]`,
        'contexts: [{name: x, context: {cluster: c, user: u}}, {name: y, context: {cluster: c}}]',
        'current-context: x',
      ].join('\n');
    const write = async (name: string, user: string) => {
      await writeFile(join(dir, name), kc(user));
      return join(dir, name);
    };
    const tokenEp = loadKubeEndpoint({ kind: 'file', path: await write('a.yaml', '{token: abc}') });
    t.is(tokenEp.credentials, 'own');
    const s1 = await tokenEp.setup();
    t.deepEqual(s1.headers, { authorization: 'Bearer abc' });
    t.is(String((s1.agent as unknown as { options: { ca?: Buffer } }).options.ca), 'CA BYTES');
    const fileEp = loadKubeEndpoint({ kind: 'file', path: await write('b.yaml', '{tokenFile: tok}') });
    t.deepEqual((await fileEp.setup()).headers, { authorization: 'Bearer file-token' });
    // --context picks another context (no user: no credentials).
    const other = loadKubeEndpoint({ kind: 'file', path: join(dir, 'a.yaml'), context: 'y' });
    t.deepEqual((await other.setup()).headers, {});
    // A missing CA file is a start-up error that names it.
    await writeFile(join(dir, 'c.yaml'), kc('{token: abc}').replace('ca.pem', 'gone.pem'));
    t.regex(
      (t.throws(() => loadKubeEndpoint({ kind: 'file', path: join(dir, 'c.yaml') })) as CallmapError).message,
      /gone\.pem/,
    );
    // An exec plugin is run by client-node (imported only for this), which gives the token.
    const cred = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'exec-token' },
    });
    const execEp = loadKubeEndpoint({
      kind: 'file',
      path: await write(
        'd.yaml',
        `{exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, args: ["-c", ${JSON.stringify(`echo '${cred}'`)}]}}`,
      ),
    });
    t.is(execEp.credentials, 'client-node');
    t.is((await execEp.setup()).headers['Authorization'], 'Bearer exec-token');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
