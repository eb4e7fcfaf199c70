/**
 * Error base shared by every component. Each error carries a fixed, documented `code`
 * (never a free-form string) and a message that says what to do next.
 */
export class CallmapError extends Error {
  readonly code: string;
  /** HTTP status used when this error reaches the mapper's error middleware. */
  readonly status: number;
  /** Structured extra detail that is safe to return to a client (e.g. the offending field). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CallmapError';
    this.code = code;
    this.status = options.status ?? 500;
    this.details = options.details;
  }
}

/** Raised by the contract validators: `path` names the offending field, e.g. `observations[3].serverPort`. */
export class ContractError extends CallmapError {
  readonly path: string;
  constructor(path: string, problem: string) {
    super('CONTRACT_INVALID', `${path}: ${problem}`, { status: 400, details: { path } });
    this.name = 'ContractError';
    this.path = path;
  }
}

export const isCallmapError = (e: unknown): e is CallmapError => e instanceof CallmapError;
