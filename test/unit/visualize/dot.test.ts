import test from 'ava';
import { resolveFormat } from '../../../mapper/cli/commands/visualize.ts';
import type { GraphResponse } from '../../../mapper/contract/index.ts';
import {
  cleanGraph,
  dotString,
  edgeLabelLines,
  edgeStyleKind,
  filterGraph,
  graphToDot,
  htmlText,
  intentKinds,
  intentsToGraph,
  namespacesOf,
  rasterScale,
  singleLine,
  svgSize,
} from '../../../mapper/visualize/index.ts';
import { bigIntents, intent, shopIntents, wl } from './fixtures.ts';

const shop = (): GraphResponse => intentsToGraph(shopIntents());

test('dotString escapes quotes and backslashes and flattens newlines', (t) => {
  t.is(dotString('a"b'), '"a\\"b"');
  t.is(dotString('C:\\N\\l'), '"C:\\\\N\\\\l"');
  t.is(dotString('line1\nline2\r\n'), '"line1 line2 "');
  t.is(dotString('tab\there\u0000'), '"tab here "');
});

test('htmlText escapes markup and flattens newlines', (t) => {
  t.is(htmlText('<b>x & "y"</b>\n'), '&lt;b&gt;x &amp; &quot;y&quot;&lt;/b&gt; ');
  t.is(singleLine('a\u2028b'), 'a b');
});

