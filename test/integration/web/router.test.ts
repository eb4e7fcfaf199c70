import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import express from 'express';
import { CallmapError, type GraphResponse } from '../../../mapper/contract/index.ts';
import type { MapperService } from '../../../mapper/service.ts';
import { intentsToGraph } from '../../../mapper/visualize/index.ts';
import { cytoscapePath, LayoutCache, type WebMap, webRouter } from '../../../mapper/web/router.ts';
import { shopIntents } from '../../unit/visualize/fixtures.ts';
import { pngSize, svgTexts } from '../visualize/images.ts';
import { type ShopMapper, startShopMapper } from './shop-mapper.ts';

let shop: ShopMapper;
let mapper: MapperService;

test.before(async () => {
  // the real mapper with its default web router (mounted at /)
  shop = await startShopMapper({ prefix: 'callmap-web-', intents: shopIntents() });
  mapper = shop.mapper;
});

test.after.always(async () => {
  await shop?.close();
});

const get = (p: string) => fetch(`${mapper.url}${p}`);

/** An Express app serving only the web router with the given graph source, on 127.0.0.1:0. */
async function withRouter(
  source: Parameters<typeof webRouter>[0],
  fn: (url: string) => Promise<void>,
  extra?: (app: express.Express) => void,
): Promise<void> {
  const app = express();
  extra?.(app);
  app.use('/', webRouter(source));
  const server: http.Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('serves the page, its scripts and cytoscape from node_modules (no CDN)', async (t) => {
  const page = await get('/');
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  for (const id of ['search', 'ns-filter', 'details', 'export-yaml', 'export-svg', 'graph'])
    t.true(html.includes(`id="${id}"`), id);
  t.false(/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, '')), 'no remote URLs in the page');
  const cy = await get('/vendor/cytoscape.min.js');
  t.is(cy.status, 200);
  t.regex(cy.headers.get('content-type') ?? '', /javascript/);
  t.deepEqual(Buffer.from(await cy.arrayBuffer()), fs.readFileSync(cytoscapePath()));
  for (const asset of ['/app.js', '/model.js', '/style.css']) t.is((await get(asset)).status, 200, asset);
  t.is((await get('/nope.js')).status, 404);
});

test('map.json gives the graph, every namespace, and a position for every node', async (t) => {
  const res = await get('/map.json');
  t.is(res.status, 200);
  t.is(res.headers.get('cache-control'), 'no-store');
  const map = (await res.json()) as WebMap;
  t.deepEqual(map.namespaces, ['data', 'shop']);
  t.is(map.graph.nodes.length, 14, 'externals are on by default');
  t.is(map.graph.edges.length, 19);
  t.is(map.skipped, 0);
  for (const n of map.graph.nodes) {
    const p = map.layout.nodes[n.id];
    t.truthy(p, n.id);
    t.true(Number.isFinite(p?.x) && Number.isFinite(p?.y) && (p?.width ?? 0) > 30 && (p?.height ?? 0) > 20);
  }
  // left to right: the load generator is left of the frontend, which is left of checkout
  const x = (id: string) => map.layout.nodes[id]?.x ?? Number.NaN;
  t.true(x('shop/loadgenerator') < x('shop/frontend') && x('shop/frontend') < x('shop/checkout'));
});

test('map.json filters by namespace (calls from or to it) and externals', async (t) => {
  const data = (await (await get('/map.json?namespaces=data')).json()) as WebMap;
  t.deepEqual(data.namespaces, ['data', 'shop'], 'the filter still lists every namespace');
  t.deepEqual(data.graph.nodes.map((n) => n.id).sort(), [
    'data/kafka',
    'data/redis-cart',
    'shop/cart',
    'shop/checkout',
    'shop/email',
    'shop/shipping',
  ]);
  const noExt = (await (await get('/map.json?external=false')).json()) as WebMap;
  t.false(noExt.graph.nodes.some((n) => n.external));
  t.is(noExt.graph.nodes.length, 13);
});

