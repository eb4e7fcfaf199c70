/** The HTML report written by `callmap report --format html` shows the map picture in headless Chromium. */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { browserUnavailable, collectPageErrors, launchChromium } from '../../helpers/browser.ts';
import { tempDir } from '../../unit/mapper/fixtures.ts';
import { runCli } from '../mapper/harness.ts';
import { checkoutToPayments, external, frontendToCheckout, http, kafka, startSnapshotMapper } from './harness.ts';

const skip = browserUnavailable();

test('HTML report: inline SVG map is visible with its nodes and edges, no external requests, no page errors', async (t) => {
  if (skip) {
    t.log(skip);
    t.pass();
    return;
  }
  const m = await startSnapshotMapper();
  t.teardown(() => m.close());
  t.is(await m.feed([frontendToCheckout(), http('GET', '/cart')]), 202);
  t.is((await runCli(['report', '--mapper-url', m.url, '--format', 'json'])).code, 0);
  t.is(
    await m.feed([
      checkoutToPayments(),
      kafka('orders', 'produce', true),
      kafka('orders', 'consume', false),
      ...external(),
    ]),
    202,
  );
  const out = tempDir('callmap-html-');
  const r = await runCli(['report', '--mapper-url', m.url, '--format', 'html', '--out', out]);
  t.is(r.code, 0, r.stderr);
  const [file] = fs.readdirSync(out);
  t.regex(file ?? '', /^callmap-report-\d{8}T\d{6}Z-2\.html$/);
  const html = fs.readFileSync(path.join(out, file ?? ''), 'utf8');
  t.regex(html, /<figure id="map"[^>]*><svg /);
  t.false(/<(script|link|img|iframe)\b/i.test(html), 'no scripts or external assets');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = collectPageErrors(page);
  const requests: string[] = [];
  page.on('request', (req) => requests.push(req.url()));
  await page.goto(pathToFileURL(path.join(out, file ?? '')).href);
  const svg = page.locator('figure#map svg');
  t.true(await svg.isVisible());
  const box = await svg.boundingBox();
  t.true((box?.width ?? 0) > 200 && (box?.height ?? 0) > 50, JSON.stringify(box));
  const nodes = await page.locator('figure#map svg g.node').count();
  t.true(nodes >= 5, `nodes: ${nodes}`); // frontend, checkout, payments, kafka, api.stripe.com
  t.true((await page.locator('figure#map svg g.edge').count()) >= 4);
  t.is(await page.locator('figure#map svg g.edge.new').count(), 3, 'the three new edges are highlighted');
  const stroke = await page
    .locator('figure#map svg g.edge.new path')
    .first()
    .evaluate((el) => getComputedStyle(el).stroke);
  t.is(stroke, 'rgb(4, 120, 87)');
  const labels = await page.locator('figure#map svg g.node text').allTextContents();
  t.true(
    labels.some((l) => l.includes('checkout.shop')),
    labels.join('|'),
  );
  t.true(
    labels.some((l) => l.includes('api.stripe.com')),
    labels.join('|'),
  );
  t.regex((await page.locator('h3.new').first().textContent()) ?? '', /New edges \(3\)/);
  t.deepEqual(
    requests.filter((u) => !u.startsWith('file:')),
    [],
    'the page loads nothing over the network',
  );
  t.deepEqual(errors, []);
  const shot = path.join(out, 'report.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.true(fs.statSync(shot).size > 10_000);
  t.log(`screenshot: ${shot}`);
});
