/** `callmap report`: take a snapshot in the mapper, diff it with the previous one, deliver the report. */
import fs from 'node:fs';
import path from 'node:path';
import { MapperClient, resolveMapperUrl } from '../../client/index.ts';
import { CallmapError } from '../../contract/index.ts';
import { renderHtml } from '../../snapshots/html.ts';
import { renderMarkdown } from '../../snapshots/markdown.ts';
import {
  buildReport,
  hasNewEdges,
  REPORT_FORMATS,
  type Report,
  type ReportFormat,
  reportFileName,
} from '../../snapshots/report.ts';
import type { Snapshot, SnapshotDiff } from '../../snapshots/types.ts';
import { parseWebhookUrl, postWebhook } from '../../snapshots/webhook.ts';
import { buildGraph } from '../../store/intents.ts';
import { list, oneOf, parseCli } from '../args.ts';
import { type Command, EXIT, UsageError } from '../command.ts';

export const REPORT_EXIT = {
  ok: EXIT.ok,
  mapperUnreachable: EXIT.mapperUnreachable,
  deliveryFailed: 3,
  newEdges: 4,
} as const;

const usage = `Usage: callmap report [options]

Ask the mapper to take a snapshot of the map, diff it with the previous snapshot (same namespace
filter), and write a report: totals, per-namespace summary, every edge with its HTTP paths/methods
and Kafka topics/operations, and what changed (new/vanished edges, new paths, new topics, newly
denied Kafka attempts, new external destinations). The snapshot stays in the mapper
(GET /api/v1/snapshots) whatever happens to the delivery.

Options:
  -n, --namespaces NS[,NS...]   Only clients in these namespaces (repeatable)
      --format md|json|html     Markdown for humans (default), JSON for tools (schema: docs/reports.md),
                                or one self-contained HTML page with the map picture
      --out DIR                 Write callmap-report-<time>-<id>.<format> into DIR (created if missing)
                                instead of printing to stdout
      --webhook URL             Also POST the JSON report to URL (retried with backoff;
                                env CALLMAP_REPORT_WEBHOOK, e.g. from a Secret)
      --webhook-retries N       Retries after the first webhook attempt (default 4)
      --fail-on-new-edges       Exit 4 when edges appeared since the previous snapshot
      --mapper-url URL          Mapper to ask (env CALLMAP_MAPPER_URL, default http://localhost:9090)
  -h, --help                    Show this help

Exit codes: 0 ok, 1 other failure, 2 mapper unreachable, 3 delivery failed (file or webhook; the
snapshot is still stored in the mapper), 4 new edges found with --fail-on-new-edges, 64 bad flag.
`;

function nonNegativeInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n) || n > 20) {
    throw new UsageError(`--${flag} must be an integer from 0 to 20; got ${JSON.stringify(v)}`);
  }
  return n;
}

const DIFF_LISTS = [
  'newEdges',
  'vanishedEdges',
  'newPorts',
  'newHttp',
  'removedHttp',
  'newKafka',
  'removedKafka',
  'newDeniedKafka',
  'newExternals',
  'namespaces',
] as const;

/** Shape check of a diff answer (the mapper is another process; never trust it blindly). */
export function isDiff(v: unknown): v is SnapshotDiff {
  const d = v as Partial<Record<string, unknown>> | null;
  if (!d || typeof d !== 'object' || typeof d['totals'] !== 'object' || d['totals'] === null) return false;
  if (d['from'] !== null && typeof d['from'] !== 'object') return false;
  return DIFF_LISTS.every((k) => Array.isArray(d[k]));
}

/** Renders the report in a format; HTML draws the map with Graphviz (a failed drawing keeps the page). */
export async function renderReport(r: Report, format: ReportFormat): Promise<string> {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  if (format === 'md') return renderMarkdown(r);
  try {
    const { renderGraph } = await import('../../visualize/index.ts');
    const svg = await renderGraph(buildGraph(r.intents), 'svg', { title: `callmap snapshot ${r.snapshot.id}` });
    return renderHtml(r, svg.toString('utf8'));
  } catch (e) {
    return renderHtml(r, undefined, (e as Error)?.message ?? String(e));
  }
}

/** Writes `text` to DIR/name atomically (temp file + rename). */
function writeAtomic(dir: string, name: string, text: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return target;
}