test('a hostile workload name cannot break out of its label', (t) => {
  const evil = wl('a"];evil[label="x', 'ns<b>\n}', 'Deploy>ment');
  const g = intentsToGraph([intent(evil, wl('b', 'ns'), { ports: [80] })]);
  const dot = graphToDot(g);
  // inside HTML-like labels only our own tags appear; the data is entity-escaped
  const html = [...dot.matchAll(/label=<(.*?)>, style=/g)].map((m) => m[1] ?? '');
  t.is(html.length, 2);
  for (const h of html) for (const tag of h.match(/<[^>]*>/g) ?? []) t.regex(tag, /^<\/?(B|BR\/|FONT( [^>]*)?)>$/);
  t.true(dot.includes('&lt;b&gt;'));
  t.true(dot.includes('a&quot;];evil[label=&quot;x'));
  t.true(dot.includes('Deploy&gt;ment'));
  // node ids are quoted DOT strings with the quote escaped
  t.true(dot.includes('"w:ns<b> }/a\\"];evil[label=\\"x"'));
  // every line of the body is one statement: no stray newlines from the data
  for (const line of dot.split('\n').slice(1, -2)) t.regex(line, /^\s+(graph|node|edge|subgraph|"|\})/);
});

test('edge labels escape backslashes so paths cannot trigger Graphviz escapes', (t) => {
  const g = intentsToGraph([
    intent(wl('a', 'x'), wl('b', 'x'), { http: [{ path: '/files\\N"quoted"\n/x', methods: ['GET'] }] }),
  ]);
  const dot = graphToDot(g);
  t.true(dot.includes('label="GET /files\\\\N\\"quoted\\" /x\\l"'));
});

test('nodes are grouped in one cluster per namespace; externals get their own cluster', (t) => {
  const dot = graphToDot(shop());
  t.true(dot.includes('rankdir="LR"'));
  const clusters = [...dot.matchAll(/label="namespace: ([^"]+)"/g)].map((m) => m[1]);
  t.deepEqual(clusters, ['data', 'shop']);
  t.is((dot.match(/subgraph "cluster_external"/g) ?? []).length, 1);
  const ext = dot.slice(dot.indexOf('cluster_external'));
  t.true(ext.slice(0, ext.indexOf('}')).includes('"x:api.stripe.com"'));
  // every workload is labelled name.namespace plus its kind
  t.true(dot.includes('<B>frontend.shop</B><BR/><FONT POINT-SIZE="9" COLOR="#6b7280">Deployment</FONT>'));
  t.true(dot.includes('<B>kafka.data</B><BR/><FONT POINT-SIZE="9" COLOR="#6b7280">StatefulSet</FONT>'));
  const dataCluster = dot.slice(dot.indexOf('namespace: data'));
  t.true(dataCluster.slice(0, dataCluster.indexOf('}')).includes('"w:data/redis-cart"'));
});

test('edges are styled by kind', (t) => {
  const dot = graphToDot(shop());
  const edge = (from: string, to: string) =>
    dot.split('\n').find((l) => l.includes(`"${from}" -> "${to}"`)) ?? t.fail(`no edge ${from} -> ${to}`);
  const l4 = edge('w:shop/frontend', 'w:shop/ad');
  t.true(l4.includes('class="l4"') && l4.includes('style="solid"') && l4.includes('label=":9555\\l"'));
  const http = edge('w:shop/checkout', 'w:shop/payment');
  t.true(http.includes('class="http"') && http.includes('color="#2563eb"'));
  t.true(http.includes('label="POST /charge\\l"'));
  const kafka = edge('w:shop/checkout', 'w:data/kafka');
  t.true(kafka.includes('class="kafka"') && kafka.includes('style="dashed"'));
  t.true(kafka.includes('orders: produce, describe'));
  const partlyDenied = edge('w:shop/email', 'w:data/kafka');
  t.true(partlyDenied.includes('class="kafka"') && partlyDenied.includes('(denied: produce)'));
  const denied = edge('w:shop/shipping', 'w:data/kafka');
  t.true(denied.includes('class="denied"') && denied.includes('color="#dc2626"'));
});

test('long path lists are cut to a few lines plus "+N more"', (t) => {
  const it = shopIntents()[0];
  if (!it) return t.fail();
  const lines = edgeLabelLines(it, ['http'], 3);
  t.deepEqual(lines, ['GET /', 'GET,POST /cart', 'POST /cart/checkout', '+2 more']);
  t.deepEqual(edgeLabelLines(it, ['http'], 10).length, 5);
  const ports = edgeLabelLines(intent(wl('a', 'x'), wl('b', 'x'), { ports: [9, 1, 5, 3] }), ['l4'], 3);
  t.deepEqual(ports, [':1 :3 :5 +1']);
  t.deepEqual(edgeLabelLines(intent(wl('a', 'x'), wl('b', 'x')), ['l4']), []);
});

test('edge labels can be turned off (web layout)', (t) => {
  const dot = graphToDot(shop(), { edgeLabels: false });
  t.false(/ -> [^\n]*label=/.test(dot));
});

test('graphToDot is deterministic whatever the input order', (t) => {
  const g = shop();
  const reversed: GraphResponse = { nodes: [...g.nodes].reverse(), edges: [...g.edges].reverse() };
  t.is(graphToDot(g), graphToDot(reversed));
});

test('intentsToGraph builds nodes and edges with mapper-style kinds', (t) => {
  const g = shop();
  t.is(g.nodes.length, 14);
  t.is(g.edges.length, shopIntents().length);
  const e = g.edges.find((x) => x.id === 'w:shop/checkout->w:data/kafka');
  t.deepEqual(e?.kinds, ['l4', 'kafka']);
  t.deepEqual(intentKinds(intent(wl('a', 'x'), wl('b', 'x'))), ['l4']);
  t.deepEqual(intentKinds(intent(wl('a', 'x'), wl('b', 'x'), { http: [{ path: '/', methods: [] }] })), ['http']);
  t.is(edgeStyleKind(e ?? t.fail()), 'kafka');
  // an intent with neither server nor external is skipped
  const broken = { ...intent(wl('a', 'x'), wl('b', 'x')), server: undefined };
  t.is(intentsToGraph([broken]).edges.length, 0);
});

test('cleanGraph drops dangling edges and duplicate ids and counts them', (t) => {
  const g = shop();
  const first = g.edges[0] ?? t.fail();
  const bad: GraphResponse = {
    nodes: [...g.nodes, g.nodes[0] ?? t.fail()],
    edges: [...g.edges, { ...first, id: 'dangling', target: 'nope' }, first],
  };
  const c = cleanGraph(bad);
  t.is(c.skipped, 3);
  t.is(c.nodes.length, g.nodes.length);
  t.is(c.edges.length, g.edges.length);
  // and rendering bad input does not throw
  t.notThrows(() => graphToDot(bad));
  t.notThrows(() => graphToDot({ nodes: [], edges: [] }));
});

test('filterGraph keeps calls from or to the selected namespaces, and externals on request', (t) => {
  const g = shop();
  const data = filterGraph(g, { namespaces: ['data'] });
  t.deepEqual(data.nodes.map((n) => n.id).sort(), [
    'w:data/kafka',
    'w:data/redis-cart',
    'w:shop/cart',
    'w:shop/checkout',
    'w:shop/email',
    'w:shop/shipping',
  ]);
  t.true(data.edges.every((e) => e.source.startsWith('w:data/') || e.target.startsWith('w:data/')));
  t.true(filterGraph(g, {}).nodes.some((n) => n.external));
  const noExt = filterGraph(g, { external: false });
  t.false(noExt.nodes.some((n) => n.external));
  t.false(noExt.edges.some((e) => e.target.startsWith('x:')));
  t.deepEqual(filterGraph(g, { namespaces: ['nope'] }), { nodes: [], edges: [] });
  t.deepEqual(namespacesOf(g), ['data', 'shop']);
});

test('raster scale is 2x by default and capped for huge maps', (t) => {
  t.is(rasterScale({ width: 1000, height: 500 }), 2);
  t.is(rasterScale({ width: 40_000, height: 100 }), 16_000 / 40_000);
  t.true(rasterScale({ width: 9000, height: 9000 }) * 9000 * rasterScale({ width: 9000, height: 9000 }) * 9000 <= 80e6);
  t.is(rasterScale({ width: 100, height: 100 }, { scale: 3 }), 3);
  t.deepEqual(svgSize('<svg width="72pt" height="36pt"\n viewBox="0.00 0.00 314.50 116.00" x="1">'), {
    width: 96,
    height: 48,
  });
  t.deepEqual(svgSize('<svg width="10" height="20px">'), { width: 10, height: 20 });
  t.deepEqual(svgSize('<svg width="100%" viewBox="0 0 314.5 116">'), { width: 314.5, height: 116 });
  t.throws(() => svgSize('<svg width="1">'), { message: /viewBox/ });
  t.throws(() => svgSize('<html></html>'), { message: /no <svg>/ });
});

test('a 60-service map produces one node statement per workload', (t) => {
  const g = intentsToGraph(bigIntents(60));
  const dot = graphToDot(g);
  t.is(g.nodes.filter((n) => n.workload).length, 60);
  t.is((dot.match(/class="workload"/g) ?? []).length, 60);
  t.is((dot.match(/ -> /g) ?? []).length, g.edges.length);
});

test('visualize picks the format from the extension and rejects mismatches', (t) => {
  t.is(resolveFormat('map.svg', undefined), 'svg');
  t.is(resolveFormat('MAP.JPEG', undefined), 'jpg');
  t.is(resolveFormat('map.png', undefined), 'png');
  t.is(resolveFormat('map', undefined), 'png');
  t.is(resolveFormat('map', 'jpg'), 'jpg');
  t.is(resolveFormat('map.jpg', 'jpeg'), 'jpg');
  t.throws(() => resolveFormat('map.png', 'svg'), { code: 'USAGE', message: /does not match/ });
  t.throws(() => resolveFormat('map.png', 'gif'), { code: 'USAGE', message: /png, svg, jpg/ });
});

test('a legend lists only the edge styles present; a title is escaped; both can be left out', (t) => {
  const dot = graphToDot(shop(), { title: 'Shop <prod> & "co"' });
  const graphLine = dot.split('\n').find((l) => l.startsWith('  graph [')) ?? t.fail();
  for (const text of ['TCP', 'HTTP', 'Kafka', 'Kafka, all denied']) t.true(graphLine.includes(`>${text}</FONT>`), text);
  t.true(graphLine.includes('<B>Shop &lt;prod&gt; &amp; &quot;co&quot;</B>'));
  const httpOnly = graphToDot(
    intentsToGraph([intent(wl('a', 'x'), wl('b', 'x'), { http: [{ path: '/', methods: ['GET'] }] })]),
  );
  const line = httpOnly.split('\n').find((l) => l.startsWith('  graph [')) ?? t.fail();
  t.true(line.includes('>HTTP</FONT>'));
  t.false(line.includes('>TCP</FONT>') || line.includes('>Kafka</FONT>'));
  t.false(graphToDot(shop(), { legend: false }).split('\n')[1]?.includes('label=') ?? true);
  t.false(graphToDot({ nodes: [], edges: [] }).includes('label='), 'no legend on an empty map');
});
