/**
 * Hostile input never crashes the server or yields a 500: random paths, query parameters,
 * methods and bodies always get a well-formed answer, and the server keeps serving.
 */
import test from 'ava';
import fc from 'fast-check';
import { startKubeApiServer } from '../../kube-api-server/index.ts';

const SEGMENTS = [
  'api',
  'apis',
  'v1',
  'apps',
  'batch',
  'namespaces',
  'shop',
  'kafka',
  'pods',
  'log',
  'status',
  'deployments',
  'kafka-0',
  'nodes',
  'node-a',
  '_callmap',
  'apply',
  'remove',
  'logs',
  'openapi',
  'v3',
  '%',
  '..',
];
const PARAMS = [
  'labelSelector',
  'fieldSelector',
  'resourceVersion',
  'limit',
  'continue',
  'tailLines',
  'sinceSeconds',
  'sinceTime',
  'container',
  'timestamps',
  'limitBytes',
  'previous',
  'timeoutSeconds',
  'kind',
  'name',
  'namespace',
  'time',
];

test('random requests get a well-formed answer, never a 500, and the server keeps serving', async (t) => {
  const s = await startKubeApiServer({ fixture: 'test/fixtures/kube/basic.yaml' });
  try {
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
      segments: fc.array(fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ maxLength: 12 })), { maxLength: 7 }),
      query: fc.array(fc.tuple(fc.constantFrom(...PARAMS), fc.string({ maxLength: 20 })), { maxLength: 4 }),
      contentType: fc.constantFrom(
        'application/json',
        'application/merge-patch+json',
        'application/strategic-merge-patch+json',
        'application/json-patch+json',
        'text/plain',
      ),
      body: fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.json({ maxDepth: 3 }),
        fc.constantFrom(
          '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kafka-0","namespace":"kafka"}}',
          '[{"op":"replace","path":"/metadata/labels","value":{"a":"b"}}]',
          'apiVersion: v1\nkind: List\nitems: [1, 2]',
        ),
      ),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const path = `/${r.segments.map((x) => (x === '%' ? '%' : encodeURIComponent(x))).join('/')}`;
        const qs = new URLSearchParams(r.query).toString();
        const res = await fetch(`${s.url}${path}${qs ? `?${qs}` : ''}`, {
          method: r.method,
          headers: { 'content-type': r.contentType },
          body: r.method === 'GET' || r.method === 'DELETE' ? undefined : r.body,
          signal: AbortSignal.timeout(5000),
        });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`${r.method} ${path}?${qs} → ${res.status} ${text}`);
        if (res.headers.get('content-type') === 'application/json') JSON.parse(text);
      }),
      { numRuns: 400 },
    );
    const pods = (await (await fetch(`${s.url}/api/v1/pods`)).json()) as { items: unknown[] };
    t.true(pods.items.length > 0);
    t.deepEqual(s.openStreams(), { watches: 0, logs: 0 });
  } finally {
    await s.close();
  }
});
