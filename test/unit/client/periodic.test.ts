import test from 'ava';
import { createPeriodic } from '../../../watchers/common/periodic.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('ticks never overlap even when a tick is slower than the interval', async (t) => {
  let active = 0;
  let maxActive = 0;
  const p = createPeriodic({
    intervalMs: 5,
    timeoutMs: 1000,
    run: async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await wait(30);
      active -= 1;
    },
  });
  p.start();
  p.start();
  await wait(150);
  await p.shutdown();
  t.is(maxActive, 1);
  t.true(p.ticks >= 2);
  t.is(active, 0, 'shutdown waited for the running tick');
});

test('a throwing tick is reported and the loop continues', async (t) => {
  const errors: unknown[] = [];
  let n = 0;
  const p = createPeriodic({
    intervalMs: 5,
    run: async () => {
      n += 1;
      if (n === 1) throw new Error('boom');
    },
    onError: (e) => {
      errors.push(e);
      throw new Error('handler also throws');
    },
  });
  p.start();
  await wait(60);
  await p.shutdown();
  t.is(errors.length, 1);
  t.is(p.failures, 1);
  t.true(n >= 2);
});

test('shutdown aborts the running tick through its signal and no tick runs afterwards', async (t) => {
  let aborted = false;
  let runs = 0;
  const p = createPeriodic({
    intervalMs: 10_000,
    run: (signal) =>
      new Promise<void>((resolve) => {
        runs += 1;
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        });
      }),
  });
  p.start();
  await wait(10);
  await p.shutdown();
  t.true(aborted);
  await p.runOnce();
  t.is(runs, 1);
});

test('runOnce runs a single tick immediately', async (t) => {
  let n = 0;
  const p = createPeriodic({ intervalMs: 60_000, run: async () => void n++ });
  await p.runOnce();
  await p.runOnce();
  t.is(n, 2);
  await p.shutdown();
});
