"""The event catalogue: envelopes, subjects, streams and consumers."""
