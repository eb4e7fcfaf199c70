/**
 * End to end in headless Chromium: the real mapper (fed through POST /api/v1/reports) serves the
 * live map; we filter, search with the keyboard, click a node, read the details panel, receive a
 * live update, download both exports, and take a screenshot.
 */
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test from 'ava';
import express from 'express';
import type { Browser, Page } from 'playwright-core';
import { CallmapError } from '../../../mapper/contract/index.ts';
import type { MapperService } from '../../../mapper/service.ts';
import { webRouter } from '../../../mapper/web/router.ts';
import { browserUnavailable, collectPageErrors, launchChromium } from '../../helpers/browser.ts';
import { intent, shopIntents, wl } from '../../unit/visualize/fixtures.ts';
import { type FixtureFeed, postReport, reportBatch, type ShopMapper, startShopMapper } from './shop-mapper.ts';

const skip = browserUnavailable();
if (skip) console.log(skip);
const browserTest = skip ? test.skip : test.serial;

let mapper: MapperService;
let browser: Browser;
let page: Page;
let errors: string[];
let shop: ShopMapper;
let feed: FixtureFeed;
let dir: string;

const newsletter = wl('newsletter', 'shop');
const liveIntent = intent(newsletter, wl('email', 'shop'), {
  ports: [8080],
  http: [{ path: '/subscribe', methods: ['POST'] }],
});

test.before(async () => {
  if (skip) return;
  shop = await startShopMapper({
    prefix: 'callmap-web-e2e-',
    intents: shopIntents(),
    alsoKnown: [liveIntent],
    service: { events: { throttleMs: 200 } },
  });
  ({ mapper, feed, dir } = shop);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, acceptDownloads: true });
  page = await context.newPage();
  errors = collectPageErrors(page);
});

test.after.always(async () => {
  await browser?.close();
  // keep only the screenshot (its path is logged) so it can be looked at after the run
  await shop?.close((f) => f.endsWith('.png'));
});

/** Workload nodes drawn (namespace groups excluded). */
const drawnNodes = (): Promise<string[]> =>
  page.evaluate(() =>
    (
      window as unknown as { callmapMap: { nodes(s: string): { map(f: (n: { id(): string }) => string): string[] } } }
    ).callmapMap
      .nodes(':childless')
      .map((n) => n.id())
      .sort(),
  );

const waitForNodeCount = (n: number) =>
  page.waitForFunction(
    (count) =>
      (window as unknown as { callmapMap?: { nodes(s: string): { length: number } } }).callmapMap?.nodes(':childless')
        .length === count,
    n,
    { timeout: 15_000 },
  );

