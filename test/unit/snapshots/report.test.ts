import fs from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import test from 'ava';
import type { Transport, TransportResponse } from '../../../mapper/client/index.ts';
import { diffBodies, summarize } from '../../../mapper/snapshots/diff.ts';
import { esc, graphEdgeId, inlineSvg, markEdges, renderHtml } from '../../../mapper/snapshots/html.ts';
import { code, renderMarkdown, text } from '../../../mapper/snapshots/markdown.ts';
import { buildReport, compactTime, hasNewEdges, reportFileName } from '../../../mapper/snapshots/report.ts';
import { parseLimit, parseSnapshotId, parseTakeRequest, snapshotDiff } from '../../../mapper/snapshots/router.ts';
import type { Snapshot, SnapshotBody } from '../../../mapper/snapshots/types.ts';
import { parseWebhookUrl, postWebhook } from '../../../mapper/snapshots/webhook.ts';
import { acl, body, edge } from './fixtures.ts';

const schema = JSON.parse(
  fs.readFileSync(new URL('../../../mapper/snapshots/report.schema.json', import.meta.url), 'utf8'),
);
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const validate = ajv.compile(schema);

const T = Date.UTC(2026, 10, 21, 20, 30, 5, 123);

function snap(id: number, b: SnapshotBody, takenAt = T, namespaces: string[] = []): Snapshot {
  return { id, takenAt, namespaces, trigger: 'api', mapVersion: id * 10, totals: summarize(b).totals, ...b };
}

const before = body([edge('shop/frontend', 'shop/checkout', { ports: [8080], http: { '/cart': ['GET'] } })]);
const after = body(
  [
    edge('shop/frontend', 'shop/checkout', { ports: [8080], http: { '/cart': ['GET', 'POST'], '/a|b`c\nd': ['GET'] } }),
    edge('shop/checkout', 'data/kafka', { ports: [9092], kafka: { orders: { ok: ['produce'], denied: ['consume'] } } }),
    edge('billing/payments', 'ext:api.stripe.com', { ports: [443], ips: ['52.1.1.1'] }),
    edge('shop/<svg onload=alert(1)>', 'shop/checkout', { http: { '/<img src=x onerror=alert(1)>': ['GET'] } }),
  ],
  [acl('shop/checkout', 'data/kafka', 'Group', 'g1', 'read', false)],
);

const report = (prev: Snapshot | null, cur: Snapshot) =>
  buildReport(cur, snapshotDiff(prev, cur), { mapperUrl: 'http://127.0.0.1:9090', now: T + 1000 });

test('the JSON report matches its published schema, with and without a previous snapshot', (t) => {
  const r = report(snap(1, before, T - 3600_000), snap(2, after));
  t.true(validate(JSON.parse(JSON.stringify(r))), JSON.stringify(validate.errors));
  t.is(r.kind, 'callmap.report');
  t.is(r.reportVersion, 1);
  t.is(r.previous?.id, 1);
  t.is(r.generatedAtIso, '2026-11-21T20:30:06.123Z');
  t.is(r.diff.totals.newEdges, 3);
  const first = report(null, snap(1, after));
  t.true(validate(JSON.parse(JSON.stringify(first))), JSON.stringify(validate.errors));
  t.is(first.previous, null);
});

test('the schema rejects a report with a missing section or a wrong version (it can fail)', (t) => {
  const r = JSON.parse(JSON.stringify(report(null, snap(1, after))));
  delete r.diff.newEdges;
  t.false(validate(r));
  const r2 = JSON.parse(JSON.stringify(report(null, snap(1, after))));
  r2.reportVersion = 2;
  t.false(validate(r2));
});

test('hasNewEdges: only with a previous snapshot and at least one new edge', (t) => {
  t.true(hasNewEdges(report(snap(1, before), snap(2, after))));
  t.false(hasNewEdges(report(null, snap(1, after))), 'the first snapshot sets the baseline');
  t.false(hasNewEdges(report(snap(1, after), snap(2, after))));
  t.false(hasNewEdges(report(snap(1, after), snap(2, before))), 'vanished edges are not new edges');
});

test('file names carry the snapshot time and id and sort by time', (t) => {
  t.is(compactTime(T), '20261121T203005Z');
  t.is(reportFileName({ id: 12, takenAt: T }, 'md'), 'callmap-report-20261121T203005Z-12.md');
  t.is(reportFileName({ id: 3, takenAt: T }, 'html'), 'callmap-report-20261121T203005Z-3.html');
});

