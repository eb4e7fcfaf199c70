/**
 * A periodic loop that never overlaps, never rejects, unrefs its timer and can be shut down.
 * Modelled on OpenTelemetry's PeriodicExportingMetricReader: the next tick is scheduled only
 * after the current one settles, and `shutdown()` waits for a running tick.
 */
export interface PeriodicOptions {
  intervalMs: number;
  /** One tick. Receives a signal that aborts on shutdown or when the tick exceeds `timeoutMs`. */
  run: (signal: AbortSignal) => Promise<void>;
  /** Called with any error a tick throws; the loop continues. */
  onError?: (e: unknown) => void;
  /** Abort a tick that runs longer than this (default: the interval). */
  timeoutMs?: number;
}

export interface Periodic {
  start(): void;
  /** Runs one tick now (waiting for a running one first). Never rejects. */
  runOnce(): Promise<void>;
  shutdown(): Promise<void>;
  readonly ticks: number;
  readonly failures: number;
}

export function createPeriodic(opts: PeriodicOptions): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let started = false;
  let ticks = 0;
  let failures = 0;
  const stop = new AbortController();
  const onError = opts.onError ?? (() => {});

  const tick = async (): Promise<void> => {
    const ac = new AbortController();
    const onStop = () => ac.abort();
    stop.signal.addEventListener('abort', onStop, { once: true });
    const t = setTimeout(() => ac.abort(), opts.timeoutMs ?? opts.intervalMs);
    t.unref();
    try {
      ticks += 1;
      await opts.run(ac.signal);
    } catch (e) {
      failures += 1;
      try {
        onError(e);
      } catch {
        // an error handler that throws must not kill the loop
      }
    } finally {
      clearTimeout(t);
      stop.signal.removeEventListener('abort', onStop);
    }
  };

  const runOnce = async (): Promise<void> => {
    while (running) await running;
    if (stopped) return;
    running = tick();
    try {
      await running;
    } finally {
      running = undefined;
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      runOnce().then(schedule, schedule);
    }, opts.intervalMs);
    timer.unref();
  };

  return {
    start() {
      if (started || stopped) return;
      started = true;
      runOnce().then(schedule, schedule);
    },
    runOnce,
    async shutdown() {
      stopped = true;
      if (timer) clearTimeout(timer);
      stop.abort();
      while (running) await running;
    },
    get ticks() {
      return ticks;
    },
    get failures() {
      return failures;
    },
  };
}
