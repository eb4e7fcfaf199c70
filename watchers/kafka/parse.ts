/**
 * Pure parser for Kafka authorizer audit lines, whatever the Kafka version and log layout.
 *
 * Message grammar (see docs/adr/0060-kafka-authorizer-line-parsing.md for the sources):
 *
 *   Principal = P is (Allowed|Denied) (Operation|operation) = OP from host = H [via listener L]
 *     on resource = TYPE:[PATTERN:]NAME
 *     [for request = API with resourceRefCount = N [based on rule RULE]]
 *
 * - AclAuthorizer (2.4–3.x, ZooKeeper mode): `Operation = Read`, `for request = … with resourceRefCount = …`.
 * - StandardAuthorizer (KRaft, 3.3+): `operation = READ` (enum names, UPPER_SNAKE), `… based on rule …`.
 * - SimpleAclAuthorizer (≤ 2.3): no `for request` suffix; before 2.0 no pattern type in the resource.
 *
 * The message is found by its `Principal = ` marker, so any layout works; the prefix before it only
 * supplies the timestamp (Kubernetes `timestamps=true` stamp first, then the layout's own).
 */
import {
  isIp,
  type KafkaOperation,
  type KafkaPatternType,
  type KafkaResourceType,
} from '../../mapper/contract/index.ts';

export const MARKER = 'Principal = ';

