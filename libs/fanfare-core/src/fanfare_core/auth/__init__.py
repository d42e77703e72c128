"""Auth primitives: signing keys and the EdDSA tokens Fanfare issues."""
