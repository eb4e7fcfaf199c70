/** Classic pcap writer (microsecond or nanosecond, little- or big-endian): for tests, demos and benchmarks. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { CallmapError } from '../../mapper/contract/index.ts';

export interface PcapPacket {
  data: Buffer;
  /** Capture time, ms since the epoch (fractions kept to the file's resolution). */
  time: number;
  /** Original length when `data` is a snaplen-cut prefix (defaults to data.length). */
  origLen?: number;
}

export interface PcapWriteOptions {
  /** pcap LINKTYPE (default 1, Ethernet). */
  linkType?: number;
  nanos?: boolean;
  bigEndian?: boolean;
  snaplen?: number;
}

/** Encodes a whole pcap file in memory. */
export function encodePcap(packets: Iterable<PcapPacket>, opts: PcapWriteOptions = {}): Buffer {
  const parts: Buffer[] = [pcapHeader(opts)];
  for (const p of packets) parts.push(recordHeader(p, opts), p.data);
  return Buffer.concat(parts);
}

function pcapHeader(opts: PcapWriteOptions): Buffer {
  const h = Buffer.alloc(24);
  const be = opts.bigEndian === true;
  const w32 = (v: number, o: number) => (be ? h.writeUInt32BE(v, o) : h.writeUInt32LE(v, o));
  const w16 = (v: number, o: number) => (be ? h.writeUInt16BE(v, o) : h.writeUInt16LE(v, o));
  w32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(2, 4);
  w16(4, 6);
  w32(opts.snaplen ?? 262_144, 16);
  w32(opts.linkType ?? 1, 20);
  return h;
}

function recordHeader(p: PcapPacket, opts: PcapWriteOptions): Buffer {
  const h = Buffer.alloc(16);
  const be = opts.bigEndian === true;
  const w32 = (v: number, o: number) => (be ? h.writeUInt32BE(v, o) : h.writeUInt32LE(v, o));
  const sec = Math.floor(p.time / 1000);
  const frac = opts.nanos ? Math.round((p.time - sec * 1000) * 1e6) : Math.round((p.time - sec * 1000) * 1e3);
  w32(sec >>> 0, 0);
  w32(Math.min(frac, opts.nanos ? 999_999_999 : 999_999), 4);
  w32(p.data.length, 8);
  w32(p.origLen ?? p.data.length, 12);
  return h;
}

/** Writes `packets` as a classic pcap file at `path`. */
export function writePcap(path: string, packets: Iterable<PcapPacket>, opts: PcapWriteOptions = {}): void {
  const w = createPcapWriter(path, opts);
  try {
    for (const p of packets) w.write(p);
  } finally {
    w.close();
  }
}

export interface PcapWriter {
  write(p: PcapPacket): void;
  close(): void;
}

/** Buffered streaming writer for large files (millions of packets). */
export function createPcapWriter(path: string, opts: PcapWriteOptions = {}): PcapWriter {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new CallmapError('SNIFFER_PCAP_WRITE', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
  }
  const buf = Buffer.allocUnsafe(1 << 20);
  let used = 0;
  const flush = (): void => {
    let o = 0;
    while (o < used) o += writeSync(fd, buf, o, used - o);
    used = 0;
  };
  const put = (b: Buffer): void => {
    if (used + b.length > buf.length) flush();
    if (b.length > buf.length) {
      writeSync(fd, b);
      return;
    }
    b.copy(buf, used);
    used += b.length;
  };
  put(pcapHeader(opts));
  let closed = false;
  return {
    write(p) {
      put(recordHeader(p, opts));
      put(p.data);
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        flush();
      } finally {
        closeSync(fd);
      }
    },
  };
}
