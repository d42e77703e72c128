-- Organizations, API keys, experiences, sequences, distributions and the event outbox.
-- Catalogue rows and distributions are deleted softly (deleted_at) so history stays whole.

CREATE TABLE organizations (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    time_zone     text NOT NULL,
    currency_code text NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    kind            text NOT NULL CHECK (kind IN ('secret', 'publishable')),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    name            text,
    display_prefix  text NOT NULL,
    key_hash        text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);
CREATE INDEX api_keys_by_organization ON api_keys (organization_id, id);

CREATE TABLE experiences (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    name            text NOT NULL,
    metadata        jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);
CREATE INDEX experiences_by_organization ON experiences (organization_id, id);

CREATE TABLE sequences (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    experience_id   text NOT NULL REFERENCES experiences (id),
    name            text NOT NULL,
    order_limit     integer CHECK (order_limit > 0),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);
CREATE INDEX sequences_by_organization ON sequences (organization_id, id);
CREATE INDEX sequences_by_experience ON sequences (experience_id);

CREATE TABLE distributions (
    id                       text PRIMARY KEY,
    organization_id          text NOT NULL REFERENCES organizations (id),
    sequence_id              text NOT NULL REFERENCES sequences (id),
    kind                     text NOT NULL CHECK (kind IN ('queue', 'draw', 'auction')),
    status                   text NOT NULL,
    name                     text,
    time_zone                text NOT NULL,
    open_at                  timestamptz,
    close_at                 timestamptz,
    draw_at                  timestamptz,
    settle_at                timestamptz,
    encryption_seed          text NOT NULL,
    metadata                 jsonb,
    max_capacity             integer,
    admission_rate           integer,
    session_duration_seconds integer,
    winner_count             integer,
    max_entries              integer,
    starting_bid             numeric,
    minimum_increment        numeric,
    reserve_price            numeric,
    buy_now_price            numeric,
    currency_code            text,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    deleted_at               timestamptz
);
-- Admin listing: newest first within an organization and kind.
CREATE INDEX distributions_listing ON distributions (organization_id, kind, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX distributions_by_sequence ON distributions (sequence_id) WHERE deleted_at IS NULL;

-- Transactional outbox: an event commits with the change that caused it; the relay
-- publishes it to JetStream (Nats-Msg-Id = id) and stamps published_at.
CREATE TABLE outbox (
    position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (position) WHERE published_at IS NULL;
