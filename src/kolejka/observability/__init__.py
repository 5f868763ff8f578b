"""Observability: metrics, `/health`, the state of the PBX link, logs."""
