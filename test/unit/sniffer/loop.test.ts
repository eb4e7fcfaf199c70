import test from 'ava';
import { every } from '../../../sniffer/loop.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('periodic task: never overlaps, survives a throwing task, shutdown waits for the run in progress', async (t) => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const logs: string[] = [];
  const loop = every(
    5,
    async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      await sleep(20);
      running--;
      if (runs === 2) throw new Error('boom');
    },
    (l) => logs.push(l),
  );
  await Promise.all([loop.runNow(), loop.runNow()]);
  await sleep(80);
  await loop.shutdown();
  t.is(running, 0);
  t.is(maxRunning, 1);
  t.true(runs >= 3);
  t.true(logs.some((l) => l.includes('boom')));
  const after = runs;
  await sleep(30);
  t.is(runs, after, 'no run after shutdown');
});
