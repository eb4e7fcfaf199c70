/**
 * Allocation-light DNS response decoder over a Buffer. It never throws on bad input: it returns
 * a status and fills a caller-owned, reusable `DnsAnswer`. The observation names the question
 * (what the client asked for); the addresses are the A/AAAA records of the last name in the
 * CNAME chain that starts at the question.
 */

export const DNS_OK = 0;
/** A well-formed message we do not report (query, NXDOMAIN, truncated, not A/AAAA, …). */
export const DNS_IGNORED = 1;
/** Not a decodable DNS response (truncation, bad pointer, compression loop, absurd counts, …). */
export const DNS_MALFORMED = 2;
export type DnsStatus = typeof DNS_OK | typeof DNS_IGNORED | typeof DNS_MALFORMED;

/** Most addresses kept per answer (the wire contract's limit). */
export const MAX_IPS = 256;
/** Most answer records examined per message; more is treated as malformed. */
export const MAX_RECORDS = 512;
const MAX_CNAME_HOPS = 16;
const MAX_POINTER_HOPS = 64;
const HEADER = 12;

export interface DnsAnswer {
  id: number;
  /** Offset of the question name in the buffer (text: `answerName`) and of the message. */
  qOff: number;
  msgStart: number;
  /** Length of the dotted question name. */
  nameLen: number;
  /** 32-bit hash of the name (signed, so V8 keeps it a small integer). */
  nameHash: number;
  /** A second, independent 32-bit hash of the name (64 bits with nameHash). */
  nameHash2: number;
  qtype: number;
  /** IPv4 answers as unsigned 32-bit numbers. */
  v4: Uint32Array;
  v4Count: number;
  /** Byte offsets (into the message buffer) of 16-byte IPv6 answers. */
  v6Off: Int32Array;
  v6Count: number;
  /** Smallest TTL along the chain, or -1 when there were no records. */
  ttl: number;
}

export function newDnsAnswer(): DnsAnswer {
  return {
    id: 0,
    qOff: 0,
    msgStart: 0,
    nameLen: 0,
    nameHash: 0,
    nameHash2: 0,
    qtype: 0,
    v4: new Uint32Array(MAX_IPS),
    v4Count: 0,
    v6Off: new Int32Array(MAX_IPS),
    v6Count: 0,
    ttl: -1,
  };
}

// Per-record scratch, module level: the decoder is synchronous and single-threaded.
const recOwner = new Int32Array(MAX_RECORDS);
const recType = new Uint16Array(MAX_RECORDS);
const recTtl = new Int32Array(MAX_RECORDS);
const recAt = new Int32Array(MAX_RECORDS);
const recData = new Int32Array(MAX_RECORDS);
const recLen = new Uint16Array(MAX_RECORDS);

/**
 * Follows compression pointers at `off` until it reaches a label (or the root). Returns the
 * offset of that label, or -1 for a bad pointer. `limit` is the exclusive upper bound a target
 * must stay below; jump targets must strictly decrease, so loops are impossible.
 */
function resolve(buf: Buffer, off: number, start: number, end: number, limit: number): number {
  for (let hops = 0; hops < MAX_POINTER_HOPS; hops++) {
    if (off >= end) return -1;
    const b = buf[off]!;
    if ((b & 0xc0) === 0) return off;
    if ((b & 0xc0) !== 0xc0 || off + 1 >= end) return -1;
    const target = start + (((b & 0x3f) << 8) | buf[off + 1]!);
    if (target < start + HEADER || target >= limit || target >= off) return -1;
    limit = target;
    off = target;
  }
  return -1;
}

/** Validates the (possibly compressed) name at `off`; returns true when it is well formed. */
function validName(buf: Buffer, off: number, start: number, end: number): boolean {
  let limit = off;
  let total = 0;
  for (let hops = 0; hops < 128; hops++) {
    if (off >= end) return false;
    const b = buf[off]!;
    if (b === 0) return true;
    if ((b & 0xc0) === 0xc0) {
      if (off + 1 >= end) return false;
      const target = start + (((b & 0x3f) << 8) | buf[off + 1]!);
      if (target === start + HEADER) return true; // the question name, already validated
      if (target < start + HEADER || target >= limit || target >= off) return false;
      limit = target;
      off = target;
      continue;
    }
    if ((b & 0xc0) !== 0) return false;
    total += b + 1;
    if (total > 255 || off + 1 + b > end) return false;
    off += 1 + b;
  }
  return false;
}

