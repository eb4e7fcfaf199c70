/**
 * REST API for snapshots, mounted by the mapper app at `/api/v1/snapshots`. Errors are thrown as
 * CallmapError and rendered by the mapper's error middleware (ErrorBody JSON).
 */
import express, { type Request, type Router } from 'express';
import { CallmapError } from '../contract/index.ts';
import { diffBodies, snapshotMeta as meta } from './diff.ts';
import type { SnapshotStore } from './store.ts';
import type { Snapshot, SnapshotDiff } from './types.ts';

export const SNAPSHOTS_PATH = '/api/v1/snapshots';

/** Routes this router registers, as the OpenAPI document spells them. */
export const SNAPSHOT_ROUTES = [
  ['post', '/api/v1/snapshots'],
  ['get', '/api/v1/snapshots'],
  ['get', '/api/v1/snapshots/{id}'],
  ['get', '/api/v1/snapshots/{id}/diff'],
] as const;

const NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_NAMESPACES = 200;

const bad = (code: string, message: string): CallmapError => new CallmapError(code, message, { status: 400 });

/** Validates `{ namespaces?: string[] }`; pure. */
export function parseTakeRequest(body: unknown): { namespaces: string[] } {
  if (body === undefined || body === null) return { namespaces: [] };
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw bad(
      'BAD_SNAPSHOT_REQUEST',
      'send a JSON object like {"namespaces":["shop"]} (or no body) to take a snapshot',
    );
  }
  const ns = (body as { namespaces?: unknown }).namespaces;
  if (ns === undefined) return { namespaces: [] };
  if (!Array.isArray(ns) || ns.length > MAX_NAMESPACES) {
    throw bad('BAD_SNAPSHOT_REQUEST', `"namespaces" must be an array of at most ${MAX_NAMESPACES} namespace names`);
  }
  for (const n of ns) {
    if (typeof n !== 'string' || !NAMESPACE.test(n)) {
      throw bad(
        'BAD_SNAPSHOT_REQUEST',
        `"namespaces" holds ${JSON.stringify(n)}, which is not a Kubernetes namespace name`,
      );
    }
  }
  return { namespaces: ns as string[] };
}

/** `12` → 12; anything else is a 400 with a clear message. */
export function parseSnapshotId(v: unknown, what = 'snapshot id'): number {
  const s = typeof v === 'string' ? v : '';
  const n = /^[1-9][0-9]{0,15}$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw bad('BAD_SNAPSHOT_ID', `${what} must be a positive integer like 12; got ${JSON.stringify(v)}`);
  }
  return n;
}

export function parseLimit(v: unknown): number {
  if (v === undefined) return 100;
  const n = typeof v === 'string' && /^[0-9]{1,6}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw bad('BAD_QUERY', `limit must be an integer from 1 to 1000; got ${JSON.stringify(v)}`);
  }
  return n;
}

const notFound = (id: number): CallmapError =>
  new CallmapError(
    'SNAPSHOT_NOT_FOUND',
    `no snapshot ${id} (it was never taken or retention removed it); list them with GET /api/v1/snapshots`,
    { status: 404, details: { id } },
  );

/** Diff of `to` against `from` (null: no previous snapshot). */
export function snapshotDiff(from: Snapshot | null, to: Snapshot): SnapshotDiff {
  return { from: from ? meta(from) : null, to: meta(to), ...diffBodies(from, to) };
}

export function snapshotsRouter(store: SnapshotStore): Router {
  const r = express.Router();
  const json = express.json({ limit: '64kb', type: 'application/json', strict: false });

  r.post('/', json, (req: Request, res) => {
    const { namespaces } = parseTakeRequest(req.is('application/json') ? req.body : undefined);
    const snap = store.take({ namespaces, trigger: 'api' });
    res.status(201).setHeader('Location', `${SNAPSHOTS_PATH}/${snap.id}`);
    res.json(snap);
  });

  r.get('/', (req, res) => {
    res.status(200).json({ snapshots: store.list(parseLimit(req.query['limit'])) });
  });

  r.get('/:id', (req, res) => {
    const id = parseSnapshotId(req.params['id']);
    const snap = store.get(id);
    if (!snap) throw notFound(id);
    res.status(200).json(snap);
  });

  r.get('/:id/diff', (req, res) => {
    const id = parseSnapshotId(req.params['id']);
    const to = store.get(id);
    if (!to) throw notFound(id);
    const against = req.query['against'] ?? 'previous';
    let from: Snapshot | null;
    if (against === 'previous') {
      const prev = store.previous(id);
      from = prev ? (store.get(prev.id) ?? null) : null;
    } else {
      const fromId = parseSnapshotId(against, 'against');
      from = store.get(fromId) ?? null;
      if (!from) throw notFound(fromId);
    }
    res.status(200).json(snapshotDiff(from, to));
  });

  return r;
}
