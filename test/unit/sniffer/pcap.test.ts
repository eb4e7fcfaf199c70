import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { encodePcap, readPcapFile, replayPcap, writePcap } from '../../../sniffer/index.ts';
import { mixedPackets } from '../../helpers/pcap-traffic.ts';

const dir = mkdtempSync(join(tmpdir(), 'callmap-pcap-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `f${n++}.pcap`);

async function readAll(path: string, chunkSize?: number) {
  const packets: Array<{ hex: string; lt: number; time: number }> = [];
  const res = await readPcapFile(
    path,
    (buf, off, len, lt, sec, ms) =>
      packets.push({ hex: buf.toString('hex', off, off + len), lt, time: sec * 1000 + ms }),
    chunkSize === undefined ? {} : { chunkSize },
  );
  return { res, packets };
}

const T0 = Date.UTC(2026, 0, 1) + 0.25;

for (const [label, opts] of [
  ['little-endian µs', {}],
  ['big-endian µs', { bigEndian: true }],
  ['little-endian ns', { nanos: true }],
  ['big-endian ns', { bigEndian: true, nanos: true }],
] as const) {
  test(`round trip: ${label}`, async (t) => {
    const pk = mixedPackets(T0);
    const p = file();
    writePcap(p, pk, opts);
    const { res, packets } = await readAll(p);
    t.deepEqual(res, { format: 'pcap', packets: pk.length, corrupt: 0, truncated: false });
    t.deepEqual(
      packets.map((x) => x.hex),
      pk.map((x) => x.data.toString('hex')),
    );
    t.deepEqual(
      packets.map((x) => x.time),
      pk.map((x) => Math.floor(x.time)),
    );
    t.true(packets.every((x) => x.lt === 1));
  });
}

test('records spanning chunk boundaries are read whole (small chunks)', async (t) => {
  const pk = Array.from({ length: 3000 }, (_, i) => ({ data: Buffer.alloc(60 + (i % 200), i & 255), time: T0 + i }));
  const p = file();
  writePcap(p, pk);
  const { res, packets } = await readAll(p, 64 * 1024);
  t.is(res.packets, 3000);
  t.is(packets[2999]?.hex, pk[2999]?.data.toString('hex'));
});

test('a corrupt record is skipped and counted, the rest is read', async (t) => {
  const pk = mixedPackets(T0);
  const buf = encodePcap(pk);
  // record 3's header starts after the file header and records 0..2
  let off = 24;
  for (let i = 0; i < 3; i++) off += 16 + pk[i]!.data.length;
  buf.writeUInt32LE(0xfffffff0, off + 8); // absurd incl_len
  const p = file();
  writeFileSync(p, buf);
  const { res, packets } = await readAll(p);
  t.is(res.corrupt, 1);
  t.false(res.truncated);
  t.is(res.packets, pk.length - 1);
  t.deepEqual(
    packets.map((x) => x.hex),
    pk.filter((_, i) => i !== 3).map((x) => x.data.toString('hex')),
  );
});

test('a truncated file ends cleanly and says so', async (t) => {
  const pk = mixedPackets(T0);
  const buf = encodePcap(pk);
  for (const cut of [buf.length - 1, buf.length - pk[pk.length - 1]!.data.length - 10, 30]) {
    const p = file();
    writeFileSync(p, buf.subarray(0, cut));
    const { res } = await readAll(p);
    t.true(res.truncated, `cut at ${cut}`);
    t.true(res.packets < pk.length);
  }
  const empty = file();
  writeFileSync(empty, buf.subarray(0, 24));
  t.deepEqual((await readAll(empty)).res, { format: 'pcap', packets: 0, corrupt: 0, truncated: false });
});

test('not a pcap file: clear error', async (t) => {
  const p = file();
  writeFileSync(p, 'hello, this is text and not a capture file at all');
  await t.throwsAsync(readAll(p), { message: /not a pcap or pcapng file/ });
  await t.throwsAsync(readAll(join(dir, 'missing.pcap')), { message: /cannot open/ });
});

/** Builds a little pcapng file: SHB, IDB (ns resolution), EPBs, a custom block, an SPB. */
function pcapng(packets: Buffer[], time: number, customBytes?: number): Buffer {
  const block = (type: number, body: Buffer): Buffer => {
    const pad = (4 - (body.length % 4)) % 4;
    const len = 12 + body.length + pad;
    const b = Buffer.alloc(len);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(len, 4);
    body.copy(b, 8);
    b.writeUInt32LE(len, len - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const idb = Buffer.alloc(8 + 8 + 4);
  idb.writeUInt16LE(1, 0); // ethernet
  idb.writeUInt32LE(262144, 4);
  idb.writeUInt16LE(9, 8); // if_tsresol
  idb.writeUInt16LE(1, 10);
  idb[12] = 9; // 10^-9
  const parts = [
    block(0x0a0d0d0a, shb),
    block(1, idb),
    block(0x0bad, customBytes === undefined ? Buffer.from('custom') : Buffer.alloc(customBytes, 7)),
  ];
  for (const p of packets) {
    const head = Buffer.alloc(20);
    const ts = BigInt(Math.floor(time)) * 1_000_000n;
    head.writeUInt32LE(0, 0);
    head.writeUInt32LE(Number(ts >> 32n), 4);
    head.writeUInt32LE(Number(ts & 0xffffffffn), 8);
    head.writeUInt32LE(p.length, 12);
    head.writeUInt32LE(p.length, 16);
    parts.push(block(6, Buffer.concat([head, p])));
  }
  const spb = Buffer.alloc(4);
  spb.writeUInt32LE(packets[0]!.length, 0);
  parts.push(block(3, Buffer.concat([spb, packets[0]!])));
  return Buffer.concat(parts);
}

test('pcapng: EPB and SPB packets, nanosecond resolution, unknown blocks skipped', async (t) => {
  const pk = mixedPackets(T0).map((x) => x.data);
  const p = file();
  const time = Date.UTC(2026, 0, 2);
  writeFileSync(p, pcapng(pk, time));
  const { res, packets } = await readAll(p);
  t.is(res.format, 'pcapng');
  t.is(res.packets, pk.length + 1);
  t.is(res.corrupt, 0);
  t.is(packets[0]?.time, time);
  t.is(packets[1]?.hex, pk[1]?.toString('hex'));
});

test('pcapng: a block far larger than a chunk and the carry room is read across many chunks', async (t) => {
  const pk = mixedPackets(T0).map((x) => x.data);
  const p = file();
  writeFileSync(p, pcapng(pk, Date.UTC(2026, 0, 2), 1_500_000));
  const { res, packets } = await readAll(p, 64 * 1024);
  t.deepEqual(res, { format: 'pcapng', packets: pk.length + 1, corrupt: 0, truncated: false });
  t.deepEqual(
    packets.slice(0, pk.length).map((x) => x.hex),
    pk.map((x) => x.toString('hex')),
  );
});

test('pcapng: a corrupt block is skipped and counted; truncation ends cleanly', async (t) => {
  const pk = mixedPackets(T0).map((x) => x.data);
  const buf = pcapng(pk, Date.UTC(2026, 0, 2));
  // corrupt the length of the first EPB (after SHB 28 bytes, IDB 32 bytes, custom block 20 bytes)
  const epb = 28 + 32 + 20;
  t.is(buf.readUInt32LE(epb), 6);
  buf.writeUInt32LE(7, epb + 4);
  const p = file();
  writeFileSync(p, buf);
  const { res } = await readAll(p);
  t.true(res.corrupt >= 1);
  t.is(res.packets, pk.length); // lost the first EPB, kept the rest and the SPB
  const p2 = file();
  writeFileSync(p2, pcapng(pk, 0).subarray(0, 200));
  t.true((await readAll(p2)).res.truncated);
});

test('replayPcap: counts and observations, with a corrupt record counted as malformed', async (t) => {
  const pk = mixedPackets(T0);
  const buf = encodePcap(pk);
  buf.writeUInt32LE(0xfffffff0, 24 + 8);
  const p = file();
  writeFileSync(p, buf);
  const added: unknown[] = [];
  const s = await replayPcap(p, { add: (o) => added.push(o) });
  t.is(s.corruptRecords, 1);
  t.is(s.seen, pk.length - 1);
  t.is(s.dnsAnswers, 3); // the duplicate of the dropped first answer now counts
  t.is(added.length, s.observations);
});
