/**
 * Pure parser for /proc/<pid>/net/tcp and tcp6. Addresses there are hex words in the kernel's
 * (host) byte order: `0100007F:0035` is 127.0.0.1:53 on little-endian machines.
 */
import { formatIpv6 } from '../decode/ip.ts';

export const TCP_ESTABLISHED = 1;
export const TCP_LISTEN = 10;

export interface ProcSocket {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** Kernel TCP state number (1 ESTABLISHED, 10 LISTEN, …). */
  state: number;
}

export interface ProcParseResult {
  sockets: ProcSocket[];
  /** Lines that did not parse (counted, skipped). */
  bad: number;
}

const scratch = Buffer.alloc(16);

function parseAddr(hex: string, littleEndian: boolean): string | undefined {
  if (hex.length !== 8 && hex.length !== 32) return undefined;
  if (!/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const words = hex.length / 8;
  for (let w = 0; w < words; w++) {
    const v = Number.parseInt(hex.slice(w * 8, w * 8 + 8), 16);
    if (littleEndian) scratch.writeUInt32LE(v, w * 4);
    else scratch.writeUInt32BE(v, w * 4);
  }
  if (words === 1) return `${scratch[0]}.${scratch[1]}.${scratch[2]}.${scratch[3]}`;
  const text = formatIpv6(scratch, 0);
  // v4-mapped (dual-stack sockets): report the plain IPv4 address
  return text.startsWith('::ffff:') && text.includes('.') ? text.slice(7) : text;
}

/** Parses the text of a /proc net/tcp or net/tcp6 file. */
export function parseProcNetTcp(text: string, littleEndian = true): ProcParseResult {
  const sockets: ProcSocket[] = [];
  let bad = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || (i === 0 && line.startsWith('sl'))) continue;
    const f = line.split(/\s+/);
    const local = f[1]?.split(':');
    const remote = f[2]?.split(':');
    const state = f[3] === undefined ? Number.NaN : Number.parseInt(f[3], 16);
    if (!local || !remote || local.length !== 2 || remote.length !== 2 || !Number.isInteger(state)) {
      bad++;
      continue;
    }
    const localIp = parseAddr(local[0]!, littleEndian);
    const remoteIp = parseAddr(remote[0]!, littleEndian);
    const localPort = /^[0-9A-Fa-f]{4}$/.test(local[1]!) ? Number.parseInt(local[1]!, 16) : Number.NaN;
    const remotePort = /^[0-9A-Fa-f]{4}$/.test(remote[1]!) ? Number.parseInt(remote[1]!, 16) : Number.NaN;
    if (localIp === undefined || remoteIp === undefined || Number.isNaN(localPort) || Number.isNaN(remotePort)) {
      bad++;
      continue;
    }
    sockets.push({ localIp, localPort, remoteIp, remotePort, state });
  }
  return { sockets, bad };
}

export interface ClientConnection {
  clientIp: string;
  serverIp: string;
  serverPort: number;
}

const isLoopbackIp = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';

/**
 * Client-side connections of one network namespace: ESTABLISHED sockets whose local port is not
 * a listening port there, loopback excluded. `sockets` is tcp and tcp6 of that namespace together.
 */
export function clientConnections(sockets: readonly ProcSocket[]): ClientConnection[] {
  const listening = new Set<number>();
  for (const s of sockets) if (s.state === TCP_LISTEN) listening.add(s.localPort);
  const out: ClientConnection[] = [];
  const seen = new Set<string>();
  for (const s of sockets) {
    if (s.state !== TCP_ESTABLISHED || listening.has(s.localPort)) continue;
    if (isLoopbackIp(s.localIp) || isLoopbackIp(s.remoteIp) || s.remotePort === 0) continue;
    const key = `${s.localIp} ${s.remoteIp} ${s.remotePort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ clientIp: s.localIp, serverIp: s.remoteIp, serverPort: s.remotePort });
  }
  return out;
}
