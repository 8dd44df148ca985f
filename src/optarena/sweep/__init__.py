"""Sweeps: run outcomes seen from the launcher, resume, the end-of-sweep summary (docs/sweeps.md)."""
