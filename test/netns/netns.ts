/** Shared helpers of the root-only network-namespace tests. */
import { execFileSync } from 'node:child_process';

export const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

/** Runs a command, ignoring failure (cleanup of things that may already be gone). */
export const tryRun = (cmd: string, args: string[]): void => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
};

/**
 * Removes namespaces named `<prefix><pid>-…` left by earlier runs whose process is gone (never
 * those of a live process: tests of one file run concurrently).
 */
export function removeLeftovers(prefix: string): void {
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${prefix}(\\d+)-`).exec(name);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) tryRun('ip', ['netns', 'delete', name]);
  }
}

/** Whether network namespaces can be created here (undefined) or why not. */
export function netnsUnavailable(probe: string): string | undefined {
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'delete', probe], { stdio: 'ignore' });
  } catch {
    return 'cannot create network namespaces here (needs iproute2 and CAP_SYS_ADMIN)';
  }
  return undefined;
}
