-- Signing keys shared by every replica, consumers, and what their sessions need: sessions,
-- one-time exchange codes and rotating refresh tokens. Codes and refresh tokens are stored
-- as SHA-256 digests only; the plain values are handed out once.

-- Ed25519 keys. The newest key without retires_at signs; every key not yet retired verifies.
-- Private keys are stored raw (32 bytes): guard this table like the database's backups.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    private_key bytea NOT NULL CHECK (length(private_key) = 32),
    created_at  timestamptz NOT NULL,
    retires_at  timestamptz
);

-- A shopper of an organization. external_id is the storefront's own customer id: one
-- consumer per external id and organization (NULLs, i.e. guests, are all distinct).
CREATE TABLE consumers (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    external_id     text,
    created_at      timestamptz NOT NULL,
    UNIQUE (organization_id, external_id)
);

-- One sign-in (guest or exchange): its access tokens carry its id (sid) and its
-- fingerprint binding; revoked_at is set by logout (or refresh-token reuse).
CREATE TABLE consumer_sessions (
    id               text PRIMARY KEY,
    organization_id  text NOT NULL REFERENCES organizations (id),
    consumer_id      text NOT NULL REFERENCES consumers (id),
    fingerprint_hash text,
    created_at       timestamptz NOT NULL,
    revoked_at       timestamptz
);
-- Rebuilding Redis's list of revoked sessions reads the recent revocations.
CREATE INDEX consumer_sessions_revoked ON consumer_sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- One-time codes a storefront server obtains for a known customer, exchanged by the browser.
CREATE TABLE exchange_codes (
    code_hash        text PRIMARY KEY,
    organization_id  text NOT NULL REFERENCES organizations (id),
    consumer_id      text NOT NULL REFERENCES consumers (id),
    fingerprint_hash text,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz
);

-- Refresh tokens rotate: each use revokes the token and issues the next one of the session.
CREATE TABLE refresh_tokens (
    token_hash      text PRIMARY KEY,
    session_id      text NOT NULL REFERENCES consumer_sessions (id),
    organization_id text NOT NULL REFERENCES organizations (id),
    consumer_id     text NOT NULL REFERENCES consumers (id),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id) WHERE revoked_at IS NULL;
