"""The images' HEALTHCHECK: GET $HEALTHCHECK_URL (default: the API's /health on
$DATACOIN_API_PORT) and exit 0 on a 200, 1 otherwise. Standard library only: the images
carry no curl."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Probe the URL once."""
    port = os.environ.get("DATACOIN_API_PORT", "8000")
    url = os.environ.get("HEALTHCHECK_URL", f"http://127.0.0.1:{port}/health")
    try:
        with urllib.request.urlopen(url, timeout=4) as reply:
            return 0 if reply.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
