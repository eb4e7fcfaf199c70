/**
 * Streaming reader for classic pcap (both byte orders, micro- and nanosecond magic) and pcapng
 * (SHB/IDB/EPB/SPB; other blocks skipped). Reads the file in large chunks and hands every
 * packet to a callback as (buffer, offset, length) without copying. A corrupt record is skipped
 * and counted (the reader resynchronises on the next plausible record); a truncated file ends
 * cleanly with `truncated: true`.
 */
import { open } from 'node:fs/promises';
import { CallmapError } from '../../mapper/contract/index.ts';

/**
 * One packet: `buf[off, off + len)` of pcap LINKTYPE `linkType`, captured at
 * `timeSec * 1000 + timeMs` ms since the epoch. The time comes split in whole seconds and
 * milliseconds (0-999) so that no floating-point number is allocated per packet.
 */
export type PacketCallback = (
  buf: Buffer,
  off: number,
  len: number,
  linkType: number,
  timeSec: number,
  timeMs: number,
) => void;

export interface PcapReadResult {
  format: 'pcap' | 'pcapng';
  packets: number;
  /** Records skipped because their header was implausible (and bytes skipped to resync). */
  corrupt: number;
  /** The file ended inside a record. */
  truncated: boolean;
}

export interface PcapReadOptions {
  /** Bytes per read (default 4 MiB). */
  chunkSize?: number;
  /** Awaited after each chunk: lets the caller drain work (e.g. let a reporter send). */
  afterChunk?: () => Promise<void>;
}

/** Bytes of the first read (then `chunkSize` per read). */
const FIRST_READ = 256 * 1024;

/** Largest packet accepted (tcpdump's MAXIMUM_SNAPLEN). */
export const MAX_PACKET = 262_144;
const MAX_BLOCK = MAX_PACKET + 4096;

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;

interface ClassicState {
  le: boolean;
  nanos: boolean;
  linkType: number;
  lastSec: number;
}

interface NgInterface {
  linkType: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
}

interface NgState {
  le: boolean;
  ifaces: NgInterface[];
}

/** Parser state shared by both formats; `parse` consumes whole records from `buf[pos, end)`. */
interface Parser {
  /** Returns the offset of the first byte not consumed (an incomplete record starts there). */
  parse(buf: Buffer, pos: number, end: number, eof: boolean): number;
  result: PcapReadResult;
}

