/**
 * The mapper's HTTP API (Express 5): ingest, queries, export, reset, SSE, health, metrics,
 * OpenAPI document, and the live web map at `/`. Paths are fixed by the project brief.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import { CallmapError, type ErrorBody, isCallmapError, parseReportBatch } from '../contract/index.ts';
import { documentFileName, renderDocuments, toClientIntents } from '../export/clientintents.ts';
import { createIngestPipeline, type IngestOptions, type IngestPipeline } from '../ingest/index.ts';
import { fastBodyLength, readJsonBody } from '../ingest/json-body.ts';
import type { Resolver } from '../k8s/types.ts';
import {
  buildIntents,
  compactIntentsJsonChunks,
  countIntents,
  DefaultShapeStream,
  expandCompactBody,
  fastFilter,
  type GraphTable,
  graphJsonChunks,
  graphTable,
  intentsJsonChunks,
  type JsonBody,
} from '../store/intents.ts';
import type { MapStore } from '../store/types.ts';
import { webRouter } from '../web/router.ts';
import { createEventHub, type EventHub } from './events.ts';
import { createMapperMetrics, type MapperMetrics, sourceLabel } from './metrics.ts';
import { parseClientIntentsQuery, parseIntentsQuery } from './query.ts';
import { bodyLength, type CachedBody, createQueryCache, LARGE_BODY_BYTES } from './query-cache.ts';

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Chunks (≤ 1 MiB each) a streamed response keeps queued ahead of the socket (ADR 0039). */
const STREAM_AHEAD = 2;

/** Every route the API registers itself (the web router at `/` is separate). Kept in sync with openapi.yaml by a test. */
export const API_ROUTES = [
  ['post', '/api/v1/reports'],
  ['get', '/api/v1/intents'],
  ['get', '/api/v1/graph'],
  ['get', '/api/v1/clientintents'],
  ['post', '/api/v1/reset'],
  ['get', '/api/v1/events'],
  ['get', '/api/v1/openapi.yaml'],
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
] as const;

export interface ExtraRouter {
  /** Mount path, e.g. `/api/v1/snapshots`. */
  path: string;
  router: Router;
}

export interface MapperAppOptions {
  store: MapStore;
  resolver: Resolver;
  /** Largest accepted ingest body, bytes (default 8 MiB). */
  maxBodyBytes?: number;
  clock?: () => number;
  /** Options passed to the ingest pipeline (DNS cache size, TTL floor). */
  ingest?: Omit<IngestOptions, 'resolver' | 'store' | 'clock' | 'metrics'>;
  events?: { throttleMs?: number; heartbeatMs?: number };
  /** Routers mounted before the web map (e.g. snapshots under /api/v1/snapshots). */
  extraRouters?: readonly ExtraRouter[];
  /** The live web map; default `webRouter()`. `null` to serve none. */
  web?: Router | null;
  /** Path of the OpenAPI document (default: mapper/openapi.yaml next to this package). */
  openapiPath?: string;
  /** Where unexpected errors are logged (default: stderr). */
  log?: (line: string) => void;
  /** Retry-After sent with 503 while the resolver is not ready, seconds. */
  notReadyRetryAfterSeconds?: number;
}

export interface MapperApp {
  app: Express;
  metrics: MapperMetrics;
  ingest: IngestPipeline;
  events: EventHub;
  /** True when the DB is open, the resolver has synced and we are not shutting down. */
  ready(): boolean;
  /** Refuse new ingests (503) and close event streams; the DB is closed by the caller. */
  beginShutdown(): void;
}

export const OPENAPI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'openapi.yaml');

const errorBody = (code: string, message: string, details?: Record<string, unknown>): ErrorBody =>
  details ? { error: { code, message, details } } : { error: { code, message } };

