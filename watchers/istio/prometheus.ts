/**
 * Streaming reader for the Prometheus text exposition format, specialised for the two Istio
 * counters the watcher needs. Labels are read by name (their order differs between Istio
 * versions); escaped quotes, backslashes and newlines in values, `# HELP`/`# TYPE` lines,
 * timestamps, blanks and tabs between tokens, trailing commas and CRLF are all accepted.
 *
 * Bytes are decoded as latin1 in 64 KiB slices (one char per byte, so a chunk boundary never
 * splits a character); only the few label values that are kept are re-decoded as UTF-8.
 */
import { isAscii } from 'node:buffer';
import {
  type Aggregator,
  emptyRawSeries,
  ISTIO_METRICS,
  type IstioMetric,
  labelSetter,
  type RawSeries,
  type SkipReason,
  setLabel,
} from './series.ts';

/** Longest line accepted; longer lines are skipped and counted (garbage, not a real series). */
export const DEFAULT_MAX_LINE = 1 << 20;
const SLICE = 1 << 16;

export interface PrometheusParser {
  push(chunk: Buffer): void;
  end(): void;
}

const HIGH = /[\x80-\xff]/g;
const ESCAPE = /\\(.)/g;

function unescapeValue(v: string): string {
  return v.replace(ESCAPE, (m, c: string) => (c === 'n' ? '\n' : c === '\\' || c === '"' ? c : m));
}

/** A latin1-decoded value back to its real characters (label values are UTF-8 on the wire). */
const utf8 = (v: string): string => Buffer.from(v, 'latin1').toString('utf8');

/** `t.startsWith(name, at)` without the builtin's overhead (it dominated profiles). */
function sameAt(t: string, at: number, name: string): boolean {
  for (let k = name.length - 1; k >= 0; k--) if (t.charCodeAt(at + k) !== name.charCodeAt(k)) return false;
  return true;
}

const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 13;
const isNameChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 58;

/** Label names the watcher keeps, indexed by length so most names are rejected on length alone. */
const WANTED_BY_LENGTH: Array<string[] | undefined> = [];
for (const n of [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'destination_workload',
  'destination_workload_namespace',
  'destination_service',
  'destination_service_name',
  'request_method',
  'request_path',
  'request_url_path',
]) {
  const list = WANTED_BY_LENGTH[n.length] ?? [];
  list.push(n);
  WANTED_BY_LENGTH[n.length] = list;
}

const WANTED: ReadonlySet<string> = new Set(WANTED_BY_LENGTH.flatMap((l) => l ?? []));
const LABEL_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * A page's series of one metric carry the same labels in the same order, so after the first
 * plain line (no blanks inside the braces, no escapes) the rest are matched by one sticky regex
 * built for exactly that label sequence: Irregexp scans the line in native code, several times
 * faster than walking it label by label. A line that does not match takes the full walk.
 */
interface LineTemplate {
  re: RegExp;
  /** Setters of the kept labels, in capture-group order. */
  setters: Array<(s: RawSeries, value: string) => void>;
}

function buildTemplate(metric: string, labels: readonly string[]): LineTemplate | undefined {
  if (!labels.every((n) => LABEL_NAME.test(n))) return undefined;
  const setters: LineTemplate['setters'] = [];
  const VALUE = '[^"\\\\\\n]*';
  const parts = labels.map((n) => {
    const set = WANTED.has(n) ? labelSetter(n) : undefined;
    if (set === undefined) return `${n}="${VALUE}"`;
    setters.push(set);
    return `${n}="(${VALUE})"`;
  });
  const src = `${metric}\\{${parts.join(',')}\\}[ \\t]+([^ \\t\\r\\n]+)`;
  return { re: new RegExp(src, 'y'), setters };
}

