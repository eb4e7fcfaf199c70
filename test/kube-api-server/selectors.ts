/**
 * Label and field selectors with the grammar of the real API server (pure functions).
 *
 * Label selectors: comma-separated requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
 * `k notin (a,b)`, `k>1`, `k<1`. Field selectors: comma-separated `f=v`, `f==v`, `f!=v` with
 * backslash escapes for `,`, `=` and `\` in values.
 */
import { CallmapError } from '../../mapper/contract/index.ts';

export const LABEL_OPS = ['exists', '!exists', '=', '!=', 'in', 'notin', 'gt', 'lt'] as const;
export type LabelOp = (typeof LABEL_OPS)[number];

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** A selector the server cannot parse; answered with a 400 `Status` (reason BadRequest). */
export class SelectorError extends CallmapError {
  constructor(message: string) {
    super('KUBE_BAD_SELECTOR', message, { status: 400 });
    this.name = 'SelectorError';
  }
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(key: string, raw: string): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    throw new SelectorError(
      `unable to parse requirement: ${JSON.stringify(raw)}: key prefix ${JSON.stringify(prefix)} must be a DNS subdomain`,
    );
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    throw new SelectorError(
      `unable to parse requirement: ${JSON.stringify(raw)}: key ${JSON.stringify(key)} must be a qualified name ` +
        '(alphanumerics, "-", "_", "." with an optional DNS-subdomain prefix and "/")',
    );
  }
}

function checkValue(value: string, raw: string): void {
  if (value === '') return;
  if (value.length > 63 || !NAME.test(value)) {
    throw new SelectorError(
      `unable to parse requirement: ${JSON.stringify(raw)}: value ${JSON.stringify(value)} must be 63 characters ` +
        'or less, begin and end with an alphanumeric character and contain only alphanumerics, "-", "_" or "."',
    );
  }
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) throw new SelectorError(`unable to parse label selector ${JSON.stringify(s)}: unbalanced ")"`);
    } else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new SelectorError(`unable to parse label selector ${JSON.stringify(s)}: unbalanced "("`);
  parts.push(s.slice(start));
  return parts;
}

const SET_RE = /^([^\s!=<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/;
const EQ_RE = /^([^\s!=<>(),]+)\s*(==|=|!=)\s*([^\s!=<>(),]*)$/;
const CMP_RE = /^([^\s!=<>(),]+)\s*(<|>)\s*(\S+)$/;
const EXISTS_RE = /^(!?)\s*([^\s!=<>(),]+)$/;

/** Parses a label selector; the empty string selects everything. Throws SelectorError. */
export function parseLabelSelector(input: string): LabelRequirement[] {
  if (input.trim() === '') return [];
  const reqs: LabelRequirement[] = [];
  for (const part of splitTopLevel(input)) {
    const raw = part.trim();
    if (raw === '')
      throw new SelectorError(`unable to parse label selector ${JSON.stringify(input)}: empty requirement`);
    let m = SET_RE.exec(raw);
    if (m) {
      const key = m[1] ?? '';
      checkKey(key, raw);
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      if (values.length === 1 && values[0] === '') {
        throw new SelectorError(
          `unable to parse requirement: ${JSON.stringify(raw)}: for 'in', 'notin' operators, values set can't be empty`,
        );
      }
      for (const v of values) checkValue(v, raw);
      reqs.push({ key, op: m[2] === 'in' ? 'in' : 'notin', values });
      continue;
    }
    m = EQ_RE.exec(raw);
    if (m) {
      const key = m[1] ?? '';
      const value = m[3] ?? '';
      checkKey(key, raw);
      checkValue(value, raw);
      reqs.push({ key, op: m[2] === '!=' ? '!=' : '=', values: [value] });
      continue;
    }
    m = CMP_RE.exec(raw);
    if (m) {
      const key = m[1] ?? '';
      const value = m[3] ?? '';
      checkKey(key, raw);
      if (!/^-?\d+$/.test(value)) {
        throw new SelectorError(
          `unable to parse requirement: ${JSON.stringify(raw)}: for 'Gt', 'Lt' operators, the value must be an integer`,
        );
      }
      reqs.push({ key, op: m[2] === '>' ? 'gt' : 'lt', values: [value] });
      continue;
    }
    m = EXISTS_RE.exec(raw);
    if (m) {
      const key = m[2] ?? '';
      checkKey(key, raw);
      reqs.push({ key, op: m[1] === '!' ? '!exists' : 'exists', values: [] });
      continue;
    }
    throw new SelectorError(
      `unable to parse requirement: ${JSON.stringify(raw)} is not a valid label selector requirement`,
    );
  }
  return reqs;
}

/** True when the labels satisfy every requirement. */
export function matchLabels(
  reqs: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.hasOwn(l, r.key);
    const v = has ? l[r.key] : undefined;
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!exists':
        if (has) return false;
        break;
      case '=':
        if (!has || v !== r.values[0]) return false;
        break;
      case '!=':
        if (has && v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v ?? '')) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v ?? '')) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v ?? '')) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false;
        break;
      }
    }
  }
  return true;
}

/** Splits on unescaped `sep`, keeping escapes in place. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

function unescapeFieldValue(v: string, raw: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as string;
    if (c === '\\') {
      const n = v[i + 1];
      if (n === '\\' || n === ',' || n === '=') {
        out += n;
        i++;
        continue;
      }
      throw new SelectorError(`invalid field selector ${JSON.stringify(raw)}: invalid escape sequence`);
    }
    if (c === ',' || c === '=') {
      throw new SelectorError(`invalid field selector ${JSON.stringify(raw)}: unescaped ${JSON.stringify(c)} in value`);
    }
    out += c;
  }
  return out;
}

/**
 * Parses a field selector. `known` lists the field labels the resource supports (besides
 * metadata.name and metadata.namespace); other fields are rejected as the real server does.
 */
export function parseFieldSelector(input: string, known: readonly string[]): FieldRequirement[] {
  if (input.trim() === '') return [];
  const allowed = ['metadata.name', 'metadata.namespace', ...known];
  const reqs: FieldRequirement[] = [];
  for (const part of splitUnescaped(input, ',')) {
    const raw = part.trim();
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/s.exec(raw);
    if (!m)
      throw new SelectorError(`invalid field selector ${JSON.stringify(raw)}: expected field=value or field!=value`);
    const field = m[1] ?? '';
    if (!allowed.includes(field)) {
      throw new SelectorError(
        `field label not supported: ${field} (supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')})`,
      );
    }
    reqs.push({ field, op: m[2] === '!=' ? '!=' : '=', value: unescapeFieldValue(m[3] ?? '', raw) });
  }
  return reqs;
}

/** True when `get(field)` satisfies every requirement. */
export function matchFields(reqs: readonly FieldRequirement[], get: (field: string) => string): boolean {
  for (const r of reqs) {
    const v = get(r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
