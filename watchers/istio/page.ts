/**
 * One stats page, fed chunk by chunk as it arrives: the format is picked from the first
 * non-blank byte (`{` = Envoy admin JSON, anything else = Prometheus text). Prometheus text is
 * parsed as it streams; JSON is collected (bounded by the caller's body cap) and parsed at the end.
 */
import { parseEnvoyStatsJson } from './envoy-json.ts';
import { createPrometheusParser, type PrometheusParser } from './prometheus.ts';
import { type Aggregator, ISTIO_METRICS, type IstioMetric } from './series.ts';

export const PAGE_FORMATS = ['prometheus', 'envoy-json'] as const;
export type PageFormat = (typeof PAGE_FORMATS)[number];

export interface PageParser {
  push(chunk: Buffer): void;
  /** Finishes the page; returns false when the page was JSON but not an Envoy stats document. */
  end(): boolean;
  format(): PageFormat | undefined;
}

/**
 * `prometheus` builds the Prometheus text reader once the format is known (default: the
 * TypeScript one feeding `sink`; the native engine passes its own, and `sink` then only sees JSON).
 */
export function createPageParser(
  sink: Aggregator,
  metrics: readonly IstioMetric[] = ISTIO_METRICS,
  prometheus: () => PrometheusParser = () => createPrometheusParser(sink, { metrics }),
): PageParser {
  let format: PageFormat | undefined;
  let prom: PrometheusParser | undefined;
  const json: Buffer[] = [];
  const route = (chunk: Buffer): void => {
    if (format === 'prometheus') prom?.push(chunk);
    else json.push(chunk);
  };
  return {
    push(chunk) {
      if (format === undefined) {
        let i = 0;
        while (i < chunk.length && (chunk[i] === 32 || chunk[i] === 9 || chunk[i] === 10 || chunk[i] === 13)) i++;
        if (i === chunk.length) {
          json.push(chunk); // only blanks so far; decide on the next chunk
          return;
        }
        format = chunk[i] === 123 ? 'envoy-json' : 'prometheus';
        if (format === 'prometheus') {
          prom = prometheus();
          for (const b of json.splice(0)) prom.push(b);
        }
      }
      route(chunk);
    },
    end() {
      if (format === 'prometheus') {
        prom?.end();
        return true;
      }
      if (format === 'envoy-json') return parseEnvoyStatsJson(Buffer.concat(json), sink, metrics);
      return true; // empty page: nothing to read
    },
    format: () => format,
  };
}