export function createMapperApp(opts: MapperAppOptions): MapperApp {
  const { store, resolver } = opts;
  const clock = opts.clock ?? Date.now;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const cache = createQueryCache();
  let shuttingDown = false;

  let counted = { version: -1, n: 0 };
  const intentsCount = (): number => {
    if (counted.version !== store.version) counted = { version: store.version, n: countIntents(store) };
    return counted.n;
  };

  const metrics = createMapperMetrics({ intentsCount, edgesCount: () => store.edgeCount });
  const ingest = createIngestPipeline({ ...opts.ingest, resolver, store, clock, metrics: metrics.ingest });
  const events = createEventHub({
    ...opts.events,
    clock,
    count: () => store.edgeCount,
    onClientsChanged: (n) => metrics.sseClients.set(n),
  });
  const offChange = store.onChange(() => events.notify());

  const ready = (): boolean => !shuttingDown && store.isOpen() && resolver.ready();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, secs);
    });
    next();
  });

  // ---- ingest
  const requireJson = (req: Request, _res: Response, next: NextFunction): void => {
    // What every reporter sends, checked without parsing the header (the same answer `req.is`
    // gives for it: a body is announced, by a numeric Content-Length or a Transfer-Encoding).
    const h = req.headers;
    if (
      h['content-type'] === 'application/json' &&
      (h['transfer-encoding'] !== undefined || !Number.isNaN(Number(h['content-length'])))
    ) {
      next();
      return;
    }
    if (!req.is('application/json')) {
      metrics.rejected('unknown', 'unsupported-media-type');
      throw new CallmapError(
        'UNSUPPORTED_MEDIA_TYPE',
        `send report batches as application/json (got ${JSON.stringify(req.get('content-type') ?? 'no content-type')})`,
        { status: 415 },
      );
    }
    next();
  };
  const jsonBody = express.json({ limit: maxBody, type: 'application/json', strict: true });
  // The usual reporter request is read by the ingest's own reader (same answers, ADR 0101).
  const ingestBody = (req: Request, res: Response, next: NextFunction): void => {
    const length = fastBodyLength(req, maxBody);
    if (length < 0) {
      jsonBody(req, res, next);
      return;
    }
    readJsonBody(req, length, maxBody, (err, body) => {
      if (err !== undefined) next(err);
      else {
        req.body = body;
        next();
      }
    });
  };

  app.post('/api/v1/reports', requireJson, ingestBody, async (req: Request, res: Response) => {
    const source = sourceLabel((req.body as { reporter?: { component?: unknown } } | undefined)?.reporter?.component);
    if (shuttingDown) {
      metrics.rejected(source, 'shutting-down');
      throw new CallmapError('SHUTTING_DOWN', 'the mapper is shutting down; retry against the new instance', {
        status: 503,
        details: { retryAfterSeconds: 2 },
      });
    }
    if (!resolver.ready()) {
      metrics.rejected(source, 'not-ready');
      throw new CallmapError(
        'NOT_READY',
        'the mapper is still loading the cluster state (Kubernetes informers not synced); retry shortly',
        { status: 503, details: { retryAfterSeconds: opts.notReadyRetryAfterSeconds ?? 2 } },
      );
    }
    let batch: ReturnType<typeof parseReportBatch>;
    try {
      batch = parseReportBatch(req.body);
    } catch (e) {
      metrics.rejected(source, 'invalid');
      throw e;
    }
    metrics.received(source);
    // The parsed JSON is not needed any more: let it die young instead of living until the commit.
    req.body = undefined;
    let receipt: Awaited<ReturnType<IngestPipeline['ingest']>>;
    try {
      receipt = await ingest.ingest(batch);
    } catch (e) {
      metrics.rejected(source, 'internal');
      throw e;
    }
    if (receipt.duplicate) metrics.duplicate(source);
    res.status(202).json(receipt);
  });

  // ---- queries
  const send = (res: Response, c: CachedBody): void => {
    res.status(200).type(c.contentType);
    if (c.headers) for (const [k, v] of Object.entries(c.headers)) res.setHeader(k, v);
    if (Buffer.isBuffer(c.body)) {
      res.end(c.body);
      return;
    }
    // Large bodies are ≤ 1 MiB chunks (no 28 MB contiguous copy), written in order. The body is
    // held until the response is closed: its chunks go back to the pool only after that.
    const body = c.body;
    body.retain();
    res.once('close', () => body.release());
    res.setHeader('Content-Length', String(bodyLength(c)));
    for (const chunk of body.chunks) res.write(chunk);
    res.end();
  };

  /**
   * Streams the default shape of a compact body (ADR 0039): written chunk by chunk into pooled
   * buffers as the socket drains, never whole in memory; stops when the client goes away. The
   * stream holds the compact body (immutable) until the response closes, so a map change during
   * the stream does not change its bytes.
   */
  const stream = (req: Request, res: Response, body: JsonBody, graph?: { table: GraphTable; full: boolean }): void => {
    const s = new DefaultShapeStream(body, graph);
    res.status(200).type('application/json');
    res.setHeader('Content-Length', String(s.length));
    let closed = false;
    const close = (): void => {
      closed = true;
      s.close();
    };
    res.once('close', close);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // Keep up to STREAM_AHEAD chunks queued on the response, refilled as each one is flushed: the
    // socket never waits for the next chunk to be written, and a slow reader holds the stream back
    // (nothing more is produced while that much is queued). Counting chunks, not
    // `writableLength`, also bounds what is produced after the connection is gone (http drops
    // writes to a destroyed socket without calling back, until 'close' arrives).
    let queued = 0;
    const pump = (): void => {
      try {
        while (!closed && !res.destroyed && res.socket?.destroyed !== true && queued < STREAM_AHEAD) {
          const chunk = s.next();
          if (chunk === undefined) {
            if (!res.writableEnded) res.end();
            return;
          }
          queued++;
          // A chunk goes back to the pool only once the socket is done with it.
          res.write(chunk, (err) => {
            queued--;
            if (err) return;
            s.recycle(chunk);
            pump();
          });
        }
      } catch (err) {
        // The status line is sent: all that can be done is to cut the response short.
        log(`mapper: error while streaming ${req.originalUrl}: ${(err as Error)?.stack ?? String(err)}`);
        close();
        res.destroy(err as Error);
      }
    };
    pump();
  };

  /**
   * A default-shape response: streamed from the cached compact body of the same query when large
   * (ADR 0039), expanded once and cached when small, built directly for the filters that re-key
   * intents (no compact index).
   */
  const sendDefault = (
    req: Request,
    res: Response,
    kind: 'intents' | 'graph',
    q: { key: string; compactKey: string; filter: Parameters<typeof fastFilter>[0] },
    buildCompact: () => JsonBody,
    buildDefault: () => JsonBody,
  ): void => {
    const key = `${kind}:${q.key}`;
    if (!fastFilter(q.filter)) {
      send(
        res,
        cache.get(key, store.version, () => ({ body: buildDefault(), contentType: 'application/json' }), false),
      );
      return;
    }
    const c = cache.get(`${kind}:${q.compactKey}`, store.version, () => ({
      body: buildCompact(),
      contentType: 'application/json',
    }));
    if (!DefaultShapeStream.canStream(c.body)) {
      send(
        res,
        cache.get(key, store.version, () => ({ body: buildDefault(), contentType: 'application/json' }), false),
      );
      return;
    }
    const compact = c.body;
    if ((compact.index?.fullLength ?? 0) <= LARGE_BODY_BYTES) {
      send(
        res,
        cache.get(key, store.version, () => ({ body: expandCompactBody(compact), contentType: 'application/json' })),
      );
      return;
    }
    stream(req, res, compact);
  };

  app.get('/api/v1/intents', (req, res) => {
    const q = parseIntentsQuery(req.query as Record<string, unknown>);
    if (!q.compact) {
      sendDefault(
        req,
        res,
        'intents',
        q,
        () => compactIntentsJsonChunks(store, q.filter),
        () => intentsJsonChunks(store, q.filter, false),
      );
      return;
    }
    send(
      res,
      cache.get(`intents:${q.key}`, store.version, () => ({
        body: compactIntentsJsonChunks(store, q.filter),
        contentType: 'application/json',
      })),
    );
  });

  /**
   * Graph tables of the cached compact intents bodies (ADR 0046): made once per body, at the
   * store version the body was built at (the cache holds bodies of the current version only).
   */
  const graphTables = new WeakMap<JsonBody, GraphTable>();

  app.get('/api/v1/graph', (req, res) => {
    const q = parseIntentsQuery(req.query as Record<string, unknown>);
    if (fastFilter(q.filter)) {
      // Both graph shapes are written from the compact intents body of the same query and its
      // graph table (ADR 0046): no second body repeating every intent is built or kept. Large
      // graphs are streamed as the socket drains; small ones (a namespace) are expanded and cached.
      const c = cache.get(`intents:${q.compactKey}`, store.version, () => ({
        body: compactIntentsJsonChunks(store, q.filter),
        contentType: 'application/json',
      }));
      if (DefaultShapeStream.canStream(c.body)) {
        const body = c.body;
        let table = graphTables.get(body);
        if (table === undefined) {
          table = graphTable(store, q.filter, body);
          graphTables.set(body, table);
        }
        const graph = { table, full: !q.compact };
        if ((graph.full ? table.fullLength : table.compactLength) > LARGE_BODY_BYTES) {
          stream(req, res, body, graph);
          return;
        }
        send(
          res,
          cache.get(`graph:${q.key}`, store.version, () => ({
            body: expandCompactBody(body, graph),
            contentType: 'application/json',
          })),
        );
        return;
      }
    }
    if (!q.compact) {
      sendDefault(
        req,
        res,
        'graph',
        q,
        () => graphJsonChunks(store, q.filter, true),
        () => graphJsonChunks(store, q.filter, false),
      );
      return;
    }
    send(
      res,
      cache.get(`graph:${q.key}`, store.version, () => ({
        body: graphJsonChunks(store, q.filter, true),
        contentType: 'application/json',
      })),
    );
  });

  app.get('/api/v1/clientintents', (req, res) => {
    const q = parseClientIntentsQuery(req.query as Record<string, unknown>);
    send(
      res,
      cache.get(`ci:${q.key}`, store.version, () => {
        const r = toClientIntents(buildIntents(store, q.filter), {
          outputVersion: q.outputVersion,
          external: q.filter.external === true,
          ...(q.distinctByLabel ? { distinctByLabel: q.distinctByLabel } : {}),
        });
        return {
          body: Buffer.from(renderDocuments(r.documents, q.format)),
          contentType: q.format === 'json' ? 'application/json' : 'application/yaml',
          headers: {
            'X-Callmap-Documents': String(r.documents.length),
            'X-Callmap-Mapped-Methods': String(r.mappedMethods),
            'X-Callmap-Dropped-Methods': String(r.droppedMethods),
            'X-Callmap-Dropped-Paths': String(r.droppedPaths),
            'X-Callmap-File-Names': r.documents.map((d) => documentFileName(d, q.format)).join(','),
          },
        };
      }),
    );
  });

  app.post('/api/v1/reset', (_req, res) => {
    if (shuttingDown)
      throw new CallmapError('SHUTTING_DOWN', 'the mapper is shutting down; retry later', { status: 503 });
    res.status(200).json({ removed: store.reset() });
  });

  app.get('/api/v1/events', (req, res) => events.handle(req, res));

  let openapiText: string | undefined;
  app.get('/api/v1/openapi.yaml', (_req, res) => {
    openapiText ??= fs.readFileSync(opts.openapiPath ?? OPENAPI_PATH, 'utf8');
    res.status(200).type('application/yaml').send(openapiText);
  });

  // ---- operations
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    if (ready()) {
      res.status(200).json({ status: 'ready' });
      return;
    }
    const why = shuttingDown
      ? 'shutting down'
      : !store.isOpen()
        ? 'database closed'
        : 'Kubernetes informers have not finished their initial list';
    res.status(503).json(errorBody('NOT_READY', `not ready: ${why}`));
  });

  app.get('/metrics', async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.status(200).type(metrics.registry.contentType).send(text);
  });

  for (const x of opts.extraRouters ?? []) app.use(x.path, x.router);

  app.use('/api', (req, _res, next) => {
    next(
      new CallmapError('NOT_FOUND', `no such API endpoint: ${req.method} ${req.originalUrl.split('?')[0]}`, {
        status: 404,
      }),
    );
  });

  const web = opts.web === undefined ? webRouter() : opts.web;
  if (web) app.use('/', web);

  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
    if (isCallmapError(err)) {
      const retry = err.details?.['retryAfterSeconds'];
      if (typeof retry === 'number') res.setHeader('Retry-After', String(retry));
      const details = err.details ? { ...err.details } : undefined;
      res.status(err.status).json(errorBody(err.code, err.message, details));
      return;
    }
    if (e?.type === 'entity.too.large') {
      metrics.rejected('unknown', 'too-large');
      res
        .status(413)
        .json(
          errorBody(
            'BODY_TOO_LARGE',
            `request body larger than ${maxBody} bytes; send smaller batches (or raise --max-body)`,
            { limit: maxBody },
          ),
        );
      return;
    }
    if (e?.type === 'entity.parse.failed') {
      metrics.rejected('unknown', 'bad-json');
      res.status(400).json(errorBody('BAD_JSON', `request body is not valid JSON: ${e.message ?? ''}`.trim()));
      return;
    }
    if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
      metrics.rejected('unknown', 'unsupported-media-type');
      res.status(415).json(errorBody('UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported content encoding'));
      return;
    }
    const status = e?.status ?? e?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json(errorBody('BAD_REQUEST', e.message ?? 'bad request'));
      return;
    }
    log(`mapper: unexpected error on ${req.method} ${req.originalUrl}: ${(err as Error)?.stack ?? String(err)}`);
    res.status(500).json(errorBody('INTERNAL', 'internal error in the mapper; see its log'));
  });

  return {
    app,
    metrics,
    ingest,
    events,
    ready,
    beginShutdown() {
      shuttingDown = true;
      offChange();
      events.shutdown();
    },
  };
}
