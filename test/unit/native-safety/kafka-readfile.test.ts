// callmap_kafka readFile (the --log-file path: pread + scan on the thread pool): bad arguments
// throw, read errors reject with the errno code, and a handle with a read in flight refuses every
// call but flush() instead of racing the thread that scans.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { requireAddon } from './addon.ts';

type Kafka = {
  create(pod: boolean, max: number, scalar: boolean): unknown;
  push(h: unknown, b: Buffer, off: number, c: Float64Array): number;
  end(h: unknown, c: Float64Array): boolean;
  discard(h: unknown): number;
  heldBytes(h: unknown): number;
  flush(h: unknown, reset: boolean): unknown;
  close(h: unknown): void;
  readFile(h: unknown, fd: number, pos: number, max: number, c: Float64Array, ...rest: unknown[]): Promise<number[]>;
};
type Addon = { loadKafka(): Kafka };

const line =
  '[2024-05-01 12:00:00,000] INFO Principal = User:a is Allowed Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:t for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)\n';

function fixture(t: { teardown(f: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'callmap-kafka-readfile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.log');
  writeFileSync(path, text);
  return path;
}

test('kafka readFile: bad arguments throw a TypeError; a pod-mode or closed handle throws', (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const K = w.loadKafka();
  const h = K.create(false, 1024, false);
  const c = new Float64Array(4);
  for (const args of [
    [h, 0, 0, 10],
    [h, 0, 0, 10, new Float64Array(3)],
    [h, 0, 0, 10, new Uint8Array(32)],
    [h, -1, 0, 10, c],
    [h, 'x', 0, 10, c],
    [h, 0, -1, 10, c],
    [h, 0, Number.NaN, 10, c],
    [h, 0, 2 ** 60, 10, c],
    [h, 0, 0, -1, c],
    [h, 0, 0, 2 ** 40, c],
  ])
    t.throws(() => K.readFile(...(args as [unknown, number, number, number, Float64Array])), { instanceOf: TypeError });
  t.throws(() => K.readFile({}, 0, 0, 10, c), { instanceOf: TypeError, message: /kafka scanner handle/ });
  const pod = K.create(true, 1024, false);
  t.throws(() => K.readFile(pod, 0, 0, 10, c), { message: /only a file-mode scanner/ });
  K.close(pod);
  K.close(h);
  t.throws(() => K.readFile(h, 0, 0, 10, c), { message: /closed/ });
});

test('kafka readFile: read errors reject with the errno code (EBADF, EISDIR)', async (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const K = w.loadKafka();
  const h = K.create(false, 1024, false);
  const c = new Float64Array(4);
  const path = fixture(t, line);
  // a descriptor number far above any open one (a closed one could be reused meanwhile)
  await t.throwsAsync(K.readFile(h, 2_000_000_000, 0, 1 << 20, c), { code: 'EBADF' });
  const dirFd = openSync(join(path, '..'), 'r');
  await t.throwsAsync(K.readFile(h, dirFd, 0, 1 << 20, c), { code: 'EISDIR' });
  closeSync(dirFd);
  // the handle is usable afterwards
  const ok = openSync(path, 'r');
  t.deepEqual(await K.readFile(h, ok, 0, 1 << 20, c), [line.length, 1]);
  closeSync(ok);
  t.is(c[0], 1);
  K.close(h);
});

test('kafka readFile: while a read runs only flush() works; push, end, discard, readFile and close throw', async (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const K = w.loadKafka();
  const h = K.create(false, 1024, false);
  const c = new Float64Array(4);
  const path = fixture(t, line.repeat(20_000));
  const fd = openSync(path, 'r');
  t.teardown(() => closeSync(fd));
  const pending = K.readFile(h, fd, 0, 1 << 30, c, 4096);
  const busy = { message: /still running; await it first/ };
  t.throws(() => K.push(h, Buffer.from(line), 0, c), busy);
  t.throws(() => K.end(h, c), busy);
  t.throws(() => K.discard(h), busy);
  t.throws(() => K.heldBytes(h), busy);
  t.throws(() => K.readFile(h, fd, 0, 10, c), busy);
  t.throws(() => K.close(h), busy);
  K.flush(h, false); // waits for the buffer being scanned, never races it
  t.deepEqual(await pending, [line.length * 20_000, 1]);
  t.is(c[0], 20_000);
  t.true(K.end(h, c));
  K.close(h);
});

test('kafka readFile on two threads (splitMin): busy rules, flush during the read, odd split arguments', async (t) => {
  const w = requireAddon<Addon>(t, '@callmap/watchers-native');
  if (w === undefined) return;
  const K = w.loadKafka();
  const h = K.create(false, 1024, false);
  const c = new Float64Array(6);
  const path = fixture(t, line.repeat(20_000));
  const fd = openSync(path, 'r');
  t.teardown(() => closeSync(fd));
  const pending = K.readFile(h, fd, 0, 1 << 30, c, 4096, false, 1);
  t.throws(() => K.push(h, Buffer.from(line), 0, c), { message: /still running; await it first/ });
  K.flush(h, false); // the first half's table, under its lock; the second half is merged afterwards
  t.deepEqual(await pending, [line.length * 20_000, 1]);
  t.is(c[0], 20_000);
  t.is(c[4], 1, 'split');
  t.is(c[5], 1, 'merged');
  // split points outside the range, negative or NaN thresholds: one thread, same result
  for (const [min, at] of [
    [1, 2 ** 52],
    [1, 0],
    [-5, 10],
    [Number.NaN, Number.NaN],
    [2 ** 60, 3],
  ] as const) {
    const g = K.create(false, 1024, false);
    const cc = new Float64Array(6);
    t.deepEqual(await K.readFile(g, fd, 0, 1 << 30, cc, undefined, false, min, at), [line.length * 20_000, 1]);
    t.is(cc[0], 20_000);
    t.is(cc[4], 0, `no split for ${min} ${at}`);
    K.close(g);
  }
  // a bad descriptor still rejects with its errno code
  await t.throwsAsync(K.readFile(h, 2_000_000_000, 0, 1 << 20, c, undefined, false, 1), { code: 'EBADF' });
  t.true(K.end(h, c));
  K.close(h);
});
