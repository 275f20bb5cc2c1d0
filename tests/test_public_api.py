"""The public surface is a deliberate list, and every command is documented."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer
from typer.testing import CliRunner

import manifestkit
from manifestkit.cli import app


def test_all_is_sorted_unique_and_importable() -> None:
    names = manifestkit.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(manifestkit, name) is not None


def test_public_callables_have_docstrings() -> None:
    for name in manifestkit.__all__:
        obj = getattr(manifestkit, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = prefix + (name,)
        out.append((path, cmd))
        if hasattr(cmd, "commands"):  # a group (Typer ships its own click classes)
            out.extend(_commands(cmd, path))
    return out


def test_every_command_has_help_text() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert ("convert", "coco") in [p for p, _ in commands]
    runner = CliRunner()
    for path, cmd in commands:
        assert (cmd.help or "").strip(), f"'manifestkit {' '.join(path)}' has no help text"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(app, ["convert", "coco", "--no-such-option"])
    assert result.exit_code == 2


def test_module_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "manifestkit", "--help"], capture_output=True, text=True,
                         check=True)
    assert "convert" in out.stdout


def test_schemas_ship_with_the_package() -> None:
    import json
    import os

    from importlib.resources import files

    here = files("manifestkit") / "schemas"
    repo = os.path.join(os.path.dirname(os.path.dirname(manifestkit.__file__)), "schemas")
    # Installed wheels carry manifestkit/schemas; an editable checkout reads the top-level schemas/.
    folder = str(here) if here.is_dir() else repo
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    assert "image-classification-line.schema.json" in names and "object-detection-line.schema.json" in names
    for n in names:
        with open(os.path.join(folder, n), encoding="utf-8") as fp:
            doc = json.load(fp)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_no_public_name_shadows_a_module() -> None:
    """``import manifestkit.X as m`` must give the module X: no exported name equals a submodule's name."""
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(manifestkit.__path__)}
    assert {"splitting", "staging", "permissions", "datastats", "pipeline"} <= modules
    assert not modules & set(manifestkit.__all__)
