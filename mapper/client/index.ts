/**
 * The mapper's public client library: what the sniffer, the watchers, the CLI and reports use to
 * talk to the mapper over HTTP. Components import this, never mapper internals (ADR 0002).
 */
export * from './mapper-client.ts';
export * from './reporter.ts';
export * from './transport.ts';
