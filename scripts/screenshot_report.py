#!/usr/bin/env python3
"""Render RUN_DIR/report.html to a PNG with headless Chromium, as a user would see it.

Usage: python scripts/screenshot_report.py RUN_DIR [--out PNG] [--width 1280] [--height 5200] [--check-width]

``--check-width`` also fails (exit 1) when the page scrolls horizontally at ``--width``.

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
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={out}",
            f"--window-size={width},{height}",
            html_file.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0 or not out.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"chromium exited with {result.returncode}: {' | '.join(tail)}")
    return out


WIDTH_PROBE = """<script>
document.addEventListener("DOMContentLoaded", () => {
  const root = document.documentElement, probe = document.createElement("pre");
  probe.id = "srd-width-probe";
  probe.textContent = root.scrollWidth + " " + root.clientWidth;
  document.body.appendChild(probe);
});
</script>"""


def page_width(html_file: Path, width: int = 1280, height: int = 900, timeout: float = 120.0) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of the page's root element in a ``width``-px window: a page without
    horizontal scrolling has scrollWidth <= clientWidth. The page is copied with a small probe script added
    (report.html itself holds no script)."""
    import re

    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium binary found (Debian: apt-get install -y chromium)")
    page = Path(html_file).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="srd-chromium-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(page.replace("</body>", WIDTH_PROBE + "</body>", 1), encoding="utf-8")
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={width},{height}",
            "--dump-dom",
            probe.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    found = re.search(r'<pre id="srd-width-probe">(\d+) (\d+)</pre>', result.stdout)
    if result.returncode != 0 or found is None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"chromium exited with {result.returncode} without the width probe: {' | '.join(tail)}")
    return int(found.group(1)), int(found.group(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="run directory holding report.html")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write (default: RUN_DIR/report.png)")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels")
    parser.add_argument("--height", type=int, default=5200, help="window height in CSS pixels")
    parser.add_argument("--check-width", action="store_true", help="fail when the page scrolls horizontally")
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / "report.png"
    try:
        path = screenshot(args.run_dir / "report.html", out, args.width, args.height)
        scroll, client = page_width(args.run_dir / "report.html", args.width) if args.check_width else (0, 0)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"screenshot_report: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    if scroll > client:
        print(
            f"screenshot_report: the page scrolls horizontally at {args.width} px ({scroll} > {client})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
