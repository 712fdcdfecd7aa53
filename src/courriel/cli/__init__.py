"""The command-line edge (typer + rich)."""
