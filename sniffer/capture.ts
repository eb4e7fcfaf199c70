/**
 * Live capture through libpcap (the optional `cap` package). One handle per device; each packet
 * is copied by libpcap into a fixed buffer and handed on synchronously (no per-packet allocation).
 */
import { createRequire } from 'node:module';
import { CallmapError } from '../mapper/contract/index.ts';

export interface CaptureHandle {
  device: string;
  linkType: number;
  close(): void;
}

export type CaptureOpener = (
  device: string,
  filter: string,
  onPacket: (buf: Buffer, len: number, linkType: number, truncated: boolean) => void,
) => CaptureHandle;

interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): boolean;
  on(event: 'packet', cb: (nbytes: number, truncated: boolean) => void): void;
}

interface CapModule {
  Cap: { new (): CapInstance; deviceList(): Array<{ name: string }> };
}

/** cap's link-type names → pcap LINKTYPE numbers (cap reports unknown types as "Unknown linktype N"). */
export function linkTypeFromCap(name: string): number {
  switch (name) {
    case 'ETHERNET':
      return 1;
    case 'NULL':
      return 0;
    case 'LINKTYPE_LINUX_SLL':
      return 113;
    case 'RAW':
      return 101;
    default: {
      const m = /(\d+)$/.exec(name);
      return m ? Number(m[1]) : -1;
    }
  }
}

/**
 * Kernel ring size per device. The BPF filter passes only DNS responses and SYNs, so 2 MiB holds
 * thousands of packets; larger rings cost resident memory (libpcap's TPACKET_V3 ring is mapped
 * and touched up front: about 2× its size).
 */
export const CAPTURE_BUFFER_BYTES = 2 * 1024 * 1024;

let capModule: CapModule | undefined;
const failedHandles: CapInstance[] = [];

function loadCap(): CapModule {
  if (capModule) return capModule;
  try {
    capModule = createRequire(import.meta.url)('cap') as CapModule;
    return capModule;
  } catch (e) {
    throw new CallmapError(
      'SNIFFER_NO_LIBPCAP',
      `live capture needs the optional "cap" package and libpcap (${(e as Error).message.split('\n')[0]}); ` +
        'install libpcap-dev and run npm install, or replay a file with --pcap',
      { cause: e },
    );
  }
}

/** Names of the capture devices libpcap sees. */
export function listDevices(): string[] {
  return loadCap()
    .Cap.deviceList()
    .map((d) => d.name);
}

/** Opens `device` with the kernel filter; throws SNIFFER_CAPTURE with what to do on failure. */
export const openCapture: CaptureOpener = (device, filter, onPacket) => {
  const { Cap } = loadCap();
  const devices = Cap.deviceList().map((d) => d.name);
  if (!devices.includes(device)) {
    throw new CallmapError(
      'SNIFFER_NO_DEVICE',
      `no capture device ${JSON.stringify(device)}; pick --interface from: ${devices.join(', ') || '(none visible: missing CAP_NET_RAW?)'}`,
    );
  }
  const cap = new Cap();
  const buffer = Buffer.alloc(65535);
  let lt: number;
  try {
    lt = linkTypeFromCap(cap.open(device, filter, CAPTURE_BUFFER_BYTES, buffer));
  } catch (e) {
    // cap keeps a half-open handle after a failed open and aborts the process if that object is
    // ever garbage collected (its destructor unrefs what it never ref'd): keep it reachable.
    failedHandles.push(cap);
    throw new CallmapError(
      'SNIFFER_CAPTURE',
      `cannot capture on ${device}: ${(e as Error).message}; the sniffer needs CAP_NET_RAW (run as root or grant the capability) and an existing --interface`,
      { cause: e },
    );
  }
  cap.on('packet', (nbytes, truncated) => onPacket(buffer, nbytes, lt, truncated));
  let closed = false;
  return {
    device,
    linkType: lt,
    close() {
      if (closed) return;
      closed = true;
      cap.close();
    },
  };
};
