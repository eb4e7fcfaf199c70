/**
 * The wire protocol at the HTTP level: discovery, lists, watch semantics (replay, selectors,
 * 410, bookmarks, timeouts), pod log parameters, REST writes, the control API and shutdown.
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import { type KubeApiTestServer, startKubeApiServer } from '../../kube-api-server/index.ts';

const FIXTURE = 'test/fixtures/kube/basic.yaml';

async function withServer(
  fn: (s: KubeApiTestServer) => Promise<void>,
  opts: Parameters<typeof startKubeApiServer>[0] = {},
): Promise<void> {
  const s = await startKubeApiServer({ fixture: FIXTURE, ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Reads newline-delimited chunks of a streaming response. */
class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = '';
  #done = false;
  readonly #decoder = new TextDecoder();
  constructor(res: Response) {
    if (!res.body) throw new Error('no body');
    this.#reader = res.body.getReader();
  }
  /** The next line, or undefined at end of stream. */
  async next(timeoutMs = 3000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buf.indexOf('\n');
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#done) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms (buffer ${JSON.stringify(this.#buf)})`);
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        this.#reader.read(),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), left);
        }),
      ]);
      clearTimeout(timer);
      if (r === 'timeout') continue;
      if (r.done) this.#done = true;
      else this.#buf += this.#decoder.decode(r.value, { stream: true });
    }
  }
  async event(
    timeoutMs?: number,
  ): Promise<{ type: string; object: Record<string, unknown> & { metadata?: Record<string, unknown> } } | undefined> {
    const line = await this.next(timeoutMs);
    return line === undefined ? undefined : JSON.parse(line);
  }
  cancel(): Promise<void> {
    return this.#reader.cancel().catch(() => undefined);
  }
}

const nameOf = (e: { object: { metadata?: Record<string, unknown> } } | undefined) => e?.object.metadata?.name;

const newPod = (name: string, labels: Record<string, string>, namespace = 'shop') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels },
  spec: { containers: [{ name: 'main' }] },
});

test('discovery documents', async (t) => {
  await withServer(async (s) => {
    const version = await getJson(`${s.url}/version`);
    t.is(version.body.gitVersion, 'v1.32.4');
    t.is(version.body.minor, '32');
    t.deepEqual((await getJson(`${s.url}/api`)).body.versions, ['v1']);
    const core = (await getJson(`${s.url}/api/v1`)).body as {
      groupVersion: string;
      resources: Record<string, unknown>[];
    };
    t.is(core.groupVersion, 'v1');
    const pods = core.resources.find((r) => r.name === 'pods');
    t.deepEqual(pods?.shortNames, ['po']);
    t.is(pods?.namespaced, true);
    t.is(pods?.kind, 'Pod');
    t.true(((pods?.verbs ?? []) as string[]).includes('watch'));
    t.truthy(core.resources.find((r) => r.name === 'pods/log'));
    t.is(core.resources.find((r) => r.name === 'nodes')?.namespaced, false);
    const groups = (await getJson(`${s.url}/apis`)).body.groups as {
      name: string;
      preferredVersion: { groupVersion: string };
    }[];
    t.deepEqual(groups.map((g) => g.preferredVersion.groupVersion).sort(), [
      'apps/v1',
      'batch/v1',
      'discovery.k8s.io/v1',
    ]);
    const apps = (await getJson(`${s.url}/apis/apps/v1`)).body as { resources: Record<string, unknown>[] };
    t.deepEqual(apps.resources.map((r) => `${r.name}:${(r.shortNames as string[] | undefined)?.join(',')}`).sort(), [
      'daemonsets:ds',
      'deployments:deploy',
      'replicasets:rs',
      'statefulsets:sts',
    ]);
    t.is((await getJson(`${s.url}/apis/batch`)).body.kind, 'APIGroup');
    const index = (await getJson(`${s.url}/openapi/v3`)).body.paths as Record<string, { serverRelativeURL: string }>;
    t.deepEqual(Object.keys(index).sort(), ['api/v1', 'apis/apps/v1', 'apis/batch/v1', 'apis/discovery.k8s.io/v1']);
    const appsDoc = (await getJson(`${s.url}${index['apis/apps/v1']?.serverRelativeURL}`)).body as {
      paths: Record<string, { patch: { parameters: { name: string }[] } }>;
    };
    const patchOp = appsDoc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']?.patch;
    t.true(patchOp?.parameters.some((p) => p.name === 'fieldValidation'));
    t.is((await getJson(`${s.url}/openapi/v3/apis/nope/v1`)).status, 404);
    t.is((await getJson(`${s.url}/openapi/v2`)).status, 404);
    for (const path of [
      '/apis/nope/v1',
      '/api/v2',
      '/api/v1/foos',
      '/api/v1/namespaces/shop/foos',
      '/nothing',
      '/apis/nope',
    ]) {
      const r = await getJson(`${s.url}${path}`);
      t.is(r.status, 404, path);
      t.is(r.body.kind, 'Status');
      t.is(r.body.reason, 'NotFound');
    }
  });
});

