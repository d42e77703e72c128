"""NATS JetStream: connections, stream and consumer declarations, the outbox relay."""
