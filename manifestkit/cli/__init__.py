"""The ``manifestkit`` command line: a thin Typer layer over the library.

Each command parses its options, calls one library function and renders the result. Commands live in
one module per area (``convert``, ``validate``, ...) and register themselves on :data:`app`.
"""

from __future__ import annotations

from ._common import app

# Importing the command modules registers their commands on ``app``.
from . import convert as _convert  # noqa: F401,E402

__all__ = ["app", "main"]


def main() -> None:
    app()
