/** Public entry of the visualize component: graph → DOT → SVG / PNG / JPG. */
import type { GraphResponse } from '../contract/index.ts';
import { type DotOptions, graphToDot } from './dot.ts';
import { dotToSvg, type RasterOptions, svgToJpg, svgToPng } from './render.ts';

export * from './dot.ts';
export * from './file.ts';
export * from './graph.ts';
export * from './render.ts';

export const IMAGE_FORMATS = ['png', 'svg', 'jpg'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const MIME_TYPES: Record<ImageFormat, string> = {
  png: 'image/png',
  svg: 'image/svg+xml',
  jpg: 'image/jpeg',
};

export type RenderOptions = DotOptions & RasterOptions & { quality?: number };

/** Renders a graph to an image file's bytes. */
export async function renderGraph(
  graph: GraphResponse,
  format: ImageFormat,
  opts: RenderOptions = {},
): Promise<Buffer> {
  const svg = await dotToSvg(graphToDot(graph, opts));
  if (format === 'svg') return Buffer.from(svg, 'utf8');
  if (format === 'png') return svgToPng(svg, opts);
  return svgToJpg(svg, opts);
}
