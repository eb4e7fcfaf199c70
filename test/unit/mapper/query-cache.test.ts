import test from 'ava';
import { createQueryCache } from '../../../mapper/api/query-cache.ts';
import { ChunkWriter, type JsonBody } from '../../../mapper/store/index.ts';

const body = (n: number) => ({ body: Buffer.alloc(n), contentType: 'application/json' });

test('the cache serves a body until the store version changes', (t) => {
  const c = createQueryCache();
  let builds = 0;
  const build = () => {
    builds++;
    return body(10);
  };
  c.get('a', 1, build);
  c.get('a', 1, build);
  t.is(builds, 1);
  c.get('a', 2, build);
  t.is(builds, 2);
  t.is(c.size(), 1);
});

test('the cache keeps to its entry and byte budgets and skips oversized bodies', (t) => {
  const c = createQueryCache(2, 100);
  c.get('a', 1, () => body(40));
  c.get('b', 1, () => body(40));
  c.get('c', 1, () => body(40));
  t.is(c.size(), 2);
  t.is(c.bytes(), 80);
  c.get('big', 1, () => body(500));
  t.is(c.size(), 2);
  t.is(c.bytes(), 80);
  c.get('d', 1, () => body(90));
  t.is(c.size(), 1);
  t.is(c.bytes(), 90);
});

test('chunked bodies are retained while cached and released when the version changes or they are evicted', (t) => {
  const c = createQueryCache(1, 1 << 30);
  const w = new ChunkWriter();
  w.write('x'.repeat(10));
  const a = w.end();
  let released = 0;
  const orig = a.release.bind(a);
  a.release = () => {
    released++;
    orig();
  };
  c.get('a', 1, () => ({ body: a, contentType: 'application/json' }));
  t.is(released, 0);
  c.get('b', 1, () => body(1)); // evicts a (one entry)
  t.is(released, 1);
  c.get('a', 2, () => ({ body: a, contentType: 'application/json' }));
  c.get('x', 3, () => body(1)); // new version: a released again
  t.is(released, 2);
});

test('a large body asked with keepLarge false is not kept, but shared while a response holds it', (t) => {
  const c = createQueryCache(8, 1 << 30, 100);
  let builds = 0;
  const chunked = (n: number) => () => {
    builds++;
    const w = new ChunkWriter();
    w.write('x'.repeat(n));
    return { body: w.end(), contentType: 'application/json' };
  };
  const first = c.get('big', 1, chunked(500), false);
  t.is(c.size(), 0);
  t.is(c.bytes(), 0);
  t.is(builds, 1);
  const held = first.body as JsonBody;
  held.retain(); // a response is sending it
  t.is(c.get('big', 1, chunked(500), false), first);
  t.is(builds, 1);
  held.release(); // sent: the next request builds it again
  t.not(c.get('big', 1, chunked(500), false), first);
  t.is(builds, 2);
  // Small bodies and keepLarge true are cached as before.
  c.get('small', 1, chunked(50), false);
  c.get('kept', 1, chunked(500), true);
  t.is(c.size(), 2);
  c.get('kept', 1, chunked(500), true);
  t.is(builds, 4);
  // A new store version forgets the body in flight.
  const again = c.get('big', 1, chunked(500), false);
  (again.body as JsonBody).retain();
  c.get('big', 2, chunked(500), false);
  t.is(builds, 6);
});
