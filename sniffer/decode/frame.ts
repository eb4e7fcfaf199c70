/**
 * Link, network and transport layer decoding into a caller-owned, reusable `Frame`. Never throws:
 * returns FRAME_OK, FRAME_IGNORED (not IP/TCP/UDP, a later fragment, …) or FRAME_MALFORMED.
 */

export const LINKTYPE = {
  null: 0,
  ethernet: 1,
  raw: 101,
  loop: 108,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
  linuxSll2: 276,
} as const;

/** Link types the decoder understands (pcap LINKTYPE_* values; DLT_RAW 12/14 map to raw). */
export const SUPPORTED_LINKTYPES: readonly number[] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

export const FRAME_OK = 0;
export const FRAME_IGNORED = 1;
export const FRAME_MALFORMED = 2;
export type FrameStatus = typeof FRAME_OK | typeof FRAME_IGNORED | typeof FRAME_MALFORMED;

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export interface Frame {
  /** 4 or 6 */
  family: number;
  srcOff: number;
  dstOff: number;
  proto: number;
  srcPort: number;
  dstPort: number;
  /** TCP flags byte (0 for UDP). */
  tcpFlags: number;
  /** Transport payload `[payloadOff, payloadEnd)` in the packet buffer. */
  payloadOff: number;
  payloadEnd: number;
}

export function newFrame(): Frame {
  return {
    family: 0,
    srcOff: 0,
    dstOff: 0,
    proto: 0,
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0,
    payloadOff: 0,
    payloadEnd: 0,
  };
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

/** Decodes the packet `buf[base, base + len)` captured with `linkType`. */
export function decodeFrame(buf: Buffer, base: number, len: number, linkType: number, f: Frame): FrameStatus {
  const end = Math.min(base + len, buf.length);
  let off: number;
  let etherType: number;
  switch (linkType) {
    case 1: {
      if (end < base + 14) return FRAME_MALFORMED;
      etherType = (buf[base + 12]! << 8) | buf[base + 13]!;
      off = base + 14;
      // up to two VLAN tags (802.1Q / 802.1ad)
      for (let i = 0; i < 2 && (etherType === 0x8100 || etherType === 0x88a8); i++) {
        if (end < off + 4) return FRAME_MALFORMED;
        etherType = (buf[off + 2]! << 8) | buf[off + 3]!;
        off += 4;
      }
      break;
    }
    case 113:
      if (end < base + 16) return FRAME_MALFORMED;
      etherType = (buf[base + 14]! << 8) | buf[base + 15]!;
      off = base + 16;
      break;
    case 276:
      if (end < base + 20) return FRAME_MALFORMED;
      etherType = (buf[base]! << 8) | buf[base + 1]!;
      off = base + 20;
      break;
    case 0:
    case 108: {
      if (end < base + 4) return FRAME_MALFORMED;
      // BSD loopback: address family in the writer's byte order (0) or network order (108)
      const le = buf.readUInt32LE(base);
      const af = linkType === 108 || le > 0xffff ? buf.readUInt32BE(base) : le;
      etherType = af === 2 ? ETH_IPV4 : af === 10 || af === 24 || af === 28 || af === 30 ? ETH_IPV6 : 0;
      off = base + 4;
      break;
    }
    case 12:
    case 14:
    case 101:
    case 228:
    case 229:
      if (end < base + 1) return FRAME_MALFORMED;
      etherType = buf[base]! >> 4 === 4 ? ETH_IPV4 : buf[base]! >> 4 === 6 ? ETH_IPV6 : 0;
      off = base;
      break;
    default:
      return FRAME_IGNORED;
  }
  if (etherType === ETH_IPV4) return decodeIpv4(buf, off, end, f);
  if (etherType === ETH_IPV6) return decodeIpv6(buf, off, end, f);
  return FRAME_IGNORED;
}

function decodeIpv4(buf: Buffer, off: number, len: number, f: Frame): FrameStatus {
  if (len < off + 20) return FRAME_MALFORMED;
  const vihl = buf[off]!;
  if (vihl >> 4 !== 4) return FRAME_MALFORMED;
  const ihl = (vihl & 15) * 4;
  const total = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (ihl < 20 || total < ihl) return FRAME_MALFORMED;
  // Ethernet may pad short frames; a snaplen may cut long ones (then the end is what we have).
  const end = Math.min(off + total, len);
  if (end < off + ihl) return FRAME_MALFORMED;
  const frag = (buf[off + 6]! << 8) | buf[off + 7]!;
  if ((frag & 0x1fff) !== 0 || (frag & 0x2000) !== 0) return FRAME_IGNORED; // fragments
  f.family = 4;
  f.srcOff = off + 12;
  f.dstOff = off + 16;
  return decodeTransport(buf, buf[off + 9]!, off + ihl, end, off + total > len, f);
}

function decodeIpv6(buf: Buffer, off: number, len: number, f: Frame): FrameStatus {
  if (len < off + 40) return FRAME_MALFORMED;
  if (buf[off]! >> 4 !== 6) return FRAME_MALFORMED;
  const plen = (buf[off + 4]! << 8) | buf[off + 5]!;
  const end = Math.min(off + 40 + plen, len);
  let next = buf[off + 6]!;
  let p = off + 40;
  for (let i = 0; i < 8; i++) {
    if (next === 0 || next === 43 || next === 60) {
      if (p + 8 > end) return FRAME_MALFORMED;
      next = buf[p]!;
      p += (buf[p + 1]! + 1) * 8;
    } else if (next === 44) {
      if (p + 8 > end) return FRAME_MALFORMED;
      const fo = (buf[p + 2]! << 8) | buf[p + 3]!;
      if ((fo & 0xfff9) !== 0 || (fo & 1) !== 0) return FRAME_IGNORED;
      next = buf[p]!;
      p += 8;
    } else if (next === 51) {
      if (p + 8 > end) return FRAME_MALFORMED;
      next = buf[p]!;
      p += (buf[p + 1]! + 2) * 4;
    } else break;
  }
  if (p > end) return FRAME_MALFORMED;
  f.family = 6;
  f.srcOff = off + 8;
  f.dstOff = off + 24;
  return decodeTransport(buf, next, p, end, off + 40 + plen > len, f);
}

function decodeTransport(buf: Buffer, proto: number, p: number, end: number, cut: boolean, f: Frame): FrameStatus {
  f.proto = proto;
  if (proto === PROTO_UDP) {
    if (p + 8 > end) return FRAME_MALFORMED;
    f.srcPort = (buf[p]! << 8) | buf[p + 1]!;
    f.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!;
    const ulen = (buf[p + 4]! << 8) | buf[p + 5]!;
    if (ulen < 8 || (p + ulen > end && !cut)) return FRAME_MALFORMED;
    f.tcpFlags = 0;
    f.payloadOff = p + 8;
    f.payloadEnd = Math.min(p + ulen, end);
    return FRAME_OK;
  }
  if (proto === PROTO_TCP) {
    if (p + 20 > end) return FRAME_MALFORMED;
    f.srcPort = (buf[p]! << 8) | buf[p + 1]!;
    f.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!;
    const doff = (buf[p + 12]! >> 4) * 4;
    if (doff < 20 || p + doff > end) return FRAME_MALFORMED;
    f.tcpFlags = buf[p + 13]!;
    f.payloadOff = p + doff;
    f.payloadEnd = end;
    return FRAME_OK;
  }
  return FRAME_IGNORED;
}