/** Unsigned 32-bit read without Buffer's argument validation (callers check bounds). */
function u32(buf: Buffer, off: number, le: boolean): number {
  return le
    ? (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0
    : ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

function classicParser(st: ClassicState, onPacket: PacketCallback): Parser {
  const result: PcapReadResult = { format: 'pcap', packets: 0, corrupt: 0, truncated: false };
  const fracMax = st.nanos ? 1e9 : 1e6;
  const plausible = (buf: Buffer, p: number): boolean => {
    const sec = u32(buf, p, st.le);
    const frac = u32(buf, p + 4, st.le);
    const incl = u32(buf, p + 8, st.le);
    const orig = u32(buf, p + 12, st.le);
    if (frac >= fracMax || incl > MAX_PACKET || orig > 0x7fffffff || incl > orig) return false;
    return st.lastSec < 0 || Math.abs(sec - st.lastSec) <= 604_800;
  };
  let resyncing = false;
  return {
    result,
    parse(buf, pos, end, eof) {
      const le = st.le;
      const div = st.nanos ? 1e6 : 1e3;
      const lt = st.linkType;
      for (;;) {
        if (resyncing) {
          // Scan for a header that is plausible and followed by another plausible header (or EOF).
          while (pos + 16 <= end) {
            if (plausible(buf, pos)) {
              const next = pos + 16 + u32(buf, pos + 8, le);
              if (next + 16 <= end ? plausible(buf, next) : next === end && eof) break;
              if (next + 16 > end && !eof) return pos; // need more bytes to confirm
            }
            pos++;
          }
          if (pos + 16 > end) return eof ? end : pos;
          resyncing = false;
        }
        if (pos + 16 > end) {
          if (eof && pos < end) result.truncated = true;
          return eof ? end : pos;
        }
        const incl = u32(buf, pos + 8, le);
        // cheap checks on the hot path; the full plausibility test only when these fail
        if (incl > MAX_PACKET || incl > u32(buf, pos + 12, le)) {
          result.corrupt++;
          resyncing = true;
          pos++;
          continue;
        }
        if (pos + 16 + incl > end) {
          if (eof) {
            result.truncated = true;
            return end;
          }
          return pos;
        }
        const sec = u32(buf, pos, le);
        const frac = u32(buf, pos + 4, le);
        if (frac >= fracMax || (st.lastSec >= 0 && (sec > st.lastSec + 604_800 || sec < st.lastSec - 604_800))) {
          result.corrupt++;
          resyncing = true;
          pos++;
          continue;
        }
        st.lastSec = sec;
        result.packets++;
        onPacket(buf, pos + 16, incl, lt, sec, (frac / div) | 0);
        pos += 16 + incl;
      }
    },
  };
}

function tsresolToUnitsPerMs(v: number): number {
  const units = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** (v & 0x7f);
  return units / 1000;
}

function ngParser(st: NgState, onPacket: PacketCallback): Parser {
  const result: PcapReadResult = { format: 'pcapng', packets: 0, corrupt: 0, truncated: false };
  let resyncing = false;
  const KNOWN = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x0bad, PCAPNG_SHB]);
  const blockOk = (buf: Buffer, p: number, end: number): number => {
    // returns total length if the block at p is plausible and complete, 0 if incomplete, -1 if corrupt
    if (p + 12 > end) return 0;
    const type = buf.readUInt32BE(p) === PCAPNG_SHB ? PCAPNG_SHB : u32(buf, p, st.le);
    let len = u32(buf, p + 4, st.le);
    if (type === PCAPNG_SHB && p + 12 <= end) {
      const bom = buf.readUInt32LE(p + 8);
      const le = bom === BOM;
      if (!le && buf.readUInt32BE(p + 8) !== BOM) return -1;
      len = u32(buf, p + 4, le);
    }
    if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK * 64 || !KNOWN.has(type)) return -1;
    if (p + len > end) return 0;
    const le = type === PCAPNG_SHB ? buf.readUInt32LE(p + 8) === BOM : st.le;
    if (u32(buf, p + len - 4, le) !== len) return -1;
    return len;
  };
  return {
    result,
    parse(buf, pos, end, eof) {
      for (;;) {
        if (resyncing) {
          while (pos + 12 <= end) {
            const r = blockOk(buf, pos, end);
            if (r > 0) break;
            if (r === 0 && !eof) return pos;
            pos += 4;
          }
          if (pos + 12 > end) return eof ? end : pos;
          resyncing = false;
        }
        if (pos + 12 > end) {
          if (eof && pos < end) result.truncated = true;
          return eof ? end : pos;
        }
        const total = blockOk(buf, pos, end);
        if (total === 0) {
          // incomplete: either more data is coming, or the file is truncated
          const declared = u32(buf, pos + 4, st.le);
          if (!eof && declared <= MAX_BLOCK * 64) return pos;
          if (eof) {
            result.truncated = true;
            return end;
          }
          result.corrupt++;
          resyncing = true;
          pos += 4;
          continue;
        }
        if (total < 0) {
          result.corrupt++;
          resyncing = true;
          pos += 4;
          continue;
        }
        const le = st.le;
        const isShb = buf.readUInt32BE(pos) === PCAPNG_SHB;
        const type = isShb ? PCAPNG_SHB : u32(buf, pos, le);
        if (isShb) {
          st.le = buf.readUInt32LE(pos + 8) === BOM;
          st.ifaces = [];
        } else if (type === 1 && total >= 20) {
          const linkType = (st.le ? buf.readUInt16LE(pos + 8) : buf.readUInt16BE(pos + 8)) as number;
          let unitsPerMs = 1000;
          // options: code(2) len(2) value padded to 4
          let o = pos + 16;
          const oEnd = pos + total - 4;
          while (o + 4 <= oEnd) {
            const code = st.le ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
            const olen = st.le ? buf.readUInt16LE(o + 2) : buf.readUInt16BE(o + 2);
            if (code === 0 || o + 4 + olen > oEnd) break;
            if (code === 9 && olen >= 1) unitsPerMs = tsresolToUnitsPerMs(buf[o + 4]!);
            o += 4 + ((olen + 3) & ~3);
          }
          st.ifaces.push({ linkType, unitsPerMs });
        } else if (type === 6 && total >= 32) {
          const ifId = u32(buf, pos + 8, le);
          const hi = u32(buf, pos + 12, le);
          const lo = u32(buf, pos + 16, le);
          const cap = u32(buf, pos + 20, le);
          const iface = st.ifaces[ifId];
          if (iface === undefined || cap > total - 32 || cap > MAX_PACKET) {
            result.corrupt++;
          } else {
            result.packets++;
            const ms = Math.floor((hi * 4294967296 + lo) / iface.unitsPerMs);
            const sec = Math.floor(ms / 1000);
            onPacket(buf, pos + 28, cap, iface.linkType, sec, ms - sec * 1000);
          }
        } else if (type === 3 && total >= 16) {
          const iface = st.ifaces[0];
          const orig = u32(buf, pos + 8, le);
          const cap = Math.min(orig, total - 16);
          if (iface === undefined) result.corrupt++;
          else {
            result.packets++;
            onPacket(buf, pos + 12, cap, iface.linkType, 0, 0);
          }
        }
        pos += total;
      }
    },
  };
}

