/**
 * The ingest route's own JSON body reader (ADR 0101): for the request every reporter sends
 * (`Content-Type: application/json` exactly, a `Content-Length` within the limit, no
 * `Content-Encoding` or `Transfer-Encoding`) the body is read into one preallocated Buffer,
 * decoded once and parsed with one `JSON.parse` of a flat string. Every other request is left to
 * `express.json` (the caller's fallback), before a byte is read. The answers are the ones
 * `express.json` (body-parser 2) gives for the same bytes: the same `{}` for an empty body, the
 * same BOM stripping, the same strict first-character rule and error messages, the same error
 * `type`, `status` and message for a short or aborted body (the API's error middleware maps them
 * to the same ErrorBody). A property test compares both over random bodies.
 */
import type { IncomingMessage } from 'node:http';

/** An error as body-parser reports it (the API's error middleware reads `type`, `status`, `message`). */
export class BodyError extends Error {
  readonly status: number;
  readonly statusCode: number;
  readonly type: string;
  constructor(status: number, type: string, message: string) {
    super(message);
    this.status = status;
    this.statusCode = status;
    this.type = type;
  }
}

/**
 * The body length when this request can take the fast path (see the module comment), else -1:
 * the caller hands the request to `express.json` unchanged.
 */
export function fastBodyLength(req: IncomingMessage, limit: number): number {
  const h = req.headers;
  if (h['content-type'] !== 'application/json') return -1;
  if (h['content-encoding'] !== undefined || h['transfer-encoding'] !== undefined) return -1;
  const cl = h['content-length'];
  if (cl === undefined || cl.length === 0 || cl.length > 15) return -1;
  for (let i = 0; i < cl.length; i++) {
    const c = cl.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  const n = Number(cl);
  return n <= limit ? n : -1;
}

/**
 * Reads `length` bytes of `req` and parses them as body-parser's strict JSON parser does; `done`
 * gets the value or a BodyError (or the parse SyntaxError, with `type` and `status` set).
 */
export function readJsonBody(
  req: IncomingMessage,
  length: number,
  limit: number,
  done: (err: Error | undefined, body?: unknown) => void,
): void {
  const buf = takeBuffer(length);
  let received = 0;
  let finished = false;
  const finish = (err: Error | undefined, body?: unknown): void => {
    if (finished) return;
    finished = true;
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('aborted', onAborted);
    req.removeListener('error', onError);
    req.removeListener('close', onClose);
    done(err, body);
  };
  const onData = (chunk: Buffer): void => {
    if (finished) return;
    if (received + chunk.length <= length) chunk.copy(buf, received);
    received += chunk.length;
    if (received > limit) {
      // raw-body stops at the limit (and lets the rest of the request be dumped)
      req.resume();
      finish(new BodyError(413, 'entity.too.large', 'request entity too large'));
    }
  };
  const onEnd = (): void => {
    if (received !== length) {
      finish(new BodyError(400, 'request.size.invalid', 'request size did not match content length'));
      return;
    }
    let body: unknown;
    try {
      const text = buf.toString('utf8');
      giveBuffer(buf);
      body = parseStrictJson(text);
    } catch (e) {
      const err = e as Error & { status?: number; statusCode?: number; type?: string };
      err.status = 400;
      err.statusCode = 400;
      err.type = 'entity.parse.failed';
      finish(err);
      return;
    }
    finish(undefined, body);
  };
  const onAborted = (): void => finish(new BodyError(400, 'request.aborted', 'request aborted'));
  const onError = (e: Error): void => {
    const err = e as Error & { status?: number; statusCode?: number };
    err.status ??= 400;
    err.statusCode ??= err.status;
    finish(err);
  };
  const onClose = (): void => {
    if (!req.complete) onAborted();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('aborted', onAborted);
  req.on('error', onError);
  req.on('close', onClose);
}

/**
 * Body buffers are reused: a decoded body's buffer goes back at once (up to `POOL_MAX` of them,
 * each at most `POOL_BYTES`), so concurrent reporters do not allocate a fresh off-heap buffer per
 * request that only a later GC frees.
 */
const POOL_MAX = 8;
const POOL_BYTES = 1 << 20;
const pool: Buffer[] = [];

function takeBuffer(length: number): Buffer {
  for (let i = pool.length - 1; i >= 0; i--) {
    const b = pool[i] as Buffer;
    if (b.length >= length) {
      pool.splice(i, 1);
      return b.subarray(0, length);
    }
  }
  return Buffer.allocUnsafe(length);
}

function giveBuffer(buf: Buffer): void {
  const whole = buf.byteOffset === 0 && buf.buffer.byteLength <= POOL_BYTES ? Buffer.from(buf.buffer) : undefined;
  if (whole === undefined || buf.length < 4096) return;
  if (pool.length >= POOL_MAX) pool.shift();
  pool.push(whole);
}

// ---- body-parser 2's strict JSON parse (lib/types/json.js), after its UTF-8 decoder (BOM stripped)

const FIRST_NON_WHITESPACE = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d]|$)/;
const JSON_SYNTAX_CHAR = '#';
const JSON_SYNTAX_RUN = /#+/g;

export function parseStrictJson(decoded: string): unknown {
  const body = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  if (body.length === 0) return {}; // as body-parser: an empty body is a common client mistake
  if (body[0] !== '{' && body[0] !== '[') {
    const first = FIRST_NON_WHITESPACE.exec(body)?.[1] || undefined;
    if (first !== '{' && first !== '[') throw strictSyntaxError(body, first);
  }
  return JSON.parse(body);
}

/** The SyntaxError JSON.parse gives for the body cut at its first character (body-parser's wording). */
function strictSyntaxError(str: string, char: string | undefined): SyntaxError {
  const index = str.indexOf(char as string);
  let partial = '';
  if (index !== -1) partial = str.substring(0, index) + JSON_SYNTAX_CHAR.repeat(str.length - index);
  try {
    JSON.parse(partial);
    throw new SyntaxError('strict violation');
  } catch (e) {
    const err = e as SyntaxError;
    err.message = err.message.replace(JSON_SYNTAX_RUN, (placeholder) =>
      str.substring(index, index + placeholder.length),
    );
    return err;
  }
}