test('lists: cluster-wide, namespaced, selectors, ignored paging, errors', async (t) => {
  await withServer(async (s) => {
    const all = await getJson(`${s.url}/api/v1/pods?limit=2&continue=abc`);
    t.is(all.body.kind, 'PodList');
    t.is(all.body.apiVersion, 'v1');
    t.is((all.body.items as unknown[]).length, 11);
    t.is((all.body.metadata as { resourceVersion: string }).resourceVersion, s.resourceVersion());
    const deps = await getJson(`${s.url}/apis/apps/v1/namespaces/shop/deployments?labelSelector=tier`);
    t.is(deps.body.kind, 'DeploymentList');
    t.deepEqual(
      (deps.body.items as { metadata: { name: string } }[]).map((d) => d.metadata.name),
      ['frontend'],
    );
    const done = await getJson(`${s.url}/api/v1/namespaces/shop/pods?fieldSelector=status.phase%3DSucceeded`);
    t.deepEqual(
      (done.body.items as { metadata: { name: string } }[]).map((d) => d.metadata.name),
      ['report-nightly-29397600-hz6nq'],
    );
    const ns = await getJson(`${s.url}/api/v1/namespaces/kafka`);
    t.is(ns.body.kind, 'Namespace');
    const slices = await getJson(
      `${s.url}/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkafka-headless`,
    );
    t.deepEqual(
      (slices.body.items as { metadata: { name: string } }[]).map((d) => d.metadata.name),
      ['kafka-headless-4rlwq'],
    );
    const bad = await getJson(`${s.url}/api/v1/pods?labelSelector=a%20in%20(`);
    t.is(bad.status, 400);
    t.is(bad.body.reason, 'BadRequest');
    const badField = await getJson(`${s.url}/api/v1/services?fieldSelector=spec.clusterIP%3D1`);
    t.is(badField.status, 400);
    t.regex(String(badField.body.message), /field label not supported: spec.clusterIP/);
    const missing = await getJson(`${s.url}/apis/apps/v1/namespaces/shop/deployments/nope`);
    t.is(missing.status, 404);
    t.is(missing.body.message, 'deployments.apps "nope" not found');
    t.deepEqual(missing.body.details, { resource: 'deployments.apps', name: 'nope' });
  });
});

test('watch without resourceVersion: synthetic ADDED, then live events honouring selectors', async (t) => {
  await withServer(async (s) => {
    const res = await fetch(`${s.url}/api/v1/namespaces/shop/pods?watch=1&labelSelector=app%3Dcart`);
    t.is(res.status, 200);
    const r = new LineReader(res);
    const first = await r.event();
    t.is(first?.type, 'ADDED');
    t.is(nameOf(first), 'cart-6c4d5f8b7-wq8jn');
    s.apply(newPod('cart-extra', { app: 'cart' }));
    s.apply(newPod('other', { app: 'other' })); // never matches: not delivered
    s.apply(newPod('cart-other-ns', { app: 'cart' }, 'kafka')); // other namespace: not delivered
    s.apply(newPod('other', { app: 'cart' })); // moves into the selector: ADDED
    s.apply(newPod('cart-extra', { app: 'cart', v: '2' })); // MODIFIED
    s.apply(newPod('other', { app: 'gone' })); // moves out: DELETED
    s.remove('pods', 'shop', 'cart-extra');
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const e = await r.event();
      got.push(`${e?.type} ${nameOf(e)}`);
    }
    t.deepEqual(got, ['ADDED cart-extra', 'ADDED other', 'MODIFIED cart-extra', 'DELETED other', 'DELETED cart-extra']);
    await r.cancel();
  });
});

