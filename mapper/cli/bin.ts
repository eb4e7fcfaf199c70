#!/usr/bin/env node
/** The `callmap` executable: the only place that touches process.argv/env/exit for the CLI. */
import { EXIT } from './command.ts';
import { main } from './main.ts';

const controller = new AbortController();
const stop = (): void => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Safety net: a library promise abandoned after a timeout or abort (e.g. client-node's fetch when
// a list is cancelled) may reject later with nobody listening. Long-running components must not
// die of that; say it once per kind and keep running.
const seenStray = new Set<string>();
process.on('unhandledRejection', (reason: unknown) => {
  const key = String((reason as { code?: unknown })?.code ?? (reason as Error)?.name ?? 'unknown');
  if (seenStray.has(key)) return;
  seenStray.add(key);
  process.stderr.write(
    `callmap: ignored a late failure from an abandoned request (${String((reason as Error)?.message ?? reason)})\n`,
  );
});

main(process.argv.slice(2), {
  env: Object.freeze({ ...process.env }),
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`callmap: ${String(e)}\n`);
    process.exitCode = EXIT.failure;
  },
);
