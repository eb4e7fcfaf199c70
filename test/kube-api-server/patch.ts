/**
 * PATCH bodies (pure): JSON merge patch (RFC 7386), JSON patch (RFC 6902: add, remove, replace,
 * test, move, copy) and an approximation of strategic merge patch without schemas: lists of
 * objects merge by a guessed key (`name`, `containerPort`, `mountPath`, `ip`, `type`), other
 * lists are replaced; the `$patch`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…` and
 * `$retainKeys` directives kubectl sends are honoured or dropped, never stored.
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

const MERGE_KEYS = ['name', 'containerPort', 'mountPath', 'ip', 'type'] as const;

/** The key a list of objects merges by, if every element (of both lists) has it. */
function mergeKey(target: unknown[], patch: unknown[]): string | undefined {
  const elems = patch.filter((e) => !(isRecord(e) && Object.keys(e).length === 1 && '$patch' in e));
  if (elems.length === 0 || !elems.every(isRecord) || !target.every(isRecord)) return undefined;
  return MERGE_KEYS.find(
    (k) =>
      patch.every((e) => isRecord(e) && e[k] !== undefined) && target.every((e) => isRecord(e) && e[k] !== undefined),
  );
}

/** Removes directive keys from a value that is being added as a whole. */
function clean(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((e) => !(isRecord(e) && e.$patch === 'delete')).map(clean);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = clean(x);
  return out;
}

function mergeList(target: unknown[], patch: unknown[], key: string): unknown[] {
  const out = target.map((e) => structuredClone(e));
  for (const p of patch as Record<string, unknown>[]) {
    const i = out.findIndex((e) => (e as Record<string, unknown>)[key] === p[key]);
    if (p.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = strategicMergePatch(out[i], p);
    else out.push(clean(p));
  }
  return out;
}

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clean(patch);
  if (patch.$patch === 'replace') return clean(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else if (isRecord(v) && v.$patch === 'delete') delete out[k];
    else if (Array.isArray(v) && Array.isArray(out[k])) {
      const key = mergeKey(out[k] as unknown[], v);
      out[k] = key === undefined ? clean(v) : mergeList(out[k] as unknown[], v, key);
    } else out[k] = strategicMergePatch(out[k], v);
  }
  for (const [k, v] of Object.entries(patch)) {
    const del = /^\$deleteFromPrimitiveList\/(.+)$/.exec(k);
    if (del?.[1] && Array.isArray(v) && Array.isArray(out[del[1]])) {
      out[del[1]] = (out[del[1]] as unknown[]).filter((x) => !v.includes(x));
    }
    const order = /^\$setElementOrder\/(.+)$/.exec(k);
    const list = order?.[1] ? out[order[1]] : undefined;
    if (order?.[1] && Array.isArray(v) && Array.isArray(list)) {
      const key = mergeKey(list, v);
      const rank = (e: unknown) => {
        const i = v.findIndex((o) => (key && isRecord(o) && isRecord(e) ? o[key] === e[key] : o === e));
        return i < 0 ? v.length : i;
      };
      out[order[1]] = [...list].sort((a, b) => rank(a) - rank(b));
    }
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
  if (type === 'application/json-patch+json') return jsonPatch(target, patch);
  return type === 'application/strategic-merge-patch+json'
    ? strategicMergePatch(target, patch)
    : mergePatch(target, patch);
}
