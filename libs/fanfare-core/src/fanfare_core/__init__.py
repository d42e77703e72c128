"""Fanfare's core: the domain model and everything the services share."""
