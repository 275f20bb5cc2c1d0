"""What every command shares: the app, the error boundary, progress bars and stderr output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from ..errors import ManifestKitError

app = typer.Typer(
    name="manifestkit",
    help="Build, validate, split, stage and train Amazon Rekognition Custom Labels manifests.",
    no_args_is_help=True,
    add_completion=False,
    # Never print local variables in tracebacks: they can hold AWS credentials.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


def err(message: str = "") -> None:
    """Print a line to stderr."""
    typer.echo(message, err=True)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """The CLI's one error boundary: expected failures print ``error: ...`` and exit 1."""
    try:
        yield
    except ManifestKitError as e:
        err(f"error: {e}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err("interrupted")
        raise typer.Exit(130) from None


@contextmanager
def progress_bar(desc: str, total: int | None = None, unit: str = "it", enabled: bool | None = None,
                 **kwargs: Any) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr, handed to the library as a ``progress(n)`` callback.

    Hidden when stderr is not a terminal unless ``enabled`` is True.
    """
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled, leave=False, **kwargs)
    try:
        yield bar.update
    finally:
        bar.close()
