/** IP address helpers: formatting from packet bytes and parsing text into bytes (for builders). */
import { CallmapError } from '../../mapper/contract/index.ts';

/** `a.b.c.d` from an unsigned 32-bit number. */
export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * Hex text of every 16-bit group, built on the first IPv6 address formatted: 65 536 small strings
 * (~2 MB) that an IPv4-only replay or a command that never formats IPv6 should not pay for (at
 * module load, and again when the young-generation GC copies them while packets are processed).
 */
let HEX: string[] | undefined;

/** RFC 5952 text for the 16 bytes at `off` (longest zero run compressed, lower-case, v4-mapped dotted). */
export function formatIpv6(buf: Uint8Array, off: number): string {
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) g[i] = ((buf[off + 2 * i] ?? 0) << 8) | (buf[off + 2 * i + 1] ?? 0);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (HEX === undefined) HEX = Array.from({ length: 65536 }, (_, i) => i.toString(16));
  const hex = HEX;
  const part = (from: number, to: number): string => {
    let s = '';
    for (let i = from; i < to; i++) s += (i > from ? ':' : '') + hex[g[i] ?? 0];
    return s;
  };
  if (bestStart < 0) return part(0, 8);
  return `${part(0, bestStart)}::${part(bestStart + bestLen, 8)}`;
}

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x.y.z. */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

/** Parses IPv4 or IPv6 text into 4 or 16 bytes; throws CallmapError SNIFFER_BAD_IP otherwise. */
export function parseIp(text: string): Buffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = Buffer.alloc(4);
    for (let i = 0; i < 4; i++) {
      const n = Number(v4[i + 1]);
      if (n > 255) break;
      b[i] = n;
      if (i === 3) return b;
    }
  } else if (text.includes(':')) {
    let s = text.toLowerCase();
    let tail: number[] = [];
    const dotted = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
    if (dotted?.[1]) {
      const t = parseIp(dotted[1]);
      tail = [(t[0]! << 8) | t[1]!, (t[2]! << 8) | t[3]!];
      s = s.slice(0, -dotted[1].length);
      if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
    }
    const halves = s.split('::');
    if (halves.length <= 2) {
      const grp = (h: string | undefined): number[] | null => {
        if (!h) return [];
        const out: number[] = [];
        for (const x of h.split(':')) {
          if (!/^[0-9a-f]{1,4}$/.test(x)) return null;
          out.push(Number.parseInt(x, 16));
        }
        return out;
      };
      const head = grp(halves[0]);
      const rest = halves.length === 2 ? grp(halves[1]) : [];
      if (head && rest) {
        const fill = 8 - head.length - rest.length - tail.length;
        if ((halves.length === 2 && fill >= 1) || (halves.length === 1 && fill === 0)) {
          const groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
          const b = Buffer.alloc(16);
          for (let i = 0; i < 8; i++) b.writeUInt16BE(groups[i] ?? 0, 2 * i);
          return b;
        }
      }
    }
  }
  throw new CallmapError('SNIFFER_BAD_IP', `not an IPv4 or IPv6 address: ${JSON.stringify(text)}; pass e.g. 10.0.0.1`);
}