const lower = (c: number): number => (c >= 65 && c <= 90 ? c | 0x20 : c);

/** Byte → lower-cased name character, or 0 for bytes not allowed in a name (controls, space, '.', ≥ 0x7f). */
const NAME_BYTE = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) if (c !== 0x2e) NAME_BYTE[c] = lower(c);

/**
 * Case-insensitive comparison of two compressed names in the same message. Both were checked by
 * validName; the label bound is a second line of defence.
 */
function nameEquals(buf: Buffer, a: number, b: number, start: number, end: number): boolean {
  for (let labels = 0; labels < 128; labels++) {
    a = resolve(buf, a, start, end, end);
    b = resolve(buf, b, start, end, end);
    if (a < 0 || b < 0) return false;
    if (a === b) return true;
    const la = buf[a]!;
    if (la !== buf[b]) return false;
    if (la === 0) return true;
    if (a + 1 + la > end || b + 1 + la > end) return false;
    for (let i = 1; i <= la; i++) if (lower(buf[a + i]!) !== lower(buf[b + i]!)) return false;
    a += 1 + la;
    b += 1 + la;
  }
  return false;
}

/**
 * Whether record `i`'s owner is the name at `cur` (whose labels start at `curAt`): the same label
 * offset means the same name; different first-label lengths mean different names; otherwise the
 * names are compared label by label.
 */
function sameName(buf: Buffer, i: number, cur: number, curAt: number, start: number, end: number): boolean {
  const at = recAt[i]!;
  if (at === curAt) return true;
  if (at < 0 || curAt < 0 || buf[at] !== buf[curAt]) return false;
  return nameEquals(buf, recOwner[i]!, cur, start, end);
}

/** Offset just past the name at `off` (not following pointers), or -1 when it runs past `end`. */
function skipName(buf: Buffer, off: number, end: number): number {
  for (let n = 0; n < 128; n++) {
    if (off >= end) return -1;
    const b = buf[off]!;
    if (b === 0) return off + 1;
    if ((b & 0xc0) === 0xc0) return off + 2 <= end ? off + 2 : -1;
    if ((b & 0xc0) !== 0) return -1;
    off += 1 + b;
  }
  return -1;
}

// DataView over the last packet buffer seen (replays and live capture reuse one buffer), for
// 32-bit loads. It keeps that one buffer reachable until the next message from another buffer.
let viewOf: Buffer | undefined;
let view: DataView = new DataView(new ArrayBuffer(4));

/**
 * Validates and hashes the question name at `off` (pointers in the question are followed too):
 * labels of printable ASCII other than '.', lower-cased for the hash. Four bytes at a time
 * (SWAR tests on 32-bit words); the dotted text is only made on demand (`answerName`).
 * Returns the offset after the name field or -1.
 */
