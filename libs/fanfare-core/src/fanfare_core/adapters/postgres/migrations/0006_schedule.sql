-- The scheduler keeps no timers of its own: due instants are read from distributions, and
-- each transition is a conditional UPDATE, so it happens once however often it is tried.
-- Settlement is requested once per distribution (the primary key).
CREATE TABLE settlement_requests (
    distribution_id text PRIMARY KEY REFERENCES distributions (id),
    requested_at    timestamptz NOT NULL,
    reason          text NOT NULL
);
-- Instants the scheduler looks for.
CREATE INDEX distributions_due_open ON distributions (open_at)
    WHERE status = 'SCHEDULED' AND deleted_at IS NULL;
CREATE INDEX distributions_due_close ON distributions (status, kind)
    WHERE status IN ('OPEN', 'CLOSED') AND deleted_at IS NULL;
