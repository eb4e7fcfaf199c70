/**
 * Path and method clean-up for HTTP observations. Pure functions: query strings and fragments
 * are stripped, absolute-form request targets are reduced to their path, and (optionally) id-like
 * segments are collapsed to `{id}` so one busy API does not produce a million intents.
 */

/** The contract's upper bound for any string (mapper/contract LIMITS.stringLength). */
export const MAX_PATH_LENGTH = 2048;

const NUMERIC = /^\d+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** At least 8 hex characters with at least one digit (so `/deadbeef-words` or `/accepted` stay). */
const HEX_ID = /^(?=[a-f]*\d)[0-9a-f]{8,}$/i;

export type PathResult = { ok: true; path: string } | { ok: false; reason: 'no-path' | 'not-absolute' | 'too-long' };

/** Collapses numeric, UUID and long hex segments to `{id}`. `/orders/123/items` → `/orders/{id}/items`. */
export function templatePath(path: string): string {
  const segs = path.split('/');
  let changed = false;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    if (s.length > 0 && (NUMERIC.test(s) || UUID.test(s) || HEX_ID.test(s))) {
      segs[i] = '{id}';
      changed = true;
    }
  }
  return changed ? segs.join('/') : path;
}

/**
 * Normalises a raw `request_path` label value. Returns the clean path or why there is none.
 * `unknown`, empty and `*` (OPTIONS *) mean "no path"; `http://host/a?b` becomes `/a`.
 */
export function normalizePath(raw: string | undefined, template: boolean): PathResult {
  if (raw === undefined || raw === '' || raw === 'unknown' || raw === '-' || raw === '*') {
    return { ok: false, reason: 'no-path' };
  }
  let p = raw;
  const cut = firstOf(p, '?', '#');
  if (cut >= 0) p = p.slice(0, cut);
  if (!p.startsWith('/')) {
    // Absolute-form request target (proxies, CONNECT-less HTTP/1.1 to a forward proxy).
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(p);
    if (!m) return { ok: false, reason: 'not-absolute' };
    p = m[1] ?? '/';
  }
  if (template) p = templatePath(p);
  if (p.length > MAX_PATH_LENGTH) return { ok: false, reason: 'too-long' };
  return { ok: true, path: p };
}

function firstOf(s: string, a: string, b: string): number {
  const i = s.indexOf(a);
  const j = s.indexOf(b);
  if (i < 0) return j;
  if (j < 0) return i;
  return Math.min(i, j);
}

const METHOD = /^[A-Z]{1,16}$/;

/** Upper-cases a `request_method` value; `undefined` when absent, `unknown` or not a method token. */
export function normalizeMethod(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '' || raw === 'unknown') return undefined;
  const m = raw.toUpperCase();
  return METHOD.test(m) ? m : undefined;
}
