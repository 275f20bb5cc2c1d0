#!/usr/bin/env bash
# `make smoke`: does the built wheel work on its own, without the source tree or the dev dependencies?
#
# 1. build the wheel (pip wheel: no extra build tool needed) into dist/
# 2. install it into a fresh virtual environment in a temporary folder
# 3. run `manifestkit --help`, check the JSON schemas ship inside the package (importlib.resources),
#    and convert sample_data/folders with the installed command
#
# PYTHON picks the interpreter that builds and creates the venv (default: the project's .venv, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
tmp="$(mktemp -d "${TMPDIR:-/tmp}/manifestkit-smoke.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== smoke: %s ==\n' "$*"; }

step "build the wheel"
mkdir -p dist
rm -f dist/manifestkit-*.whl
"$PYTHON" -m pip wheel --quiet --no-deps . -w dist/
wheel="$(ls dist/manifestkit-*.whl)"
echo "built $wheel"

step "install it into a fresh venv ($tmp/venv)"
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet "$wheel"

step "manifestkit --help"
# Run from the temporary folder so that the source tree cannot shadow the installed package.
cd "$tmp"
"$tmp/venv/bin/manifestkit" --help

step "the JSON schemas are inside the installed package"
"$tmp/venv/bin/python" - <<'EOF'
import importlib.resources
import json
import os

import manifestkit

assert "site-packages" in manifestkit.__file__, f"not the installed package: {manifestkit.__file__}"
schemas = importlib.resources.files("manifestkit") / "schemas"
names = sorted(p.name for p in schemas.iterdir() if p.name.endswith(".json"))
if not names:
    raise SystemExit("no JSON schema in manifestkit/schemas/ of the installed package")
for name in names:
    json.loads((schemas / name).read_text(encoding="utf-8"))
print(f"{len(names)} schemas in {os.path.dirname(manifestkit.__file__)}/schemas: {', '.join(names)}")
EOF

step "convert sample_data/folders with the installed command"
"$tmp/venv/bin/manifestkit" convert folders "$here/sample_data/folders" \
    --s3-prefix s3://manifestkit-smoke/folders/ -o "$tmp/folders.manifest" \
    --report "$tmp/folders.report.json" --creation-date 2024-05-01T12:00:00
lines="$(wc -l < "$tmp/folders.manifest")"
if [[ "$lines" -lt 1 ]]; then
    echo "smoke: the manifest is empty" >&2
    exit 1
fi
echo "folders.manifest: $lines lines"

printf '\nsmoke test passed\n'