test('bad filters are 400 with an ErrorBody', async (t) => {
  for (const q of ['namespaces=Bad_NS', 'external=maybe']) {
    const res = await get(`/map.json?${q}`);
    t.is(res.status, 400, q);
    const body = (await res.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, 'BAD_QUERY');
  }
  t.is((await get('/visualize.svg?namespaces=%3Cscript%3E')).status, 400);
});

test('visualize.svg / .png render the selected map', async (t) => {
  const svgRes = await get('/visualize.svg?namespaces=data');
  t.is(svgRes.status, 200);
  t.regex(svgRes.headers.get('content-type') ?? '', /image\/svg\+xml/);
  const texts = new Set(svgTexts(await svgRes.text()));
  t.true(texts.has('kafka.data') && texts.has('email.shop') && texts.has('orders: consume (denied: produce)'));
  t.false(texts.has('frontend.shop'), 'filtered out');
  const png = await get('/visualize.png?external=false');
  t.is(png.headers.get('content-type'), 'image/png');
  t.true(pngSize(Buffer.from(await png.arrayBuffer())).width > 1000);
});

test('an unreachable or failing graph source is a 502 ErrorBody, not a crash', async (t) => {
  await withRouter(
    {
      graphSource: async () => {
        throw new CallmapError('WEB_GRAPH_UNAVAILABLE', 'mapper down', { status: 502 });
      },
    },
    async (url) => {
      const res = await fetch(`${url}/map.json`);
      t.is(res.status, 502);
      t.deepEqual(await res.json(), { error: { code: 'WEB_GRAPH_UNAVAILABLE', message: 'mapper down' } });
    },
  );
  // the default source reads /api/v1/graph from the same server: garbage and errors there are reported
  let mode: 'text' | 'error' | 'ok' = 'text';
  await withRouter(
    {},
    async (url) => {
      const garbage = await fetch(`${url}/map.json`);
      t.is(garbage.status, 502);
      t.regex(((await garbage.json()) as { error: { message: string } }).error.message, /did not return JSON/);
      mode = 'error';
      const upstream = await fetch(`${url}/visualize.svg`);
      t.is(upstream.status, 400);
      t.is(((await upstream.json()) as { error: { code: string } }).error.code, 'BAD_QUERY');
      mode = 'ok';
      const ok = (await (await fetch(`${url}/map.json`)).json()) as WebMap;
      t.is(ok.skipped, 2, 'one dangling edge and one duplicate node were dropped');
      t.is(ok.graph.nodes.length, 14);
    },
    (app) =>
      app.get('/api/v1/graph', (req, res) => {
        t.is(req.query['external'], 'true');
        if (mode === 'text') res.type('text/plain').send('not json');
        else if (mode === 'error') res.status(400).json({ error: { code: 'BAD_QUERY', message: 'no' } });
        else {
          const g: GraphResponse = intentsToGraph(shopIntents());
          const first = g.nodes[0];
          const e = g.edges[0];
          if (first && e) {
            g.nodes.push(first);
            g.edges.push({ ...e, id: 'dangling', target: 'nowhere' });
          }
          res.json(g);
        }
      }),
  );
});

test('layouts are cached per graph and filter, so tabs reloading after one event share one dot run', async (t) => {
  const cache = new LayoutCache(2);
  let graph: GraphResponse = intentsToGraph(shopIntents());
  await withRouter({ graphSource: async () => graph, layoutCache: cache }, async (url) => {
    const a = await (await fetch(`${url}/map.json`)).json();
    const b = await (await fetch(`${url}/map.json`)).json();
    t.deepEqual(a, b);
    t.deepEqual([cache.misses, cache.hits], [1, 1]);
    await fetch(`${url}/map.json?namespaces=data`);
    t.deepEqual([cache.misses, cache.hits], [2, 1], 'another filter is another layout');
    graph = intentsToGraph(shopIntents().slice(1));
    const c = (await (await fetch(`${url}/map.json`)).json()) as WebMap;
    t.deepEqual([cache.misses, cache.hits], [3, 1], 'new data is laid out again');
    t.is(c.graph.edges.length, 18);
    // capacity 2: the first entry was evicted
    graph = intentsToGraph(shopIntents());
    await fetch(`${url}/map.json`);
    t.deepEqual([cache.misses, cache.hits], [4, 1]);
  });
});
