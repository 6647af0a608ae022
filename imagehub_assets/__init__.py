"""Dagster code location: software-defined assets derived from every dataset commit."""
