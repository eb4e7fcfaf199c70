/**
 * Transport seam for talking to the mapper. `httpTransport` is the real one (undici);
 * `retryingTransport` wraps any Transport with jittered exponential backoff that honours
 * 429/503 Retry-After. Tests pass their own Transport or a real server URL.
 */
import type { Agent } from 'undici';
import { CallmapError } from '../contract/index.ts';

export interface TransportResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body: string;
}

export interface Transport {
  /** Sends one request. Rejects only on network-level failure (no HTTP response). */
  send(method: 'GET' | 'POST', path: string, body?: string, signal?: AbortSignal): Promise<TransportResponse>;
  close(): Promise<void>;
}

export interface HttpTransportOptions {
  /** Per-request timeout (headers + body), ms. */
  timeoutMs?: number;
}

export const DEFAULT_MAPPER_URL = 'http://localhost:9090';

/** option > env > default, validated. */
export function resolveMapperUrl(
  option: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const raw = option ?? env['CALLMAP_MAPPER_URL'] ?? DEFAULT_MAPPER_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CallmapError(
      'BAD_MAPPER_URL',
      `mapper URL ${JSON.stringify(raw)} is not a URL; use e.g. http://localhost:9090`,
      {
        status: 400,
      },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CallmapError('BAD_MAPPER_URL', `mapper URL must be http:// or https://, got ${JSON.stringify(raw)}`, {
      status: 400,
    });
  }
  return url.toString().replace(/\/+$/, '');
}

export function unreachable(baseUrl: string, cause: unknown): CallmapError {
  const why = (cause as { code?: string })?.code ?? (cause as Error)?.message ?? String(cause);
  return new CallmapError(
    'MAPPER_UNREACHABLE',
    `cannot reach the mapper at ${baseUrl} (${why}); start it with \`callmap mapper\` or point --mapper-url / CALLMAP_MAPPER_URL at it`,
    { status: 503, cause },
  );
}

/**
 * Real HTTP transport over undici. undici is loaded on the first request, not at import time, so
 * an idle reporter (a sniffer on a quiet node) does not carry its ~18 MB until it has something
 * to send.
 */
export function httpTransport(baseUrl: string, opts: HttpTransportOptions = {}): Transport {
  const timeout = opts.timeoutMs ?? 30_000;
  let undici: Promise<{ dispatcher: Agent; request: typeof import('undici').request }> | undefined;
  const load = () => {
    undici ??= import('undici').then((u) => ({
      dispatcher: new u.Agent({ headersTimeout: timeout, bodyTimeout: timeout, connections: 4 }),
      request: u.request,
    }));
    return undici;
  };
  return {
    async send(method, path, body, signal) {
      const { dispatcher, request } = await load();
      const res = await request(`${baseUrl}${path}`, {
        method,
        dispatcher,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
        ...(signal === undefined ? {} : { signal }),
      });
      const text = await res.body.text();
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(res.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers, body: text };
    },
    async close() {
      if (undici) await (await undici).dispatcher.close();
    },
  };
}

export interface RetryOptions {
  /** Attempts in total, including the first. */
  maxAttempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up once this much time has passed since the first attempt. */
  maxElapsedMs?: number;
  /** Seams for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Parses Retry-After (seconds or HTTP date) into ms, or undefined. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Waits `ms` or until `signal` aborts. The timer is deliberately NOT unref'd: a caller awaiting a
 * retry (a one-shot `--once` or `--pcap` run) must keep the process alive until delivery is done
 * or given up; daemons bound the wait with the signal (shutdown deadline) instead.
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', done);
      clearTimeout(t);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Retries network failures and retryable statuses (408/425/429/5xx). Returns the last response
 * (retryable or not) or rethrows the last network error once attempts or time run out.
 */
export function retryingTransport(inner: Transport, opts: RetryOptions = {}): Transport {
  const maxAttempts = opts.maxAttempts ?? 8;
  const initial = opts.initialDelayMs ?? 200;
  const maxDelay = opts.maxDelayMs ?? 10_000;
  const maxElapsed = opts.maxElapsedMs ?? 30_000;
  const doSleep = opts.sleep ?? sleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  return {
    async send(method, path, body, signal) {
      const started = now();
      for (let attempt = 1; ; attempt++) {
        let res: TransportResponse | undefined;
        let err: unknown;
        try {
          res = await inner.send(method, path, body, signal);
        } catch (e) {
          err = e;
        }
        if (res !== undefined && !RETRYABLE_STATUS.has(res.status)) return res;
        const elapsed = now() - started;
        if (attempt >= maxAttempts || elapsed >= maxElapsed || signal?.aborted) {
          if (res !== undefined) return res;
          throw err;
        }
        // Full jitter on the exponential step; Retry-After is a floor when the server gives one.
        const backoff = Math.min(maxDelay, initial * 2 ** (attempt - 1));
        let delay = Math.round(backoff / 2 + (random() * backoff) / 2);
        const ra = retryAfterMs(res?.headers['retry-after'], now());
        if (ra !== undefined) delay = Math.max(delay, Math.min(ra, maxDelay * 6));
        delay = Math.min(delay, Math.max(0, maxElapsed - elapsed));
        opts.onRetry?.({
          attempt,
          delayMs: delay,
          reason: res ? `HTTP ${res.status}` : String((err as { code?: string })?.code ?? err),
        });
        await doSleep(delay, signal);
      }
    },
    close: () => inner.close(),
  };
}
