/**
 * Validates rendered Kubernetes manifests offline, two ways:
 *  1. against the Kubernetes OpenAPI schemas compiled into `kubernetes-models` 4.5 (types, enums,
 *     required fields; the 5.x line needs Node >= 22). Those schemas allow unknown fields, so
 *  2. every field is also checked against the attribute maps of the generated models of
 *     `@kubernetes/client-node` (Kubernetes 1.34 API): an unknown or misspelt field anywhere is an
 *     error, as with `kubectl apply --validate=strict`.
 */
import * as k8s from '@kubernetes/client-node';

type Attribute = { name: string; baseName: string; type: string };
type ModelClass = { getAttributeTypeMap(): Attribute[] };

function modelClass(typeName: string): ModelClass | undefined {
  const candidate: unknown = (k8s as Record<string, unknown>)[typeName];
  if (typeof candidate === 'function' && 'getAttributeTypeMap' in candidate) return candidate as unknown as ModelClass;
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** client-node model name of a top-level object: apps/v1 Deployment -> V1Deployment. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

/** Unknown fields of `value` read as `typeName`, as JSON-pointer-like paths. */
export function unknownFields(value: unknown, typeName: string, path = ''): string[] {
  const out: string[] = [];
  const arrayOf = /^Array<(.+)>$/.exec(typeName);
  if (arrayOf) {
    if (!Array.isArray(value)) return out;
    value.forEach((item, i) => {
      out.push(...unknownFields(item, arrayOf[1]!, `${path}/${i}`));
    });
    return out;
  }
  const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (mapOf) {
    if (!isPlainObject(value)) return out;
    for (const [key, item] of Object.entries(value)) out.push(...unknownFields(item, mapOf[1]!, `${path}/${key}`));
    return out;
  }
  const cls = modelClass(typeName);
  if (!cls || !isPlainObject(value)) return out;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    const type = attrs.get(key);
    if (type === undefined) out.push(`${path}/${key}`);
    else out.push(...unknownFields(item, type, `${path}/${key}`));
  }
  return out;
}

type Validatable = { validate(): void };
type ModelCtor = new (data: unknown) => Validatable;

async function openApiModel(apiVersion: string, kind: string): Promise<ModelCtor> {
  const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
  const ctor = mod[kind];
  if (typeof ctor !== 'function') throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return ctor as ModelCtor;
}

/** All problems of one manifest; empty when it is valid. */
export async function validateManifest(manifest: unknown): Promise<string[]> {
  if (!isPlainObject(manifest)) return ['manifest is not an object'];
  const { apiVersion, kind } = manifest;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['apiVersion and kind must be strings'];
  const problems: string[] = [];
  let ctor: ModelCtor;
  try {
    ctor = await openApiModel(apiVersion, kind);
  } catch {
    return [`unknown kind ${apiVersion} ${kind}`];
  }
  try {
    new ctor(manifest).validate();
  } catch (err) {
    problems.push(`OpenAPI schema: ${(err as Error).message}`);
  }
  const name = modelName(apiVersion, kind);
  if (!modelClass(name)) problems.push(`no client-node model ${name} for the strict field check`);
  else for (const field of unknownFields(manifest, name)) problems.push(`unknown field ${field}`);
  return problems;
}
