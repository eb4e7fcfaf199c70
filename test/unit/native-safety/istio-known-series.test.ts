// The Istio reader's known-series fast path (ADR 0053) at its boundaries: a second scrape of the
// same page compares each line against the stored key segments, 64 (AVX-512, AVX2) or 16 (SSE2)
// bytes at a time, reading up to 63 bytes past a segment when the chunk has room for it, and byte by byte near
// a chunk's end. Keys of segments around every block size, keys ending at every distance from the
// chunk end, chunks cut at every byte, exact-size buffers (Buffer.allocUnsafeSlow: under
// AddressSanitizer a read past the end is reported). Results must equal a fresh source's (full
// walk) whatever the chunking and SIMD path, and the fast path must really be taken.
import test from 'ava';
import { exact, requireAddon, splitAt } from './addon.ts';
import { type IstioCommit, type IstioRecords, istioRecords } from './istio-records.ts';

type Fn = (...a: unknown[]) => unknown;
type Addon = { loadIstio(): Record<string, Fn> };

const decide = (...a: unknown[]): unknown => (a[1] === 'source' ? `0\u0001${a[2]}|${a[9]}` : -2);

/** Per source: the records JS holds by native edge id (istio-records.ts). */
const records = new WeakMap<object, IstioRecords>();

/** One scrape of `chunks` into source `s`: page counts, known-series lines and the committed deltas. */
function scrape(I: Record<string, Fn>, s: unknown, chunks: Buffer[], max: number): { out: string; known: number } {
  const rec = records.get(s as object) ?? istioRecords(decide);
  records.set(s as object, rec);
  const gen = I.begin?.(s, 3, max, 0);
  for (const c of chunks) I.push?.(s, c, rec.resolve, Number);
  I.end?.(s, rec.resolve, Number);
  const o = new Float64Array(11);
  I.stats?.(s, o);
  const r = (I.commit as Fn)(s, gen) as IstioCommit;
  // commit() names changed edges by id; JS adopted their records when they were new.
  const recs = rec.adopt(r);
  const out = `${Array.from(o.subarray(0, 10))}#${r[0]},${r[1]}#${recs.map((x, i) => `${x}=${r[3][i]}`).join(';')}`;
  return { out, known: o[10] as number };
}

test('istio known series: segments around 16/32/64/255 bytes, keys ending at every distance from the chunk end, every cut: one result whatever the cut and SIMD path, read by the fast path', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const I = w.loadIstio();
  const simd = I.simd?.() as string;
  try {
    let text = '';
    for (let i = 0; i < 30; i++) {
      // label values of 0..300 bytes: segments straddle every block size and the 255-byte entry
      // length (longer ones are looked up); `}` and escapes inside
      const v = `${'v'.repeat((i * 37) % 301)}${i % 3 === 0 ? '}' : ''}${i % 4 === 0 ? '\\"' : ''}`;
      text += `istio_requests_total{reporter="source",source_workload="w${i % 4}",x="${v}",request_path="/p${i}"} ${i}\n`;
    }
    const page = Buffer.from(text);
    // The same series with other values (first scrape learns, second reads them by the fast path).
    const later = Buffer.from(text.replace(/\} (\d+)\n/g, (_m, n: string) => `} ${Number(n) * 2 + 1}\n`));
    for (const max of [64, 200, 1 << 20]) {
      I.simd?.('sse2');
      const fresh = I.create?.();
      scrape(I, fresh, [exact(page)], max);
      const want = scrape(I, fresh, [exact(later)], max);
      I.destroy?.(fresh);
      for (const mode of ['sse2', 'avx2', 'avx512'] as const) {
        I.simd?.(mode);
        const cuts: number[] = [later.length];
        for (let c = 1; c < later.length; c += c < 300 ? 1 : 13) cuts.push(c);
        for (let c = 1; c < 140; c++) cuts.push(later.length - c);
        for (const cut of cuts) {
          const s = I.create?.();
          scrape(I, s, [exact(page)], max);
          const got = scrape(I, s, splitAt(later, [cut]), max);
          t.is(got.out, want.out, `${I.simd?.()} max ${max} cut ${cut}`);
          if (max === 1 << 20) t.is(got.known, 30, `fast path, ${I.simd?.()} cut ${cut}`);
          // the page cut short there: a partial last line (its key may be whole) read at end()
          scrape(I, s, [exact(later.subarray(0, cut))], max);
          I.destroy?.(s);
        }
      }
    }
  } finally {
    I.simd?.(simd);
  }
});

test('istio known series: a key that matches up to the chunk end, then differs in the next chunk, takes the full walk', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const I = w.loadIstio();
  const line = (p: string, n: number): string =>
    `istio_requests_total{reporter="source",source_workload="w",request_path="${p}"} ${n}\n`;
  const a = Buffer.from(line('/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1));
  const b = Buffer.from(line('/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', 5));
  for (let cut = 1; cut < b.length; cut++) {
    const s = I.create?.();
    scrape(I, s, [exact(a)], 1 << 20);
    const r = scrape(I, s, splitAt(b, [cut]), 1 << 20);
    const fresh = I.create?.();
    const want = scrape(I, fresh, [exact(b)], 1 << 20);
    t.is(r.out, want.out, `cut ${cut}`);
    t.is(r.known, 0, `cut ${cut}`);
    I.destroy?.(s);
    I.destroy?.(fresh);
  }
});