test('watch from a resourceVersion replays history; too old gets ERROR 410; bad rv is 400', async (t) => {
  await withServer(
    async (s) => {
      const rv = s.resourceVersion();
      s.apply(newPod('p1', {}));
      s.apply(newPod('p2', {}));
      const res = await fetch(`${s.url}/api/v1/pods?watch=true&resourceVersion=${rv}`);
      const r = new LineReader(res);
      const a = await r.event();
      const b = await r.event();
      t.deepEqual([nameOf(a), nameOf(b)], ['p1', 'p2']);
      t.is(Number(b?.object.metadata?.resourceVersion), Number(rv) + 2);
      await r.cancel();

      for (let i = 0; i < 5; i++) s.apply(newPod(`churn-${i}`, {}));
      const old = await fetch(`${s.url}/api/v1/pods?watch=true&resourceVersion=${rv}`);
      t.is(old.status, 200);
      const r2 = new LineReader(old);
      const err = await r2.event();
      t.is(err?.type, 'ERROR');
      t.like(err?.object, { kind: 'Status', code: 410, reason: 'Expired', status: 'Failure' });
      t.is(await r2.next(), undefined, 'the stream ends after the 410');

      const bad = await getJson(`${s.url}/api/v1/pods?watch=true&resourceVersion=abc`);
      t.is(bad.status, 400);
      t.is(bad.body.kind, 'Status');
      const badTimeout = await getJson(`${s.url}/api/v1/pods?watch=true&timeoutSeconds=soon`);
      t.is(badTimeout.status, 400);
      t.regex(String(badTimeout.body.message), /timeoutSeconds/);
    },
    { historySize: 4 },
  );
});

test('watch: timeoutSeconds ends the stream; bookmarks; single-object watch; Table events', async (t) => {
  await withServer(
    async (s) => {
      const started = Date.now();
      const res = await fetch(
        `${s.url}/api/v1/namespaces/kafka/pods?watch=true&timeoutSeconds=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`,
      );
      const r = new LineReader(res);
      const types: string[] = [];
      for (;;) {
        const e = await r.event(4000);
        if (!e) break;
        types.push(e.type);
        if (e.type === 'BOOKMARK') t.regex(String(e.object.metadata?.resourceVersion), /^\d+$/);
      }
      t.deepEqual(types.slice(0, 3), ['ADDED', 'ADDED', 'BOOKMARK']);
      t.true(types.slice(3).every((x) => x === 'BOOKMARK') && types.length >= 4, types.join(','));
      t.true(Date.now() - started >= 900);

      const one = new LineReader(await fetch(`${s.url}/api/v1/namespaces/kafka/pods/kafka-1?watch=true`));
      t.is(nameOf(await one.event()), 'kafka-1');
      s.apply({ ...newPod('kafka-0', { app: 'kafka' }, 'kafka') });
      s.apply({ ...newPod('kafka-1', { app: 'kafka', x: 'y' }, 'kafka') });
      const mod = await one.event();
      t.is(`${mod?.type} ${nameOf(mod)}`, 'MODIFIED kafka-1');
      await one.cancel();

      const table = new LineReader(
        await fetch(`${s.url}/api/v1/nodes?watch=true`, {
          headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
        }),
      );
      const e = await table.event();
      t.is(e?.object.kind, 'Table');
      t.is(((e?.object.rows ?? []) as { cells: unknown[] }[])[0]?.cells[0], 'node-a');
      await table.cancel();
    },
    { bookmarkIntervalMs: 200 },
  );
});

