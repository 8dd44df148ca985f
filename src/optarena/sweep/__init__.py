"""Sweeps: run outcomes seen by a launcher, resume, the end-of-sweep summary."""
