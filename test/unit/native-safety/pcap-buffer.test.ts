// The batch buffer handed to open()/openOffline() is kept by the capture; if JavaScript detaches
// its ArrayBuffer (a structuredClone/postMessage transfer), the memory moves or is freed. The
// capture must notice and fail with an error instead of writing packets into freed memory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { buildTcpSyn, writePcap } from '../../../sniffer/index.ts';
import { requireAddon } from './addon.ts';

type Pcap = {
  openOffline(file: string, filter: string, buf: Buffer, cb: (bytes: number, count: number) => void): unknown;
  dispatch(h: unknown): number;
  close(h: unknown): void;
};
type Addon = Pcap;
const dir = mkdtempSync(join(tmpdir(), 'callmap-pcap-buffer-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function savefile(name: string, n: number): string {
  const file = join(dir, name);
  const data = buildTcpSyn({ clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 1 });
  writePcap(
    file,
    Array.from({ length: n }, (_, i) => ({ data, time: i })),
  );
  return file;
}

test('a batch buffer detached before dispatch: dispatch throws CAPTURE, nothing is written', (t) => {
  const P = requireAddon<Addon>(t, '@callmap/pcap');
  if (P === undefined) return;
  const buf = Buffer.alloc(4096);
  let batches = 0;
  const h = P.openOffline(savefile('before.pcap', 50), '', buf, () => {
    batches++;
  });
  const moved = structuredClone(buf.buffer, { transfer: [buf.buffer] });
  t.is(buf.length, 0, 'detached');
  const err = t.throws(() => P.dispatch(h)) as Error & { code?: string };
  t.is(err.code, 'CAPTURE');
  t.regex(err.message, /detached/);
  t.is(batches, 0);
  t.true(
    new Uint8Array(moved).every((b) => b === 0),
    'the moved memory was not written either',
  );
  P.close(h);
});

test('a batch buffer detached by the callback mid-dispatch: no later batch, the next dispatch throws', (t) => {
  const P = requireAddon<Addon>(t, '@callmap/pcap');
  if (P === undefined) return;
  const buf = Buffer.alloc(256); // one record per batch: many batches in one dispatch
  let batches = 0;
  let moved: ArrayBuffer | undefined;
  const h = P.openOffline(savefile('during.pcap', 50), '', buf, () => {
    batches++;
    if (batches === 1) moved = structuredClone(buf.buffer, { transfer: [buf.buffer] });
  });
  P.dispatch(h);
  t.is(batches, 1, 'no batch after the buffer was detached');
  t.true(moved instanceof ArrayBuffer);
  t.throws(() => P.dispatch(h), { message: /detached/ });
  P.close(h);
});
