"""Redis (or Valkey): the hot path. Everything here can be rebuilt from PostgreSQL."""