test('pod logs: tailLines, sinceSeconds, sinceTime, limitBytes, timestamps and errors', async (t) => {
  let now = Date.parse('2026-11-21T20:00:00Z');
  await withServer(
    async (s) => {
      const base = `${s.url}/api/v1/namespaces/shop/pods`;
      s.appendLog('shop', 'cart-6c4d5f8b7-wq8jn', undefined, 'old');
      now += 60_000;
      s.appendLog('shop', 'cart-6c4d5f8b7-wq8jn', undefined, 'new1\nnew2');
      const text = async (q: string) => {
        const res = await fetch(`${base}/cart-6c4d5f8b7-wq8jn/log${q}`);
        t.is(res.status, 200, q);
        t.is(res.headers.get('content-type'), 'text/plain');
        return res.text();
      };
      t.is(await text(''), 'old\nnew1\nnew2\n');
      t.is(await text('?tailLines=1'), 'new2\n');
      t.is(await text('?tailLines=0'), '');
      t.is(await text('?sinceSeconds=30'), 'new1\nnew2\n');
      t.is(await text('?sinceTime=2026-11-21T20:00:30Z'), 'new1\nnew2\n');
      t.is(await text('?limitBytes=6'), 'old\nne');
      t.is(
        await text('?timestamps=true&tailLines=1'),
        '2026-11-21T20:01:00.000000000Z new2\n',
        'lines of one append share its time',
      );
      t.is(await text('?container=cart&tailLines=1'), 'new2\n');
      const errs: [string, string, number, RegExp][] = [
        [
          'checkout-5b8f9c7d6-tx4rn',
          '',
          400,
          /a container name must be specified for pod checkout-5b8f9c7d6-tx4rn, choose one of: \[checkout istio-proxy\]/,
        ],
        ['checkout-5b8f9c7d6-tx4rn', '?container=nginx', 400, /container nginx is not valid/],
        ['cart-6c4d5f8b7-wq8jn', '?previous=true', 400, /previous terminated container "cart"/],
        ['cart-6c4d5f8b7-wq8jn', '?sinceTime=yesterday', 400, /sinceTime/],
        ['cart-6c4d5f8b7-wq8jn', '?tailLines=-1', 400, /tailLines/],
        ['cart-6c4d5f8b7-wq8jn', '?sinceSeconds=5&sinceTime=2026-11-21T20:00:30Z', 400, /at most one/],
        ['ghost', '', 404, /pods "ghost" not found/],
      ];
      for (const [pod, q, code, re] of errs) {
        const r = await getJson(`${base}/${pod}/log${q}`);
        t.is(r.status, code, `${pod}${q}`);
        t.is(r.body.kind, 'Status');
        t.regex(String(r.body.message), re);
      }
      t.is((await getJson(`${s.url}/api/v1/namespaces/shop/services/cart/log`)).status, 404);
    },
    { now: () => now },
  );
});

test('log follow gets appended lines and ends when the pod is deleted', async (t) => {
  await withServer(async (s) => {
    const res = await fetch(`${s.url}/api/v1/namespaces/kafka/pods/kafka-0/log?follow=true&container=kafka`);
    const r = new LineReader(res);
    s.appendLog('kafka', 'kafka-0', 'kafka', 'a');
    t.is(await r.next(), 'a');
    s.appendLog('kafka', 'kafka-1', 'kafka', 'other pod');
    s.appendLog('kafka', 'kafka-0', undefined, 'b');
    t.is(await r.next(), 'b');
    t.is(s.openStreams().logs, 1);
    s.remove('Pod', 'kafka', 'kafka-0');
    t.is(await r.next(), undefined);
    t.is(s.openStreams().logs, 0);
  });
});

test('REST writes: create, conflict, replace, delete', async (t) => {
  await withServer(async (s) => {
    const url = `${s.url}/api/v1/namespaces/shop/services`;
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'new-svc' },
      spec: { clusterIP: '10.96.10.99' },
    };
    const created = await getJson(url, { method: 'POST', body: JSON.stringify(svc) });
    t.is(created.status, 201);
    t.like(created.body, { metadata: { name: 'new-svc', namespace: 'shop' } });
    t.is((await getJson(url, { method: 'POST', body: JSON.stringify(svc) })).status, 409);
    const put = await getJson(`${url}/new-svc`, {
      method: 'PUT',
      body: JSON.stringify({ ...svc, spec: { clusterIP: '10.96.10.98' } }),
    });
    t.is(put.status, 200);
    t.like(s.get('svc', 'shop', 'new-svc'), { spec: { clusterIP: '10.96.10.98' } });
    t.is((await getJson(`${url}/other`, { method: 'PUT', body: JSON.stringify(svc) })).status, 400);
    t.is(
      (await getJson(url, { method: 'POST', body: JSON.stringify({ ...svc, kind: 'Pod' }) })).status,
      400,
      'kind must match the path',
    );
    t.is((await getJson(url, { method: 'POST', body: 'kind: [' })).status, 400);
    t.is((await getJson(`${url}/new-svc`, { method: 'DELETE' })).status, 200);
    t.is((await getJson(`${url}/new-svc`, { method: 'DELETE' })).status, 404);
    t.is((await getJson(`${s.url}/api/v1/namespaces/shop/services`, { method: 'PATCH' })).status, 405);
  });
});

