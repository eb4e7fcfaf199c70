/**
 * Response cache for the read endpoints: rendered bodies keyed by the normalised query, valid
 * for one store version. Any committed change bumps the version and empties the cache, so a
 * response is never stale; repeated queries of an unchanged map cost a buffer write.
 */
export interface CachedBody {
  body: Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

export interface QueryCache {
  get(key: string, version: number, build: () => CachedBody): CachedBody;
  size(): number;
  bytes(): number;
}

/** At most `maxEntries` bodies and `maxBytes` bytes; a body larger than the budget is not kept. */
export function createQueryCache(maxEntries = 64, maxBytes = 64 * 1024 * 1024): QueryCache {
  let version = -1;
  let bytes = 0;
  const entries = new Map<string, CachedBody>();
  return {
    get(key, v, build) {
      if (v !== version) {
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
      if (fresh.body.length > maxBytes) return fresh;
      entries.set(key, fresh);
      bytes += fresh.body.length;
      while (entries.size > maxEntries || bytes > maxBytes) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        bytes -= entries.get(oldest.value)?.body.length ?? 0;
        entries.delete(oldest.value);
      }
      return fresh;
    },
    size: () => entries.size,
    bytes: () => bytes,
  };
}
