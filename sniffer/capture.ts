/**
 * Live capture through callmap's own libpcap binding (`@callmap/pcap`, sniffer/native/src/pcap.c).
 * One handle per device: pcap_create/pcap_activate, nonblocking, kernel BPF filter, read by libuv
 * (uv_poll on the selectable fd). libpcap copies packets into one fixed batch buffer per handle;
 * this module walks the batch and hands each packet on synchronously (no per-packet allocation).
 */
import { createRequire } from 'node:module';
import { CallmapError } from '../mapper/contract/index.ts';

/** libpcap's own counters for one handle (pcap_stats; 32-bit, they wrap). */
export interface CaptureStats {
  /** Packets that passed the filter (on Linux including those dropped below). */
  received: number;
  /** Dropped because the ring was full (the sniffer did not read fast enough). */
  dropped: number;
  /** Dropped by the network interface or its driver. */
  ifDropped: number;
}

export interface CaptureHandle {
  device: string;
  linkType: number;
  close(): void;
  /** libpcap counters now (after close: the last values). Absent for openers without libpcap. */
  stats?(): CaptureStats;
}

export interface CaptureOptions {
  /** Kernel ring size (default CAPTURE_BUFFER_BYTES). */
  bufferBytes?: number;
  /** Called when the capture breaks (interface removed, ...); capture on that handle stops. */
  onError?: (message: string) => void;
}

/** `off` is where the packet starts in `buf` (0 when omitted). */
export type PacketHandler = (buf: Buffer, len: number, linkType: number, truncated: boolean, off?: number) => void;

export type CaptureOpener = (
  device: string,
  filter: string,
  onPacket: PacketHandler,
  opts?: CaptureOptions,
) => CaptureHandle;

/** The addon's surface (sniffer/native/src/pcap.c). */
export interface PcapAddon {
  libVersion(): string;
  deviceList(): Array<{ name: string; description: string | null; loopback: boolean; up: boolean; running: boolean }>;
  open(
    device: string,
    filter: string,
    opts: { snaplen?: number; bufferSize?: number; timeoutMs?: number; immediate?: boolean; promisc?: boolean },
    buffer: Buffer,
    onBatch: (bytes: number, count: number, error?: string) => void,
  ): PcapHandle;
  openOffline(
    file: string,
    filter: string,
    buffer: Buffer,
    onBatch: (bytes: number, count: number, error?: string) => void,
  ): PcapHandle;
  linkType(h: PcapHandle): number;
  dispatch(h: PcapHandle): number;
  pause(h: PcapHandle): boolean;
  resume(h: PcapHandle): boolean;
  stats(h: PcapHandle): CaptureStats;
  close(h: PcapHandle): void;
}

/** An opaque native capture handle. */
export type PcapHandle = { readonly __pcapHandle: unique symbol };

/**
 * Kernel ring size per device. The BPF filter passes only DNS responses and SYNs, so 2 MiB holds
 * thousands of packets; larger rings cost resident memory (libpcap's TPACKET_V3 ring is mapped
 * and touched up front).
 */
export const CAPTURE_BUFFER_BYTES = 2 * 1024 * 1024;
/** Largest packet kept whole; longer ones arrive cut and count as truncated. */
export const SNAPLEN = 65535;
/** Batch buffer per handle: room for several full-size packets (each with a 16-byte record header). */
export const BATCH_BYTES = 256 * 1024;
/** How long the kernel holds a partly filled ring block before waking the reader (ms). */
export const BLOCK_TIMEOUT_MS = 100;

const REC_HDR = 16;
let addon: PcapAddon | undefined;

/** Loads the compiled binding; throws SNIFFER_NO_LIBPCAP with what to do when it was not built. */
export function loadPcap(): PcapAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)('@callmap/pcap') as PcapAddon;
    return addon;
  } catch (e) {
    throw new CallmapError(
      'SNIFFER_NO_LIBPCAP',
      `live capture needs callmap's libpcap binding (@callmap/pcap), which is not built ` +
        `(${(e as Error).message.split('\n')[0]}); install libpcap-dev, python3, make and a C compiler, ` +
        'then run npm install (or npm rebuild @callmap/pcap), or replay a file with --pcap',
      { cause: e },
    );
  }
}

/** Names of the capture devices libpcap sees. */
export function listDevices(): string[] {
  return loadPcap()
    .deviceList()
    .map((d) => d.name);
}

