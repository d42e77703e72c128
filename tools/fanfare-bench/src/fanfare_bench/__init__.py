"""Fanfare's benchmarks: the stack under an open-loop flash crowd, figures as ratios."""
