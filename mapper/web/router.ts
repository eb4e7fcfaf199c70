// Placeholder until the live web map lands (owned by the web-map helper).
import { Router } from 'express';

export interface WebRouterOptions {
  /** Directory with the static assets; defaults to the bundled one. */
  staticDir?: string;
}

export function webRouter(_opts: WebRouterOptions = {}): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    res
      .type('text/plain')
      .send('callmap mapper: the live web map is not available in this build yet. API: /api/v1/intents\n');
  });
  return r;
}
