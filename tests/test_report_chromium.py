"""The report of the sample data, rendered by a real browser (headless Chromium), is not blank.

Chromium is Debian's ``chromium`` package; ``.ci/run`` installs it when missing. A missing browser is a
failure, not a skip: without it this test proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from manifestkit.report import write_sample_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    pytest.fail("headless Chromium is needed for this test and was not found: install Debian's package "
                "with 'apt-get install -y --no-install-recommends chromium' (.ci/run does this)")


def sample_dir(tmp_path: Path) -> Path:
    """The repository's sample_data/, or a fresh copy made by its deterministic generator."""
    if (SAMPLE / "coco" / "annotations.json").is_file():
        return SAMPLE
    out = tmp_path / "sample_data"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), "--out", str(out)], check=True)
    return out


def test_sample_report_renders_in_chromium(tmp_path: Path) -> None:
    browser = chromium()
    result = write_sample_report(sample_dir(tmp_path), tmp_path / "build")
    assert result.thumbnails > 0 and os.path.isfile(result.path)
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
           Path(result.path).resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.is_file(), f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (1200, 2000)
        extrema = rgb.getextrema()
        # A blank page is one colour; the report has a dark header, charts in several colours, photos.
        assert any(lo < 60 for lo, _ in extrema) and any(hi > 200 for _, hi in extrema), extrema
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 500, len(colours or [])
        # The header band (dark) and the body (light) both rendered: the CSS was applied.
        header = rgb.crop((0, 0, 1200, 40)).convert("L").getextrema()
        assert header[0] < 80, header
