"""Demo data for development, the browser tests and the benchmarks."""
