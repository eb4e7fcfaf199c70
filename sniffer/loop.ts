/** A periodic task that never overlaps itself, cannot reject, keeps no process alive, and stops cleanly. */
export interface Periodic {
  /** Runs the task now (waiting for a running one first); resolves when it finished. */
  runNow(): Promise<void>;
  /** Stops scheduling and waits for a run in progress. */
  shutdown(): Promise<void>;
}

export function every(ms: number, task: () => Promise<void>, log: (line: string) => void): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = (): Promise<void> => {
    if (running) return running;
    running = (async () => {
      try {
        await task();
      } catch (e) {
        log(`callmap sniffer: periodic task failed: ${String((e as Error)?.message ?? e)}`);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void run().then(schedule);
    }, ms);
    timer.unref();
  };
  schedule();
  return {
    async runNow() {
      if (running) await running;
      await run();
    },
    async shutdown() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (running) await running;
    },
  };
}
