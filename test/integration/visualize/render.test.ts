import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import test from 'ava';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import type { GraphResponse } from '../../../mapper/contract/index.ts';
import {
  dotToSvg,
  edgeLabelLines,
  graphToDot,
  intentsToGraph,
  loadGraphviz,
  nodeLabelText,
  rasterScale,
  renderGraph,
  svgSize,
  writeMapImage,
} from '../../../mapper/visualize/index.ts';
import { bigIntents, intent, shopIntents, wl } from '../../unit/visualize/fixtures.ts';
import { jpegSize, pngSize, svgTexts } from './images.ts';

const big = (): GraphResponse => intentsToGraph(bigIntents(60));

test('Graphviz WASM loads once per process', async (t) => {
  const a = await loadGraphviz();
  const b = await loadGraphviz();
  t.is(a, b);
});

test('60-service SVG parses and contains every node and every edge label', async (t) => {
  const g = big();
  const svg = (await renderGraph(g, 'svg')).toString('utf8');
  t.notThrows(() => new Resvg(svg), 'resvg parses the SVG');
  const texts = new Set(svgTexts(svg));
  for (const n of g.nodes) {
    const { title, subtitle } = nodeLabelText(n);
    t.true(texts.has(title), `node label ${title}`);
    t.true(texts.has(subtitle), `node kind ${subtitle}`);
  }
  let labelled = 0;
  for (const e of g.edges) {
    const lines = edgeLabelLines(e.intent, e.kinds, 3);
    if (lines.length > 0) labelled++;
    for (const l of lines) t.true(texts.has(l), `edge ${e.id} label ${l}`);
  }
  t.true(labelled >= g.edges.length - 1);
  // one <g class="edge"> per edge, one node group per node, and the Kafka/HTTP styling made it to the SVG
  t.is((svg.match(/<g id="edge\d+" class="edge/g) ?? []).length, g.edges.length);
  t.is((svg.match(/<g id="node\d+" class="node/g) ?? []).length, g.nodes.length);
  t.true(svg.includes('class="edge kafka"') && svg.includes('class="edge http"'));
  t.true(svg.includes('stroke-dasharray'));
});

test('60-service PNG is a valid image at the sharp 2x scale', async (t) => {
  const g = big();
  const svg = await dotToSvg(graphToDot(g));
  const size = svgSize(svg);
  const scale = rasterScale(size);
  t.is(scale, 2, 'a 60-service map fits the pixel budget at full 2x');
  const png = await renderGraph(g, 'png');
  const dim = pngSize(png);
  t.true(Math.abs(dim.width - size.width * scale) <= 1, `${dim.width} vs ${size.width * scale}`);
  t.true(Math.abs(dim.height - size.height * scale) <= 1, `${dim.height} vs ${size.height * scale}`);
  t.true(dim.width > 4000);
});

test('shop JPG is a valid JPEG of the expected size with a white background', async (t) => {
  const g = intentsToGraph(shopIntents());
  const svg = await dotToSvg(graphToDot(g));
  const size = svgSize(svg);
  const jpg = await renderGraph(g, 'jpg');
  const dim = jpegSize(jpg);
  t.true(Math.abs(dim.width - size.width * 2) <= 1);
  t.true(Math.abs(dim.height - size.height * 2) <= 1);
  const raw = jpeg.decode(jpg, { useTArray: true, formatAsRGBA: true });
  t.is(raw.width, dim.width);
  // top-left pixel is background: white (JPEG is lossy, allow a little)
  t.true((raw.data[0] ?? 0) > 245 && (raw.data[1] ?? 0) > 245 && (raw.data[2] ?? 0) > 245);
  // and the picture is not blank: some dark pixels (text, borders)
  let dark = 0;
  for (let i = 0; i < raw.data.length; i += 4 * 97) if ((raw.data[i] ?? 255) < 80) dark++;
  t.true(dark > 50, `dark samples ${dark}`);
});

test('a huge map is scaled down to stay within the pixel budget', async (t) => {
  const svg = await dotToSvg(graphToDot(big()));
  const size = svgSize(svg);
  const png = (await import('../../../mapper/visualize/index.ts')).svgToPng(svg, { maxPixels: 2_000_000 });
  const dim = pngSize(png);
  t.true(dim.width * dim.height <= 2_000_000 + dim.width + dim.height);
  t.true(Math.abs(dim.width / dim.height - size.width / size.height) < 0.01);
});

test('arbitrary workload names, kinds and paths always lay out and appear verbatim', async (t) => {
  const text = fc.string({ minLength: 1, maxLength: 24, unit: 'grapheme' });
  await fc.assert(
    fc.asyncProperty(text, text, text, text, async (name, ns, kind, path) => {
      const g = intentsToGraph([
        intent(wl(name, ns, kind), wl('server', 'x'), { http: [{ path, methods: ['GET'] }], ports: [80] }),
      ]);
      const svg = await dotToSvg(graphToDot(g));
      const texts = svgTexts(svg).join('\n');
      const flat = (s: string) => s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ');
      // Graphviz trims/collapses whitespace in labels, so compare on the non-space characters
      const squash = (s: string) => flat(s).replace(/\s+/g, '');
      return (
        squash(texts).includes(squash(`${name}.${ns}`)) &&
        squash(texts).includes(squash(kind)) &&
        squash(texts).includes(squash(`GET ${path}`))
      );
    }),
    { numRuns: 60 },
  );
  t.pass();
});

test('writeMapImage writes atomically, reports what it drew, and fails with a clear code', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-write-'));
  try {
    const g = intentsToGraph(shopIntents());
    const svg = await writeMapImage(g, path.join(dir, 'a.svg'), { format: 'svg', external: true });
    t.like(svg, { format: 'svg', nodes: 14, edges: 19, skipped: 0 });
    t.is(svg.width, undefined);
    const jpg = await writeMapImage(g, path.join(dir, 'b.jpg'), { format: 'jpg', namespaces: ['data'] });
    t.like(jpg, { nodes: 6, edges: 4 });
    t.deepEqual(jpegSize(fs.readFileSync(path.join(dir, 'b.jpg'))), { width: jpg.width, height: jpg.height });
    t.deepEqual(fs.readdirSync(dir).sort(), ['a.svg', 'b.jpg'], 'no temp files left behind');
    await t.throwsAsync(writeMapImage(g, path.join(dir, 'missing', 'c.png'), { format: 'png' }), {
      code: 'OUTPUT_WRITE_FAILED',
      message: /check that the directory exists/,
    });
    t.deepEqual(fs.readdirSync(dir).sort(), ['a.svg', 'b.jpg']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
