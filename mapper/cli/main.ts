/**
 * `callmap` entry point. Reads the environment once, picks the subcommand, and lazily imports
 * only that command's module so `callmap list` does not load libpcap or SQLite.
 */
import { isCallmapError } from '../contract/index.ts';
import { type CliContext, type Command, EXIT, UsageError } from './command.ts';

interface Entry {
  summary: string;
  load: () => Promise<{ command: Command }>;
}

const COMMANDS: Record<string, Entry> = {
  mapper: {
    summary: 'Run the mapper service (REST API, /metrics, live web map)',
    load: () => import('./commands/mapper.ts'),
  },
  list: { summary: 'Print who calls whom, per client workload', load: () => import('./commands/list.ts') },
  export: {
    summary: 'Write ClientIntents (YAML/JSON) for the discovered map',
    load: () => import('./commands/export.ts'),
  },
  visualize: { summary: 'Draw the map as PNG, SVG or JPG', load: () => import('./commands/visualize.ts') },
  reset: { summary: 'Clear the map', load: () => import('./commands/reset.ts') },
  report: {
    summary: 'Take a snapshot report and diff it with the previous one',
    load: () => import('./commands/report.ts'),
  },
  demo: {
    summary: 'Run everything on the embedded demo cluster and show the map',
    load: () => import('./commands/demo.ts'),
  },
  sniffer: {
    summary: 'Capture DNS/TCP on this node (or replay a .pcap) and report to the mapper',
    load: () => import('../../sniffer/cli.ts'),
  },
  watch: {
    summary: 'Run a watcher: `watch istio` (Envoy stats) or `watch kafka` (authorizer logs)',
    load: () => import('../../watchers/cli.ts'),
  },
  'kube-test-server': {
    summary: 'Serve a fixture cluster over the Kubernetes API (for tests, demos, kubectl)',
    load: () => import('../../test/kube-api-server/cli.ts'),
  },
};

export function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const rows = Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`);
  return [
    'callmap: who talks to whom in your Kubernetes cluster, down to HTTP paths and Kafka topics.',
    '',
    'Usage: callmap <command> [options]',
    '',
    'Commands:',
    ...rows,
    '',
    'Run `callmap <command> --help` for the options of a command.',
    'Environment: CALLMAP_MAPPER_URL (default http://localhost:9090), KUBECONFIG.',
    '',
  ].join('\n');
}

export async function main(argv: string[], ctx: CliContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    ctx.stdout.write(globalHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    ctx.stdout.write('callmap 0.1.0\n');
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    ctx.stderr.write(`callmap: unknown command ${JSON.stringify(name)}; run \`callmap --help\` for the list.\n`);
    return EXIT.usage;
  }
  try {
    const { command } = await entry.load();
    if (name !== 'watch' && (rest.includes('--help') || rest.includes('-h'))) {
      ctx.stdout.write(command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`);
      return EXIT.ok;
    }
    return await command.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.stderr.write(`callmap ${name}: ${e.message}\n`);
      return EXIT.usage;
    }
    if (isCallmapError(e)) {
      ctx.stderr.write(`callmap ${name}: ${e.message} [${e.code}]\n`);
      return e.code === 'MAPPER_UNREACHABLE' ? EXIT.mapperUnreachable : EXIT.failure;
    }
    ctx.stderr.write(`callmap ${name}: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT.failure;
  }
}
