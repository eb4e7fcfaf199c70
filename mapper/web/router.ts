/**
 * The live web map: static page + cytoscape.js (served from node_modules, no CDN), a layout
 * endpoint that places nodes with Graphviz `dot` (same look as `callmap visualize`), and image
 * exports. Graph data comes from the mapper's own `/api/v1/graph` over HTTP (ADR 0070).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { CallmapError, type ErrorBody, expandGraph, type GraphResponse, isCallmapError } from '../contract/index.ts';
import {
  cleanGraph,
  dotLayout,
  filterGraph,
  graphToDot,
  IMAGE_FORMATS,
  MIME_TYPES,
  namespacesOf,
  renderGraph,
} from '../visualize/index.ts';

export interface GraphQuery {
  /** Empty = every namespace. */
  namespaces: string[];
  external: boolean;
}

/** Where the router gets the map from. `req` is the browser's request (used to find our own server). */
export type GraphSource = (q: GraphQuery, req: Request) => Promise<GraphResponse>;

export interface WebRouterOptions {
  /** Directory with the static assets; defaults to the bundled one. */
  staticDir?: string;
  /** Default: GET `/api/v1/graph` from the server that received the request (the mapper itself). */
  graphSource?: GraphSource;
  /** Timeout of one graph fetch, ms (default 15000). */
  fetchTimeoutMs?: number;
  /** Layout cache (default: a private one keeping the last 8 layouts). */
  layoutCache?: LayoutCache;
}

export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

const require = createRequire(import.meta.url);

/** Absolute path of cytoscape's browser bundle inside node_modules. */
export function cytoscapePath(): string {
  return require.resolve('cytoscape/dist/cytoscape.min.js');
}

