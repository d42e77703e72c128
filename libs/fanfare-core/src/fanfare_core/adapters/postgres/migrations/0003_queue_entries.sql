-- Queue entries: one row per consumer and queue, the system of record behind the Redis
-- waiting line. Re-entering after leaving reuses the row with a new place at the back.

-- Arrival order across every queue: nextval at entry time is the consumer's place.
CREATE SEQUENCE queue_arrival_order;
-- Every change of an entry takes a new version; Redis applies only newer versions, so
-- write-throughs that arrive out of order cannot roll an entry back.
CREATE SEQUENCE queue_entry_version;

CREATE TABLE queue_entries (
    queue_id           text NOT NULL REFERENCES distributions (id),
    consumer_id        text NOT NULL,
    organization_id    text NOT NULL REFERENCES organizations (id),
    sequence_id        text NOT NULL,
    arrival            bigint NOT NULL,
    version            bigint NOT NULL,
    status             text NOT NULL
        CHECK (status IN ('QUEUED', 'ADMITTED', 'COMPLETED', 'DENIED', 'LEFT')),
    entered_at         timestamptz NOT NULL,
    admitted_at        timestamptz,
    expires_at         timestamptz,
    completed_at       timestamptz,
    left_at            timestamptz,
    denied_at          timestamptz,
    deny_reason        text,
    admission_token_id text,
    admission_token    text,
    fingerprint_hash   text,
    PRIMARY KEY (queue_id, consumer_id)
);
CREATE INDEX queue_entries_waiting ON queue_entries (queue_id, arrival)
    WHERE status = 'QUEUED';
CREATE INDEX queue_entries_admitted ON queue_entries (queue_id, expires_at)
    WHERE status = 'ADMITTED';
-- Order limits count completed purchases of a consumer within a sequence.
CREATE INDEX queue_entries_completed ON queue_entries (consumer_id, sequence_id)
    WHERE status = 'COMPLETED';

-- Places held (QUEUED, or ADMITTED and not expired) of queues with a maxCapacity: the row
-- lock serializes entries of one capped queue so the cap is never exceeded.
CREATE TABLE queue_holdings (
    queue_id text PRIMARY KEY REFERENCES distributions (id),
    holding  integer NOT NULL CHECK (holding >= 0)
);
