/** Validates ClientIntents documents against the CRD's openAPIV3Schema of their version (ajv). */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

export const CRD_PATH = path.resolve('..', 'shared', 'reference', 'clientintents.crd.yaml');

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!k.startsWith('x-kubernetes-')) out[k] = strip(x);
    // Kubernetes silently prunes unknown fields; in tests an unknown field is an error instead.
    if (out['type'] === 'object' && out['properties'] && out['additionalProperties'] === undefined) {
      out['additionalProperties'] = false;
    }
    return out;
  }
  return v;
}

export function crdValidators(): Record<string, ValidateFunction> {
  const crd = parse(fs.readFileSync(CRD_PATH, 'utf8')) as {
    spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: object } }> };
  };
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { int64: true } });
  const out: Record<string, ValidateFunction> = {};
  for (const v of crd.spec.versions) out[v.name] = ajv.compile(strip(v.schema.openAPIV3Schema) as object);
  return out;
}

/** Returns '' when valid, else a readable list of errors. */
export function crdErrors(validators: Record<string, ValidateFunction>, doc: object): string {
  const apiVersion = (doc as { apiVersion?: unknown }).apiVersion;
  const version = String(apiVersion ?? '').split('/')[1] ?? '';
  const v = validators[version];
  if (!v) return `no CRD schema for apiVersion ${String(apiVersion)}`;
  if (v(doc)) return '';
  return JSON.stringify(v.errors);
}
