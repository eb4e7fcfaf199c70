/**
 * Runs a `callmap` command as the whole process: the one place that touches process.argv/env,
 * signals and the exit code. Used by the `callmap` bin and by standalone entries such as
 * `npm run kube-test-server`. The first SIGINT/SIGTERM shuts down gracefully; a second exits at once.
 */
import { EXIT } from './command.ts';
import { main } from './main.ts';

export function runAsProcess(argv: string[]): void {
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

  // `callmap list | head`: the reader went away; stop quietly like other Unix tools.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }

  // A running command keeps the process alive until it returns. Loops, retry waits and followers
  // unref their own timers (so libraries and tests never hang); without this hold, a daemon whose
  // only pending work is such a timer (a watcher waiting for its Kafka pod) would exit with 0.
  const hold = setInterval(() => {}, 2 ** 30);
  main(argv, {
    env: Object.freeze({ ...process.env }),
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  })
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        process.stderr.write(`callmap: ${String(e)}\n`);
        process.exitCode = EXIT.failure;
      },
    )
    .finally(() => clearInterval(hold));
}
