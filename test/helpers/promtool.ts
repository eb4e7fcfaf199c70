/** Runs the real `promtool check metrics` (Debian `prometheus`) over an exposition text. */
import { execFile } from 'node:child_process';

export const PROMTOOL = '/usr/bin/promtool';

export function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  const child = execFile(PROMTOOL, ['check', 'metrics']);
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    let output = '';
    child.stdout?.on('data', (d) => {
      output += String(d);
    });
    child.stderr?.on('data', (d) => {
      output += String(d);
    });
    child.on('close', (code) => resolve({ code, output }));
  });
  child.stdin?.end(text);
  return done;
}
