/** `callmap export`: the discovered map as Otterize ClientIntents (YAML or JSON). */
import fs from 'node:fs';
import path from 'node:path';
import { MapperClient, resolveMapperUrl } from '../../client/index.ts';
import { CallmapError } from '../../contract/index.ts';
import {
  documentFileName,
  EXPORT_FORMATS,
  OUTPUT_VERSIONS,
  renderDocuments,
  toClientIntents,
} from '../../export/clientintents.ts';
import { oneOf, parseCli } from '../args.ts';
import { type Command, UsageError } from '../command.ts';
import { INTENT_FILTER_OPTIONS, intentFilter } from './list.ts';

const OUTPUT_TYPES = ['single-file', 'dir'] as const;

const usage = `Usage: callmap export [options]

Write the discovered map as ClientIntents (k8s.otterize.com), one document per client workload.
HTTP calls carry paths and methods (HEAD is written as GET; methods the CRD does not know are left
out and counted on stderr), Kafka calls carry topics and the operations that were allowed.

Options:
  -n, --namespaces NS[,NS...]       Only clients in these namespaces (repeatable)
      --server NAME.NS              Only calls to this server (workload or Kubernetes Service)
      --exclude-labels K=V,...      Leave out clients/servers carrying any of these labels
      --distinct-by-label KEY       One document per client and value of its label KEY
      --external                    Also write internet targets for external destinations seen via DNS
      --as-kubernetes-service       Target the Kubernetes Service a call went through instead of the workload
      --format yaml|json            Output format (default yaml; several JSON documents form a List)
      --output-version V            v2beta1 (default) or v1alpha3
  -o, --output PATH                 Write to PATH instead of stdout
      --output-type single-file|dir single-file (default): all documents in PATH;
                                    dir: PATH is a directory, one file per document
      --mapper-url URL              Mapper to ask (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  -h, --help                        Show this help

Exit codes: 0 ok, 1 cannot write the output, 2 mapper unreachable, 64 bad flag.
`;

export const command: Command = {
  name: 'export',
  summary: 'Write ClientIntents (YAML/JSON) for the discovered map',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, {
      ...INTENT_FILTER_OPTIONS,
      'distinct-by-label': { type: 'string' },
      format: { type: 'string' },
      'output-version': { type: 'string' },
      output: { type: 'string', short: 'o' },
      'output-type': { type: 'string' },
    });
    const format = oneOf('format', values.format, EXPORT_FORMATS, 'yaml');
    const outputVersion = oneOf('output-version', values['output-version'], OUTPUT_VERSIONS, 'v2beta1');
    const outputType = oneOf('output-type', values['output-type'], OUTPUT_TYPES, 'single-file');
    if (outputType === 'dir' && values.output === undefined) {
      throw new UsageError('--output-type dir needs -o DIRECTORY');
    }
    const distinct = values['distinct-by-label'];
    if (distinct !== undefined && distinct.trim() === '') throw new UsageError('--distinct-by-label needs a label key');
    const query = intentFilter(values);
    const external = query.external === true;

    const client = new MapperClient(resolveMapperUrl(values['mapper-url'], ctx.env));
    let intents: Awaited<ReturnType<MapperClient['intents']>>['intents'];
    try {
      ({ intents } = await client.intents(
        { ...query, ...(distinct ? { distinctByLabel: distinct } : {}) },
        ctx.signal,
      ));
    } finally {
      await client.close();
    }
    const result = toClientIntents(intents, {
      outputVersion,
      external,
      ...(distinct ? { distinctByLabel: distinct } : {}),
    });
    const notes: string[] = [];
    if (result.mappedMethods > 0) notes.push(`${result.mappedMethods} HEAD method(s) written as GET`);
    if (result.droppedMethods > 0) notes.push(`${result.droppedMethods} HTTP method(s) the CRD does not know left out`);
    if (result.droppedPaths > 0) notes.push(`${result.droppedPaths} HTTP path(s) without a writable method left out`);

    const out = values.output;
    try {
      if (out === undefined) {
        ctx.stdout.write(renderDocuments(result.documents, format));
      } else if (outputType === 'dir') {
        fs.mkdirSync(out, { recursive: true });
        for (const d of result.documents) {
          fs.writeFileSync(path.join(out, documentFileName(d, format)), renderDocuments([d], format));
        }
        ctx.stderr.write(`Wrote ${result.documents.length} ClientIntents file(s) to ${out}\n`);
      } else {
        fs.writeFileSync(out, renderDocuments(result.documents, format));
        ctx.stderr.write(`Wrote ${result.documents.length} ClientIntents document(s) to ${out}\n`);
      }
    } catch (e) {
      throw new CallmapError(
        'EXPORT_WRITE_FAILED',
        `cannot write ${out}: ${(e as Error).message}; check the path and permissions`,
        { cause: e },
      );
    }
    if (notes.length > 0) ctx.stderr.write(`Note: ${notes.join('; ')}.\n`);
    if (result.documents.length === 0) ctx.stderr.write('No intents found; nothing to export.\n');
    return 0;
  },
};
