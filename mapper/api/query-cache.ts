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
}

export function createQueryCache(maxEntries = 64): QueryCache {
  let version = -1;
  const entries = new Map<string, CachedBody>();
  return {
    get(key, v, build) {
      if (v !== version) {
        entries.clear();
        version = v;
      }
      const hit = entries.get(key);
      if (hit) {
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      const fresh = build();
      entries.set(key, fresh);
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
      return fresh;
    },
    size: () => entries.size,
  };
}
