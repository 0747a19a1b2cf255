"""First-load JavaScript of each dApp route, gzipped, against the 200 kB budget.

Builds web/ (``npm run build``: ``next build``, a static export to web/out) unless
``--no-build`` reads the last build. A route's first load is every script its exported
HTML references (``<script src>`` and the chunk list of the flight data), each file once,
gzipped at level 9 (``noModule`` polyfills, which modern browsers skip, left out); chunks
loaded later with ``import()`` (the wallet stack) are not in it.

    .venv/bin/python -m bench.web_bundle [--no-build]
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
OUT = WEB / "out"
BUDGET_KB = 200.0
# "/_next/static/chunks/abc.js" in a src attribute or inside the RSC payload (escaped or not)
SCRIPT = re.compile(r"/_next/static/[A-Za-z0-9_\-./~%]+?\.js")
# Polyfills for browsers without ES modules: modern browsers neither fetch nor run them
NOMODULE = re.compile(r"<script[^>]*\bnoModule\b[^>]*>", re.IGNORECASE)


def build() -> None:
    subprocess.run(["npm", "run", "--silent", "build"], cwd=WEB, check=True)


def routes() -> dict[str, Path]:
    """Each exported page: its route and HTML file (index.html of a trailing-slash dir)."""
    pages: dict[str, Path] = {}
    for html in sorted(OUT.rglob("index.html")):
        rel = html.parent.relative_to(OUT).as_posix()
        pages["/" if rel == "." else f"/{rel}/"] = html
    return pages


def first_load_kb(html: Path) -> tuple[float, int]:
    """Gzipped kB of the distinct scripts `html` loads, and how many there are."""
    text = html.read_text()
    legacy = {src for tag in NOMODULE.findall(text) for src in SCRIPT.findall(tag)}
    scripts = sorted(set(SCRIPT.findall(text)) - legacy)
    total = 0
    for src in scripts:
        path = OUT / src.lstrip("/")
        if path.is_file():
            total += len(gzip.compress(path.read_bytes(), compresslevel=9))
    return total / 1000, len(scripts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="read the last build of web/")
    args = parser.parse_args()
    if not args.no_build:
        build()
    if not (OUT / "index.html").is_file():
        print("web/out has no build: run without --no-build", file=sys.stderr)
        return 2
    over = 0
    print(f"{'route':<12} {'scripts':>7} {'first-load JS (gzip)':>21}  budget {BUDGET_KB:.0f} kB")
    for route, html in routes().items():
        kb, count = first_load_kb(html)
        verdict = "ok" if kb <= BUDGET_KB else "OVER"
        over += kb > BUDGET_KB
        print(f"{route:<12} {count:>7} {kb:>18.1f} kB  {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
