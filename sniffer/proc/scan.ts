/**
 * I/O edge of the socket scan: walks <procRoot>/<pid>, reads net/tcp and net/tcp6 once per
 * network namespace and returns the client-side connections of every namespace. Processes that
 * vanish mid-scan are skipped.
 *
 * Namespaces are told apart by the inode of <procRoot>/<pid>/net/tcp: the kernel registers one
 * proc entry per network namespace for it, with an inode number that is unique while the
 * namespace lives, and stat(2) on it passes no ptrace check. Reading the `ns/net` link instead
 * needs PTRACE_MODE_READ access to the process (CAP_SYS_PTRACE for processes of other users or
 * with more capabilities), which the sniffer does not have by default. See ADR 0043.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { type ClientConnection, clientConnections, type ProcSocket, parseProcNetTcp } from './parse.ts';

export interface ScanResult {
  connections: ClientConnection[];
  namespaces: number;
  /** Unparseable lines plus unreadable files. */
  errors: number;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Identity of the network namespace of process `pid`: device and inode of its `net/tcp` entry.
 * Undefined when the process is gone (or is a zombie without a namespace).
 */
export async function netnsKey(procRoot: string, pid: string): Promise<string | undefined> {
  try {
    const s = await stat(join(procRoot, pid, 'net', 'tcp'));
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

export async function scanSockets(procRoot: string, littleEndian = endianness() === 'LE'): Promise<ScanResult> {
  let entries: string[];
  try {
    entries = await readdir(procRoot);
  } catch {
    return { connections: [], namespaces: 0, errors: 1 };
  }
  const seenNs = new Set<string>();
  const seenConn = new Set<string>();
  const connections: ClientConnection[] = [];
  let errors = 0;
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    const ns = await netnsKey(procRoot, pid);
    if (ns === undefined || seenNs.has(ns)) continue;
    seenNs.add(ns);
    const sockets: ProcSocket[] = [];
    let readAny = false;
    for (const file of ['tcp', 'tcp6']) {
      const text = await readOptional(join(procRoot, pid, 'net', file));
      if (text === undefined) continue;
      readAny = true;
      const r = parseProcNetTcp(text, littleEndian);
      errors += r.bad;
      for (const s of r.sockets) sockets.push(s);
    }
    if (!readAny) {
      errors++;
      seenNs.delete(ns); // try the namespace again through another process
      continue;
    }
    for (const c of clientConnections(sockets)) {
      const key = `${c.clientIp} ${c.serverIp} ${c.serverPort}`;
      if (seenConn.has(key)) continue;
      seenConn.add(key);
      connections.push(c);
    }
  }
  return { connections, namespaces: seenNs.size, errors };
}
