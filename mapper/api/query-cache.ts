/**
 * Response cache for the read endpoints: rendered bodies keyed by the normalised query, valid
 * for one store version. Any committed change bumps the version and empties the cache, so a
 * response is never stale; repeated queries of an unchanged map cost a buffer write.
 */
import type { JsonBody } from '../store/intents.ts';

export interface CachedBody {
  /** One Buffer, or a chunked body (written in order; reference-counted, see JsonBody). */
  body: Buffer | JsonBody;
  contentType: string;
  headers?: Record<string, string>;
}

export interface QueryCache {
  /**
   * The body for `key` at store `version`, built when missing. With `keepLarge` false, a body over
   * the large-body limit is not kept after its responses (ADR 0038): it is shared only with the
   * requests that arrive while it is still being sent, then rebuilt on demand.
   */
  get(key: string, version: number, build: () => CachedBody, keepLarge?: boolean): CachedBody;
  size(): number;
  bytes(): number;
}

const release = (c: CachedBody): void => {
  if (!Buffer.isBuffer(c.body)) c.body.release();
};

/** Bytes of a cached body. */
export function bodyLength(c: CachedBody): number {
  return c.body.length;
}

/** Bodies over this size asked with `keepLarge: false` are not cached (default shapes, ADR 0038). */
export const LARGE_BODY_BYTES = 4 * 1024 * 1024;

/**
 * At most `maxEntries` bodies and `maxBytes` bytes; a body larger than the budget is not kept.
 * A body that is not kept is still shared while a response holds it (chunked bodies only).
 */
export function createQueryCache(
  maxEntries = 64,
  maxBytes = 64 * 1024 * 1024,
  largeBytes = LARGE_BODY_BYTES,
): QueryCache {
  let version = -1;
  let bytes = 0;
  const entries = new Map<string, CachedBody>();
  /** Bodies not kept, by key, usable while some response still holds them. */
  const inFlight = new Map<string, CachedBody>();
  return {
    get(key, v, build, keepLarge = true) {
      if (v !== version) {
        // Only one store version is ever held: the old bodies are released at once.
        for (const e of entries.values()) release(e);
        entries.clear();
        inFlight.clear();
        bytes = 0;
        version = v;
      }
      const hit = entries.get(key);
      if (hit) {
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      const sending = inFlight.get(key);
      if (sending !== undefined) {
        if (!Buffer.isBuffer(sending.body) && sending.body.held) return sending;
        inFlight.delete(key);
      }
      const fresh = build();
      const n = bodyLength(fresh);
      if (n > maxBytes || (!keepLarge && n > largeBytes)) {
        if (!Buffer.isBuffer(fresh.body)) inFlight.set(key, fresh);
        return fresh;
      }
      if (!Buffer.isBuffer(fresh.body)) fresh.body.retain();
      entries.set(key, fresh);
      bytes += n;
      while (entries.size > maxEntries || bytes > maxBytes) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        const old = entries.get(oldest.value);
        bytes -= old ? bodyLength(old) : 0;
        if (old) release(old);
        entries.delete(oldest.value);
      }
      return fresh;
    },
    size: () => entries.size,
    bytes: () => bytes,
  };
}
