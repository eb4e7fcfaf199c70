/** The durable map (SQLite + in-memory mirror). */

export * from './intents.ts';
export * from './schema.ts';
export * from './sqlite-store.ts';
export * from './types.ts';
