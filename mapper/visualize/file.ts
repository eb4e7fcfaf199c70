/** Writing a map picture to a file (used by `callmap visualize` and `callmap demo`). */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CallmapError, type GraphResponse } from '../contract/index.ts';
import { graphToDot } from './dot.ts';
import { cleanGraph, filterGraph } from './graph.ts';
import { dotToSvg, rasterize, rasterToJpg } from './render.ts';

export type FileFormat = 'png' | 'svg' | 'jpg';

export interface WriteMapOptions {
  format: FileFormat;
  /** Only calls from or to workloads in these namespaces (empty = all). */
  namespaces?: readonly string[];
  /** Keep external destinations (default false, like the CLI). */
  external?: boolean;
}

export interface WrittenMap {
  format: FileFormat;
  /** Nodes and edges drawn. */
  nodes: number;
  edges: number;
  /** Inconsistent graph entries dropped (dangling edges, duplicate ids). */
  skipped: number;
  /** Raster size in pixels (PNG/JPG only). */
  width?: number;
  height?: number;
  bytes: number;
}

/** Writes next to the target and renames, so a reader never sees half a picture. */
export async function writeFileAtomically(file: string, data: Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new CallmapError(
      'OUTPUT_WRITE_FAILED',
      `cannot write ${file}: ${(e as Error).message}; check that the directory exists and is writable`,
      { cause: e },
    );
  }
}

/** Filters, lays out, renders and writes the map; returns what was drawn. */
export async function writeMapImage(graph: GraphResponse, file: string, opts: WriteMapOptions): Promise<WrittenMap> {
  const clean = cleanGraph(graph);
  const selected = filterGraph(clean, { namespaces: opts.namespaces ?? [], external: opts.external ?? false });
  const svg = await dotToSvg(graphToDot(selected));
  const out: WrittenMap = {
    format: opts.format,
    nodes: selected.nodes.length,
    edges: selected.edges.length,
    skipped: clean.skipped,
    bytes: 0,
  };
  let data: Buffer;
  if (opts.format === 'svg') data = Buffer.from(svg, 'utf8');
  else {
    const r = rasterize(svg);
    out.width = r.width;
    out.height = r.height;
    data = opts.format === 'png' ? r.png : rasterToJpg(r);
  }
  await writeFileAtomically(file, data);
  out.bytes = data.length;
  return out;
}
