import test from 'ava';
import { UsageError } from '../../../mapper/cli/command.ts';
import { MAX_TIMER_MS, timerDuration } from '../../../watchers/common/flags.ts';

test('timerDuration: default, plain durations, and the 24-day timer limit', (t) => {
  t.is(timerDuration('interval', undefined, 30_000), 30_000);
  t.is(timerDuration('interval', '1m', 30_000), 60_000);
  t.is(timerDuration('interval', '24d', 30_000), 24 * 86_400_000);
  t.true(24 * 86_400_000 <= MAX_TIMER_MS);
  t.throws(() => timerDuration('interval', '25d', 30_000), {
    instanceOf: UsageError,
    message: '--interval must be at most 24d (timers hold at most 2^31-1 ms); got "25d"',
  });
  t.throws(() => timerDuration('interval', `${MAX_TIMER_MS + 1}ms`, 1), { instanceOf: UsageError });
  t.is(timerDuration('interval', `${MAX_TIMER_MS}ms`, 1), MAX_TIMER_MS);
  t.throws(() => timerDuration('interval', '0', 1), { message: /greater than zero/ });
});
