import test from 'ava';
import { sleep } from '../../../mapper/client/index.ts';

test('sleep resolves after the delay (not before the timer fires)', async (t) => {
  let done = false;
  const p = sleep(20, new AbortController().signal).then(() => {
    done = true;
  });
  await Promise.resolve();
  t.false(done);
  await p;
  t.true(done);
});

test('sleep resolves at once on an aborted signal, and early when the signal aborts', async (t) => {
  const ac = new AbortController();
  ac.abort();
  await sleep(60_000, ac.signal);
  const ac2 = new AbortController();
  const p = sleep(60_000, ac2.signal);
  ac2.abort();
  await p;
  t.pass();
});