/** `/api/v1/graph` on the server that accepted `req` (loopback-safe: uses the socket's local address). */
export function selfGraphSource(timeoutMs = 15_000): GraphSource {
  return async (q, req) => {
    let host = req.socket.localAddress ?? '127.0.0.1';
    if (host.startsWith('::ffff:')) host = host.slice(7);
    if (host.includes(':')) host = `[${host}]`;
    const params = new URLSearchParams();
    if (q.namespaces.length > 0) params.set('namespaces', q.namespaces.join(','));
    if (q.external) params.set('external', 'true');
    // The compact graph (ADR 0038): each node once, edges by index; expanded below.
    params.set('compact', 'true');
    const url = `http://${host}:${req.socket.localPort}/api/v1/graph?${params.toString()}`;
    let res: globalThis.Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      throw new CallmapError('WEB_GRAPH_UNAVAILABLE', `the web map could not read ${url}: ${(e as Error).message}`, {
        status: 502,
        cause: e,
      });
    }
    const text = await res.text();
    if (!res.ok) {
      let body: Partial<ErrorBody> | undefined;
      try {
        body = JSON.parse(text) as Partial<ErrorBody>;
      } catch {
        body = undefined;
      }
      const err = body?.error;
      throw new CallmapError(
        err?.code ?? 'WEB_GRAPH_UNAVAILABLE',
        err?.message ?? `GET /api/v1/graph answered HTTP ${res.status}`,
        { status: res.status >= 400 && res.status < 500 ? res.status : 502 },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new CallmapError('WEB_GRAPH_UNAVAILABLE', 'GET /api/v1/graph did not return JSON', {
        status: 502,
        cause: e,
      });
    }
    try {
      return expandGraph(parsed);
    } catch (e) {
      throw new CallmapError(
        'WEB_GRAPH_UNAVAILABLE',
        `GET /api/v1/graph returned an unexpected graph (${(e as Error).message})`,
        { status: 502, cause: e },
      );
    }
  };
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parses `?namespaces=a,b&external=true|false` (external defaults to true for the web map). */
export function parseGraphQuery(query: Record<string, unknown>): GraphQuery {
  const raw = query['namespaces'];
  const parts = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((v) =>
    typeof v === 'string' ? v.split(',') : [''],
  );
  const namespaces = [...new Set(parts.map((s) => s.trim()).filter((s) => s !== ''))].sort();
  for (const ns of namespaces) {
    if (!NAMESPACE.test(ns)) {
      throw new CallmapError('BAD_QUERY', `query parameter namespaces: ${JSON.stringify(ns)} is not a namespace name`, {
        status: 400,
        details: { param: 'namespaces' },
      });
    }
  }
  const ext = query['external'];
  if (ext !== undefined && ext !== 'true' && ext !== 'false' && ext !== '1' && ext !== '0') {
    throw new CallmapError('BAD_QUERY', 'query parameter external: must be true or false', {
      status: 400,
      details: { param: 'external' },
    });
  }
  return { namespaces, external: ext === undefined || ext === 'true' || ext === '1' };
}

/** What `GET /map.json` returns: the (filtered) graph, every namespace for the filter, and positions. */
export interface WebMap {
  namespaces: string[];
  graph: GraphResponse;
  layout: Awaited<ReturnType<typeof dotLayout>>;
  /** Nodes/edges dropped as inconsistent (dangling edge ends, duplicate ids). */
  skipped: number;
}

/**
 * Fetches the whole map once and filters it here: a namespace selection keeps the calls from *or to*
 * workloads in those namespaces (the mapper's own `namespaces` filter selects clients only).
 */
export async function selectGraph(source: GraphSource, q: GraphQuery, req: Request): Promise<GraphResponse> {
  const all = cleanGraph(await source({ namespaces: [], external: q.external }, req));
  return filterGraph(all, q);
}

/** The last few layouts, keyed by a hash of the graph and the filter: every open tab reloads after the same event. */
export class LayoutCache {
  readonly #max: number;
  readonly #entries = new Map<string, WebMap>();
  hits = 0;
  misses = 0;

  constructor(max = 8) {
    this.#max = max;
  }

  async get(key: string, build: () => Promise<WebMap>): Promise<WebMap> {
    const found = this.#entries.get(key);
    if (found) {
      this.hits++;
      this.#entries.delete(key);
      this.#entries.set(key, found);
      return found;
    }
    this.misses++;
    const value = await build();
    this.#entries.set(key, value);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    return value;
  }
}

export async function buildWebMap(
  source: GraphSource,
  q: GraphQuery,
  req: Request,
  cache: LayoutCache = new LayoutCache(),
): Promise<WebMap> {
  const raw = await source({ namespaces: [], external: q.external }, req);
  const key = createHash('sha256')
    .update(JSON.stringify([q, raw]))
    .digest('base64url');
  return cache.get(key, async () => {
    const all = cleanGraph(raw);
    const graph = filterGraph(all, q);
    const layout =
      graph.nodes.length > 0 ? await dotLayout(graphToDot(graph, { edgeLabels: false, legend: false })) : emptyLayout();
    return { namespaces: namespacesOf(all), graph, layout, skipped: all.skipped };
  });
}

const emptyLayout = (): WebMap['layout'] => ({ nodes: {}, width: 0, height: 0 });

export function webRouter(opts: WebRouterOptions = {}): Router {
  const r = Router();
  const source = opts.graphSource ?? selfGraphSource(opts.fetchTimeoutMs);
  const staticDir = opts.staticDir ?? DEFAULT_STATIC_DIR;
  const layouts = opts.layoutCache ?? new LayoutCache();

  r.get('/vendor/cytoscape.min.js', (_req: Request, res: Response) => {
    res.type('text/javascript').setHeader('Cache-Control', 'public, max-age=3600');
    res.sendFile(cytoscapePath());
  });

  r.get('/map.json', async (req: Request, res: Response) => {
    const q = parseGraphQuery(req.query as Record<string, unknown>);
    const map = await buildWebMap(source, q, req, layouts);
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json(map);
  });

  for (const format of IMAGE_FORMATS) {
    r.get(`/visualize.${format}`, async (req: Request, res: Response) => {
      const q = parseGraphQuery(req.query as Record<string, unknown>);
      const graph = await selectGraph(source, q, req);
      const body = await renderGraph(graph, format);
      res.setHeader('Cache-Control', 'no-store');
      res.status(200).type(MIME_TYPES[format]).end(body);
    });
  }

  r.use(express.static(staticDir, { index: 'index.html', fallthrough: true, maxAge: 0 }));

  // Our own errors become the mapper's ErrorBody even when the router is mounted without the mapper's
  // error middleware (tests, embedding); anything else goes to the next error handler.
  r.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!isCallmapError(err) || res.headersSent) {
      next(err);
      return;
    }
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (err.details) body.error.details = { ...err.details };
    res.status(err.status).json(body);
  });
  return r;
}