export function createPrometheusParser(
  sink: Aggregator,
  opts: { maxLineLength?: number; metrics?: readonly IstioMetric[] } = {},
): PrometheusParser {
  const maxLine = opts.maxLineLength ?? DEFAULT_MAX_LINE;
  const metrics = opts.metrics ?? ISTIO_METRICS;
  let carry = '';
  let skipping = false;
  // Cache of the next backslash position in the current text, so "is there a backslash
  // before j" is O(1) amortised (most pages have none at all).
  let nextBs = -1;
  let nextHigh = -1;
  /** The current text is known to be pure ASCII (checked on the bytes with simdutf). */
  let asciiText = false;
  const templates = new Map<IstioMetric, LineTemplate>();
  const labelsSeen: string[] = [];
  // Regexes learned on this page; bounded so a page mixing label orders cannot make us compile one per line.
  let learnings = 0;

  /** Position of the next non-ASCII byte at or after `from` (same amortised scheme). */
  const highFrom = (t: string, from: number): number => {
    if (asciiText) return Number.MAX_SAFE_INTEGER;
    if (nextHigh < from) {
      HIGH.lastIndex = from;
      const m = HIGH.exec(t);
      nextHigh = m ? m.index : Number.MAX_SAFE_INTEGER;
    }
    return nextHigh;
  };

  const backslashFrom = (t: string, from: number): number => {
    if (nextBs < from) {
      const i = t.indexOf('\\', from);
      nextBs = i < 0 ? Number.MAX_SAFE_INTEGER : i;
    }
    return nextBs;
  };

  /** Reads one line [ls, le) of t; returns why it was skipped, or undefined (kept or not wanted). */
  function parseLine(t: string, ls: number, le: number): SkipReason | undefined {
    let i = ls;
    while (i < le && isBlank(t.charCodeAt(i))) i++;
    if (i >= le || t.charCodeAt(i) !== 105 /* i */) return undefined; // comments, blank lines, other metrics
    let metric: IstioMetric | undefined;
    for (let m = 0; m < metrics.length; m++) {
      const name = metrics[m] as IstioMetric;
      if (sameAt(t, i, name)) {
        const c = t.charCodeAt(i + name.length);
        if (c === 123 /* { */ || isBlank(c)) {
          metric = name;
          i += name.length;
          break;
        }
      }
    }
    if (metric === undefined) return undefined;
    const s = emptyRawSeries(metric);
    const tpl = templates.get(metric);
    if (tpl !== undefined) {
      tpl.re.lastIndex = i - metric.length;
      const m = tpl.re.exec(t);
      if (m !== null) {
        const decode = highFrom(t, i) < le;
        const n = tpl.setters.length;
        for (let g = 0; g < n; g++) {
          const v = m[g + 1] as string;
          (tpl.setters[g] as (s: RawSeries, value: string) => void)(s, decode ? utf8(v) : v);
        }
        const value = Number(m[n + 1]);
        if (!Number.isFinite(value) || value < 0) return 'invalid-value';
        s.value = value;
        sink.add(s);
        return undefined;
      }
    }
    // The full walk. While no template fits, note whether the line is plain and its label order.
    let plain = t.charCodeAt(i) === 123;
    labelsSeen.length = 0;
    while (i < le && isBlank(t.charCodeAt(i))) i++;
    if (t.charCodeAt(i) === 123) {
      i++;
      for (;;) {
        if (isBlank(t.charCodeAt(i))) plain = false;
        while (i < le && isBlank(t.charCodeAt(i))) i++;
        if (i >= le) return 'malformed-line';
        if (t.charCodeAt(i) === 125 /* } */) {
          i++;
          break;
        }
        const ns = i;
        if (!isNameChar(t.charCodeAt(ns))) return 'malformed-line';
        // The opening quote comes first: name [blanks] = [blanks] "
        const oq = t.indexOf('"', i);
        if (oq < 0 || oq >= le) return 'malformed-line';
        let eq = oq - 1;
        while (eq > ns && isBlank(t.charCodeAt(eq))) eq--;
        if (t.charCodeAt(eq) !== 61 /* = */) return 'malformed-line';
        let ne = eq;
        while (ne > ns && isBlank(t.charCodeAt(ne - 1))) ne--;
        if (eq !== oq - 1 || ne !== eq) plain = false;
        if (plain) labelsSeen.push(t.slice(ns, ne));
        const vs = oq + 1;
        let ve = t.indexOf('"', vs);
        if (ve < 0 || ve >= le) return 'malformed-line';
        let escaped = false;
        if (backslashFrom(t, vs) < ve) {
          // Slow path: the value holds escapes; walk it to find the real closing quote.
          escaped = true;
          plain = false;
          let k = vs;
          for (;;) {
            if (k >= le) return 'malformed-line';
            const c = t.charCodeAt(k);
            if (c === 92) k += 2;
            else if (c === 34) break;
            else k++;
          }
          ve = k;
        }
        const candidates = WANTED_BY_LENGTH[ne - ns];
        if (candidates !== undefined) {
          for (let k = 0; k < candidates.length; k++) {
            const name = candidates[k] as string;
            if (sameAt(t, ns, name)) {
              const raw = t.slice(vs, ve);
              const value = escaped ? unescapeValue(raw) : raw;
              setLabel(s, name, highFrom(t, vs) < ve ? utf8(value) : value);
              break;
            }
          }
        }
        i = ve + 1;
        if (isBlank(t.charCodeAt(i))) plain = false;
        while (i < le && isBlank(t.charCodeAt(i))) i++;
        const c = t.charCodeAt(i);
        if (c === 44 /* , */) {
          i++;
          if (t.charCodeAt(i) === 125) plain = false; // trailing comma
        } else if (c === 125) {
          i++;
          break;
        } else return 'malformed-line';
      }
    }
    while (i < le && isBlank(t.charCodeAt(i))) i++;
    const vs = i;
    while (i < le && !isBlank(t.charCodeAt(i))) i++;
    if (i === vs) return 'malformed-line';
    const value = Number(t.slice(vs, i));
    if (!Number.isFinite(value) || value < 0) return 'invalid-value';
    // Anything after the value is the optional timestamp; it is not needed.
    s.value = value;
    sink.add(s);
    if (plain && learnings < 16) {
      learnings++;
      const learned = buildTemplate(metric, labelsSeen);
      if (learned !== undefined) templates.set(metric, learned);
    }
    return undefined;
  }

  /** Parses the complete lines of `t` in [from, last], `last` being the index of a newline. */
  function runLines(t: string, from: number, last: number): void {
    nextBs = -1;
    nextHigh = -1;
    let ls = from;
    while (ls <= last) {
      const le = t.indexOf('\n', ls);
      if (le - ls > maxLine) sink.skip('line-too-long');
      else {
        const skipped = parseLine(t, ls, le);
        if (skipped !== undefined) sink.skip(skipped);
      }
      ls = le + 1;
    }
  }

  function pushText(t: string, ascii: boolean): void {
    let start = 0;
    if (skipping) {
      const nl = t.indexOf('\n');
      if (nl < 0) return;
      skipping = false;
      start = nl + 1;
    }
    const first = t.indexOf('\n', start);
    if (first < 0) {
      carry += t.slice(start);
    } else {
      if (carry.length > 0) {
        // The line that straddles the previous chunk: parse it on its own, so the big chunk
        // string stays flat (a concatenated string makes every charCodeAt slow).
        const line = carry + t.slice(start, first + 1);
        carry = '';
        asciiText = false; // the carried part was not checked
        runLines(line, 0, line.length - 1);
        start = first + 1;
      }
      const last = t.lastIndexOf('\n');
      asciiText = ascii;
      if (last >= start) runLines(t, start, last);
      asciiText = false;
      carry = t.slice(last + 1);
    }
    if (carry.length > maxLine) {
      sink.skip('line-too-long');
      carry = '';
      skipping = true;
    }
  }

  return {
    push(chunk) {
      for (let off = 0; off < chunk.length; off += SLICE) {
        const end = Math.min(off + SLICE, chunk.length);
        pushText(chunk.toString('latin1', off, end), isAscii(chunk.subarray(off, end)));
      }
    },
    end() {
      if (carry.length > 0 && !skipping) pushText('\n', false);
      carry = '';
      skipping = false;
    },
  };
}

/** One-shot parse of a whole page (tests, files). */
export function parsePrometheusText(
  page: Buffer | string,
  sink: Aggregator,
  opts?: { maxLineLength?: number; metrics?: readonly IstioMetric[] },
): void {
  const p = createPrometheusParser(sink, opts);
  p.push(typeof page === 'string' ? Buffer.from(page, 'utf8') : page);
  p.end();
}
