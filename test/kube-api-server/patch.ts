/**
 * PATCH bodies (pure): JSON merge patch (RFC 7386), JSON patch (RFC 6902: add, remove, replace,
 * test, move, copy) and strategic merge patch approximated as a merge patch (lists are replaced,
 * not merged by key; `$patch` directives are not understood).
 */
import { CallmapError } from '../../mapper/contract/index.ts';
import { BadRequestError } from './store.ts';

export const PATCH_TYPES = [
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new BadRequestError(`json patch: path ${JSON.stringify(path)} must start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

/** The parent container and last key of a pointer; throws when the parent does not exist. */
function parentOf(doc: unknown, path: string): { parent: Container; key: string } {
  const parts = pointer(path);
  const key = parts.pop();
  if (key === undefined) throw new BadRequestError('json patch: the root cannot be the target');
  let cur: unknown = doc;
  for (const p of parts) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRecord(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw new BadRequestError(`json patch: path ${JSON.stringify(path)} does not exist`);
  }
  if (!Array.isArray(cur) && !isRecord(cur)) {
    throw new BadRequestError(`json patch: path ${JSON.stringify(path)} does not exist`);
  }
  return { parent: cur, key };
}

function arrayIndex(arr: unknown[], key: string, allowEnd: boolean, path: string): number {
  if (allowEnd && key === '-') return arr.length;
  const i = Number(key);
  if (!/^\d+$/.test(key) || i > arr.length || (!allowEnd && i === arr.length)) {
    throw new BadRequestError(`json patch: index ${JSON.stringify(key)} out of range at ${JSON.stringify(path)}`);
  }
  return i;
}

function getAt(doc: unknown, path: string): unknown {
  if (path === '') return doc;
  const { parent, key } = parentOf(doc, path);
  const v = Array.isArray(parent) ? parent[arrayIndex(parent, key, false, path)] : parent[key];
  if (v === undefined) throw new BadRequestError(`json patch: path ${JSON.stringify(path)} does not exist`);
  return v;
}

function removeAt(doc: unknown, path: string): unknown {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false, path), 1)[0];
  if (!Object.hasOwn(parent, key)) throw new BadRequestError(`json patch: path ${JSON.stringify(path)} does not exist`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: unknown, path: string, value: unknown): void {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true, path), 0, structuredClone(value));
  else parent[key] = structuredClone(value);
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new BadRequestError('json patch: body must be an array of operations');
  const doc = structuredClone(target);
  ops.forEach((raw, i) => {
    if (!isRecord(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new BadRequestError(`json patch: operation ${i} needs "op" and "path"`);
    }
    const { op, path } = raw;
    switch (op) {
      case 'add':
        addAt(doc, path, raw.value);
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace':
        removeAt(doc, path);
        addAt(doc, path, raw.value);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(raw.value)) {
          throw new BadRequestError(`json patch: test failed at ${JSON.stringify(path)}`);
        }
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw new BadRequestError(`json patch: operation ${i} needs "from"`);
        const v = op === 'move' ? removeAt(doc, raw.from) : getAt(doc, raw.from);
        addAt(doc, path, v);
        break;
      }
      default:
        throw new BadRequestError(`json patch: unknown op ${JSON.stringify(op)} in operation ${i}`);
    }
  });
  return doc;
}

/** Applies a PATCH body of the given content type to an object. */
export function applyPatch(target: unknown, contentType: string | undefined, body: string): unknown {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!(PATCH_TYPES as readonly string[]).includes(type)) {
    throw new CallmapError(
      'KUBE_UNSUPPORTED_MEDIA_TYPE',
      `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
      { status: 415 },
    );
  }
  let patch: unknown;
  try {
    patch = JSON.parse(body);
  } catch (e) {
    throw new BadRequestError(`patch body is not JSON: ${(e as Error).message}`);
  }
  return type === 'application/json-patch+json' ? jsonPatch(target, patch) : mergePatch(target, patch);
}
