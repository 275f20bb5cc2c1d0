"""The ``manifestkit`` command line: a thin Typer layer over the library.

Each command parses its options, calls one library function and renders the result. Commands live in
one module per area (``convert``, ``validate``, ...) and register themselves on :data:`app`.
"""

from __future__ import annotations

from ._common import app

# Importing the command modules registers their commands on ``app``; the order here is the order of
# ``--help``, which follows the data flow (Typer lists sub-groups such as convert and prepare last).
from . import convert as _convert  # noqa: F401,E402
from . import validate as _validate  # noqa: F401,E402
from . import split as _split  # noqa: F401,E402
from . import stage as _stage  # noqa: F401,E402
from . import rekognition as _rekognition  # noqa: F401,E402
from . import stats as _stats  # noqa: F401,E402
from . import sources as _sources  # noqa: F401,E402
from . import prepare as _prepare  # noqa: F401,E402

__all__ = ["app", "main"]


def main() -> None:
    app()
