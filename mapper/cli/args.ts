/**
 * Thin wrapper over node:util parseArgs that turns its errors into UsageError and adds the
 * typed value helpers every command needs (durations, lists, enums, ports).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './command.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parseCli<O extends OptionSpec>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? '';
    const ambiguous = /Option '(-[^' ]+)[^']*' argument is ambiguous/.exec(msg);
    if (ambiguous) {
      const flag = ambiguous[1] as string;
      throw new UsageError(`${flag} needs a value; write a value that starts with "-" as ${flag}=VALUE (see --help)`);
    }
    throw new UsageError(`${msg} (see --help)`);
  }
}

/** Comma-separated or repeated list flag → trimmed, non-empty values. */
export function list(v: string | string[] | boolean | undefined): string[] {
  if (v === undefined || typeof v === 'boolean') return [];
  const parts = Array.isArray(v) ? v : [v];
  return parts
    .flatMap((p) => p.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}`);
  }
  return v as T;
}

export function port(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${flag} must be a port 0-65535; got ${JSON.stringify(v)}`);
  return n;
}

export function positiveInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${flag} must be a positive integer; got ${JSON.stringify(v)}`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Largest delay a Node timer honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` (or a bare number of seconds) into milliseconds. */
export function duration(flag: string, v: string | undefined, dfltMs: number): number {
  if (v === undefined) return dfltMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--${flag} must be a duration like 30s, 5m or 1h; got ${JSON.stringify(v)}`);
  const ms = Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000);
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`--${flag} must be greater than zero`);
  // Node timers silently turn anything above 2^31-1 ms (~24.8 days) into 1 ms: a hot loop.
  if (ms > MAX_TIMER_MS)
    throw new UsageError(`--${flag} must be at most 24d (timers hold at most 2^31-1 ms); got ${JSON.stringify(v)}`);
  return Math.round(ms);
}

/** `name.namespace` → parts; the namespace is everything after the first dot. */
export function nameDotNamespace(flag: string, v: string): { name: string; namespace: string } {
  const i = v.indexOf('.');
  if (i <= 0 || i === v.length - 1) throw new UsageError(`--${flag} must be name.namespace; got ${JSON.stringify(v)}`);
  return { name: v.slice(0, i), namespace: v.slice(i + 1) };
}
