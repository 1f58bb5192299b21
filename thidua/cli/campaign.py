"""CLI: campaign commands."""
import typer


def register(app: typer.Typer) -> None:
    return None
