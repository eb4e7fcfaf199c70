/**
 * Webhook delivery of the JSON report: POST with jittered exponential backoff (the mapper client's
 * retrying transport: network errors, 408/425/429/5xx, Retry-After honoured). The snapshot is
 * already stored in the mapper, so a failed delivery loses nothing but the notification.
 */
import { httpTransport, type RetryOptions, retryingTransport, type Transport } from '../client/index.ts';
import { CallmapError } from '../contract/index.ts';

export interface WebhookOptions {
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** Per-attempt timeout, ms (default 10 s). */
  timeoutMs?: number;
  /** Give up after this long in total, ms (default 60 s). */
  maxElapsedMs?: number;
  signal?: AbortSignal;
  onRetry?: RetryOptions['onRetry'];
  /** Seam for tests: builds the transport for an origin. */
  transport?: (origin: string, timeoutMs: number) => Transport;
  sleep?: RetryOptions['sleep'];
}

export interface WebhookResult {
  status: number;
  attempts: number;
}

/** Validates a webhook URL (http/https, no credentials in logs); returns it parsed. */
export function parseWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CallmapError(
      'BAD_WEBHOOK_URL',
      `--webhook ${JSON.stringify(raw)} is not a URL; use e.g. https://hooks.example.com/callmap`,
      {
        status: 400,
      },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CallmapError(
      'BAD_WEBHOOK_URL',
      `--webhook must be an http:// or https:// URL; got ${JSON.stringify(raw)}`,
      {
        status: 400,
      },
    );
  }
  return url;
}

/** The URL without user info or query, for messages. */
export const redactUrl = (u: URL): string => `${u.protocol}//${u.host}${u.pathname}`;

export async function postWebhook(url: URL, json: string, opts: WebhookOptions = {}): Promise<WebhookResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const inner = (opts.transport ?? ((o, t) => httpTransport(o, { timeoutMs: t })))(url.origin, timeoutMs);
  let attempts = 1;
  const t = retryingTransport(inner, {
    maxAttempts: (opts.retries ?? 4) + 1,
    initialDelayMs: 250,
    maxDelayMs: 5_000,
    maxElapsedMs: opts.maxElapsedMs ?? 60_000,
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    onRetry: (info) => {
      attempts = info.attempt + 1;
      opts.onRetry?.(info);
    },
  });
  try {
    let res: Awaited<ReturnType<Transport['send']>>;
    try {
      res = await t.send('POST', `${url.pathname}${url.search}`, json, opts.signal);
    } catch (e) {
      const why = (e as { code?: string })?.code ?? (e as Error)?.message ?? String(e);
      throw new CallmapError(
        'WEBHOOK_FAILED',
        `webhook ${redactUrl(url)} unreachable after ${attempts} attempt(s) (${why}); the snapshot is kept in the mapper`,
        { cause: e, details: { attempts } },
      );
    }
    if (res.status < 200 || res.status >= 300) {
      throw new CallmapError(
        'WEBHOOK_FAILED',
        `webhook ${redactUrl(url)} answered HTTP ${res.status} after ${attempts} attempt(s); the snapshot is kept in the mapper`,
        { details: { attempts, status: res.status } },
      );
    }
    return { status: res.status, attempts };
  } finally {
    await t.close();
  }
}
