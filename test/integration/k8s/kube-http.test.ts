/**
 * The mapper's own Kubernetes HTTP access (ADR 0046) against a real HTTPS server: CA checking,
 * client certificates, bearer tokens, paged lists, watch streams split at any byte, and error
 * statuses (410 → the informer relists).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import test from 'ava';
import { ClusterState } from '../../../mapper/k8s/cluster-state.ts';
import { statusOf } from '../../../mapper/k8s/informer.ts';
import { KubeSources } from '../../../mapper/k8s/sources.ts';

const dir = new URL('../../fixtures/kube/tls/', import.meta.url);
const fixture = (name: string): Buffer => readFileSync(new URL(name, dir));

const podJson = (name: string, rv: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'a',
    uid: `u-${name}`,
    resourceVersion: rv,
    annotations: { big: 'x'.repeat(2000) },
    managedFields: [{ manager: 'kubelet' }],
  },
  spec: { containers: [{ name: 'c', image: 'i' }], nodeName: 'n1' },
  status: { phase: 'Running', podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }] },
});

interface Seen {
  auth: string | undefined;
  clientCN: string | undefined;
  urls: string[];
}

async function server(watchBody: (res: import('node:http').ServerResponse) => void) {
  const seen: Seen = { auth: undefined, clientCN: undefined, urls: [] };
  const srv = https.createServer(
    {
      key: fixture('server.key'),
      cert: fixture('server.crt'),
      ca: fixture('ca.crt'),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      seen.auth = req.headers.authorization;
      const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
      seen.clientCN = Array.isArray(cn) ? cn.join(",") : cn;
      seen.urls.push(req.url ?? '');
      const url = new URL(req.url ?? '/', 'https://x');
      if (url.pathname === '/api/v1/pods' && url.searchParams.get('watch') === 'true') {
        watchBody(res);
        return;
      }
      if (url.pathname === '/api/v1/pods') {
        const page2 = url.searchParams.get('continue') === 'c1';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'PodList',
            metadata: page2 ? { resourceVersion: '7' } : { resourceVersion: '7', continue: 'c1' },
            items: page2 ? [podJson('p2', '6')] : [podJson('p1', '5')],
          }),
        );
        return;
      }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'services is forbidden: no list' }));
    },
  );
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  return { seen, url: `https://127.0.0.1:${port}`, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

async function kubeconfig(url: string, ca: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const tmp = await mkdtemp(join(tmpdir(), 'callmap-kube-http-'));
  const path = join(tmp, 'config');
  const f = (n: string) => new URL(n, dir).pathname;
  await writeFile(
    path,
    [
      `clusters: [{name: c, cluster: {server: "${url}", certificate-authority: "${f(ca)}"}}]`,
      `users: [{name: u, user: {token: tok-1, client-certificate: "${f('client.crt')}", client-key: "${f('client.key')}"}}]`,
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n'),
  );
  return { path, cleanup: () => rm(tmp, { recursive: true, force: true }) };
}

test('HTTPS with the kubeconfig CA, client certificate and token: paged list, trimmed items', async (t) => {
  const srv = await server((res) => res.end());
  const kc = await kubeconfig(srv.url, 'ca.crt');
  try {
    const state = new ClusterState();
    const src = new KubeSources({ kind: 'file', path: kc.path }).source('Pod', (o) => state.trim('Pod', o));
    const list = await src.list();
    t.is(list.resourceVersion, '7');
    t.deepEqual(
      list.items.map((i) => (i as { metadata: { name: string } }).metadata.name),
      ['p1', 'p2'],
    );
    // Trimmed as they arrived: no spec.containers, no managedFields, no unread annotations.
    t.false(JSON.stringify(list.items).includes('managedFields'));
    t.false(JSON.stringify(list.items).includes('xxxx'));
    t.is(srv.seen.auth, 'Bearer tok-1');
    t.is(srv.seen.clientCN, 'callmap-client');
    t.deepEqual(srv.seen.urls, ['/api/v1/pods?limit=500', '/api/v1/pods?limit=500&continue=c1']);
    state.replace('Pod', list.items, Date.now());
    t.is(state.counts().pods, 2);
    // Another API path answers 403: the error carries the status and the server's message.
    const err = await t.throwsAsync(new KubeSources({ kind: 'file', path: kc.path }).source('Service').list());
    t.is(statusOf(err), 403);
    t.regex(err?.message ?? '', /403 Forbidden: services is forbidden/);
  } finally {
    await kc.cleanup();
    await srv.close();
  }
});

test('a server certificate the kubeconfig CA did not sign is refused', async (t) => {
  const srv = await server((res) => res.end());
  const kc = await kubeconfig(srv.url, 'other-ca.crt');
  try {
    const err = await t.throwsAsync(new KubeSources({ kind: 'file', path: kc.path }).source('Pod').list());
    t.regex(err?.message ?? '', /certificate/i);
    t.deepEqual(srv.seen.urls, []);
  } finally {
    await kc.cleanup();
    await srv.close();
  }
});

test('watch: events split at every byte boundary arrive whole and trimmed; BOOKMARK and ERROR pass as they are; 410 is a status', async (t) => {
  const lines = [
    JSON.stringify({ type: 'ADDED', object: podJson('p3', '8') }),
    JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '9' } } }),
    'not json',
    JSON.stringify({
      type: 'MODIFIED',
      object: { ...podJson('p3', '10'), metadata: { ...podJson('p3', '10').metadata, labels: { app: 'é' } } },
    }),
    JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500 } }),
  ];
  const body = Buffer.from(`${lines.join('\n')}\n`);
  let mode: 'stream' | 'gone' = 'stream';
  const srv = await server((res) => {
    if (mode === 'gone') {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, message: 'too old resource version' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    // One byte at a time (multi-byte characters split too).
    let i = 0;
    const next = (): void => {
      if (i >= body.length) {
        res.end();
        return;
      }
      res.write(body.subarray(i, i + 1), next);
      i++;
    };
    next();
  });
  const kc = await kubeconfig(srv.url, 'ca.crt');
  try {
    const state = new ClusterState();
    const src = new KubeSources({ kind: 'file', path: kc.path }).source('Pod', (o) => state.trim('Pod', o));
    const events: [string, unknown][] = [];
    const done = new Promise<unknown>((resolve) => {
      void src.watch('7', 300, (type, obj) => events.push([type, obj]), resolve);
    });
    t.is(await done, null);
    t.deepEqual(
      events.map(([type]) => type),
      ['ADDED', 'BOOKMARK', 'MODIFIED', 'ERROR'],
    );
    t.false(JSON.stringify(events[0]?.[1]).includes('containers'));
    t.deepEqual((events[2]?.[1] as { metadata: { labels: unknown } }).metadata.labels, { app: 'é' });
    t.deepEqual(events[1]?.[1], { kind: 'Pod', metadata: { resourceVersion: '9' } });
    t.deepEqual(events[3]?.[1], { kind: 'Status', code: 500 });
    t.true(srv.seen.urls.at(-1)?.includes('watch=true'));
    t.true(srv.seen.urls.at(-1)?.includes('resourceVersion=7'));
    t.true(srv.seen.urls.at(-1)?.includes('allowWatchBookmarks=true'));

    mode = 'gone';
    const gone = await new Promise<unknown>((resolve) => {
      void src.watch('1', 300, () => t.fail('no events expected'), resolve);
    });
    t.is(statusOf(gone), 410);
  } finally {
    await kc.cleanup();
    await srv.close();
  }
});
