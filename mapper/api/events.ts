/**
 * Server-Sent Events for `GET /api/v1/events`: `map-changed` with `{"count":n,"at":ms}`, at most
 * one per throttle window (trailing: the last change in a window is always announced), comment
 * heartbeats, and a clean close of every stream on shutdown.
 */
import type { Request, Response } from 'express';

export interface EventHubOptions {
  throttleMs?: number;
  heartbeatMs?: number;
  clock?: () => number;
  /** Current number of intents, sent as `count`. */
  count: () => number;
  onClientsChanged?: (n: number) => void;
}

export interface EventHub {
  /** Express handler for GET /api/v1/events. */
  handle(req: Request, res: Response): void;
  /** Tell the hub the map changed (throttled). */
  notify(): void;
  clients(): number;
  /** Ends every stream and stops the timers. */
  shutdown(): void;
}

export function createEventHub(opts: EventHubOptions): EventHub {
  const throttleMs = opts.throttleMs ?? 1000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const clock = opts.clock ?? Date.now;
  const streams = new Set<Response>();
  let lastSent = 0;
  let pending: NodeJS.Timeout | undefined;
  let closed = false;

  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': ping\n\n');
  }, heartbeatMs);
  heartbeat.unref();

  const changed = (): void => opts.onClientsChanged?.(streams.size);

  function send(): void {
    pending = undefined;
    if (closed) return;
    lastSent = clock();
    const data = JSON.stringify({ count: opts.count(), at: lastSent });
    for (const res of streams) res.write(`event: map-changed\ndata: ${data}\n\n`);
  }

  return {
    handle(req, res) {
      if (closed) {
        res
          .status(503)
          .json({ error: { code: 'SHUTTING_DOWN', message: 'the mapper is shutting down; reconnect later' } });
        return;
      }
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      res.write('retry: 2000\n: connected\n\n');
      streams.add(res);
      changed();
      req.on('close', () => {
        streams.delete(res);
        changed();
      });
    },
    notify() {
      if (closed || pending !== undefined || streams.size === 0) return;
      const wait = Math.max(0, lastSent + throttleMs - clock());
      pending = setTimeout(send, wait);
      pending.unref();
    },
    clients: () => streams.size,
    shutdown() {
      closed = true;
      clearInterval(heartbeat);
      if (pending) clearTimeout(pending);
      pending = undefined;
      for (const res of streams) res.end();
      streams.clear();
      changed();
    },
  };
}
