// The Istio addon's commit() return shape (edge ids, ADR 0053 "Edge ids", ADR 0054): [firstSeen,
// resets, changed ids, counts, server ids, ids of new edges, the slots of the Edges JS built for
// them, released ids]. Whatever the call order (a commit with another generation, the same
// generation twice, a page pushed and never committed, heavy churn), every changed id must be one JS
// adopted and not released since, an adopted id must not be held already and its slot must hold the
// record that made it, a released id must be held, and native memory must follow the live edges.
import test from 'ava';
import { requireAddon } from './addon.ts';

type Fn = (...a: unknown[]) => unknown;
type Addon = { loadIstio(): Record<string, Fn> };
type Commit = [number, number, Uint32Array, Float64Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

// Records by slot, as engine.ts keeps Edges: the slot is resolve's last argument.
const pending: string[] = [];
const resolve = (...a: unknown[]): unknown => {
  if (a[1] !== 'source') return -2;
  const rec = `0\u0001${a[2]}|${a[9]}`;
  pending[a[11] as number] = rec;
  return rec;
};
/** The record of a page line's path (what resolve returns for `request_path="/N"`). */
const recordOf = (path: string): string => `0\u0001w|${path}`;

test('istio commit(): ids consistent with what JS holds over any call order; memory follows live edges', (t) => {
  const I = requireAddon<Addon>(t, '@callmap/watchers-native')?.loadIstio();
  if (!I) return;
  const s = I.create?.();
  const held = new Map<number, string>();
  const commit = (gen: unknown): Commit => {
    const r = (I.commit as Fn)(s, gen) as Commit;
    t.is(r.length, 8);
    const [, , ids, counts, servers, adoptIds, slots, released] = r;
    t.true(ids instanceof Uint32Array && adoptIds instanceof Uint32Array && released instanceof Uint32Array);
    t.true(counts instanceof Float64Array && servers instanceof Uint32Array && slots instanceof Uint32Array);
    t.is(counts.length, ids.length);
    t.is(slots.length, adoptIds.length);
    for (const id of released) t.true(held.delete(id), `released ${id} was held`);
    for (const [k, id] of adoptIds.entries()) {
      t.false(held.has(id), `new ${id} not held`);
      const rec = pending[slots[k] as number];
      t.is(typeof rec, 'string', `slot ${slots[k]} filled`);
      held.set(id, rec as string);
    }
    pending.length = 0;
    for (const id of ids) t.true(held.has(id), `changed ${id} held`);
    t.is(new Set(held.values()).size, held.size, 'one record per held id');
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
  const recordsOf = (from: number, n: number): string[] =>
    Array.from({ length: n }, (_x, i) => recordOf(`/${from + i}`)).sort();
  let gen = feed(page(0, 200, 1));
  t.is(commit(gen)[5].length, 200);
  t.deepEqual([...held.values()].sort(), recordsOf(0, 200), 'each id adopted the record that made it');
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
  t.deepEqual([...held.values()].sort(), recordsOf(0, 3));
  t.is(held.size, 3);
  t.true((I.memory?.(s) as number) <= base, `${I.memory?.(s)} bytes for 3 edges (was ${base})`);
  I.destroy?.(s);
  t.throws(() => (I.commit as Fn)(s, gen));
});

test('istio slots: a resolve that throws mid-page fails that page only; the next page adopts each new edge with the record of its own slot, edgeAdd included', (t) => {
  const I = requireAddon<Addon>(t, '@callmap/watchers-native')?.loadIstio();
  if (!I) return;
  const s = I.create?.();
  t.teardown(() => I.destroy?.(s));
  const slots: string[] = [];
  let calls = 0;
  let throwAt = 3;
  const resolveSlots = (...a: unknown[]): unknown => {
    if (++calls === throwAt) throw new Error('projection failed');
    if (a[9] === '/skip') return -2;
    const rec = `0\u0001${a[2]}|${a[9]}`;
    slots[a[11] as number] = rec;
    return rec;
  };
  const line = (w: string, p: string, v: number) =>
    `istio_requests_total{reporter="source",source_workload="${w}",request_path="${p}"} ${v}\n`;
  const text = ['/a', '/skip', '/b', '/c', '/d'].map((p, i) => line('w', p, i + 1)).join('');
  let gen = I.begin?.(s, 3, 1 << 20, 0);
  t.throws(() => I.push?.(s, Buffer.from(text), resolveSlots, Number), { message: 'projection failed' });
  // never committed; the next page resolves the rest (edges made before the throw stay pending)
  throwAt = -1;
  gen = I.begin?.(s, 3, 1 << 20, 0);
  I.push?.(s, Buffer.from(text), resolveSlots, Number);
  const jsonSlot = (I.edgeAdd as Fn)(s, '0\u0001json|/j', 5);
  t.is(typeof jsonSlot, 'number');
  slots[jsonSlot as number] = '0\u0001json|/j';
  I.end?.(s, resolveSlots, Number);
  const [, , ids, counts, , adoptIds, adoptSlots] = (I.commit as Fn)(s, gen) as Commit;
  const held = new Map(Array.from(adoptIds, (id, k) => [id, slots[adoptSlots[k] as number]]));
  const got = Array.from(ids, (id, k) => `${held.get(id)}=${counts[k]}`).sort();
  t.deepEqual(got, ['0\u0001w|/a=1', '0\u0001w|/b=3', '0\u0001w|/c=4', '0\u0001w|/d=5', '0\u0001json|/j=5'].sort());
  t.is(adoptIds.length, 5, 'one adoption per live edge');
});
