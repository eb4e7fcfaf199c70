/** `callmap visualize`: draw the map as PNG, SVG or JPG (Graphviz in WebAssembly, no system `dot`). */
import path from 'node:path';
import { MapperClient, resolveMapperUrl } from '../../client/index.ts';
import { IMAGE_FORMATS, type ImageFormat, writeMapImage } from '../../visualize/index.ts';
import { list, oneOf, parseCli } from '../args.ts';
import { type Command, UsageError } from '../command.ts';

const usage = `Usage: callmap visualize -o FILE [options]

Draw the discovered map: one box per workload (name.namespace and kind), grouped by namespace,
left to right; TCP calls grey, HTTP calls blue with their paths, Kafka calls dashed amber with
their topics (red when the broker denied everything). Rendered with Graphviz compiled to
WebAssembly, so no Graphviz installation is needed.

Options:
  -o, --output FILE             Where to write the picture (required)
      --format png|svg|jpg      Image format (default: from the FILE extension, else png)
  -n, --namespaces NS[,NS...]   Only calls from or to workloads in these namespaces (repeatable)
      --external                Also draw external (internet) destinations seen through DNS
      --mapper-url URL          Mapper to ask (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  -h, --help                    Show this help

Exit codes: 0 ok, 1 failure (e.g. cannot write FILE), 2 mapper unreachable, 64 bad flag.
`;

const EXTENSIONS: Record<string, ImageFormat> = { '.png': 'png', '.svg': 'svg', '.jpg': 'jpg', '.jpeg': 'jpg' };

/** The format to write: `--format` when given (must agree with a known extension), else from the extension. */
export function resolveFormat(output: string, format: string | undefined): ImageFormat {
  const fromExt = EXTENSIONS[path.extname(output).toLowerCase()];
  if (format === undefined) return fromExt ?? 'png';
  const f = oneOf('format', format === 'jpeg' ? 'jpg' : format, IMAGE_FORMATS, 'png');
  if (fromExt !== undefined && fromExt !== f) {
    throw new UsageError(
      `--format ${format} does not match the extension of ${JSON.stringify(output)}; use a .${f} file name or drop --format`,
    );
  }
  return f;
}

export const command: Command = {
  name: 'visualize',
  summary: 'Draw the map as PNG, SVG or JPG',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, {
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      namespaces: { type: 'string', short: 'n', multiple: true },
      external: { type: 'boolean' },
      'mapper-url': { type: 'string' },
    });
    const output = values.output;
    if (output === undefined || output === '') throw new UsageError('-o FILE is required (e.g. -o map.png)');
    const format = resolveFormat(output, values.format);
    const namespaces = list(values.namespaces);
    const external = values.external === true;

    const client = new MapperClient(resolveMapperUrl(values['mapper-url'], ctx.env));
    let graph: Awaited<ReturnType<MapperClient['graph']>>;
    try {
      graph = await client.graph({ external }, ctx.signal);
    } finally {
      await client.close();
    }
    const w = await writeMapImage(graph, output, { format, namespaces, external });
    const what = w.nodes === 0 ? 'an empty map (no calls discovered yet)' : `${w.nodes} workloads and ${w.edges} calls`;
    const size = w.width !== undefined ? ` (${w.width}×${w.height} px)` : '';
    ctx.stdout.write(`Wrote ${format.toUpperCase()} of ${what} to ${output}${size}.\n`);
    if (w.skipped > 0) ctx.stderr.write(`callmap visualize: skipped ${w.skipped} inconsistent graph entries\n`);
    return 0;
  },
};
