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
