/**
 * The shape every `callmap` subcommand implements. The dispatcher (main.ts) reads the environment
 * once and hands each command a context; commands never read process.env themselves.
 */
import type { Writable } from 'node:stream';
import { CallmapError } from '../contract/index.ts';

export interface CliContext {
  /** Snapshot of the environment taken once by main.ts. */
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable;
  /** Aborted on SIGINT/SIGTERM; long-running commands shut down gracefully when it fires. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  /** Full help text printed for `callmap <name> --help`. */
  usage: string;
  /** Returns the process exit code. Throwing a CallmapError prints its message as one line. */
  run(argv: string[], ctx: CliContext): Promise<number>;
}

/** Exit codes shared by all commands (reports add 3 and 4, see report command). */
export const EXIT = {
  ok: 0,
  failure: 1,
  mapperUnreachable: 2,
  usage: 64,
} as const;

/** A bad flag or argument: printed as one line, exit code 64. */
export class UsageError extends CallmapError {
  constructor(message: string) {
    super('USAGE', message, { status: 400 });
    this.name = 'UsageError';
  }
}
