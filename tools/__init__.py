"""Build, lint and deploy tooling for tributary (runs on the developer's machine, never in Lambda)."""
