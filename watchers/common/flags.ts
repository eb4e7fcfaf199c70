/** Flag helpers the watchers share on top of mapper/cli/args.ts. */
import { duration } from '../../mapper/cli/args.ts';
import { UsageError } from '../../mapper/cli/command.ts';

/** Node timers hold at most 2^31-1 ms; a longer delay silently becomes 1 ms (a hot loop). */
export const MAX_TIMER_MS = 2_147_483_647;

/** `duration()` for values that end up in a timer: longer than ~24.8 days is a usage error. */
export function timerDuration(flag: string, v: string | undefined, dfltMs: number): number {
  const ms = duration(flag, v, dfltMs);
  if (ms > MAX_TIMER_MS) {
    throw new UsageError(`--${flag} must be at most 24d (timers hold at most 2^31-1 ms); got ${JSON.stringify(v)}`);
  }
  return ms;
}
