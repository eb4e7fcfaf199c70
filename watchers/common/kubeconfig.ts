/**
 * Kubeconfig loading shared by the watchers: which file to use, and one clear CallmapError
 * (never a client-node stack trace) when it cannot be loaded or names no cluster.
 */
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CallmapError } from '../../mapper/contract/index.ts';

/**
 * KUBECONFIG may list several files (`a:b`); like kubectl's first-file rule, the first that
 * exists. Undefined when none does (the default chain then applies).
 */
export function firstKubeconfigFile(
  list: string | undefined,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  return (list ?? '').split(delimiter).find((p) => p !== '' && exists(p));
}

export interface KubeConfigLoad {
  /** An explicit file; else in-cluster when `inCluster`, else client-node's default chain. */
  path?: string | undefined;
  inCluster?: boolean;
  /** The error code the caller reports (each watcher keeps its own). */
  code: string;
  /** What the user can do, appended to the message, e.g. "pass --kubeconfig PATH or set KUBECONFIG". */
  hint: string;
}

export function loadKubeConfig(opts: KubeConfigLoad): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.path !== undefined) kc.loadFromFile(opts.path);
    else if (opts.inCluster === true) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (e) {
    const what = opts.path === undefined ? 'the kubeconfig' : `kubeconfig ${opts.path}`;
    // YAML errors span several lines (with a code frame); the first says what is wrong.
    const why = String((e as Error)?.message ?? e).split('\n')[0];
    throw new CallmapError(opts.code, `cannot load ${what} (${why}); ${opts.hint}`, {
      status: 400,
      cause: e,
    });
  }
  if (!kc.getCurrentCluster()) {
    throw new CallmapError(
      opts.code,
      `the kubeconfig${opts.path === undefined ? '' : ` ${opts.path}`} has no current cluster (set its current-context); ${opts.hint}`,
      { status: 400 },
    );
  }
  return kc;
}
