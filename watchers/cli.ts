/** `callmap watch <istio|kafka>`: dispatches to the watcher's own command module. */
import type { CliContext, Command } from '../mapper/cli/command.ts';
import { EXIT } from '../mapper/cli/command.ts';

const WATCHERS: Record<string, () => Promise<{ command: Command }>> = {
  istio: () => import('./istio/cli.ts'),
  kafka: () => import('./kafka/cli.ts'),
};

const usage = [
  'Usage: callmap watch <istio|kafka> [options]',
  '',
  '  istio   Scrape Envoy/ztunnel stats of Istio pods over HTTP and report HTTP paths and methods',
  '  kafka   Follow Kafka authorizer logs (pod logs or a file) and report topic-level access',
  '',
  'Run `callmap watch <watcher> --help` for its options.',
].join('\n');

export const command: Command = {
  name: 'watch',
  summary: 'Run a watcher',
  usage,
  async run(argv: string[], ctx: CliContext): Promise<number> {
    const [which, ...rest] = argv;
    if (which === '--help' || which === '-h') {
      ctx.stdout.write(`${usage}\n`);
      return EXIT.ok;
    }
    const load = which === undefined ? undefined : WATCHERS[which];
    if (!load) {
      ctx.stderr.write(`callmap watch: expected istio or kafka, got ${JSON.stringify(which ?? '')}\n${usage}\n`);
      return EXIT.usage;
    }
    const { command: sub } = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      ctx.stdout.write(`${sub.usage}\n`);
      return EXIT.ok;
    }
    return sub.run(rest, ctx);
  },
};
