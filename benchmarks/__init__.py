"""Speed and learning benchmarks; results are recorded in benchmarks/RESULTS.md (never run in CI)."""
