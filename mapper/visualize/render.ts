/**
 * DOT → SVG (Graphviz compiled to WebAssembly, loaded once per process) → PNG (resvg) → JPG
 * (jpeg-js from the RGBA pixels over a white background). No system `dot` binary is needed.
 */
import { createRequire } from 'node:module';
import type { Graphviz } from '@hpcc-js/wasm-graphviz';
import { CallmapError } from '../contract/index.ts';

// The renderers are loaded on first use: ≈ 10 MB of resident memory that a mapper whose web map
// is never opened (and `callmap visualize --format svg`) does not need (ADR 0037).
const require = createRequire(import.meta.url);
type ResvgModule = typeof import('@resvg/resvg-js');
type JpegModule = typeof import('jpeg-js');
let resvgModule: ResvgModule | undefined;
let jpegModule: JpegModule | undefined;
const resvg = (): ResvgModule => {
  resvgModule ??= require('@resvg/resvg-js') as ResvgModule;
  return resvgModule;
};
const jpegJs = (): JpegModule => {
  jpegModule ??= require('jpeg-js') as JpegModule;
  return jpegModule;
};

let graphviz: Promise<Graphviz> | undefined;

/** The process-wide Graphviz instance; the module and its WASM are loaded on first use only. */
export function loadGraphviz(): Promise<Graphviz> {
  if (!graphviz) {
    graphviz = import('@hpcc-js/wasm-graphviz')
      .then((m) => m.Graphviz.load())
      .catch((e: unknown) => {
        graphviz = undefined;
        throw new CallmapError(
          'VISUALIZE_GRAPHVIZ_LOAD',
          `Could not load the Graphviz WebAssembly module (${(e as Error)?.message ?? e}); reinstall dependencies with \`npm ci\`.`,
          { cause: e },
        );
      });
  }
  return graphviz;
}

function layout(gv: Graphviz, dot: string, format: 'svg' | 'json'): string {
  try {
    return gv.layout(dot, format, 'dot');
  } catch (e) {
    throw new CallmapError(
      'VISUALIZE_LAYOUT_FAILED',
      `Graphviz could not lay out the map (${(e as Error)?.message ?? e}); please report this with the map that caused it.`,
      { cause: e },
    );
  }
}

export async function dotToSvg(dot: string): Promise<string> {
  return layout(await loadGraphviz(), dot, 'svg');
}

export interface NodePosition {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DotLayout {
  /** Node id → centre position in points, y growing downwards (screen coordinates). */
  nodes: Record<string, NodePosition>;
  width: number;
  height: number;
}

interface GvJsonObject {
  name?: string;
  pos?: string;
  width?: string;
  height?: string;
  nodes?: number[];
}

/** Runs the `dot` engine and returns node positions (for the web map), y flipped to screen coordinates. */
export async function dotLayout(dot: string): Promise<DotLayout> {
  const json = JSON.parse(layout(await loadGraphviz(), dot, 'json')) as { bb?: string; objects?: GvJsonObject[] };
  const bb = (json.bb ?? '0,0,0,0').split(',').map(Number);
  const height = bb[3] ?? 0;
  const nodes: Record<string, NodePosition> = {};
  for (const o of json.objects ?? []) {
    if (o.nodes !== undefined || !o.name || !o.pos) continue; // clusters carry `nodes`
    const [x, y] = o.pos.split(',').map(Number);
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) continue;
    nodes[o.name] = { x, y: height - y, width: Number(o.width ?? 0) * 72, height: Number(o.height ?? 0) * 72 };
  }
  return { nodes, width: bb[2] ?? 0, height };
}

const UNIT_PX: Record<string, number> = { '': 1, px: 1, pt: 96 / 72, pc: 16, in: 96, cm: 96 / 2.54, mm: 96 / 25.4 };

/**
 * The intrinsic size of an SVG in CSS pixels (what resvg renders at zoom 1): its `width`/`height`
 * attributes with units (Graphviz writes points: 1pt = 4/3 px), else its `viewBox`.
 */
export function svgSize(svg: string): { width: number; height: number } {
  const tag = /<svg\b[^>]*>/.exec(svg)?.[0];
  if (!tag) throw new CallmapError('VISUALIZE_BAD_SVG', 'The document has no <svg> element; cannot compute its size.');
  const len = (name: string): number | undefined => {
    const m = new RegExp(`\\s${name}="\\s*([\\d.]+)\\s*(px|pt|pc|in|cm|mm)?\\s*"`).exec(tag);
    const unit = UNIT_PX[m?.[2] ?? ''];
    return m && unit !== undefined ? Number(m[1]) * unit : undefined;
  };
  const w = len('width');
  const h = len('height');
  if (w !== undefined && h !== undefined) return { width: w, height: h };
  const vb = /\sviewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)[\s,]+([\d.]+)\s*"/.exec(tag);
  if (!vb)
    throw new CallmapError(
      'VISUALIZE_BAD_SVG',
      'The SVG has neither width/height nor a viewBox; cannot compute its size.',
    );
  return { width: Number(vb[1]), height: Number(vb[2]) };
}

export interface RasterOptions {
  /** Pixels per SVG unit. Default: 2, lowered when needed to stay within the limits below. */
  scale?: number;
  /** Longest side in pixels. Default 16000. */
  maxSide?: number;
  /** Total pixels. Default 80 million (≈320 MB of RGBA). */
  maxPixels?: number;
}

/** The zoom actually used: the requested one, capped so the bitmap stays within the side/pixel limits. */
export function rasterScale(size: { width: number; height: number }, opts: RasterOptions = {}): number {
  const wanted = opts.scale ?? 2;
  const maxSide = opts.maxSide ?? 16_000;
  const maxPixels = opts.maxPixels ?? 80_000_000;
  const w = Math.max(size.width, 1);
  const h = Math.max(size.height, 1);
  return Math.min(wanted, maxSide / Math.max(w, h), Math.sqrt(maxPixels / (w * h)));
}

export interface Raster {
  width: number;
  height: number;
  /** Opaque RGBA pixels (white background). */
  pixels: Buffer;
  png: Buffer;
}

export function rasterize(svg: string, opts: RasterOptions = {}): Raster {
  const zoom = rasterScale(svgSize(svg), opts);
  try {
    const r = new (resvg().Resvg)(svg, {
      fitTo: { mode: 'zoom', value: zoom },
      background: 'white',
      font: {
        loadSystemFonts: true,
        defaultFontFamily: 'Liberation Sans',
        sansSerifFamily: 'Liberation Sans',
        serifFamily: 'Liberation Serif',
      },
      logLevel: 'off',
    });
    const img = r.render();
    return { width: img.width, height: img.height, pixels: img.pixels, png: img.asPng() };
  } catch (e) {
    throw new CallmapError(
      'VISUALIZE_RASTER_FAILED',
      `Could not rasterize the map (${(e as Error)?.message ?? e}); try --format svg.`,
      { cause: e },
    );
  }
}

export function svgToPng(svg: string, opts: RasterOptions = {}): Buffer {
  return rasterize(svg, opts).png;
}

export function svgToJpg(svg: string, opts: RasterOptions & { quality?: number } = {}): Buffer {
  return rasterToJpg(rasterize(svg, opts), opts.quality);
}

/** JPEG (quality 1-100, default 90) from an already rendered raster. */
export function rasterToJpg(r: Raster, quality = 90): Buffer {
  return jpegJs().encode({ width: r.width, height: r.height, data: r.pixels }, quality).data;
}
