/**
 * HTTP front of the Kubernetes API test server: discovery, list/get/watch, create/replace/delete,
 * pod logs, and the `/_callmap/*` control API. Speaks JSON only (clients that also accept
 * protobuf fall back to JSON, as they do against real servers for CRDs).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallmapError } from '../../mapper/contract/index.ts';
import { parseFixture, validateObject } from './fixture.ts';
import { openApiDocument, openApiIndex } from './openapi.ts';
import { applyPatch } from './patch.ts';
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersionOf,
  fieldValue,
  GROUP_VERSIONS,
  type KubeObject,
  type ResourceDef,
  resolveResource,
  resourceByPath,
} from './resources.ts';
import {
  type FieldRequirement,
  type LabelRequirement,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';
import {
  BadRequestError,
  formatLogTime,
  type KubeStore,
  NotFoundError,
  parseTimeNs,
  type StoreEvent,
} from './store.ts';
import { tableFor, wantsTable } from './table.ts';

/** An open long-running response (watch or log follow) that the server can end or break. */
export interface OpenStream {
  kind: 'watch' | 'log';
  /** Ends the response cleanly (final chunk). */
  end(): void;
  /** Destroys the connection without a final chunk (what a crashed server or proxy looks like). */
  abort(): void;
}

/** A streaming response that `end()`s cleanly or `abort()`s like a crashed server; both run `cleanup` first. */
function openStream(kind: OpenStream['kind'], res: ServerResponse, cleanup: () => void): OpenStream {
  return {
    kind,
    end: () => {
      cleanup();
      if (!res.writableEnded) res.end();
    },
    abort: () => {
      cleanup();
      res.socket?.destroy();
      res.destroy();
    },
  };
}

export interface HandlerOptions {
  store: KubeStore;
  streams: Set<OpenStream>;
  bookmarkIntervalMs: number;
  gitVersion: string;
  /** Called by POST /_callmap/break-watches. */
  breakWatches: (mode: 'abort' | 'end') => number;
}

const MAX_BODY = 10 * 1024 * 1024;

const STATUS_REASON: Record<number, string> = {
  400: 'BadRequest',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  500: 'InternalError',
};

export function statusObject(
  code: number,
  message: string,
  details?: Record<string, unknown>,
  reason?: string,
): Record<string, unknown> {
  const s: Record<string, unknown> = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reason ?? STATUS_REASON[code] ?? 'Unknown',
    code,
  };
  if (details) s.details = details;
  return s;
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(
  res: ServerResponse,
  code: number,
  message: string,
  details?: Record<string, unknown>,
  reason?: string,
): void {
  sendJson(res, code, statusObject(code, message, details, reason));
}