/** Why an authorizer-looking line was skipped. Every reason is counted and tested. */
export const SKIP_REASONS = [
  /** The line carries the marker but not the rest of the grammar. */
  'garbled',
  /** An operation callmap has no ClientIntents name for (e.g. CreateTokens, Unknown). */
  'unknown-operation',
  /** A resource type callmap does not know. */
  'unknown-resource-type',
  /** `from host =` is not an IP address. */
  'bad-host',
  /** The line is longer than the line limit (the rest of it was discarded). */
  'line-too-long',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export const DIALECTS = ['acl-authorizer', 'standard-authorizer', 'simple-acl-authorizer'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** The facts of one authorizer decision, independent of the line's timestamp. */
export interface AuthorizerDecision {
  principal: string;
  allowed: boolean;
  /** ClientIntents name of the operation. */
  operation: KafkaOperation;
  /** The operation as the broker wrote it (`Read`, `READ`, `DESCRIBE_CONFIGS`). */
  rawOperation: string;
  clientIp: string;
  resourceType: KafkaResourceType;
  patternType: KafkaPatternType;
  resourceName: string;
  /** API key name (`Fetch`, `Produce`, `Metadata`), absent for SimpleAclAuthorizer lines. */
  request?: string;
  /** KRaft rule kind: `SuperUser`, `DefaultAllow`, `DefaultDeny`, `MatchingAcl`. */
  rule?: string;
  dialect: Dialect;
}

const OPERATIONS: Readonly<Record<string, KafkaOperation>> = {
  Read: 'consume',
  READ: 'consume',
  Write: 'produce',
  WRITE: 'produce',
  Create: 'create',
  CREATE: 'create',
  Delete: 'delete',
  DELETE: 'delete',
  Alter: 'alter',
  ALTER: 'alter',
  Describe: 'describe',
  DESCRIBE: 'describe',
  ClusterAction: 'ClusterAction',
  CLUSTER_ACTION: 'ClusterAction',
  DescribeConfigs: 'DescribeConfigs',
  DESCRIBE_CONFIGS: 'DescribeConfigs',
  AlterConfigs: 'AlterConfigs',
  ALTER_CONFIGS: 'AlterConfigs',
  IdempotentWrite: 'IdempotentWrite',
  IDEMPOTENT_WRITE: 'IdempotentWrite',
  All: 'all',
  ALL: 'all',
};

/** Kafka operation as logged (either casing) → ClientIntents operation, or undefined. */
export function mapOperation(op: string): KafkaOperation | undefined {
  return Object.hasOwn(OPERATIONS, op) ? OPERATIONS[op] : undefined;
}

const RESOURCE_TYPES: Readonly<Record<string, KafkaResourceType>> = {
  Topic: 'Topic',
  TOPIC: 'Topic',
  Group: 'Group',
  GROUP: 'Group',
  Cluster: 'Cluster',
  CLUSTER: 'Cluster',
  TransactionalId: 'TransactionalId',
  TRANSACTIONAL_ID: 'TransactionalId',
  DelegationToken: 'DelegationToken',
  DELEGATION_TOKEN: 'DelegationToken',
  User: 'User',
  USER: 'User',
};

const PATTERN_TYPES: Readonly<Record<string, KafkaPatternType>> = {
  LITERAL: 'LITERAL',
  PREFIXED: 'PREFIXED',
  MATCH: 'MATCH',
  ANY: 'ANY',
};

const VERDICT = / is (Allowed|Denied) ([Oo])peration = /g;
const FROM_HOST = ' from host = ';
const ON_RESOURCE = ' on resource = ';
const FOR_REQUEST = ' for request = ';
const REF_COUNT = ' with resourceRefCount = ';
const BASED_ON = ' based on rule ';
/** A trailing ` (logger.name)` and optional ` [thread]` of the Apache and Strimzi log4j1 layouts. */
const LAYOUT_SUFFIX = / \([A-Za-z0-9_.$]+\)(?: \[[^\]]*\])?\s*$/;

/** Normalises a `getHostAddress()` value: strips a leading `/` and an IPv6 zone (`%eth0`). */
export function normaliseHost(h: string): string {
  let s = h.startsWith('/') ? h.slice(1) : h;
  const z = s.indexOf('%');
  if (z >= 0) s = s.slice(0, z);
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  return s;
}

/**
 * Parses the message part of an authorizer line: `body` starts at `Principal = ` and runs to the
 * end of the line (layout suffixes are tolerated). Returns the decision or the skip reason.
 */
export function parseAuthorizerMessage(body: string): AuthorizerDecision | SkipReason {
  if (!body.startsWith(MARKER)) return 'garbled';
  VERDICT.lastIndex = MARKER.length;
  const v = VERDICT.exec(body);
  if (v === null) return 'garbled';
  const principal = body.slice(MARKER.length, v.index);
  if (principal.length === 0) return 'garbled';
  const allowed = v[1] === 'Allowed';
  const upperO = v[2] === 'O';
  let i = v.index + v[0].length;
  const opEnd = body.indexOf(FROM_HOST, i);
  if (opEnd < 0) return 'garbled';
  const rawOperation = body.slice(i, opEnd);
  if (rawOperation.length === 0 || rawOperation.includes(' ')) return 'garbled';
  i = opEnd + FROM_HOST.length;
  const resAt = body.indexOf(ON_RESOURCE, i);
  if (resAt < 0) return 'garbled';
  // `host` is one token; some builds append ` via listener NAME` before ` on resource`.
  const hostSpace = body.indexOf(' ', i);
  const rawHost = body.slice(i, hostSpace >= 0 && hostSpace < resAt ? hostSpace : resAt);
  i = resAt + ON_RESOURCE.length;
  let resource: string;
  let request: string | undefined;
  let rule: string | undefined;
  const forAt = body.indexOf(FOR_REQUEST, i);
  if (forAt >= 0) {
    resource = body.slice(i, forAt);
    const reqStart = forAt + FOR_REQUEST.length;
    const refAt = body.indexOf(REF_COUNT, reqStart);
    if (refAt < 0) return 'garbled';
    request = body.slice(reqStart, refAt);
    if (request.length === 0 || request.includes(' ')) return 'garbled';
    const nStart = refAt + REF_COUNT.length;
    let nEnd = nStart;
    while (nEnd < body.length && body.charCodeAt(nEnd) >= 48 && body.charCodeAt(nEnd) <= 57) nEnd++;
    if (nEnd === nStart) return 'garbled';
    if (body.startsWith(BASED_ON, nEnd)) {
      const rStart = nEnd + BASED_ON.length;
      let rEnd = rStart;
      while (rEnd < body.length) {
        const c = body.charCodeAt(rEnd);
        // letters only: SuperUser, DefaultAllow, DefaultDeny, MatchingAcl
        if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) break;
        rEnd++;
      }
      if (rEnd === rStart) return 'garbled';
      rule = body.slice(rStart, rEnd);
    }
  } else {
    const rest = body.slice(i);
    const m = LAYOUT_SUFFIX.exec(rest);
    resource = (m === null ? rest : rest.slice(0, m.index)).trimEnd();
  }
  const c1 = resource.indexOf(':');
  if (c1 <= 0) return 'garbled';
  const rawType = resource.slice(0, c1);
  const resourceType = Object.hasOwn(RESOURCE_TYPES, rawType) ? RESOURCE_TYPES[rawType] : undefined;
  if (resourceType === undefined) return /^[A-Za-z_]+$/.test(rawType) ? 'unknown-resource-type' : 'garbled';
  let patternType: KafkaPatternType = 'LITERAL';
  let resourceName: string;
  const c2 = resource.indexOf(':', c1 + 1);
  const maybePattern = c2 < 0 ? undefined : resource.slice(c1 + 1, c2);
  if (maybePattern !== undefined && Object.hasOwn(PATTERN_TYPES, maybePattern)) {
    patternType = PATTERN_TYPES[maybePattern] as KafkaPatternType;
    resourceName = resource.slice((c2 as number) + 1);
  } else {
    // Kafka < 2.0 wrote `Topic:name` with no pattern type.
    resourceName = resource.slice(c1 + 1);
  }
  if (resourceName.length === 0) return 'garbled';
  const operation = mapOperation(rawOperation);
  if (operation === undefined) return 'unknown-operation';
  const clientIp = normaliseHost(rawHost);
  if (!isIp(clientIp)) return 'bad-host';
  const dialect: Dialect = !upperO
    ? 'standard-authorizer'
    : request === undefined
      ? 'simple-acl-authorizer'
      : 'acl-authorizer';
  const d: AuthorizerDecision = {
    principal,
    allowed,
    operation,
    rawOperation,
    clientIp,
    resourceType,
    patternType,
    resourceName,
    dialect,
  };
  if (request !== undefined) d.request = request;
  if (rule !== undefined) d.rule = rule;
  return d;
}

