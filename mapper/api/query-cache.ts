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
  get(key: string, version: number, build: () => CachedBody): CachedBody;
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

/** At most `maxEntries` bodies and `maxBytes` bytes; a body larger than the budget is not kept. */
export function createQueryCache(maxEntries = 64, maxBytes = 64 * 1024 * 1024): QueryCache {
  let version = -1;
  let bytes = 0;
  const entries = new Map<string, CachedBody>();
  return {
    get(key, v, build) {
      if (v !== version) {
        // Only one store version is ever held: the old bodies are released at once.
        for (const e of entries.values()) release(e);
        entries.clear();
        bytes = 0;
        version = v;
      }
      const hit = entries.get(key);
      if (hit) {
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      const fresh = build();
      const n = bodyLength(fresh);
      if (n > maxBytes) return fresh;
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