function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) {
    return Promise.reject(
      new CallmapError('KUBE_BODY_TOO_LARGE', `request body of ${declared} bytes is over the ${MAX_BODY}-byte limit`, {
        status: 413,
      }),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new CallmapError('KUBE_BODY_TOO_LARGE', `request body over ${MAX_BODY} bytes`, { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Where a REST path points once the group/version prefix is stripped. */
interface Target {
  resource: ResourceDef;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

function parseTarget(group: string, version: string, rest: string[]): Target | undefined {
  const [a, b, c, d, e, ...more] = rest;
  if (more.length > 0 || a === undefined) return undefined;
  if (a === 'namespaces' && b !== undefined && c !== undefined) {
    const r = resourceByPath(group, version, c);
    if (r?.namespaced) return { resource: r, namespace: b, name: d, subresource: e };
    if (d === undefined && e === undefined) {
      // /api/v1/namespaces/{name}/{subresource} of the Namespace itself.
      const ns = resourceByPath(group, version, 'namespaces');
      if (ns) return { resource: ns, namespace: undefined, name: b, subresource: c };
    }
    return undefined;
  }
  const r = resourceByPath(group, version, a);
  if (!r || d !== undefined || e !== undefined) return undefined;
  if (r.namespaced && b !== undefined) return undefined;
  return { resource: r, namespace: undefined, name: b, subresource: c };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequestError(`malformed percent-encoding in path segment ${JSON.stringify(s)}`);
  }
}

const resourceLabel = (r: ResourceDef) => (r.group === '' ? r.plural : `${r.plural}.${r.group}`);

/** Creates the request listener. Errors never escape: every failure becomes a Status. */
export function createHandler(opts: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(req, res, opts).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof CallmapError && e.status < 500) {
        sendStatus(res, e.status, e.message, e.details as Record<string, unknown> | undefined);
      } else {
        sendStatus(res, 500, `internal error: ${(e as Error).message}`);
      }
    });
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HandlerOptions): Promise<void> {
  let url: URL;
  try {
    // Prefix rather than resolve: a request target like `//x` must stay a path, not a host.
    url = new URL(`http://localhost${(req.url ?? '/').startsWith('/') ? req.url : `/${req.url}`}`);
  } catch {
    throw new BadRequestError(`malformed request target ${JSON.stringify(req.url)}`);
  }
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  if (path.startsWith('/_callmap/')) return control(req, res, url, path, opts);
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeSegment);

  if (method === 'GET') {
    switch (path) {
      case '/healthz':
      case '/livez':
      case '/readyz':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      case '/version':
        return sendJson(res, 200, versionInfo(opts.gitVersion));
      case '/api':
        return sendJson(res, 200, {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }],
        });
      case '/apis':
        return sendJson(res, 200, apiGroupList());
      case '/openapi/v3':
        return sendJson(res, 200, openApiIndex());
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiDocument(segs.slice(2).join('/'));
      if (doc) return sendJson(res, 200, doc);
      return sendStatus(res, 404, 'the server could not find the requested resource');
    }
  }

  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs[1] !== undefined) {
    group = '';
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs[1] !== undefined) {
    group = segs[1];
    if (segs[2] === undefined) {
      const g = apiGroup(group);
      if (g && method === 'GET') return sendJson(res, 200, g);
      return sendStatus(res, 404, 'the server could not find the requested resource');
    }
    version = segs[2];
    rest = segs.slice(3);
  } else {
    return sendStatus(res, 404, 'the server could not find the requested resource');
  }
  if (!GROUP_VERSIONS.some((gv) => gv.group === group && gv.version === version)) {
    return sendStatus(res, 404, 'the server could not find the requested resource');
  }
  if (rest.length === 0) {
    if (method !== 'GET') return sendStatus(res, 405, `method ${method} not allowed`);
    return sendJson(res, 200, apiResourceList(group, version));
  }
  const target = parseTarget(group, version, rest);
  if (!target) return sendStatus(res, 404, 'the server could not find the requested resource');
  const { resource, namespace, name, subresource } = target;

  if (subresource !== undefined) {
    if (subresource === 'log' && resource.kind === 'Pod' && name !== undefined && method === 'GET') {
      return podLog(req, res, url, opts, namespace ?? 'default', name);
    }
    if (subresource === 'status' && name !== undefined && method === 'GET') {
      return getOne(req, res, opts, resource, namespace, name);
    }
    return sendStatus(res, 404, 'the server could not find the requested resource');
  }

  switch (method) {
    case 'GET': {
      if (name !== undefined) {
        if (isWatch(url)) {
          // Old-style watch of one object: same as a list watch with a name field selector.
          return watch(req, res, url, opts, resource, namespace, name);
        }
        return getOne(req, res, opts, resource, namespace, name);
      }
      if (isWatch(url)) return watch(req, res, url, opts, resource, namespace, undefined);
      return list(req, res, url, opts, resource, namespace);
    }
    case 'POST':
    case 'PUT': {
      if ((method === 'POST') !== (name === undefined)) {
        return sendStatus(res, 405, `method ${method} not allowed on this path`);
      }
      const objs = parseFixture(await readBody(req), 'request body');
      const [obj] = objs;
      if (objs.length !== 1 || obj === undefined)
        throw new BadRequestError('request body must hold exactly one object');
      if (apiVersionOf(resource) !== obj.apiVersion || resource.kind !== obj.kind) {
        throw new BadRequestError(`body is ${obj.apiVersion} ${obj.kind}, but the path is for ${resource.kind}`);
      }
      if (name !== undefined && obj.metadata.name !== name) {
        throw new BadRequestError(`metadata.name ${obj.metadata.name} does not match the name in the path (${name})`);
      }
      if (resource.namespaced && namespace !== undefined) {
        if (obj.metadata.namespace && obj.metadata.namespace !== namespace) {
          throw new BadRequestError(
            'the namespace of the provided object does not match the namespace sent on the request',
          );
        }
        obj.metadata.namespace = namespace;
      }
      const exists = opts.store.get(resource, obj.metadata.namespace ?? 'default', obj.metadata.name) !== undefined;
      if (method === 'POST' && exists) {
        return sendStatus(
          res,
          409,
          `${resourceLabel(resource)} "${obj.metadata.name}" already exists`,
          { name: obj.metadata.name, kind: resource.plural },
          'AlreadyExists',
        );
      }
      if (method === 'PUT') {
        const current = opts.store.get(resource, obj.metadata.namespace ?? '', obj.metadata.name);
        if (!current) throw new NotFoundError(resourceLabel(resource), obj.metadata.name);
        checkResourceVersion(resource, current, obj);
      }
      return sendJson(res, method === 'POST' ? 201 : 200, opts.store.apply(obj));
    }
    case 'PATCH': {
      if (name === undefined) return sendStatus(res, 405, 'PATCH needs an object name in the path');
      const current = opts.store.get(resource, namespace ?? '', name);
      if (!current) throw new NotFoundError(resourceLabel(resource), name);
      const patched = applyPatch(current, req.headers['content-type'], await readBody(req));
      const obj = validateObject(patched, 'patched object');
      if (obj.apiVersion !== current.apiVersion || obj.kind !== current.kind) {
        throw new BadRequestError('a patch cannot change apiVersion or kind');
      }
      if (
        obj.metadata.name !== current.metadata.name ||
        (obj.metadata.namespace ?? '') !== (current.metadata.namespace ?? '')
      ) {
        throw new BadRequestError('a patch cannot change metadata.name or metadata.namespace');
      }
      checkResourceVersion(resource, current, obj);
      return sendJson(res, 200, opts.store.apply(obj));
    }
    case 'DELETE': {
      if (name === undefined) return sendStatus(res, 405, 'collection delete is not supported by the test server');
      const removed = opts.store.remove(resource, namespace ?? '', name);
      if (!removed) throw new NotFoundError(resourceLabel(resource), name);
      return sendJson(res, 200, removed);
    }
    default:
      return sendStatus(res, 405, `method ${method} not allowed`);
  }
}

