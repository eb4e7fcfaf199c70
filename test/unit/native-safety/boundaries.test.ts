// Chunk and line boundaries of the two watcher scanners: lines of exactly the cap (and one byte
// either side, with and without CR), markers and quotes at every offset of a 16/64-byte SIMD block,
// chunks ending at every byte, exact-size buffers (Buffer.allocUnsafeSlow: under AddressSanitizer a
// read past the end is reported). Results must not depend on the chunking or on the SIMD path.
import test from 'ava';
import { exact, requireAddon, splitAt } from './addon.ts';
import { type IstioCommit, istioRecords } from './istio-records.ts';

type Fn = (...a: unknown[]) => unknown;
type Addon = { loadKafka(): Record<string, Fn>; loadIstio(): Record<string, Fn> };

const MSG =
  'Principal = User:CN=a is Allowed Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t (kafka.authorizer.logger)';

function kafkaRun(K: Record<string, Fn>, chunks: Buffer[], max: number, scalar: boolean): string {
  const k = K.create?.(false, max, scalar);
  const c = new Float64Array(4);
  let counted = 0;
  let skipped = 0;
  const take = (r: unknown): void => {
    if (r === undefined) return;
    const [rows, , , , skips] = r as [Float64Array, Buffer, Float64Array, number, Float64Array];
    for (let i = 1; i < rows.length; i += 4) counted += rows[i] as number;
    for (const x of skips) skipped += x;
  };
  for (const b of chunks) {
    let off = 0;
    while (off < b.length) {
      const r = K.push?.(k, b, off, c) as number;
      if (r < b.length) take(K.flush?.(k, true));
      off = r;
    }
  }
  while (!K.end?.(k, c)) take(K.flush?.(k, true));
  take(K.flush?.(k, true));
  K.close?.(k);
  // which flush a decision lands in depends on the chunking; the totals must not
  return `${Array.from(c)}#${counted}#${skipped}`;
}

test('kafka: lines at the cap, markers at every block offset, every chunk end: same counters, scalar = AVX2', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const K = w.loadKafka();
  for (const max of [16, 63, 64, 65, 128, 200]) {
    const lines: string[] = [];
    for (let len = max - 2; len <= max + 2; len++)
      for (const cr of ['', '\r'])
        for (let pad = 0; pad < 70; pad += 5) {
          lines.push(`${' '.repeat(pad)}${MSG}`.slice(0, Math.max(0, len - cr.length)) + cr);
          lines.push(`${'x'.repeat(Math.max(0, len - 12 - cr.length))}Principal = ${cr}`.slice(-Math.max(1, len)));
        }
    const text = `${lines.join('\n')}\nPrincipal = tail`;
    const buf = Buffer.from(text);
    // expected counters from the text itself: lines (the tail counts at end()), lines over the cap
    const all = text.split('\n');
    const want = `${all.length},0,${all.filter((l) => Buffer.byteLength(l) > max).length},0`;
    const whole = kafkaRun(K, [exact(buf)], max, false);
    t.is(whole.split('#')[0], want, `max ${max}`);
    t.is(kafkaRun(K, [exact(buf)], max, true), whole, `max ${max}: scalar`);
    for (let cut = 1; cut < 160; cut++) {
      t.is(kafkaRun(K, splitAt(buf, [cut]), max, false), whole, `max ${max} cut ${cut}`);
      t.is(kafkaRun(K, splitAt(buf, [buf.length - cut]), max, false), whole, `max ${max} cut end-${cut}`);
    }
    for (let n = 0; n < 140; n++) kafkaRun(K, [exact(buf.subarray(0, n))], max, n % 2 === 0);
  }
});

function istioRun(I: Record<string, Fn>, chunks: Buffer[], max: number): string {
  const s = I.create?.();
  const gen = I.begin?.(s, 3, max, 0);
  const { resolve, adopt } = istioRecords((...a: unknown[]): unknown =>
    a[1] === 'source' ? `0\u0001${a[2]}|${a[9]}` : -2,
  );
  for (const c of chunks) I.push?.(s, c, resolve, Number);
  I.end?.(s, resolve, Number);
  const o = new Float64Array(10);
  I.stats?.(s, o);
  const r = (I.commit as Fn)(s, gen) as IstioCommit;
  I.destroy?.(s);
  const recs = adopt(r);
  return `${Array.from(o)}#${r[0]},${r[1]}#${recs.map((rec, i) => `${rec}=${r[3][i]}`).join(';')}`;
}

test('istio: quotes at every block offset, lines at the cap, every chunk end: same result, SSE2 = AVX2', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const I = w.loadIstio();
  const simd = I.simd?.() as string;
  try {
    for (const max of [0, 16, 63, 64, 65, 100, 1 << 20]) {
      let text = '';
      for (let i = 0; i < 40; i++)
        text += `${' '.repeat(i % 17)}istio_requests_total{reporter="source",source_workload="w${i}",request_path="/a\\"b\\\\c${'q'.repeat(i)}"} ${i}\nistio_tcp_connections_opened_total{a="${'"'.repeat(i % 5)}} 1\n${'"'.repeat(i)}\n`;
      const buf = Buffer.from(`${text}istio_requests_total{reporter="source",source_workload="tail"} 7`);
      I.simd?.('sse2');
      const want = istioRun(I, [exact(buf)], max);
      I.simd?.('avx2');
      t.is(istioRun(I, [exact(buf)], max), want, `max ${max}: ${I.simd?.()}`);
      for (let cut = 1; cut < 140; cut++) {
        t.is(istioRun(I, splitAt(buf, [cut]), max), want, `max ${max} cut ${cut}`);
        t.is(istioRun(I, splitAt(buf, [buf.length - cut]), max), want, `max ${max} cut end-${cut}`);
      }
      for (let n = 0; n < 200; n++) istioRun(I, [exact(buf.subarray(0, n))], max);
    }
  } finally {
    I.simd?.(simd);
  }
});
