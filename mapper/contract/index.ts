/** Public entry of the wire contract. Dependency-free: every component imports only this. */
export * from './compact.ts';
export * from './errors.ts';
export * from './validate.ts';
export * from './wire.ts';