/**
 * Walks one batch written by the binding (records: u32le caplen, u32le wire length, u32le seconds,
 * u32le microseconds, caplen bytes) and calls `onPacket` per record. Stops at the first record that
 * does not fit in `bytes`; returns the number of packets handed on.
 */
export function walkBatch(
  buf: Buffer,
  bytes: number,
  count: number,
  linkType: number,
  onPacket: PacketHandler,
): number {
  const end = Math.min(bytes, buf.length);
  let off = 0;
  let n = 0;
  while (n < count && off + REC_HDR <= end) {
    const cap = buf.readUInt32LE(off);
    const wire = buf.readUInt32LE(off + 4);
    const start = off + REC_HDR;
    if (cap > end - start) break;
    onPacket(buf, cap, linkType, cap < wire, start);
    off = start + cap;
    n++;
  }
  return n;
}

type NativeError = Error & { code?: string };

/** Maps an error of the binding's open() to a CallmapError saying what to do. */
export function captureError(device: string, e: unknown, devices: () => string[]): CallmapError {
  const err = e as NativeError;
  const msg = err?.message ?? String(e);
  switch (err?.code) {
    case 'NO_SUCH_DEVICE': {
      let list: string;
      try {
        list = devices().join(', ');
      } catch {
        list = '';
      }
      return new CallmapError(
        'SNIFFER_NO_DEVICE',
        `no capture device ${JSON.stringify(device)} (${msg}); pick --interface from: ${list || '(none visible: missing CAP_NET_RAW?)'}`,
        { cause: e },
      );
    }
    case 'PERM_DENIED':
      return new CallmapError(
        'SNIFFER_CAPTURE',
        `cannot capture on ${device}: ${msg}; the sniffer needs CAP_NET_RAW (run as root or grant the capability)`,
        { cause: e },
      );
    case 'FILTER':
      return new CallmapError(
        'SNIFFER_CAPTURE',
        `cannot capture on ${device}: ${msg}; the capture filter must be valid pcap-filter(7) syntax`,
        { cause: e },
      );
    default:
      return new CallmapError(
        'SNIFFER_CAPTURE',
        `cannot capture on ${device}: ${msg}; the sniffer needs CAP_NET_RAW (run as root or grant the capability) and an existing, up --interface`,
        { cause: e },
      );
  }
}

/** Opens `device` with the kernel filter; throws SNIFFER_NO_DEVICE / SNIFFER_CAPTURE with what to do on failure. */
export const openCapture: CaptureOpener = (device, filter, onPacket, opts = {}) => {
  const pcap = loadPcap();
  const buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  let lt = -1;
  let h: PcapHandle | undefined;
  // The callback references the handle, so the handle cannot be collected while libpcap may
  // still call back (the binding holds the callback until close).
  const onBatch = (bytes: number, count: number, error?: string): void => {
    if (error !== undefined) {
      opts.onError?.(`capture on ${device} stopped: ${error}`);
      if (h) pcap.close(h);
      return;
    }
    walkBatch(buffer, bytes, count, lt, onPacket);
  };
  try {
    h = pcap.open(
      device,
      filter,
      { snaplen: SNAPLEN, bufferSize: opts.bufferBytes ?? CAPTURE_BUFFER_BYTES, timeoutMs: BLOCK_TIMEOUT_MS },
      buffer,
      onBatch,
    );
  } catch (e) {
    throw captureError(device, e, () => pcap.deviceList().map((d) => d.name));
  }
  const handle = h;
  lt = pcap.linkType(handle);
  return {
    device,
    linkType: lt,
    close: () => pcap.close(handle),
    stats: () => pcap.stats(handle),
  };
};

/**
 * Turns libpcap's 32-bit counters into running totals: each sample adds the difference to the
 * previous one modulo 2^32, so a wrap (≈ 4.3 billion packets) is counted through as long as the
 * counters are sampled more often than they wrap (the sniffer samples at every report and scrape).
 */
export class LibpcapCounters {
  readonly totals: CaptureStats = { received: 0, dropped: 0, ifDropped: 0 };
  private last: CaptureStats = { received: 0, dropped: 0, ifDropped: 0 };

  /** Adds a raw pcap_stats sample; returns the totals. */
  update(raw: CaptureStats): CaptureStats {
    for (const k of ['received', 'dropped', 'ifDropped'] as const) {
      const v = raw[k] >>> 0;
      this.totals[k] += (v - this.last[k] + 2 ** 32) % 2 ** 32;
      this.last[k] = v;
    }
    return this.totals;
  }
}
