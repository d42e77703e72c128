"""Use cases: each handler runs one command or query in one unit of work."""