test('Markdown: sections, counts, and data that cannot break out of code spans', (t) => {
  const md = renderMarkdown(report(snap(1, before, T - 60_000), snap(2, after)));
  t.regex(md, /^# callmap report: snapshot 2$/m);
  t.regex(md, /Compared with snapshot 1 taken 2026-11-21T20:29:05Z/);
  t.regex(md, /\| New edges \| 3 \|/);
  t.regex(md, /### New edges \(3\)/);
  t.regex(md, /- shop\/checkout → data\/kafka \(ports 9092\)/);
  t.regex(md, /billing\/payments → api\.stripe\.com \(external\)/);
  t.regex(md, /### Newly seen denied Kafka attempts \(2\)/);
  t.regex(md, /Group `g1` denied read/);
  t.regex(md, /### New external destinations \(1\)\n\n- `api\.stripe\.com` \(52\.1\.1\.1\) from billing\/payments/);
  t.regex(md, /\| \*\*total\*\* \| 5 \| 4 \| 3 \| 1 \| 2 \| 1 \| 3 \| 0 \|/);
  // a path with a pipe, a backtick and a newline stays one code span on one line
  t.true(md.includes('``/a\\|b`c d``'));
  t.true(md.includes('shop/\\<svg onload=alert\\(1\\)\\>'), 'angle brackets are escaped in plain text');
  t.is(code('``'), '``` `` ```');
  t.is(text('a_b*c'), 'a\\_b\\*c');
  const first = renderMarkdown(report(null, snap(1, after)));
  t.regex(first, /First snapshot with this namespace filter/);
});

test('HTML: self-contained (CSP, no scripts, no external references), escaped data, inline SVG', (t) => {
  const svg = `<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<!-- Generated by graphviz -->\n<svg width="100pt" height="50pt" xmlns="http://www.w3.org/2000/svg"><g class="node" onclick="x()"><title>a</title></g><script>alert(1)</script></svg>\n`;
  const html = renderHtml(report(snap(1, before), snap(2, after)), svg);
  t.true(html.startsWith('<!DOCTYPE html>'));
  t.regex(html, /Content-Security-Policy" content="default-src 'none'/);
  t.regex(html, /<figure id="map"[^>]*><svg width="100pt"/);
  t.false(html.includes('<?xml'));
  t.false(html.includes('<script'), 'no script elements at all');
  t.false(/<[^>]*\son[a-z]+\s*=/i.test(html), 'no event handler attributes in any tag');
  t.false(/<(link|img|iframe)\b/i.test(html));
  t.true(html.includes('shop/&lt;svg onload=alert(1)&gt;'));
  t.true(html.includes('<code>/&lt;img src=x onerror=alert(1)&gt;</code>'));
  const missing = renderHtml(report(null, snap(1, after)), undefined, 'graphviz <broke>');
  t.regex(missing, /<p id="map-missing">The picture could not be drawn: graphviz &lt;broke&gt;\.<\/p>/);
  t.is(esc(`<a href='x'>&"`), '&lt;a href=&#39;x&#39;&gt;&amp;&quot;');
  t.is(inlineSvg('no svg here'), '');
});

test('request parsing: namespaces, ids and limits are validated with clear errors', (t) => {
  t.deepEqual(parseTakeRequest(undefined), { namespaces: [] });
  t.deepEqual(parseTakeRequest({}), { namespaces: [] });
  t.deepEqual(parseTakeRequest({ namespaces: ['shop', 'billing'] }), { namespaces: ['shop', 'billing'] });
  for (const bad of [
    [],
    'x',
    7,
    { namespaces: 'shop' },
    { namespaces: ['Shop'] },
    { namespaces: [''] },
    { namespaces: [1] },
  ]) {
    const e = t.throws(() => parseTakeRequest(bad));
    t.is((e as { code?: string }).code, 'BAD_SNAPSHOT_REQUEST', JSON.stringify(bad));
  }
  t.is(parseSnapshotId('12'), 12);
  for (const bad of ['0', '-1', '1.5', 'abc', '', '01', '99999999999999999', undefined]) {
    t.is((t.throws(() => parseSnapshotId(bad)) as { code?: string }).code, 'BAD_SNAPSHOT_ID', String(bad));
  }
  t.is(parseLimit(undefined), 100);
  t.is(parseLimit('5'), 5);
  for (const bad of ['0', '1001', 'x', '-3'])
    t.is((t.throws(() => parseLimit(bad)) as { code?: string }).code, 'BAD_QUERY');
});

test('snapshotDiff wraps diffBodies with the metadata of both sides', (t) => {
  const d = snapshotDiff(snap(1, before), snap(2, after));
  t.is(d.from?.id, 1);
  t.is(d.to.id, 2);
  t.false('intents' in (d.to as object));
  t.deepEqual(d.totals, diffBodies(before, after).totals);
});

// ---- webhook with a scripted transport (no sleeping)

function scripted(statuses: Array<number | 'net'>) {
  const calls: Array<{ method: string; path: string; body: string | undefined }> = [];
  let closed = 0;
  const transport = (origin: string): Transport => ({
    async send(method, p, b) {
      calls.push({ method, path: `${origin}${p}`, body: b });
      const s = statuses[Math.min(calls.length - 1, statuses.length - 1)];
      if (s === 'net') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return { status: s as number, headers: {}, body: '' } satisfies TransportResponse;
    },
    async close() {
      closed++;
    },
  });
  return { calls, transport, closed: () => closed };
}

const noSleep = async (): Promise<void> => {};

test('webhook: fails twice then accepts → delivered on attempt 3, the JSON body sent unchanged', async (t) => {
  const s = scripted([503, 'net', 204]);
  const r = await postWebhook(parseWebhookUrl('http://hooks.test/in?token=1'), '{"a":1}', {
    transport: s.transport,
    sleep: noSleep,
  });
  t.deepEqual(r, { status: 204, attempts: 3 });
  t.deepEqual(
    s.calls.map((c) => [c.method, c.path, c.body]),
    Array(3).fill(['POST', 'http://hooks.test/in?token=1', '{"a":1}']),
  );
  t.is(s.closed(), 1);
});

test('webhook: always failing → WEBHOOK_FAILED after 1 + retries attempts; 4xx is not retried', async (t) => {
  const s = scripted([500]);
  const e = await t.throwsAsync(
    postWebhook(parseWebhookUrl('https://u:p@hooks.test/x?secret=s'), '{}', {
      transport: s.transport,
      sleep: noSleep,
      retries: 2,
    }),
  );
  t.is((e as { code?: string }).code, 'WEBHOOK_FAILED');
  t.is(s.calls.length, 3);
  t.regex(e.message, /HTTP 500 after 3 attempt\(s\); the snapshot is kept in the mapper/);
  t.false(e.message.includes('secret') || e.message.includes('u:p'), 'no credentials in messages');
  const n = scripted(['net']);
  const e2 = await t.throwsAsync(
    postWebhook(parseWebhookUrl('http://hooks.test/'), '{}', { transport: n.transport, sleep: noSleep, retries: 1 }),
  );
  t.regex(e2.message, /unreachable after 2 attempt\(s\) \(ECONNREFUSED\)/);
  const four = scripted([400]);
  await t.throwsAsync(
    postWebhook(parseWebhookUrl('http://hooks.test/'), '{}', { transport: four.transport, sleep: noSleep }),
  );
  t.is(four.calls.length, 1);
});

test('webhook URLs must be http(s)', (t) => {
  for (const bad of ['not a url', 'ftp://x/', 'file:///etc/passwd']) {
    t.is((t.throws(() => parseWebhookUrl(bad)) as { code?: string }).code, 'BAD_WEBHOOK_URL');
  }
});

test('HTML: new edges are marked in the Graphviz SVG by their edge title, only against a baseline', (t) => {
  const svg = [
    '<svg xmlns="http://www.w3.org/2000/svg">',
    '<g id="edge1" class="edge l4">\n<title>shop/a&#45;&gt;shop/b</title><path d="M0,0"/></g>',
    '<g id="edge2" class="edge http">\n<title>shop/a&#45;&gt;ext:x&#45;y.example</title><path d="M0,0"/></g>',
    '<g id="edge3" class="edge kafka">\n<title>shop/c&#45;&gt;shop/b</title><path d="M0,0"/></g>',
    '</svg>',
  ].join('');
  const ids = new Set([
    graphEdgeId({
      client: { name: 'a', namespace: 'shop', kind: 'Deployment' },
      server: { name: 'b', namespace: 'shop', kind: 'Deployment' },
    }),
    graphEdgeId({ client: { name: 'a', namespace: 'shop', kind: 'Deployment' }, external: 'x-y.example' }),
  ]);
  const marked = markEdges(svg, ids);
  t.regex(marked, /<g id="edge1" class="edge l4 new">/);
  t.regex(marked, /<g id="edge2" class="edge http new">/);
  t.regex(marked, /<g id="edge3" class="edge kafka">/);
  t.is(markEdges(svg, new Set()), svg);
  const withPrev = renderHtml(
    report(snap(1, before), snap(2, after)),
    svg.replace('shop/a&#45;&gt;shop/b', 'shop/checkout&#45;&gt;data/kafka'),
  );
  t.regex(withPrev, /class="edge l4 new"/);
  t.regex(withPrev, /drawn <span class="new">thick green<\/span>/);
  const firstSnap = renderHtml(
    report(null, snap(1, after)),
    svg.replace('shop/a&#45;&gt;shop/b', 'shop/checkout&#45;&gt;data/kafka'),
  );
  t.false(firstSnap.includes(' new"'), 'nothing is highlighted without a baseline');
});
