// Argument edge cases of the watcher addons: out-of-range numbers and wrong callback types are
// handled as documented (clamped, or a thrown error), never by undefined behaviour or silence.
import test from 'ava';
import { requireAddon } from './addon.ts';

type Kafka = {
  create(pod: boolean, max: number, scalar: boolean): unknown;
  push(h: unknown, b: Buffer, off: number, c: Float64Array): number;
  close(h: unknown): void;
};
type Addon = { loadKafka(): Kafka; loadIstio(): Record<string, (...a: unknown[]) => unknown> };

test('kafka push: an offset past the end (huge, Infinity) reads nothing; negative or NaN reads from 0', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const K = w.loadKafka();
  const buf = Buffer.from('abc\nPrincipal = x\n');
  const lines = (off: number): [number, number] => {
    const k = K.create(false, 1024, false);
    const c = new Float64Array(4);
    const r = K.push(k, buf, off, c);
    K.close(k);
    return [r, c[0] as number];
  };
  for (const off of [buf.length, buf.length + 1, 1e300, 2 ** 64, Number.POSITIVE_INFINITY])
    t.deepEqual(lines(off), [buf.length, 0], `offset ${off}`);
  for (const off of [0, -1, Number.NEGATIVE_INFINITY, Number.NaN])
    t.deepEqual(lines(off), [buf.length, 2], `offset ${off}`);
  t.deepEqual(lines(4), [buf.length, 1]);
});

test('istio push/end: a chunk that is not a Buffer, or callbacks that are not functions, throw (no line silently lost)', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const I = w.loadIstio();
  const s = I.create?.();
  I.begin?.(s, 3, 1 << 20, 0);
  const page = Buffer.from('istio_requests_total{reporter="source"} 0x10\nistio_requests_total{reporter="source"} 1\n');
  const skip = (): number => -2;
  t.throws(() => I.push?.(s, page, 'not a function', Number), { instanceOf: TypeError });
  t.throws(() => I.push?.(s, page, skip, undefined), { instanceOf: TypeError });
  t.throws(() => I.push?.(s, 'not a buffer', skip, Number), { instanceOf: TypeError });
  t.throws(() => I.end?.(s, skip, null), { instanceOf: TypeError });
  // nothing was consumed by the refused calls: the page parses whole afterwards
  I.push?.(s, page, skip, Number);
  I.end?.(s, skip, Number);
  const o = new Float64Array(10);
  I.stats?.(s, o);
  t.is(o[0], 2);
  I.destroy?.(s);
});

test('istio begin: a maxLine of Infinity or beyond 2^32 means "no practical limit", not 0 (every line too long)', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const I = w.loadIstio();
  const skip = (): number => -2;
  for (const max of [Number.POSITIVE_INFINITY, 1e300, 2 ** 64, 2 ** 33, 1 << 20]) {
    const s = I.create?.();
    I.begin?.(s, 3, max, 0);
    I.push?.(s, Buffer.from('istio_requests_total{reporter="source"} 1\n'), skip, Number);
    I.end?.(s, skip, Number);
    const o = new Float64Array(10);
    I.stats?.(s, o);
    t.deepEqual([o[0], o[2]], [1, 0], `maxLine ${max}: parsed, not too long`);
    I.destroy?.(s);
  }
});
