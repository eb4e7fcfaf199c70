/** `callmap list`: who calls whom, per client workload, from the mapper's query API. */
import { type IntentsQuery, MapperClient, resolveMapperUrl } from '../../client/index.ts';
import { formatIntentsList } from '../../export/list-text.ts';
import { list, nameDotNamespace, parseCli } from '../args.ts';
import type { Command } from '../command.ts';

const usage = `Usage: callmap list [options]

Print, per client workload, the workloads it calls:

  <client> in namespace <ns> calls:
    - <server>                      (same namespace)
    - <server> in namespace <ns>    (other namespace)
      GET /path                     (HTTP calls, when known)
      <topic>: produce, describe    (Kafka topics; denied operations marked "(denied)")

Options:
  -n, --namespaces NS[,NS...]   Only clients in these namespaces (repeatable)
      --server NAME.NS          Only calls to this server (workload or Kubernetes Service)
      --exclude-labels K=V,...  Leave out clients/servers carrying any of these labels
      --external                Also show external (internet) destinations seen through DNS
      --as-kubernetes-service   Show the Kubernetes Service a call went through instead of the workload
      --mapper-url URL          Mapper to ask (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  -h, --help                    Show this help

Exit codes: 0 ok, 2 mapper unreachable, 64 bad flag.
`;

/** The filter flags `callmap list` and `callmap export` share (plus --mapper-url). */
export const INTENT_FILTER_OPTIONS = {
  namespaces: { type: 'string', short: 'n', multiple: true },
  server: { type: 'string' },
  'exclude-labels': { type: 'string', multiple: true },
  external: { type: 'boolean' },
  'as-kubernetes-service': { type: 'boolean' },
  'mapper-url': { type: 'string' },
} as const;

/** The intents query those flags ask for; a bad --server is a usage error. */
export function intentFilter(values: {
  namespaces?: string[] | undefined;
  server?: string | undefined;
  'exclude-labels'?: string[] | undefined;
  external?: boolean | undefined;
  'as-kubernetes-service'?: boolean | undefined;
}): IntentsQuery {
  const server = values.server === undefined ? undefined : nameDotNamespace('server', values.server);
  return {
    namespaces: list(values.namespaces),
    excludeLabels: list(values['exclude-labels']),
    external: values.external === true,
    asKubernetesService: values['as-kubernetes-service'] === true,
    ...(server ? { server: `${server.name}.${server.namespace}` } : {}),
  };
}

export const command: Command = {
  name: 'list',
  summary: 'Print who calls whom, per client workload',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, INTENT_FILTER_OPTIONS);
    const query = intentFilter(values);
    const client = new MapperClient(resolveMapperUrl(values['mapper-url'], ctx.env));
    try {
      const { intents } = await client.intents(query, ctx.signal);
      const text = formatIntentsList(intents);
      ctx.stdout.write(text === '' ? 'No intents found.\n' : text);
      return 0;
    } finally {
      await client.close();
    }
  },
};
