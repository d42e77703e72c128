"""The domain model: pure rules about distributions, organizations and their events.

This package imports only the standard library and itself (a test enforces it).
"""
