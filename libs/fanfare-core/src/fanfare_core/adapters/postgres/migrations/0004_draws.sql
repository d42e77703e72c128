-- Draws: each draw's secret seed and its public commitment, one entry per consumer, and the
-- one result per draw with everything needed to recompute it (docs/draws.md).

-- The seed is Fanfare's secret until the draw has run; it is not the admin-visible
-- encryptionSeed, so the brand cannot know it in advance. commitment = SHA-256 (hex) of the
-- 32 seed bytes, shown publicly from the moment the draw is first read or entered.
CREATE TABLE draw_secrets (
    draw_id    text PRIMARY KEY REFERENCES distributions (id),
    seed       bytea NOT NULL CHECK (length(seed) = 32),
    commitment text NOT NULL,
    created_at timestamptz NOT NULL
);

-- Every change of an entry takes a new version (as queue entries do).
CREATE SEQUENCE draw_entry_version;

CREATE TABLE draw_entries (
    draw_id            text NOT NULL REFERENCES distributions (id),
    -- Bytewise ("C") order: the primary key reads entries in the canonical order the
    -- selection algorithm and the published entry list use.
    consumer_id        text COLLATE "C" NOT NULL,
    organization_id    text NOT NULL REFERENCES organizations (id),
    status             text NOT NULL
        CHECK (status IN ('ENTERED', 'WON', 'LOST', 'DENIED', 'LEFT')),
    entered_at         timestamptz NOT NULL,
    left_at            timestamptz,
    denied_at          timestamptz,
    deny_reason        text,
    won_at             timestamptz,
    claim_expires_at   timestamptz,
    claimed_at         timestamptz,
    lost_reason        text,
    admission_token_id text,
    admission_token    text,
    fingerprint_hash   text,
    -- 1-based place in the selection order: winners first, then backups; NULL for others.
    rank               integer,
    -- Whether the entry took part in the draw (it is in the published entry list).
    in_draw            boolean NOT NULL DEFAULT false,
    version            bigint NOT NULL,
    PRIMARY KEY (draw_id, consumer_id)
)
-- Half-full pages: running a draw rewrites every entry (ENTERED -> LOST) in one statement,
-- and room on the page makes those heap-only updates that touch no index (about 5x faster
-- for a million entries, for twice the table size).
WITH (fillfactor = 50);
-- Winners and backups in selection order: promotion and expiry read only these rows.
CREATE INDEX draw_entries_ranked ON draw_entries (draw_id, rank) WHERE rank IS NOT NULL;

-- Entries of draws with a maxEntries: the row lock serializes entries of one capped draw
-- so the cap is never exceeded (the count starts from the real count).
CREATE TABLE draw_entry_counts (
    draw_id text PRIMARY KEY REFERENCES distributions (id),
    entered integer NOT NULL CHECK (entered >= 0)
);

-- The one result of a draw (the primary key makes a second run impossible), with its proof.
CREATE TABLE draw_results (
    draw_id         text PRIMARY KEY REFERENCES distributions (id),
    organization_id text NOT NULL REFERENCES organizations (id),
    algorithm       text NOT NULL,
    seed            bytea NOT NULL,
    commitment      text NOT NULL,
    entries_digest  text NOT NULL,
    entry_count     integer NOT NULL,
    winner_count    integer NOT NULL,
    winners         text[] NOT NULL,   -- in selection order
    backups         text[] NOT NULL,   -- in selection order, promoted in this order
    backups_used    integer NOT NULL DEFAULT 0,
    claim_seconds   integer NOT NULL,
    drawn_at        timestamptz NOT NULL,
    completed_at    timestamptz
);
