import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { LineScanner } from '../../../watchers/kafka/lines.ts';
import { KafkaLineProcessor } from '../../../watchers/kafka/processor.ts';
import { KafkaStats } from '../../../watchers/kafka/stats.ts';

const corpus = readFileSync(new URL('../../fixtures/kafka/corpus.log', import.meta.url));

function collect(chunks: Buffer[], all: boolean, end: 'end' | 'discard' = 'end', maxLineBytes?: number) {
  const lines: string[] = [];
  let tooLong = 0;
  const s = new LineScanner(
    { line: (l) => lines.push(l), tooLong: () => tooLong++ },
    { all, ...(maxLineBytes === undefined ? {} : { maxLineBytes }) },
  );
  for (const c of chunks) s.push(c);
  const held = s.heldBytes;
  if (end === 'end') s.end();
  else s.discard();
  return { lines, tooLong, count: s.lines, held };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

test('all mode: every line once, the partial last line only at end()', (t) => {
  const text = corpus.toString('utf8');
  const whole = text.split('\n');
  const r = collect([corpus], true);
  t.deepEqual(r.lines, whole);
  t.is(r.count, whole.length);
  t.true(r.held > 0, 'the corpus ends with a partial line that is held until end');
  const d = collect([corpus], true, 'discard');
  t.deepEqual(d.lines, whole.slice(0, -1), 'discard() drops the partial line');
});

test('marker mode delivers exactly the lines holding the marker and counts all lines', (t) => {
  const whole = corpus.toString('utf8').split('\n');
  const r = collect([corpus], false);
  t.deepEqual(
    r.lines,
    whole.filter((l) => l.includes('Principal = ')),
  );
  t.is(r.count, whole.length);
});

test('fuzz: splitting the corpus at random points gives identical lines (both modes)', (t) => {
  const refAll = collect([corpus], true).lines;
  const refMarked = collect([corpus], false).lines;
  fc.assert(
    fc.property(fc.array(fc.nat({ max: corpus.length }), { maxLength: 40 }), (cuts) => {
      const chunks = splitAt(corpus, cuts);
      const a = collect(chunks, true);
      const m = collect(chunks, false);
      return (
        JSON.stringify(a.lines) === JSON.stringify(refAll) && JSON.stringify(m.lines) === JSON.stringify(refMarked)
      );
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('fuzz: single-byte chunks and multi-byte UTF-8 split mid-character', (t) => {
  const text = Buffer.from('[2024-05-01 12:00:00,000] INFO Principal = User:CN=Zoë,O=Ünïcode is Allowed x\nnext ✓\n');
  const bytes = [...text].map((b) => Buffer.from([b]));
  t.deepEqual(collect(bytes, true).lines, text.toString('utf8').split('\n').slice(0, -1));
  fc.assert(
    fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 10 }), (cuts) => {
      return JSON.stringify(collect(splitAt(text, cuts), true).lines) === JSON.stringify(collect([text], true).lines);
    }),
  );
});

test('CRLF line endings are stripped', (t) => {
  t.deepEqual(collect([Buffer.from('a\r\nb\r\n')], true).lines, ['a', 'b']);
});

test('over-long lines are dropped and reported, the next line still parses', (t) => {
  const long = `Principal = ${'x'.repeat(300)}`;
  const buf = Buffer.from(`${long}\nshort Principal = y\n`);
  for (const chunks of [[buf], splitAt(buf, [10, 100, 200, 310]), [...buf].map((b) => Buffer.from([b]))]) {
    const r = collect(chunks, false, 'end', 100);
    t.deepEqual(r.lines, ['short Principal = y']);
    t.is(r.tooLong, 1);
    t.is(r.count, 2);
  }
});

test('memory held for a partial line is bounded by the line limit', (t) => {
  const s = new LineScanner({ line: () => {} }, { all: true, maxLineBytes: 1000 });
  for (let i = 0; i < 100; i++) s.push(Buffer.alloc(500, 0x41));
  t.true(s.heldBytes <= 1000);
});

test('processor results are identical whatever the chunking', (t) => {
  const run = (chunks: Buffer[], fast = true) => {
    const stats = new KafkaStats();
    const p = new KafkaLineProcessor({ serverPod: { name: 'kafka-0', namespace: 'k' }, stats, now: () => 1e12 });
    const s = new LineScanner(
      fast
        ? { line: (l) => p.line(l), marked: (b, st, q, e) => p.marked(b, st, q, e), tooLong: () => p.tooLong() }
        : { line: (l) => p.line(l), tooLong: () => p.tooLong() },
      { all: !fast },
    );
    for (const c of chunks) s.push(c);
    s.end();
    return JSON.stringify({ obs: p.drain(), stats: stats.snapshot() });
  };
  const ref = run([corpus], false);
  t.is(run([corpus]), ref, 'byte fast path and string path agree');
  fc.assert(
    fc.property(
      fc.array(fc.nat({ max: corpus.length }), { maxLength: 30 }),
      (cuts) => run(splitAt(corpus, cuts)) === ref,
    ),
    { numRuns: 200 },
  );
  t.pass();
});