test('PATCH (merge, strategic, json), optimistic concurrency, and hostile requests', async (t) => {
  await withServer(async (s) => {
    const url = `${s.url}/api/v1/namespaces/shop/pods/cart-6c4d5f8b7-wq8jn`;
    const patch = (type: string, body: unknown) =>
      getJson(url, { method: 'PATCH', headers: { 'content-type': type }, body: JSON.stringify(body) });
    const before = s.get('pod', 'shop', 'cart-6c4d5f8b7-wq8jn');
    const merged = await patch('application/strategic-merge-patch+json', { metadata: { labels: { canary: 'true' } } });
    t.is(merged.status, 200);
    t.like(merged.body, { metadata: { labels: { app: 'cart', canary: 'true' }, uid: before?.metadata.uid } });
    t.true(
      Number((merged.body.metadata as { resourceVersion: string }).resourceVersion) >
        Number(before?.metadata.resourceVersion),
    );
    const jp = await patch('application/json-patch+json', [{ op: 'replace', path: '/status/phase', value: 'Failed' }]);
    t.like(jp.body, { status: { phase: 'Failed', podIP: '10.244.2.11' } });
    const stale = await patch('application/merge-patch+json', {
      metadata: { resourceVersion: '1', labels: { x: 'y' } },
    });
    t.is(stale.status, 409);
    t.is(stale.body.reason, 'Conflict');
    t.is((await patch('application/merge-patch+json', { metadata: { name: 'renamed' } })).status, 400);
    t.is((await patch('application/merge-patch+json', { kind: 'Service' })).status, 400);
    t.is((await patch('application/json', {})).status, 415);
    t.is((await patch('application/json-patch+json', [{ op: 'remove', path: '/nope' }])).status, 400);
    t.is((await getJson(`${s.url}/api/v1/namespaces/shop/pods/ghost`, { method: 'PATCH' })).status, 404);
    const put = await getJson(url, {
      method: 'PUT',
      body: JSON.stringify({
        ...before,
        metadata: { ...before?.metadata, resourceVersion: before?.metadata.resourceVersion },
      }),
    });
    t.is(put.status, 409, 'PUT with a stale resourceVersion');

    const huge = await fetch(`${s.url}/_callmap/apply`, { method: 'POST', body: 'x'.repeat(10 * 1024 * 1024 + 1) });
    t.is(huge.status, 413);
    const badPath = await getJson(`${s.url}/api/v1/namespaces/%E0%A4%A/pods`);
    t.is(badPath.status, 400);
    t.regex(String(badPath.body.message), /percent-encoding/);
    const badLogPath = await getJson(`${s.url}/_callmap/logs/shop/%E0%A4%A`, { method: 'POST', body: 'x' });
    t.is(badLogPath.status, 400);
    // The server still answers after all that.
    t.is((await getJson(`${s.url}/api/v1/namespaces/shop/pods`)).status, 200);
  });
});