/** Reads the file header and returns the matching parser plus the header length. */
function headerParser(head: Buffer, onPacket: PacketCallback, path: string): { parser: Parser; skip: number } {
  if (head.length >= 24) {
    const be = head.readUInt32BE(0);
    const le = head.readUInt32LE(0);
    if (be === MAGIC_US || be === MAGIC_NS || le === MAGIC_US || le === MAGIC_NS) {
      const isLe = le === MAGIC_US || le === MAGIC_NS;
      const nanos = (isLe ? le : be) === MAGIC_NS;
      const linkType = u32(head, 20, isLe) & 0x0fffffff;
      return { parser: classicParser({ le: isLe, nanos, linkType, lastSec: -1 }, onPacket), skip: 24 };
    }
  }
  if (head.length >= 12 && head.readUInt32BE(0) === PCAPNG_SHB) {
    const le = head.readUInt32LE(8) === BOM;
    return { parser: ngParser({ le, ifaces: [] }, onPacket), skip: 0 };
  }
  throw new CallmapError(
    'SNIFFER_PCAP_FORMAT',
    `${path} is not a pcap or pcapng file (unknown magic); write captures with tcpdump -w FILE`,
  );
}

/** Streams every packet of a pcap/pcapng file to `onPacket`. */
export async function readPcapFile(
  path: string,
  onPacket: PacketCallback,
  opts: PcapReadOptions = {},
): Promise<PcapReadResult> {
  const chunk = Math.max(opts.chunkSize ?? 4 * 1024 * 1024, 64 * 1024);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CallmapError('SNIFFER_PCAP_OPEN', `cannot open ${path}: ${(e as Error).message}; check the --pcap path`, {
      cause: e,
    });
  }
  try {
    // Two buffers: while one is parsed, the next chunk is read into the other (the read runs on
    // libuv's thread pool, so I/O overlaps parsing). Each buffer has `room` bytes in front for
    // the incomplete record carried over from the previous chunk.
    let room = MAX_BLOCK;
    const bufs = [Buffer.allocUnsafe(room + chunk), Buffer.allocUnsafe(room + chunk)];
    const readInto = async (b: Buffer, at: number, size = chunk): Promise<{ end: number; eof: boolean }> => {
      let end = at;
      while (end < at + size) {
        const { bytesRead } = await fh.read(b, end, at + size - end, null);
        if (bytesRead === 0) return { end, eof: true };
        end += bytesRead;
      }
      return { end, eof: false };
    };
    let which = 0;
    let buf = bufs[0]!;
    // a small first read: parsing starts after ~0.1 ms of I/O instead of a whole chunk's 2-6 ms,
    // and the next (full) chunk is read while the first packets are parsed
    let { end, eof } = await readInto(buf, room, Math.min(chunk, FIRST_READ));
    const { parser, skip } = headerParser(buf.subarray(room, end), onPacket, path);
    let pos = room + skip;
    for (;;) {
      const other = bufs[which ^ 1]!;
      const next = eof ? undefined : readInto(other, room);
      // the read may fail while we parse: handled when awaited, never left unobserved
      next?.catch(() => {});
      pos = parser.parse(buf, pos, end, eof);
      if (next === undefined) {
        // the parser declined the tail even at EOF: it is a truncated record
        if (pos < end) parser.result.truncated = true;
        break;
      }
      if (opts.afterChunk) await opts.afterChunk();
      const r = await next;
      const carry = end - pos;
      let into = other;
      if (carry > room) {
        // a block larger than the carry room (pcapng blocks may legitimately be large): grow both
        const bigger = carry * 2;
        into = Buffer.allocUnsafe(bigger + chunk);
        other.copy(into, bigger, room, r.end);
        r.end += bigger - room;
        room = bigger;
        bufs[which ^ 1] = into;
        bufs[which] = Buffer.allocUnsafe(room + chunk);
      }
      buf.copy(into, room - carry, pos, end);
      buf = into;
      which ^= 1;
      pos = room - carry;
      end = r.end;
      eof = r.eof;
    }
    return parser.result;
  } catch (e) {
    if (e instanceof CallmapError) throw e;
    throw new CallmapError('SNIFFER_PCAP_READ', `reading ${path} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    await fh.close();
  }
}
