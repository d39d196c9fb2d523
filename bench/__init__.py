"""Benchmarks of hfinfer's streaming path against its peers (see bench/README.md)."""