test('control API: apply YAML, remove, logs, break-watches, expire-history', async (t) => {
  await withServer(async (s) => {
    const watch = new LineReader(
      await fetch(`${s.url}/api/v1/namespaces/default/pods?watch=true&resourceVersion=${s.resourceVersion()}`),
    );
    const applied = await getJson(`${s.url}/_callmap/apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: 'apiVersion: v1\nkind: Pod\nmetadata: {name: ctl}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n',
    });
    t.is(applied.status, 200);
    t.deepEqual(
      (applied.body.applied as { kind: string; name: string; namespace?: string }[]).map(
        (a) => `${a.kind}/${a.namespace}/${a.name}`,
      ),
      ['Pod/default/ctl', 'Namespace/undefined/extra'],
    );
    t.is(nameOf(await watch.event()), 'ctl');
    const bad = await getJson(`${s.url}/_callmap/apply`, {
      method: 'POST',
      body: 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n: : [\n',
    });
    t.is(bad.status, 400);
    t.regex(String(bad.body.message), /request body: document 2: invalid YAML/);

    const logs = await getJson(`${s.url}/_callmap/logs/default/ctl?time=2026-11-21T20:00:00Z`, {
      method: 'POST',
      body: 'x\ny\n',
    });
    t.deepEqual(logs.body, { appended: 2 });
    t.is(
      await (await fetch(`${s.url}/api/v1/namespaces/default/pods/ctl/log?timestamps=true`)).text(),
      '2026-11-21T20:00:00.000000000Z x\n2026-11-21T20:00:00.000000000Z y\n',
    );
    t.is((await getJson(`${s.url}/_callmap/logs/default/ghost`, { method: 'POST', body: 'x' })).status, 404);

    const removed = await getJson(`${s.url}/_callmap/remove`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'po', name: 'ctl' }),
    });
    t.is(removed.status, 200);
    const del = await watch.event();
    t.is(`${del?.type} ${nameOf(del)}`, 'DELETED ctl');
    t.is((await getJson(`${s.url}/_callmap/remove?kind=pod&name=ctl`, { method: 'POST' })).status, 404);
    t.is(
      (await getJson(`${s.url}/_callmap/remove`, { method: 'POST', body: '{"kind":"Widget","name":"x"}' })).status,
      400,
    );
    t.is((await getJson(`${s.url}/_callmap/remove`, { method: 'POST', body: 'not json' })).status, 400);

    t.deepEqual((await getJson(`${s.url}/_callmap/break-watches?mode=end`, { method: 'POST' })).body, { broken: 1 });
    t.is(await watch.next(), undefined, 'mode=end closes the stream cleanly');
    const rv = s.resourceVersion();
    await getJson(`${s.url}/_callmap/expire-history`, { method: 'POST' });
    const gone = new LineReader(await fetch(`${s.url}/api/v1/pods?watch=true&resourceVersion=${rv}`));
    t.is((await gone.event())?.object.code, 410);
    t.is((await getJson(`${s.url}/_callmap/apply`)).status, 405);
    t.is((await getJson(`${s.url}/_callmap/nope`, { method: 'POST' })).status, 404);
    t.like((await getJson(`${s.url}/_callmap/healthz`)).body, { ok: true });
  });
});

test('abort-mode breakWatches kills the connection without a final chunk', async (t) => {
  await withServer(async (s) => {
    const r = new LineReader(await fetch(`${s.url}/api/v1/nodes?watch=true`));
    await r.event();
    await r.event();
    t.is(s.breakWatches(), 1);
    await t.throwsAsync(r.next());
  });
});

test('close() ends open streams and removes the kubeconfig; objects option and port in use', async (t) => {
  const s = await startKubeApiServer({
    objects: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'solo' } }],
  });
  t.true(existsSync(s.kubeconfigPath));
  t.regex(s.kubeconfigYaml, new RegExp(`server: ${s.url}\\n    insecure-skip-tls-verify: true`));
  t.deepEqual(
    s.list('nodes').map((n) => n.metadata.name),
    ['solo'],
  );
  const w = new LineReader(await fetch(`${s.url}/api/v1/nodes?watch=true`));
  const l = new LineReader(await fetch(`${s.url}/api/v1/nodes?watch=true&resourceVersion=0`));
  await w.event();
  await l.event();
  await s.close();
  await s.close();
  t.is(await w.next(), undefined);
  t.is(await l.next(), undefined);
  t.false(existsSync(s.kubeconfigPath));
  const a = await startKubeApiServer();
  try {
    await t.throwsAsync(startKubeApiServer({ port: a.port }), { code: 'EADDRINUSE' });
    t.throws(() => a.remove('Widget', 'x', 'y'), { message: /unknown kind "Widget"/ });
    t.throws(() => a.apply({ kind: 'Pod' }), { message: /apiVersion is missing/ });
  } finally {
    await a.close();
  }
  await t.throwsAsync(startKubeApiServer({ fixture: '/nonexistent.yaml' }), { message: /cannot read fixture/ });
});
