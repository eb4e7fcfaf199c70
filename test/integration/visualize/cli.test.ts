import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { MapperService } from '../../../mapper/service.ts';
import { shopIntents } from '../../unit/visualize/fixtures.ts';
import { runCli } from '../mapper/harness.ts';
import { type ShopMapper, startShopMapper } from '../web/shop-mapper.ts';
import { jpegSize, pngSize, svgTexts } from './images.ts';

let shop: ShopMapper;
let mapper: MapperService;
let dir: string;

test.before(async () => {
  shop = await startShopMapper({ prefix: 'callmap-visualize-', intents: shopIntents(), service: { web: null } });
  ({ mapper, dir } = shop);
});

test.after.always(async () => {
  await shop?.close();
});

test('writes an SVG with every workload, HTTP path and Kafka topic', async (t) => {
  const out = path.join(dir, 'map.svg');
  const r = await runCli(['visualize', '-o', out, '--external', '--mapper-url', mapper.url]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^Wrote SVG of 14 workloads and 19 calls to .*map\.svg\.\n$/);
  const texts = new Set(svgTexts(fs.readFileSync(out, 'utf8')));
  for (const name of ['frontend.shop', 'checkout.shop', 'kafka.data', 'redis-cart.data', 'api.stripe.com'])
    t.true(texts.has(name), name);
  t.true(texts.has('POST /charge'));
  t.true(texts.has('orders: describe, produce'));
  t.true(texts.has('payments (denied: consume)'));
});

test('PNG from the extension; -n keeps calls from or to the namespace; externals only on request', async (t) => {
  const out = path.join(dir, 'data.png');
  const r = await runCli(['visualize', '-n', 'data', '-o', out], { CALLMAP_MAPPER_URL: mapper.url });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Wrote PNG of 6 workloads and 4 calls to .*data\.png \(\d+×\d+ px\)\./);
  const size = pngSize(fs.readFileSync(out));
  t.true(size.width > 400 && size.height > 200);
});

test('JPG with an explicit --format', async (t) => {
  const out = path.join(dir, 'map-picture');
  const r = await runCli(['visualize', '--format', 'jpg', '-o', out, '--mapper-url', mapper.url]);
  t.is(r.code, 0, r.stderr);
  const size = jpegSize(fs.readFileSync(out));
  t.true(size.width > 1000);
});

test('format/extension mismatch and a missing -o are usage errors', async (t) => {
  const [mismatch, missing] = await Promise.all([
    runCli(['visualize', '--format', 'svg', '-o', path.join(dir, 'x.png'), '--mapper-url', mapper.url]),
    runCli(['visualize', '--mapper-url', mapper.url]),
  ]);
  t.is(mismatch.code, 64);
  t.regex(mismatch.stderr, /--format svg does not match the extension/);
  t.false(fs.existsSync(path.join(dir, 'x.png')));
  t.is(missing.code, 64);
  t.regex(missing.stderr, /-o FILE is required/);
});

test('unreachable mapper exits 2; unwritable output exits 1 with a hint', async (t) => {
  const [down, unwritable] = await Promise.all([
    runCli(['visualize', '-o', path.join(dir, 'y.svg'), '--mapper-url', 'http://127.0.0.1:1']),
    runCli(['visualize', '-o', path.join(dir, 'no-such-dir', 'z.svg'), '--mapper-url', mapper.url]),
  ]);
  t.is(down.code, 2, down.stderr);
  t.is(unwritable.code, 1, unwritable.stderr);
  t.regex(unwritable.stderr, /cannot write .*z\.svg.*check that the directory exists/);
  t.regex(unwritable.stderr, /OUTPUT_WRITE_FAILED/);
});
