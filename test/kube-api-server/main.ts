/**
 * Standalone entry: `npm run kube-test-server -- --port 8001 --fixture test/fixtures/kube/basic.yaml`.
 * Same flags and exit codes as `callmap kube-test-server` (it runs that command through the CLI
 * dispatcher). The first SIGINT/SIGTERM shuts down gracefully; a second one exits at once.
 */
import { EXIT } from '../../mapper/cli/command.ts';
import { main } from '../../mapper/cli/main.ts';

const controller = new AbortController();
const stop = (): void => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

main(['kube-test-server', ...process.argv.slice(2)], {
  env: Object.freeze({ ...process.env }),
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`kube-test-server: ${String(e)}\n`);
    process.exitCode = EXIT.failure;
  },
);
