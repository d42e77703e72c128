"""Consumer sessions: guest sign-in, external identities, refresh, logout, the JWKS."""
