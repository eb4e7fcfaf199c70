/**
 * I/O edge of the socket scan: walks <procRoot>/<pid>, reads net/tcp and net/tcp6 once per
 * network namespace (deduplicated by the inode in <procRoot>/<pid>/ns/net) and returns the
 * client-side connections of every namespace. Processes that vanish mid-scan are skipped.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
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
    let ns: string;
    try {
      ns = await readlink(join(procRoot, pid, 'ns', 'net'));
    } catch {
      continue; // gone, or a kernel thread we may not inspect
    }
    if (seenNs.has(ns)) continue;
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
