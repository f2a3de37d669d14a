#!/usr/bin/env python3
"""Render RUN_DIR/report.html to a PNG with headless Chromium, as a user would see it.

Usage: python scripts/screenshot_report.py RUN_DIR [--out PNG] [--width 1280] [--height 5200]

Chromium comes from Debian (`apt-get install -y chromium`). It runs with a throw-away profile and every
background network feature off, so the page is rendered from the local file alone.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The path of a Chromium binary on PATH (or /usr/bin/chromium), ``None`` if there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def screenshot(html_file: Path, out: Path, width: int = 1280, height: int = 5200, timeout: float = 120.0) -> Path:
    """Screenshot ``html_file`` at ``width``×``height`` CSS pixels into ``out``; raises on failure."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium binary found (Debian: apt-get install -y chromium)")
    html_file, out = Path(html_file).resolve(), Path(out).resolve()
    if not html_file.is_file():
        raise FileNotFoundError(f"{html_file}: no such file (run `srd report RUN_DIR` first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="srd-chromium-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={out}",
            f"--window-size={width},{height}", html_file.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0 or not out.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"chromium exited with {result.returncode}: {' | '.join(tail)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="run directory holding report.html")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write (default: RUN_DIR/report.png)")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels")
    parser.add_argument("--height", type=int, default=5200, help="window height in CSS pixels")
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / "report.png"
    try:
        path = screenshot(args.run_dir / "report.html", out, args.width, args.height)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"screenshot_report: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
