"""The `imagehub` command line (Typer)."""
