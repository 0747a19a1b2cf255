"""The committed OpenAPI document, ``api/openapi.json``, and the TypeScript types the dApp
builds on, ``web/src/api/schema.d.ts`` (made by openapi-typescript from npm).

Run ``python -m api.openapi_document`` (``make openapi``) after changing a route or a
model. Tests fail while either committed file differs from a fresh generation, so a
breaking change to the API is always a visible diff in review.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from api.app import create_app
from common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "api" / "openapi.json"
TYPES = ROOT / "web" / "src" / "api" / "schema.d.ts"
GENERATOR = ROOT / "node_modules" / ".bin" / "openapi-typescript"
REGENERATE = "run `make openapi` (python -m api.openapi_document) and commit the result"


def render_document() -> str:
    """The app's OpenAPI document as committed: indented JSON in the app's route order.
    Nothing in it depends on settings (default ones build the app)."""
    document = create_app(Settings(), dapp_dir=None).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_types(document: Path = DOCUMENT) -> str:
    """The TypeScript types openapi-typescript makes of `document`."""
    done = subprocess.run(
        [str(GENERATOR), str(document)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout


def main() -> None:
    """Write the document, then the types made from it."""
    DOCUMENT.write_text(render_document())
    TYPES.parent.mkdir(parents=True, exist_ok=True)
    TYPES.write_text(render_types())
    print(f"wrote {DOCUMENT.relative_to(ROOT)} and {TYPES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