/** Optimistic concurrency: a stale metadata.resourceVersion in a write is a 409 Conflict. */
function checkResourceVersion(resource: ResourceDef, current: KubeObject, next: KubeObject): void {
  const want = next.metadata.resourceVersion;
  if (want === undefined || want === '' || want === current.metadata.resourceVersion) return;
  throw new CallmapError(
    'KUBE_CONFLICT',
    `Operation cannot be fulfilled on ${resourceLabel(resource)} "${current.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
    { status: 409, details: { name: current.metadata.name, kind: resource.plural } },
  );
}

export function versionInfo(gitVersion: string): Record<string, string> {
  const m = /^v(\d+)\.(\d+)/.exec(gitVersion);
  return {
    major: m?.[1] ?? '1',
    minor: m?.[2] ?? '32',
    gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.23.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

const isWatch = (url: URL) => {
  const w = url.searchParams.get('watch');
  return w === 'true' || w === '1';
};

interface Selectors {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

function selectors(url: URL, resource: ResourceDef, name: string | undefined): Selectors {
  const labels = parseLabelSelector(url.searchParams.get('labelSelector') ?? '');
  const fields = parseFieldSelector(url.searchParams.get('fieldSelector') ?? '', Object.keys(resource.fields));
  if (name !== undefined) fields.push({ field: 'metadata.name', op: '=', value: name });
  return { labels, fields };
}

function matcher(resource: ResourceDef, sel: Selectors): (o: KubeObject) => boolean {
  return (o) =>
    matchLabels(sel.labels, o.metadata.labels) &&
    matchFields(sel.fields, (field) => {
      if (field === 'metadata.name') return o.metadata.name;
      if (field === 'metadata.namespace') return o.metadata.namespace ?? '';
      const get = resource.fields[field];
      return get ? get(o) : fieldValue(o, field);
    });
}

function getOne(
  req: IncomingMessage,
  res: ServerResponse,
  opts: HandlerOptions,
  resource: ResourceDef,
  namespace: string | undefined,
  name: string,
): void {
  const obj = opts.store.get(resource, namespace ?? '', name);
  if (!obj) throw new NotFoundError(resourceLabel(resource), name);
  const rv = String(obj.metadata.resourceVersion);
  sendJson(res, 200, wantsTable(req.headers.accept) ? tableFor(resource, [obj], rv, opts.store.now()) : obj);
}

function list(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  opts: HandlerOptions,
  resource: ResourceDef,
  namespace: string | undefined,
): void {
  const match = matcher(resource, selectors(url, resource, undefined));
  const items = opts.store.list(resource, namespace).filter(match);
  const rv = String(opts.store.resourceVersion);
  if (wantsTable(req.headers.accept)) {
    sendJson(res, 200, tableFor(resource, items, rv, opts.store.now()));
    return;
  }
  sendJson(res, 200, {
    kind: `${resource.kind}List`,
    apiVersion: apiVersionOf(resource),
    metadata: { resourceVersion: rv },
    items,
  });
}

function nonNegativeInt(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v))
    throw new BadRequestError(`${name}: Invalid value: ${JSON.stringify(v)}: must be a non-negative integer`);
  return Number(v);
}

function watch(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  opts: HandlerOptions,
  resource: ResourceDef,
  namespace: string | undefined,
  name: string | undefined,
): void {
  const { store } = opts;
  const match = matcher(resource, selectors(url, resource, name));
  const rvParam = url.searchParams.get('resourceVersion') ?? '';
  const timeoutSeconds = nonNegativeInt(url, 'timeoutSeconds');
  const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
  const initialEventsEnd = url.searchParams.get('sendInitialEvents') === 'true';
  if (rvParam !== '' && !/^\d+$/.test(rvParam)) {
    throw new BadRequestError(`resourceVersion: Invalid value: ${JSON.stringify(rvParam)}: must be an integer`);
  }
  const inScope = (e: StoreEvent) =>
    e.resource === resource && (namespace === undefined || e.object.metadata.namespace === namespace);

  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();
  const asTable = wantsTable(req.headers.accept);
  const write = (type: string, object: unknown) => {
    if (res.writableEnded || res.destroyed) return;
    // kubectl get -w asks for Table: each object event then carries a one-row Table.
    const o =
      asTable && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
        ? tableFor(
            resource,
            [object as KubeObject],
            String((object as KubeObject).metadata.resourceVersion),
            store.now(),
          )
        : object;
    res.write(`${JSON.stringify({ type, object: o })}\n`);
  };
  const bookmark = (annotations?: Record<string, string>) =>
    write('BOOKMARK', {
      kind: resource.kind,
      apiVersion: apiVersionOf(resource),
      metadata: annotations
        ? { resourceVersion: String(store.resourceVersion), annotations }
        : { resourceVersion: String(store.resourceVersion) },
    });

  /** Converts a store event into what this watcher sees, given its selectors. */
  const deliver = (e: StoreEvent) => {
    if (!inScope(e)) return;
    const now = match(e.object);
    const before = e.previous !== undefined && match(e.previous);
    if (e.type === 'ADDED') {
      if (now) write('ADDED', e.object);
    } else if (e.type === 'DELETED') {
      if (now || before) write('DELETED', e.object);
    } else if (now && before) write('MODIFIED', e.object);
    else if (now) write('ADDED', e.object);
    else if (before) write('DELETED', e.object);
  };

  if (rvParam === '' || rvParam === '0') {
    for (const o of store.list(resource, namespace)) if (match(o)) write('ADDED', o);
    if (bookmarks && initialEventsEnd) bookmark({ 'k8s.io/initial-events-end': 'true' });
  } else {
    const replay = store.eventsSince(Number(rvParam));
    if (replay === undefined) {
      write('ERROR', statusObject(410, `too old resource version: ${rvParam} (${store.minResourceVersion})`));
      res.end();
      return;
    }
    for (const e of replay) deliver(e);
  }

  const unsubscribe = store.subscribe(deliver);
  const timers: NodeJS.Timeout[] = [];
  if (bookmarks) {
    const t = setInterval(() => bookmark(), opts.bookmarkIntervalMs);
    t.unref();
    timers.push(t);
  }
  const stream = openStream('watch', res, () => cleanup());
  if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
    const t = setTimeout(() => stream.end(), timeoutSeconds * 1000);
    t.unref();
    timers.push(t);
  }
  function cleanup() {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    opts.streams.delete(stream);
  }
  opts.streams.add(stream);
  res.on('close', cleanup);
}

function podLog(
  _req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  opts: HandlerOptions,
  namespace: string,
  podName: string,
): void {
  const { store } = opts;
  const podRes = resolveResource('pods') as ResourceDef;
  const pod = store.get(podRes, namespace, podName);
  if (!pod) throw new NotFoundError('pods', podName);
  const container = store.resolveContainer(pod, url.searchParams.get('container') ?? undefined);
  const q = url.searchParams;
  if (q.get('previous') === 'true') {
    throw new BadRequestError(`previous terminated container "${container}" in pod "${podName}" not found`);
  }
  const follow = q.get('follow') === 'true' || q.get('follow') === '1';
  const timestamps = q.get('timestamps') === 'true' || q.get('timestamps') === '1';
  const tailLines = nonNegativeInt(url, 'tailLines');
  const limitBytes = nonNegativeInt(url, 'limitBytes');
  const sinceSeconds = nonNegativeInt(url, 'sinceSeconds');
  const sinceTimeRaw = q.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTimeRaw) {
    throw new BadRequestError('at most one of sinceTime or sinceSeconds may be specified');
  }
  if (sinceSeconds === 0) throw new BadRequestError('sinceSeconds: Invalid value: 0: must be greater than 0');
  let sinceNs: bigint | undefined;
  if (sinceTimeRaw) {
    sinceNs = parseTimeNs(sinceTimeRaw);
    if (sinceNs === undefined) {
      throw new BadRequestError(`sinceTime: Invalid value: ${JSON.stringify(sinceTimeRaw)}: must be RFC3339`);
    }
  } else if (sinceSeconds !== undefined) {
    sinceNs = (BigInt(store.now()) - BigInt(sinceSeconds) * 1000n) * 1_000_000n;
  }
  let lines = store.logs(namespace, podName, container);
  if (sinceNs !== undefined) {
    const s = sinceNs;
    lines = lines.filter((l) => l.timeNs >= s);
  }
  if (tailLines !== undefined) lines = tailLines === 0 ? [] : lines.slice(-tailLines);

  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  let budget = limitBytes ?? Number.POSITIVE_INFINITY;
  /** Writes one line; returns false once limitBytes is used up. */
  const writeLine = (timeNs: bigint, text: string): boolean => {
    if (res.writableEnded || res.destroyed) return false;
    let out = timestamps ? `${formatLogTime(timeNs)} ${text}\n` : `${text}\n`;
    if (Buffer.byteLength(out) > budget) out = Buffer.from(out).subarray(0, budget).toString('utf8');
    budget -= Buffer.byteLength(out);
    if (out.length > 0) res.write(out);
    return budget > 0;
  };
  for (const l of lines) {
    if (!writeLine(l.timeNs, l.text)) {
      res.end();
      return;
    }
  }
  if (!follow) {
    res.end();
    return;
  }
  const unsubLogs = store.subscribeLogs((a) => {
    if (a.namespace !== namespace || a.pod !== podName || a.container !== container) return;
    if (!writeLine(a.line.timeNs, a.line.text)) stream.end();
  });
  const unsubPods = store.subscribe((e) => {
    // The stream ends when the pod goes away, as it does when a container terminates.
    if (e.type === 'DELETED' && e.resource === podRes && e.object.metadata.namespace === namespace) {
      if (e.object.metadata.name === podName) stream.end();
    }
  });
  const stream = openStream('log', res, () => cleanup());
  function cleanup() {
    unsubLogs();
    unsubPods();
    opts.streams.delete(stream);
  }
  opts.streams.add(stream);
  res.on('close', cleanup);
}

// --- control API ---------------------------------------------------------------------------------

async function control(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  path: string,
  opts: HandlerOptions,
): Promise<void> {
  const { store } = opts;
  const method = req.method ?? 'GET';
  if (path === '/_callmap/healthz' && method === 'GET') {
    return sendJson(res, 200, { ok: true, resourceVersion: String(store.resourceVersion) });
  }
  if (method !== 'POST') return sendStatus(res, 405, `${path} accepts POST only`);
  if (path === '/_callmap/apply') {
    const objs = parseFixture(await readBody(req), 'request body');
    const applied = objs.map((o) => store.apply(o));
    return sendJson(res, 200, {
      applied: applied.map((o) => ({
        kind: o.kind,
        namespace: o.metadata.namespace,
        name: o.metadata.name,
        resourceVersion: o.metadata.resourceVersion,
      })),
    });
  }
  if (path === '/_callmap/remove') {
    const body = (await readBody(req)).trim();
    let spec: Record<string, unknown> = {};
    if (body !== '') {
      try {
        spec = JSON.parse(body) as Record<string, unknown>;
      } catch {
        throw new BadRequestError('remove: body must be JSON {"kind":"Pod","namespace":"shop","name":"web-1"}');
      }
    }
    const pick = (k: string) => {
      const v = spec[k] ?? url.searchParams.get(k) ?? undefined;
      return typeof v === 'string' ? v : undefined;
    };
    const kind = pick('kind');
    const name = pick('name');
    if (!kind || !name) throw new BadRequestError('remove: kind and name are required (JSON body or query parameters)');
    const resource = resolveResource(kind);
    if (!resource) throw new BadRequestError(`remove: unknown kind ${JSON.stringify(kind)}`);
    const removed = store.remove(resource, pick('namespace') ?? 'default', name);
    if (!removed) throw new NotFoundError(resourceLabel(resource), name);
    return sendJson(res, 200, removed);
  }
  const logMatch = /^\/_callmap\/logs\/([^/]+)\/([^/]+)$/.exec(path);
  if (logMatch) {
    const text = await readBody(req);
    const time = url.searchParams.get('time') ?? undefined;
    const n = store.appendLog(
      decodeSegment(logMatch[1] ?? ''),
      decodeSegment(logMatch[2] ?? ''),
      url.searchParams.get('container') ?? undefined,
      text,
      time,
    );
    return sendJson(res, 200, { appended: n });
  }
  if (path === '/_callmap/break-watches') {
    const mode = url.searchParams.get('mode') === 'end' ? 'end' : 'abort';
    return sendJson(res, 200, { broken: opts.breakWatches(mode) });
  }
  if (path === '/_callmap/expire-history') {
    store.expireHistory();
    return sendJson(res, 200, { resourceVersion: String(store.resourceVersion) });
  }
  return sendStatus(res, 404, `unknown control endpoint ${path}`);
}