browserTest('loads the live map with every workload, namespace group and the live status', async (t) => {
  await page.goto(`${mapper.url}/`);
  await waitForNodeCount(14);
  t.deepEqual(await drawnNodes(), [
    'data/kafka',
    'data/redis-cart',
    'ext:api.stripe.com',
    'shop/ad',
    'shop/cart',
    'shop/checkout',
    'shop/currency',
    'shop/email',
    'shop/frontend',
    'shop/loadgenerator',
    'shop/payment',
    'shop/productcatalog',
    'shop/recommendation',
    'shop/shipping',
  ]);
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Live'));
  t.regex((await page.textContent('#status')) ?? '', /Live · 13 workloads · 1 external · 19 calls/);
  t.deepEqual(
    await page.locator('#ns-list input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)),
    ['data', 'shop'],
  );
  t.deepEqual(errors, []);
});

browserTest('namespace filter shows the calls from or to the namespace and updates the export links', async (t) => {
  await page.getByLabel('data').check();
  await waitForNodeCount(6);
  t.deepEqual(await drawnNodes(), [
    'data/kafka',
    'data/redis-cart',
    'shop/cart',
    'shop/checkout',
    'shop/email',
    'shop/shipping',
  ]);
  t.is(await page.getAttribute('#export-svg', 'href'), 'visualize.svg?namespaces=data&external=true');
  t.is(
    await page.getAttribute('#export-yaml', 'href'),
    'api/v1/clientintents?format=yaml&namespaces=data&external=true',
  );
  await page.getByLabel('data').uncheck();
  await waitForNodeCount(14);
  t.pass();
});

browserTest('keyboard search opens a workload: results, arrow keys, Enter, details with HTTP paths', async (t) => {
  await page.focus('#search');
  await page.keyboard.type('payment.');
  await page.waitForSelector('#search-results button');
  t.deepEqual(await page.locator('#search-results button').allTextContents(), ['payment.shop · Deployment']);
  await page.keyboard.press('ArrowDown');
  t.is(await page.evaluate(() => document.activeElement?.textContent), 'payment.shop · Deployment');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#details:not([hidden])');
  t.is(await page.textContent('#details-title'), 'payment.shop');
  t.is(await page.evaluate(() => document.activeElement?.id), 'details-title', 'focus moves to the panel');
  t.is(await page.textContent('#calls-in-title'), 'Calls in (1)');
  const callsIn = (await page.textContent('#calls-in')) ?? '';
  t.true(callsIn.includes('checkout.shop') && callsIn.includes('POST') && callsIn.includes('/charge'));
  t.true(((await page.textContent('#calls-out')) ?? '').includes('api.stripe.com'));
  await page.keyboard.press('Escape');
  t.true(await page.locator('#details').isHidden());
  await page.fill('#search', '');
});

browserTest('clicking a node shows its Kafka topics with operations, denied ones highlighted', async (t) => {
  const box = await page.locator('#graph').boundingBox();
  const at = await page.evaluate(() => {
    const cy = (
      window as unknown as {
        callmapMap: { getElementById(id: string): { renderedPosition(): { x: number; y: number } } };
      }
    ).callmapMap;
    return cy.getElementById('shop/shipping').renderedPosition();
  });
  await page.mouse.click((box?.x ?? 0) + at.x, (box?.y ?? 0) + at.y);
  await page.waitForSelector('#details:not([hidden])');
  t.is(await page.textContent('#details-title'), 'shipping.shop');
  const kafka = page.locator('#calls-out .kafka-topic');
  t.is(await kafka.count(), 1);
  t.true(((await kafka.textContent()) ?? '').includes('topic payments'));
  t.deepEqual(await kafka.locator('.op.denied').allTextContents(), ['consume (denied)']);
  const color = await kafka.locator('.op.denied').evaluate((e) => getComputedStyle(e).color);
  t.is(color, 'rgb(220, 38, 38)');
  // checkout: allowed operations, not denied
  await page.fill('#search', 'checkout.shop');
  await page.press('#search', 'Enter');
  await page.waitForFunction(() => document.getElementById('details-title')?.textContent === 'checkout.shop');
  const topics = (await page.locator('#calls-out .kafka-topic').textContent()) ?? '';
  t.true(topics.includes('topic orders') && topics.includes('produce') && topics.includes('describe'));
  t.is(await page.locator('#calls-out .kafka-topic .op.denied').count(), 0);
  await page.fill('#search', '');
});

browserTest('a live update adds the new workload without moving the others', async (t) => {
  await page.fill('#search', 'email.shop');
  await page.press('#search', 'Enter');
  await page.waitForFunction(() => document.getElementById('details-title')?.textContent === 'email.shop');
  await page.fill('#search', '');
  type Pos = Record<string, { x: number; y: number }>;
  const positions = (): Promise<Pos> =>
    page.evaluate(() => {
      const out: Record<string, { x: number; y: number }> = {};
      const cy = (
        window as unknown as {
          callmapMap: {
            nodes(s: string): { forEach(f: (n: { id(): string; position(): { x: number; y: number } }) => void): void };
          };
        }
      ).callmapMap;
      cy.nodes(':childless').forEach((n) => {
        out[n.id()] = { ...n.position() };
      });
      return out;
    });
  const before = await positions();
  const now = Date.now();
  await postReport(mapper.url, reportBatch(feed.observations([liveIntent], now), now));
  await waitForNodeCount(15);
  const after = await positions();
  for (const [id, p] of Object.entries(before)) t.deepEqual(after[id], p, `${id} stayed in place`);
  t.truthy(after['shop/newsletter']);
  // the open details panel follows the update
  await page.waitForFunction(() => document.getElementById('calls-in')?.textContent?.includes('newsletter.shop'));
  t.true(((await page.textContent('#calls-in')) ?? '').includes('/subscribe'));
  t.regex((await page.textContent('#status')) ?? '', /14 workloads · 1 external · 20 calls/);
});

browserTest('export buttons download ClientIntents YAML and an SVG of the map', async (t) => {
  const [svg] = await Promise.all([page.waitForEvent('download'), page.click('#export-svg')]);
  t.is(svg.suggestedFilename(), 'callmap.svg');
  const svgText = fs.readFileSync((await svg.path()) ?? '', 'utf8');
  t.true(svgText.includes('<svg') && svgText.includes('newsletter.shop'));
  const [yaml] = await Promise.all([page.waitForEvent('download'), page.click('#export-yaml')]);
  t.is(yaml.suggestedFilename(), 'clientintents.yaml');
  const yamlText = fs.readFileSync((await yaml.path()) ?? '', 'utf8');
  t.regex(yamlText, /kind: ClientIntents/);
  t.regex(yamlText, /name: checkout/);
});

browserTest('screenshot of the map with a workload selected', async (t) => {
  await page.fill('#search', 'checkout.shop');
  await page.press('#search', 'Enter');
  await page.waitForFunction(() => document.getElementById('details-title')?.textContent === 'checkout.shop');
  await page.fill('#search', '');
  await page.waitForTimeout(400); // let the centring animation finish
  const file = path.join(dir, 'callmap-web-map.png');
  await page.screenshot({ path: file });
  const png = fs.readFileSync(file);
  t.is(png.readUInt32BE(16), 1400);
  t.is(png.readUInt32BE(20), 860);
  t.log(`screenshot: ${file}`);
  t.deepEqual(errors, [], 'no page errors during the whole session');
});

browserTest('an empty map says so, and a failing mapper shows the error instead of a blank page', async (t) => {
  let mode: 'empty' | 'fail' = 'empty';
  const app = express();
  app.get('/api/v1/events', (_req, res) => {
    res.status(200).setHeader('Content-Type', 'text/event-stream');
    res.flushHeaders();
  });
  app.use(
    '/',
    webRouter({
      graphSource: async () => {
        if (mode === 'fail') throw new CallmapError('WEB_GRAPH_UNAVAILABLE', 'mapper down', { status: 502 });
        return { nodes: [], edges: [] };
      },
    }),
  );
  const server: http.Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const p = await page.context().newPage();
    const pageErrors = collectPageErrors(p);
    await p.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await p.waitForSelector('#empty:not([hidden])');
    t.regex((await p.textContent('#empty')) ?? '', /No calls discovered yet/);
    mode = 'fail';
    await p.click('#relayout');
    await p.waitForFunction(() => document.getElementById('status')?.textContent?.includes('Could not load'));
    t.is(await p.textContent('#status'), 'Could not load the map: mapper down');
    t.deepEqual(
      pageErrors.filter((e) => !e.includes('502')),
      [],
    );
    await p.close();
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
