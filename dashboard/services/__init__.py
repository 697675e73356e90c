"""Business rules. Every function takes a session and returns a result; routes, tasks, the CLI
and the benchmarks all call these same functions."""