export const command: Command = {
  name: 'report',
  summary: 'Take a snapshot report and diff it with the previous one',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, {
      namespaces: { type: 'string', short: 'n', multiple: true },
      format: { type: 'string' },
      out: { type: 'string' },
      webhook: { type: 'string' },
      'webhook-retries': { type: 'string' },
      'fail-on-new-edges': { type: 'boolean' },
      'mapper-url': { type: 'string' },
    });
    const format = oneOf('format', values.format, REPORT_FORMATS, 'md');
    const namespaces = list(values.namespaces);
    for (const n of namespaces) {
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(n)) {
        throw new UsageError(`--namespaces holds ${JSON.stringify(n)}, which is not a Kubernetes namespace name`);
      }
    }
    if (values.out !== undefined && values.out.trim() === '') throw new UsageError('--out must name a directory');
    let webhook: URL | undefined;
    const webhookRaw = values.webhook ?? (ctx.env['CALLMAP_REPORT_WEBHOOK'] || undefined);
    if (webhookRaw !== undefined) {
      try {
        webhook = parseWebhookUrl(webhookRaw);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const retries = nonNegativeInt('webhook-retries', values['webhook-retries'], 4);
    const mapperUrl = resolveMapperUrl(values['mapper-url'], ctx.env);
    const client = new MapperClient(mapperUrl);
    let snapshot: Snapshot;
    let diff: SnapshotDiff;
    try {
      snapshot = await client.requestJson<Snapshot>('POST', '/api/v1/snapshots', { namespaces }, ctx.signal);
      if (typeof snapshot?.id !== 'number' || !Array.isArray(snapshot.intents)) {
        throw new CallmapError(
          'MAPPER_BAD_RESPONSE',
          `mapper at ${mapperUrl} answered POST /api/v1/snapshots without a snapshot; is it a callmap mapper with snapshot support?`,
        );
      }
      diff = await client.requestJson<SnapshotDiff>(
        'GET',
        `/api/v1/snapshots/${snapshot.id}/diff?against=previous`,
        undefined,
        ctx.signal,
      );
      if (!isDiff(diff)) {
        throw new CallmapError(
          'MAPPER_BAD_RESPONSE',
          `mapper at ${mapperUrl} answered GET /api/v1/snapshots/${snapshot.id}/diff with something that is not a snapshot diff; is it a callmap mapper of the same version?`,
        );
      }
    } finally {
      await client.close();
    }
    const report = buildReport(snapshot, diff, { mapperUrl, now: Date.now() });
    const text = await renderReport(report, format);

    let failed = false;
    const delivered: string[] = [];
    if (values.out !== undefined) {
      try {
        delivered.push(writeAtomic(values.out, reportFileName(snapshot, format), text));
      } catch (e) {
        failed = true;
        ctx.stderr.write(
          `callmap report: cannot write the report into ${values.out} (${(e as Error)?.message ?? e}); snapshot ${snapshot.id} is kept in the mapper [REPORT_WRITE_FAILED]\n`,
        );
      }
    } else {
      ctx.stdout.write(text);
      delivered.push('stdout');
    }
    if (webhook) {
      try {
        const r = await postWebhook(webhook, JSON.stringify(report), {
          retries,
          signal: ctx.signal,
          onRetry: (i) =>
            ctx.stderr.write(
              `callmap report: webhook attempt ${i.attempt} failed (${i.reason}); retrying in ${i.delayMs} ms\n`,
            ),
        });
        delivered.push(`webhook (HTTP ${r.status}, ${r.attempts} attempt(s))`);
      } catch (e) {
        failed = true;
        const code = e instanceof CallmapError ? e.code : 'WEBHOOK_FAILED';
        ctx.stderr.write(`callmap report: ${(e as Error)?.message ?? e} [${code}]\n`);
      }
    }
    const t = report.diff.totals;
    ctx.stderr.write(
      `callmap report: snapshot ${snapshot.id} (${report.summary.totals.edges} edges)${
        report.previous
          ? ` vs ${report.previous.id}: ${t.newEdges} new, ${t.vanishedEdges} vanished edges`
          : ': first snapshot'
      }; delivered to ${delivered.length > 0 ? delivered.join(', ') : 'nowhere'}\n`,
    );
    if (failed) return REPORT_EXIT.deliveryFailed;
    if (values['fail-on-new-edges'] === true && hasNewEdges(report)) {
      ctx.stderr.write(
        `callmap report: ${t.newEdges} new edge(s) since snapshot ${report.previous?.id} (--fail-on-new-edges)\n`,
      );
      return REPORT_EXIT.newEdges;
    }
    return REPORT_EXIT.ok;
  },
};
