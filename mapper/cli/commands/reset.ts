/** `callmap reset`: clear the mapper's map. */
import { MapperClient, resolveMapperUrl } from '../../client/index.ts';
import { parseCli } from '../args.ts';
import type { Command } from '../command.ts';

const usage = `Usage: callmap reset [options]

Clear the map kept by the mapper (all intents and Kafka ACL records) and print how many entries
were removed. Batch ids already accepted stay remembered, so a retried old batch is not re-counted.

Options:
      --mapper-url URL   Mapper to reset (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  -h, --help             Show this help

Exit codes: 0 ok, 2 mapper unreachable, 64 bad flag.
`;

export const command: Command = {
  name: 'reset',
  summary: 'Clear the map',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, { 'mapper-url': { type: 'string' } });
    const client = new MapperClient(resolveMapperUrl(values['mapper-url'], ctx.env));
    try {
      const { removed } = await client.reset(ctx.signal);
      ctx.stdout.write(`Removed ${removed} entries.\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};
