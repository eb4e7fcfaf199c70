/**
 * `callmap kube-test-server`: serves a fixture cluster over the Kubernetes API until SIGINT/SIGTERM.
 */
import { writeFile } from 'node:fs/promises';
import { parseCli, port } from '../../mapper/cli/args.ts';
import { type Command, EXIT, UsageError } from '../../mapper/cli/command.ts';
import { CallmapError, isCallmapError } from '../../mapper/contract/index.ts';
import { startKubeApiServer } from './index.ts';

const USAGE = `Usage: callmap kube-test-server [--fixture FILE.yaml] [--port N] [--host ADDR] [--kubeconfig-out PATH]

Serves a fixture cluster over the real Kubernetes REST protocol (discovery, list, get, watch,
pod logs), for tests, demos and kubectl. Objects and log lines can be added at run time through
the control API (POST /_callmap/apply, /_callmap/remove, /_callmap/logs/NS/POD); see
docs/kube-api-server.md.

Options:
  --fixture FILE         multi-document YAML of Kubernetes manifests (default: empty cluster)
  --port N               port to listen on (default 0: any free port)
  --host ADDR            address to bind (default 127.0.0.1)
  --kubeconfig-out PATH  also write the kubeconfig to PATH (left in place on exit)
  -h, --help             show this help

Prints the URL and the path of a ready-to-use kubeconfig, then runs until SIGINT/SIGTERM:
  KUBECONFIG=<path> kubectl get pods -A
`;

export const command: Command = {
  name: 'kube-test-server',
  summary: 'Serve a fixture cluster over the Kubernetes API (for tests, demos, kubectl)',
  usage: USAGE,
  async run(argv, ctx) {
    const { values } = parseCli(argv, {
      fixture: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'kubeconfig-out': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      ctx.stdout.write(USAGE);
      return EXIT.ok;
    }
    const host = values.host ?? '127.0.0.1';
    if (host.trim() === '') throw new UsageError('--host must not be empty');
    const listenPort = port('port', values.port, 0);
    const server = await startKubeApiServer({ fixture: values.fixture, port: listenPort, host }).catch((e: unknown) => {
      if (isCallmapError(e)) throw e;
      // A socket error (port taken, host unknown): one line, not a stack trace.
      const why = (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
      throw new CallmapError(
        'KUBE_LISTEN',
        `cannot listen on ${host} port ${listenPort} (${why}); choose a free --port (0 = any) or another --host`,
        { cause: e },
      );
    });
    try {
      const out = values['kubeconfig-out'];
      if (out !== undefined) {
        try {
          await writeFile(out, server.kubeconfigYaml, { mode: 0o600 });
        } catch (e) {
          throw new CallmapError(
            'KUBE_KUBECONFIG_WRITE',
            `cannot write --kubeconfig-out ${out}: ${(e as Error).message}`,
          );
        }
      }
      const count = ['ns', 'no', 'po', 'svc', 'deploy'].map((k) => `${server.list(k).length} ${k}`).join(', ');
      ctx.stdout.write(
        [
          `kube-test-server listening on ${server.url} (${count})`,
          `kubeconfig: ${out ?? server.kubeconfigPath}`,
          `try: KUBECONFIG=${out ?? server.kubeconfigPath} kubectl get pods -A`,
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      ctx.stdout.write('kube-test-server: shutting down\n');
      return EXIT.ok;
    } finally {
      await server.close();
    }
  },
};
