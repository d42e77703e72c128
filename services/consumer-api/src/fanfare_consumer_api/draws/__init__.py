"""Draws on the consumer API: entering, leaving, status, claims, and the public proof."""
