/**
 * Counts this process's capture descriptors: packet sockets (socket fds whose inode is listed in
 * /proc/net/packet) and fds open on `file` (a savefile). Counting all fds is racy: the test runner
 * opens and closes its own meanwhile.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function captureFds(file?: string): number {
  const packet = new Set(
    readFileSync('/proc/net/packet', 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/).at(-1)),
  );
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if ((m && packet.has(m[1])) || (file !== undefined && target === file)) n++;
  }
  return n;
}
