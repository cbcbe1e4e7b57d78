"""Benchmarks: scripts that print figures, not tests (see bench/README.md). CI does not run them."""
