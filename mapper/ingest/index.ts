/** Ingest pipeline: report batches → resolved intents in the store. */
export * from './pipeline.ts';
