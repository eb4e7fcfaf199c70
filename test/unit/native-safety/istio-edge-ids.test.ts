// The Istio addon's commit() return shape (edge ids, ADR 0053 "Edge ids"): [firstSeen, resets,
// changed ids, counts, server ids, new ids, their identities, released ids]. Whatever the call order
// (a commit with another generation, the same generation twice, a page pushed and never committed,
// heavy churn), every changed id must be one JS was handed and not released since, a new id must not
// be held already, a released id must be held, and native memory must follow the live edges.
import test from 'ava';
import { requireAddon } from './addon.ts';

type Fn = (...a: unknown[]) => unknown;
type Addon = { loadIstio(): Record<string, Fn> };
type Commit = [number, number, Uint32Array, Float64Array, Uint32Array, Uint32Array, string[], Uint32Array];

const resolve = (...a: unknown[]): unknown => (a[1] === 'source' ? `0\u0001${a[2]}|${a[9]}` : -2);

test('istio commit(): ids consistent with what JS holds over any call order; memory follows live edges', (t) => {
  const I = requireAddon<Addon>(t, '@callmap/watchers-native')?.loadIstio();
  if (!I) return;
  const s = I.create?.();
  const held = new Map<number, string>();
  const commit = (gen: unknown): Commit => {
    const r = (I.commit as Fn)(s, gen) as Commit;
    t.is(r.length, 8);
    const [, , ids, counts, servers, freshIds, fresh, released] = r;
    t.true(ids instanceof Uint32Array && freshIds instanceof Uint32Array && released instanceof Uint32Array);
    t.true(counts instanceof Float64Array && servers instanceof Uint32Array && Array.isArray(fresh));
    t.is(counts.length, ids.length);
    t.is(fresh.length, freshIds.length);
    for (const id of released) t.true(held.delete(id), `released ${id} was held`);
    for (const [k, id] of freshIds.entries()) {
      t.false(held.has(id), `new ${id} not held`);
      t.is(typeof fresh[k], 'string');
      held.set(id, fresh[k] as string);
    }
    for (const id of ids) t.true(held.has(id), `changed ${id} held`);
    return r;
  };
  const page = (from: number, n: number, v: number): Buffer =>
    Buffer.from(
      Array.from(
        { length: n },
        (_x, i) => `istio_requests_total{reporter="source",source_workload="w",request_path="/${from + i}"} ${v}\n`,
      ).join(''),
    );
  const feed = (b: Buffer): unknown => {
    const gen = I.begin?.(s, 3, 1 << 20, 0);
    I.push?.(s, b, resolve, Number);
    I.end?.(s, resolve, Number);
    return gen;
  };
  let gen = feed(page(0, 200, 1));
  t.is(commit(gen)[5].length, 200);
  t.is(commit(gen)[2].length, 0); // the same generation again: nothing changed, nothing new
  gen = feed(page(0, 200, 2));
  t.is(commit((gen as number) + 1)[7].length, 200); // another generation: every edge is forgotten
  t.is(held.size, 0);
  gen = feed(page(0, 200, 3));
  t.is(commit(gen)[5].length, 200); // handed over again, on reused ids
  t.true(Math.max(...held.keys()) < 400);
  feed(page(5000, 300, 1)); // never committed
  const base = I.memory?.(s) as number;
  for (let r = 0; r < 40; r++) {
    gen = feed(page(r * 37, 200 + (r % 5) * 40, r + 5));
    commit(gen);
    t.true(Math.max(...held.keys()) < 200 + 300 + 160, `ids stay below the peak live count (round ${r})`);
  }
  gen = feed(page(0, 3, 99));
  commit(gen);
  t.is(held.size, 3);
  t.true((I.memory?.(s) as number) <= base, `${I.memory?.(s)} bytes for 3 edges (was ${base})`);
  I.destroy?.(s);
  t.throws(() => (I.commit as Fn)(s, gen));
});
