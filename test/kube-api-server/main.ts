/**
 * Standalone entry: `npm run kube-test-server -- --port 8001 --fixture test/fixtures/kube/basic.yaml`.
 * Same flags as `callmap kube-test-server`.
 */
import { isCallmapError } from '../../mapper/contract/index.ts';
import { command } from './cli.ts';

const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());

try {
  process.exitCode = await command.run(process.argv.slice(2), {
    env: { ...process.env },
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  });
} catch (e) {
  process.stderr.write(`kube-test-server: ${isCallmapError(e) ? e.message : String((e as Error).stack ?? e)}\n`);
  process.exitCode = isCallmapError(e) && e.code === 'USAGE' ? 64 : 1;
}
