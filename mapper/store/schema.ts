/**
 * Versioned schema of the durable map. `PRAGMA user_version` holds the number of migrations
 * applied; each migration runs once, in order, inside its own transaction. Never edit a shipped
 * migration: append a new one.
 */

export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE workloads (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (namespace, name)
  ) WITHOUT ROWID;

  -- One row per (client, server workload, service it went through) or (client, external domain).
  -- Uniqueness is kept by the in-memory mirror (loaded whole at start-up), so there is no text
  -- index to maintain on the hot path. Ports are a sorted comma-separated list.
  CREATE TABLE edges (
    id INTEGER PRIMARY KEY,
    client_ns TEXT NOT NULL,
    client_name TEXT NOT NULL,
    server_ns TEXT,
    server_name TEXT,
    via_ns TEXT,
    via_name TEXT,
    ext_domain TEXT,
    ports TEXT NOT NULL DEFAULT '',
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL
  );

  CREATE TABLE edge_http (
    edge_id INTEGER NOT NULL REFERENCES edges(id) ON DELETE CASCADE,
    method TEXT NOT NULL, -- '' when the reporter did not record it
    path TEXT NOT NULL,
    PRIMARY KEY (edge_id, path, method)
  ) WITHOUT ROWID;

  CREATE TABLE edge_kafka (
    edge_id INTEGER NOT NULL REFERENCES edges(id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    operation TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    PRIMARY KEY (edge_id, topic, operation, allowed)
  ) WITHOUT ROWID;

  CREATE TABLE edge_ext_ips (
    edge_id INTEGER NOT NULL REFERENCES edges(id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    PRIMARY KEY (edge_id, ip)
  ) WITHOUT ROWID;

  -- Kafka authorizer decisions on non-Topic resources (Group, Cluster, ...), kept for ACL export.
  CREATE TABLE kafka_acl (
    client_ns TEXT NOT NULL,
    client_name TEXT NOT NULL,
    server_ns TEXT NOT NULL,
    server_name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    pattern_type TEXT NOT NULL,
    operation TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    principal TEXT NOT NULL DEFAULT '',
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (client_ns, client_name, server_ns, server_name, resource_type, resource_name,
                 pattern_type, operation, allowed, principal)
  ) WITHOUT ROWID;

  -- External DNS answers (IP -> domain) so a later TCP connection to the IP is attributed.
  CREATE TABLE dns_answers (
    ip TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Accepted batch ids (idempotency). Pruned by age and count.
  CREATE TABLE batches (
    seq INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL UNIQUE,
    accepted_at INTEGER NOT NULL,
    accepted INTEGER NOT NULL
  );
  `,
  // 2: the columns every ingest rewrites live in their own narrow table (ADR 0101): an UPDATE
  // rewrites a 4-column row instead of the 12-column edge row with its names and ports.
  `
  CREATE TABLE edge_stats (
    id INTEGER PRIMARY KEY, -- edges.id
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL
  );
  INSERT INTO edge_stats (id, first_seen, last_seen, count) SELECT id, first_seen, last_seen, count FROM edges;
  ALTER TABLE edges DROP COLUMN first_seen;
  ALTER TABLE edges DROP COLUMN last_seen;
  ALTER TABLE edges DROP COLUMN count;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