const DIGIT = (s: string, i: number): number => s.charCodeAt(i) - 48;
const isDigit = (s: string, i: number): boolean => {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
};
const num = (s: string, i: number, n: number): number => {
  let v = 0;
  for (let k = 0; k < n; k++) v = v * 10 + DIGIT(s, i + k);
  return v;
};

/** `YYYY-MM-DD?HH:MM:SS` at `i` (separator any single char) — checks shape only. */
function dateTimeAt(s: string, i: number): boolean {
  if (s.length < i + 19) return false;
  return (
    isDigit(s, i) &&
    isDigit(s, i + 1) &&
    isDigit(s, i + 2) &&
    isDigit(s, i + 3) &&
    s.charCodeAt(i + 4) === 45 &&
    isDigit(s, i + 5) &&
    isDigit(s, i + 6) &&
    s.charCodeAt(i + 7) === 45 &&
    isDigit(s, i + 8) &&
    isDigit(s, i + 9) &&
    isDigit(s, i + 11) &&
    isDigit(s, i + 12) &&
    s.charCodeAt(i + 13) === 58 &&
    isDigit(s, i + 14) &&
    isDigit(s, i + 15) &&
    s.charCodeAt(i + 16) === 58 &&
    isDigit(s, i + 17) &&
    isDigit(s, i + 18)
  );
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export interface Stamp {
  /** Milliseconds since the epoch. */
  ms: number;
  /** Nanoseconds within the second (full precision of the stamp). */
  nanos: number;
  /** Whole seconds since the epoch. */
  seconds: number;
  /** Index just past the stamp. */
  end: number;
}

/**
 * Parses a timestamp at `i`: `YYYY-MM-DD[T ]HH:MM:SS[.,]fraction` with optional `Z` / `±HH:MM` /
 * `±HHMM`. Without a zone the time is taken as UTC (brokers in containers log in UTC).
 */
export function parseStampAt(s: string, i: number): Stamp | undefined {
  if (!dateTimeAt(s, i)) return undefined;
  const sep = s.charCodeAt(i + 10);
  if (sep !== 84 && sep !== 32) return undefined; // 'T' or ' '
  const y = num(s, i, 4);
  const mo = num(s, i + 5, 2);
  const d = num(s, i + 8, 2);
  const h = num(s, i + 11, 2);
  const mi = num(s, i + 14, 2);
  const se = num(s, i + 17, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
  let j = i + 19;
  let nanos = 0;
  const f = s.charCodeAt(j);
  if ((f === 46 || f === 44) && isDigit(s, j + 1)) {
    j++;
    let digits = 0;
    while (isDigit(s, j)) {
      if (digits < 9) {
        nanos = nanos * 10 + DIGIT(s, j);
        digits++;
      }
      j++;
    }
    for (; digits < 9; digits++) nanos *= 10;
  }
  let offsetMin = 0;
  const z = s.charCodeAt(j);
  if (z === 90) j++;
  else if ((z === 43 || z === 45) && isDigit(s, j + 1) && isDigit(s, j + 2)) {
    const oh = num(s, j + 1, 2);
    let k = j + 3;
    if (s.charCodeAt(k) === 58) k++;
    if (isDigit(s, k) && isDigit(s, k + 1)) {
      offsetMin = (oh * 60 + num(s, k, 2)) * (z === 45 ? -1 : 1);
      j = k + 2;
    }
  }
  const seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offsetMin * 60;
  return { ms: seconds * 1000 + Math.floor(nanos / 1e6), nanos, seconds, end: j };
}

/**
 * The line's own time from the text before the message: a leading Kubernetes RFC3339Nano stamp
 * wins (it carries a zone), else the first layout timestamp (`[2024-05-01 12:00:00,123]`,
 * `2024-05-01 12:00:00,123`, ISO8601). Undefined when the prefix has none (Bitnami console).
 */
export function prefixTime(prefix: string): number | undefined {
  const k = parseStampAt(prefix, 0);
  if (k !== undefined) return k.ms;
  const limit = Math.min(prefix.length - 19, 64);
  for (let i = 0; i <= limit; i++) {
    if (isDigit(prefix, i) && (i === 0 || !isDigit(prefix, i - 1))) {
      const st = parseStampAt(prefix, i);
      if (st !== undefined) return st.ms;
    }
  }
  return undefined;
}

// --- the same timestamp rules over bytes (the file fast path never decodes the prefix) ---

const bDigit = (b: Buffer, i: number): boolean => {
  const c = b[i] as number;
  return c >= 48 && c <= 57;
};
const bNum = (b: Buffer, i: number, n: number): number => {
  let v = 0;
  for (let k = 0; k < n; k++) v = v * 10 + ((b[i + k] as number) - 48);
  return v;
};

/** `parseStampAt` over `b[i, end)`, returning milliseconds only. */
export function stampMsBytes(b: Buffer, i: number, end: number): number | undefined {
  if (end < i + 19) return undefined;
  if (
    !(
      bDigit(b, i) &&
      bDigit(b, i + 1) &&
      bDigit(b, i + 2) &&
      bDigit(b, i + 3) &&
      b[i + 4] === 45 &&
      bDigit(b, i + 5) &&
      bDigit(b, i + 6) &&
      b[i + 7] === 45 &&
      bDigit(b, i + 8) &&
      bDigit(b, i + 9) &&
      (b[i + 10] === 84 || b[i + 10] === 32) &&
      bDigit(b, i + 11) &&
      bDigit(b, i + 12) &&
      b[i + 13] === 58 &&
      bDigit(b, i + 14) &&
      bDigit(b, i + 15) &&
      b[i + 16] === 58 &&
      bDigit(b, i + 17) &&
      bDigit(b, i + 18)
    )
  )
    return undefined;
  const y = bNum(b, i, 4);
  const mo = bNum(b, i + 5, 2);
  const d = bNum(b, i + 8, 2);
  const h = bNum(b, i + 11, 2);
  const mi = bNum(b, i + 14, 2);
  const se = bNum(b, i + 17, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
  let j = i + 19;
  let ms = 0;
  const f = b[j];
  if ((f === 46 || f === 44) && j + 1 < end && bDigit(b, j + 1)) {
    j++;
    let digits = 0;
    while (j < end && bDigit(b, j)) {
      if (digits < 3) {
        ms = ms * 10 + ((b[j] as number) - 48);
        digits++;
      }
      j++;
    }
    for (; digits < 3; digits++) ms *= 10;
  }
  let offsetMin = 0;
  const z = j < end ? b[j] : undefined;
  if ((z === 43 || z === 45) && j + 2 < end && bDigit(b, j + 1) && bDigit(b, j + 2)) {
    const oh = bNum(b, j + 1, 2);
    let k = j + 3;
    if (b[k] === 58) k++;
    if (k + 1 < end && bDigit(b, k) && bDigit(b, k + 1)) offsetMin = (oh * 60 + bNum(b, k, 2)) * (z === 45 ? -1 : 1);
  }
  return (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offsetMin * 60) * 1000 + ms;
}

/** `prefixTime` over the prefix bytes `b[start, end)`. */
export function prefixTimeBytes(b: Buffer, start: number, end: number): number | undefined {
  const k = stampMsBytes(b, start, end);
  if (k !== undefined) return k;
  const limit = Math.min(end - 19, start + 64);
  for (let i = start; i <= limit; i++) {
    if (bDigit(b, i) && (i === start || !bDigit(b, i - 1))) {
      const st = stampMsBytes(b, i, end);
      if (st !== undefined) return st;
    }
  }
  return undefined;
}

export type LineResult =
  | { kind: 'other' }
  | { kind: 'skipped'; reason: SkipReason }
  | { kind: 'decision'; decision: AuthorizerDecision; time: number | undefined };

/** Parses one whole log line (without its newline). Convenience over the two pieces above. */
export function parseLine(line: string): LineResult {
  const p = line.indexOf(MARKER);
  if (p < 0) return { kind: 'other' };
  const r = parseAuthorizerMessage(line.slice(p));
  if (typeof r === 'string') return { kind: 'skipped', reason: r };
  return { kind: 'decision', decision: r, time: prefixTime(line.slice(0, p)) };
}
