/**
 * Scraping proxies' stats pages over HTTP with undici: bounded concurrency, a per-pod deadline
 * (AbortSignal), a body-size cap, and a failure reason for every page that could not be read.
 * A slow, dead or failing pod only costs its own slot; the others keep going.
 */
import { createReadStream } from 'node:fs';
import { type Dispatcher, request } from 'undici';

export const SCRAPE_FAILURES = [
  'timeout',
  'connect',
  'http-status',
  'too-large',
  'bad-page',
  'aborted',
  'error',
] as const;
export type ScrapeFailure = (typeof SCRAPE_FAILURES)[number];

/** Where one page comes from: a URL (pods, --stats-url) or a file (--stats-file). */
export type PageSource = { kind: 'url'; url: string } | { kind: 'file'; path: string };

export interface ScrapeOptions {
  timeoutMs: number;
  maxBodyBytes: number;
  dispatcher?: Dispatcher;
  /** Aborts everything (shutdown, tick deadline). */
  signal?: AbortSignal;
}

export type ScrapeOutcome = { ok: true; bytes: number } | { ok: false; reason: ScrapeFailure; detail: string };

class PageTooLarge extends Error {}

/**
 * Streams one page into `onChunk`. Never rejects: every failure comes back as a reason.
 * `onChunk` may be called before a failure; the caller discards what it built in that case.
 */
export async function scrapePage(
  source: PageSource,
  onChunk: (chunk: Buffer) => void,
  opts: ScrapeOptions,
): Promise<ScrapeOutcome> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  let bytes = 0;
  const take = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > opts.maxBodyBytes) throw new PageTooLarge();
    onChunk(chunk);
  };
  try {
    if (source.kind === 'file') {
      for await (const chunk of createReadStream(source.path, { signal, highWaterMark: 1 << 16 }))
        take(chunk as Buffer);
      return { ok: true, bytes };
    }
    const res = await request(source.url, {
      method: 'GET',
      signal,
      headers: { accept: 'text/plain;version=0.0.4, application/json;q=0.5, */*;q=0.1' },
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    });
    if (res.statusCode < 200 || res.statusCode > 299) {
      await res.body.dump().catch(() => undefined);
      return { ok: false, reason: 'http-status', detail: `HTTP ${res.statusCode}` };
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
      res.body.destroy();
      return { ok: false, reason: 'too-large', detail: `content-length ${declared} > ${opts.maxBodyBytes}` };
    }
    try {
      for await (const chunk of res.body) take(chunk as Buffer);
    } catch (e) {
      res.body.destroy();
      throw e;
    }
    return { ok: true, bytes };
  } catch (e) {
    if (e instanceof PageTooLarge) {
      return { ok: false, reason: 'too-large', detail: `more than ${opts.maxBodyBytes} bytes` };
    }
    if (opts.signal?.aborted) return { ok: false, reason: 'aborted', detail: 'shutting down' };
    if (deadline.aborted)
      return { ok: false, reason: 'timeout', detail: `no complete page within ${opts.timeoutMs} ms` };
    const code = (e as { code?: string })?.code ?? '';
    const raw = (e as Error)?.message ?? String(e);
    const msg = code !== '' && raw.startsWith(code) ? raw.slice(code.length).replace(/^[:\s]+/, '') : raw;
    if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|UND_ERR_CONNECT|ECONNRESET/.test(code)) {
      return { ok: false, reason: 'connect', detail: `${code} ${msg}`.trim() };
    }
    return { ok: false, reason: 'error', detail: `${code} ${msg}`.trim() };
  }
}

/** Runs `work` over `items` with at most `limit` in flight. Never rejects if `work` never rejects. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
