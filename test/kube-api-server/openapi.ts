/**
 * A minimal OpenAPI v3 surface: the `/openapi/v3` index and one document per group/version that
 * declares, for each served kind, a PATCH operation accepting `fieldValidation`. That is what
 * kubectl (create/apply/replace) checks to hand validation to the server instead of downloading
 * schemas, so `kubectl apply -f` works without `--validate=false`. No schemas are served (the
 * server stores objects as written), so `kubectl explain` is not supported.
 */
import { GROUP_VERSIONS, RESOURCES } from './resources.ts';

const gvPath = (group: string, version: string) => (group === '' ? `api/${version}` : `apis/${group}/${version}`);

/** Stable per-process hash so clients may cache documents. */
const HASH = 'callmap-kube-test-server-1';

export function openApiIndex(): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const { group, version } of GROUP_VERSIONS) {
    const p = gvPath(group, version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${HASH}` };
  }
  return { paths };
}

/** The OpenAPI v3 document for `api/v1` or `apis/<group>/<version>`; undefined if not served. */
export function openApiDocument(path: string): Record<string, unknown> | undefined {
  const gv = GROUP_VERSIONS.find((g) => gvPath(g.group, g.version) === path);
  if (!gv) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of RESOURCES) {
    if (r.group !== gv.group || r.version !== gv.version) continue;
    const base = `/${path}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}/{name}`;
    paths[base] = {
      patch: {
        operationId: `patch${r.namespaced ? 'Namespaced' : ''}${r.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'string' } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string' } },
          { name: 'fieldValidation', in: 'query', schema: { type: 'string' } },
          { name: 'force', in: 'query', schema: { type: 'boolean' } },
        ],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes (callmap test server)', version: 'v1.32.4' },
    paths,
    components: { schemas: {} },
  };
}
