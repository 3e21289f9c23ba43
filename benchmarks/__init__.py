"""Benchmarks (`make bench`): each prints one JSON object per line (CONTRACT.md)."""
