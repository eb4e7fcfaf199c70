import test from 'ava';
import { intentsToGraph } from '../../../mapper/visualize/index.ts';
import {
  callsOf,
  edgeClass,
  edgeSummary,
  exportLinks,
  filterQuery,
  mergePositions,
  nodeLabel,
  search,
} from '../../../mapper/web/static/model.js';
import { shopIntents } from '../visualize/fixtures.ts';

const shop = () => intentsToGraph(shopIntents());

test('node labels and edge classes match the picture', (t) => {
  const g = shop();
  const ext = g.nodes.find((n) => n.external);
  t.deepEqual(nodeLabel(ext ?? t.fail()), { title: 'api.stripe.com', subtitle: 'external' });
  t.deepEqual(nodeLabel({ id: 'weird' }), { title: 'weird', subtitle: 'unknown' });
  const classes = Object.fromEntries(g.edges.map((e) => [e.id, edgeClass(e)]));
  t.is(classes['w:shop/frontend->w:shop/ad'], 'l4');
  t.is(classes['w:shop/checkout->w:shop/payment'], 'http');
  t.is(classes['w:shop/checkout->w:data/kafka'], 'kafka');
  t.is(classes['w:shop/shipping->w:data/kafka'], 'denied');
});

test('edge summaries list a couple of paths or topics, then +N more, else ports', (t) => {
  const g = shop();
  const lg = g.edges.find((e) => e.id === 'w:shop/loadgenerator->w:shop/frontend') ?? t.fail();
  t.is(edgeSummary(lg), 'GET /\nGET,POST /cart\n+3 more');
  t.is(edgeSummary(g.edges.find((e) => e.id === 'w:shop/frontend->w:shop/ad') ?? t.fail()), ':9555');
  t.is(edgeSummary(g.edges.find((e) => e.id === 'w:shop/email->w:data/kafka') ?? t.fail()), 'orders');
});

test('search matches names, namespaces and paths; name prefix first; empty query finds nothing', (t) => {
  const g = shop();
  const titles = (q: string) => search(g, q).map((n) => nodeLabel(n).title);
  t.deepEqual(titles('check'), ['checkout.shop', 'frontend.shop', 'loadgenerator.shop']);
  t.deepEqual(titles('  CART '), ['cart.shop', 'redis-cart.data', 'frontend.shop', 'loadgenerator.shop']);
  t.deepEqual(titles('payments'), ['kafka.data', 'shipping.shop']);
  t.deepEqual(titles('stripe'), ['api.stripe.com']);
  t.true(titles('statefulset').includes('kafka.data'));
  t.deepEqual(titles(''), []);
  t.deepEqual(titles('zzz'), []);
  t.is(search(g, '.', 3).length, 3);
});

test('callsOf lists calls out and in, sorted by peer, with dangling edges dropped', (t) => {
  const g = shop();
  g.edges.push({ ...(g.edges[0] ?? t.fail()), id: 'dangling', source: 'w:shop/checkout', target: 'missing' });
  const c = callsOf(g, 'w:shop/checkout');
  t.deepEqual(
    c.out.map((x) => nodeLabel(x.peer).title),
    ['cart.shop', 'currency.shop', 'email.shop', 'kafka.data', 'payment.shop', 'shipping.shop'],
  );
  t.deepEqual(
    c.in.map((x) => nodeLabel(x.peer).title),
    ['frontend.shop'],
  );
  t.deepEqual(callsOf(g, 'nobody'), { out: [], in: [] });
});

test('mergePositions keeps nodes on screen in place and puts new ones next to their layout neighbours', (t) => {
  const box = (x: number, y: number) => ({ x, y, width: 100, height: 40 });
  const previous = { a: { x: 1000, y: 500 }, b: { x: 1300, y: 500 } };
  // fresh layout has a/b shifted by (-900, -400) and a new node c to the right of b
  const layout = { a: box(100, 100), b: box(400, 100), c: box(700, 100), d: box(400, 100) };
  const out = mergePositions(previous, layout);
  t.deepEqual(out['a'], { x: 1000, y: 500 });
  t.deepEqual(out['b'], { x: 1300, y: 500 });
  t.deepEqual(out['c'], { x: 1600, y: 500 }, 'translated by the average offset');
  // d would land exactly on b: it is pushed down until it overlaps nothing
  const d = out['d'] ?? t.fail();
  t.is(d.x, 1300);
  t.true(d.y >= 500 + 40 + 12);
  // first load: nothing on screen, positions are the layout's
  t.deepEqual(mergePositions({}, { a: box(1, 2) }), { a: { x: 1, y: 2 } });
});

test('mergePositions never stacks new nodes on each other', (t) => {
  const layout = Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [`n${i}`, { x: 0, y: 0, width: 80, height: 30 }]),
  );
  const out = mergePositions({ old: { x: 0, y: 0 } }, { old: { x: 0, y: 0, width: 80, height: 30 }, ...layout });
  const ys = Object.values(out).map((p) => p.y);
  t.is(new Set(ys).size, ys.length);
});

test('filter and export links carry the namespace selection', (t) => {
  t.is(filterQuery(['b', 'a'], true), 'namespaces=a%2Cb&external=true');
  t.is(filterQuery([], false), 'external=false');
  t.deepEqual(exportLinks(['shop'], false), {
    yaml: 'api/v1/clientintents?format=yaml&namespaces=shop',
    svg: 'visualize.svg?namespaces=shop&external=false',
  });
  t.deepEqual(exportLinks([], true), {
    yaml: 'api/v1/clientintents?format=yaml&external=true',
    svg: 'visualize.svg?external=true',
  });
});