function readQuestionName(buf: Buffer, off: number, start: number, end: number, out: DnsAnswer): number {
  if (buf !== viewOf) {
    viewOf = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const dv = view;
  let len = 0;
  let h1 = 0x2f0b3c1d;
  let h2 = 0x165667b1;
  let after = -1;
  let limit = off;
  out.qOff = off;
  for (let n = 0; n < 128; n++) {
    if (off >= end) return -1;
    const b = buf[off]!;
    if (b === 0) {
      if (after < 0) after = off + 1;
      if (len === 0) return -1;
      h1 ^= len;
      h1 ^= h1 >>> 16;
      h1 = Math.imul(h1, 0x85ebca6b);
      h1 ^= h1 >>> 13;
      h2 ^= h2 >>> 15;
      h2 = Math.imul(h2, 0xc2b2ae3d);
      h2 ^= h2 >>> 16;
      out.nameLen = len - 1; // dotted length: no dot before the first label
      out.nameHash = h1 | 0;
      out.nameHash2 = h2 | 0;
      return after;
    }
    if ((b & 0xc0) === 0xc0) {
      if (off + 1 >= end) return -1;
      const target = start + (((b & 0x3f) << 8) | buf[off + 1]!);
      if (after < 0) after = off + 2;
      if (target < start + HEADER || target >= limit) return -1; // nothing valid precedes the question
      limit = target;
      off = target;
      continue;
    }
    // A label is followed by at least a terminator or pointer and the question's type and class,
    // so the 32-bit load of its last bytes stays inside the message.
    const e = off + 1 + b;
    if ((b & 0xc0) !== 0 || e + 3 > end || len + b > 254) return -1;
    h1 = Math.imul(h1 ^ b, 0x01000193);
    h2 = (Math.imul(h2, 31) + b) | 0;
    let bad = 0;
    for (let i = off + 1; i < e; i += 4) {
      let x = dv.getInt32(i);
      const r = e - i;
      // a short last word: fill the bytes past the label with 'a' (valid), zero them after
      const m = r < 4 ? -1 << (32 - 8 * r) : -1;
      x = (x & m) | (0x61616161 & ~m);
      const dot = x ^ 0x2e2e2e2e;
      // any byte < 0x21, any byte > 0x7e, any '.' (classic has-less / has-more / has-zero tests)
      bad |= (((x - 0x21212121) | 0) & ~x) | ((x + 0x01010101) | 0) | x | (((dot - 0x01010101) | 0) & ~dot);
      // 'A'..'Z' → 'a'..'z': 0x20 where byte + 0x3f reaches 0x80 but byte + 0x25 does not
      x = (x | ((((x + 0x3f3f3f3f) | 0) & ~((x + 0x25252525) | 0) & 0x80808080) >>> 2)) & m;
      let k = Math.imul(x, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h1 ^= Math.imul(k, 0x1b873593);
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      h2 = (h2 + Math.imul(x, 0x85ebca77)) | 0;
      h2 = (h2 << 13) | (h2 >>> 19);
      h2 = Math.imul(h2, 0x9e3779b1);
    }
    if ((bad & 0x80808080) !== 0) return -1;
    len += b + 1;
    off = e;
  }
  return -1;
}

const nameScratch = Buffer.alloc(320);

/**
 * The question name of the last decoded message as lower-case dotted text (allocates; call once
 * per distinct name). `buf` is the buffer that message was decoded from.
 */
export function answerName(a: DnsAnswer, buf: Buffer): string {
  const dst = nameScratch;
  let len = 0;
  let off = a.qOff;
  for (let n = 0; n < 128 && off < buf.length; n++) {
    const b = buf[off]!;
    if (b === 0) break;
    if ((b & 0xc0) === 0xc0) {
      off = a.msgStart + (((b & 0x3f) << 8) | (buf[off + 1] ?? 0));
      continue;
    }
    if (len > 0) dst[len++] = 0x2e;
    for (let i = off + 1; i <= off + b && len < dst.length; i++) dst[len++] = NAME_BYTE[buf[i]!]!;
    off += 1 + b;
  }
  // one flat string, without Buffer#toString's encoding dispatch (name bytes are ASCII)
  return String.fromCharCode.apply(null, dst.subarray(0, len) as unknown as number[]);
}

/**
 * Decodes the DNS message in `buf[start, end)`. On DNS_OK, `out` holds the question and the
 * final addresses (possibly none: an empty NOERROR answer).
 */
export function decodeDnsResponse(buf: Buffer, start: number, end: number, out: DnsAnswer): DnsStatus {
  out.v4Count = 0;
  out.v6Count = 0;
  out.ttl = -1;
  if (end > buf.length || end - start < HEADER) return DNS_MALFORMED;
  out.msgStart = start;
  out.id = (buf[start]! << 8) | buf[start + 1]!;
  const flags = (buf[start + 2]! << 8) | buf[start + 3]!;
  const qd = (buf[start + 4]! << 8) | buf[start + 5]!;
  const an = (buf[start + 6]! << 8) | buf[start + 7]!;
  if ((flags & 0x8000) === 0) return DNS_IGNORED; // a query
  if ((flags & 0x7800) !== 0 || (flags & 0x0200) !== 0) return DNS_IGNORED; // opcode != QUERY, or TC
  if (qd === 0 || qd > 16 || an > MAX_RECORDS) return qd === 0 && an === 0 ? DNS_IGNORED : DNS_MALFORMED;
  let p = readQuestionName(buf, start + HEADER, start, end, out);
  if (p < 0 || p + 4 > end) return DNS_MALFORMED;
  out.qtype = (buf[p]! << 8) | buf[p + 1]!;
  const qclass = (buf[p + 2]! << 8) | buf[p + 3]!;
  p += 4;
  for (let q = 1; q < qd; q++) {
    p = skipName(buf, p, end);
    if (p < 0 || p + 4 > end) return DNS_MALFORMED;
    p += 4;
  }
  if ((flags & 0x000f) !== 0) return DNS_IGNORED; // NXDOMAIN, SERVFAIL, REFUSED, …
  if ((out.qtype !== 1 && out.qtype !== 28) || (qclass & 0x7fff) !== 1) return DNS_IGNORED;

  const question = start + HEADER;
  let n = 0;
  let cnames = 0;
  for (let r = 0; r < an; r++) {
    const owner = p;
    // Fast path: the owner is a pointer to the question (0xc00c), as in almost every answer.
    const ownerIsQuestion = buf[p] === 0xc0 && buf[p + 1] === HEADER;
    p = ownerIsQuestion ? p + 2 : skipName(buf, p, end);
    if (p < 0 || p + 10 > end) return DNS_MALFORMED;
    const type = (buf[p]! << 8) | buf[p + 1]!;
    const cls = (buf[p + 2]! << 8) | buf[p + 3]!;
    const ttl = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
    const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
    const data = p + 10;
    p = data + rdlen;
    if (p > end) return DNS_MALFORMED;
    if ((cls & 0x7fff) !== 1 || (type !== 1 && type !== 28 && type !== 5)) continue;
    if ((type === 1 && rdlen !== 4) || (type === 28 && rdlen !== 16)) return DNS_MALFORMED;
    if (!ownerIsQuestion && !validName(buf, owner, start, end)) return DNS_MALFORMED;
    if (type === 5) {
      if (skipName(buf, data, p) < 0 || !validName(buf, data, start, p)) return DNS_MALFORMED;
      cnames++;
    }
    recOwner[n] = owner;
    // where the owner's labels start: equal offsets mean equal names without comparing bytes
    recAt[n] = ownerIsQuestion ? question : resolve(buf, owner, start, end, end);
    recType[n] = type;
    recTtl[n] = ttl > 0x7fffffff ? 0 : ttl; // RFC 2181: a TTL with the top bit set means zero
    recData[n] = data;
    recLen[n] = rdlen;
    n++;
  }

  // Follow the CNAME chain from the question name.
  let cur = question;
  let curAt = question;
  let ttl = -1;
  for (let hop = 0; cnames > 0 && hop < MAX_CNAME_HOPS; hop++) {
    let next = -1;
    for (let i = 0; i < n; i++) {
      if (recType[i] === 5 && sameName(buf, i, cur, curAt, start, end)) {
        next = recData[i]!;
        const rt = recTtl[i]!;
        if (ttl < 0 || rt < ttl) ttl = rt;
        break;
      }
    }
    if (next < 0 || next === cur) break;
    cur = next;
    curAt = resolve(buf, cur, start, end, end);
    if (curAt < 0) curAt = -2; // matches no record (recAt is never below -1); nameEquals decides
  }
  for (let i = 0; i < n; i++) {
    const t = recType[i];
    if (t === 5 || !sameName(buf, i, cur, curAt, start, end)) continue;
    const rt = recTtl[i]!;
    if (ttl < 0 || rt < ttl) ttl = rt;
    if (t === 1) {
      if (out.v4Count < MAX_IPS) {
        const d = recData[i]!;
        out.v4[out.v4Count++] = (buf[d]! << 24) | (buf[d + 1]! << 16) | (buf[d + 2]! << 8) | buf[d + 3]!;
      }
    } else if (out.v6Count < MAX_IPS) {
      out.v6Off[out.v6Count++] = recData[i]!;
    }
  }
  out.ttl = ttl;
  return DNS_OK;
}
