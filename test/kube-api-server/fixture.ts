/**
 * Fixture loading: multi-document YAML (or JSON) of ordinary Kubernetes manifests, `kind: List`
 * included. Pure over strings; the file read is a thin edge (`readFixtureFile`).
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { CallmapError } from '../../mapper/contract/index.ts';
import { type KubeObject, RESOURCES, resourceByKind } from './resources.ts';

export class FixtureError extends CallmapError {
  constructor(message: string) {
    super('KUBE_FIXTURE_INVALID', message, { status: 400 });
    this.name = 'FixtureError';
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const SERVED = RESOURCES.map((r) => `${r.group === '' ? r.version : `${r.group}/${r.version}`} ${r.kind}`).join(', ');

/**
 * Checks that `value` is an object the server can store and returns it typed. `where` names
 * it in the error (e.g. `fixture basic.yaml: document 3`).
 */
export function validateObject(value: unknown, where: string): KubeObject {
  if (!isRecord(value))
    throw new FixtureError(`${where}: expected a Kubernetes object (a mapping), got ${describe(value)}`);
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || apiVersion === '') throw new FixtureError(`${where}: apiVersion is missing`);
  if (typeof kind !== 'string' || kind === '') throw new FixtureError(`${where}: kind is missing`);
  if (!resourceByKind(apiVersion, kind)) {
    throw new FixtureError(`${where}: ${apiVersion} ${kind} is not served by the test server (served: ${SERVED})`);
  }
  if (!isRecord(metadata)) throw new FixtureError(`${where}: ${kind} has no metadata mapping`);
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    throw new FixtureError(`${where}: ${kind} has no metadata.name`);
  }
  if (metadata.namespace !== undefined && typeof metadata.namespace !== 'string') {
    throw new FixtureError(`${where}: ${kind} ${metadata.name}: metadata.namespace must be a string`);
  }
  for (const field of ['labels', 'annotations'] as const) {
    const m = metadata[field];
    if (m === undefined || m === null) continue;
    if (!isRecord(m) || Object.values(m).some((v) => typeof v !== 'string')) {
      throw new FixtureError(`${where}: ${kind} ${metadata.name}: metadata.${field} must map strings to strings`);
    }
  }
  return value as KubeObject;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a sequence';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : typeof v;
}

/** Expands `kind: List` (any `*List` with items) into its items, validating each. */
function expand(value: unknown, where: string, out: KubeObject[]): void {
  if (isRecord(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && 'items' in value) {
    if (!Array.isArray(value.items)) throw new FixtureError(`${where}: ${value.kind}.items must be a sequence`);
    value.items.forEach((item, i) => {
      expand(item, `${where} items[${i}]`, out);
    });
    return;
  }
  out.push(validateObject(value, where));
}

/**
 * Parses fixture text into objects. Empty documents are skipped. Errors name the source and the
 * 1-based document number, e.g. `fixture basic.yaml: document 4: …`.
 */
export function parseFixture(text: string, source = 'fixture'): KubeObject[] {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) {
    // parseAllDocuments returns an EmptyStream for empty input.
    return [];
  }
  const out: KubeObject[] = [];
  docs.forEach((doc, i) => {
    const where = `${source}: document ${i + 1}`;
    const err = doc.errors[0];
    if (err) throw new FixtureError(`${where}: invalid YAML: ${err.message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    expand(value, where, out);
  });
  return out;
}

/** Reads and parses a fixture file; a missing file is a FixtureError naming the path. */
export async function readFixtureFile(path: string): Promise<KubeObject[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new FixtureError(`cannot read fixture ${path}: ${(e as Error).message}; pass an existing YAML file`);
  }
  return parseFixture(text, `fixture ${path}`);
}
