"""The dApp's static export served at `/` by the API: pages by their trailing-slash paths,
API routes first, and an API that starts (with a log line) when no export was built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient

from api.app import WEB_OUT, create_app
from tests.api.conftest import World

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minimal export laid out as `next build` writes one (trailingSlash: true)."""
    out = tmp_path_factory.mktemp("out")
    (out / "index.html").write_text("<html><body>explore</body></html>")
    (out / "404.html").write_text("<html><body>not found</body></html>")
    (out / "dataset").mkdir()
    (out / "dataset" / "index.html").write_text("<html><body>dataset page</body></html>")
    (out / "_next" / "static").mkdir(parents=True)
    (out / "_next" / "static" / "app.js").write_text("console.log(1)")
    return out


@pytest.fixture(scope="module")
def site(world: World, export: Path) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, dapp_dir=export)) as c:
        yield c


def test_pages_are_served_at_their_paths(site: TestClient) -> None:
    root = site.get("/", headers=HTML)
    assert root.status_code == 200 and "explore" in root.text
    assert root.headers["content-type"].startswith("text/html")
    page = site.get("/dataset/?id=1&chain=31337", headers=HTML)
    assert page.status_code == 200 and "dataset page" in page.text
    bare = site.get("/dataset", headers=HTML, follow_redirects=False)
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/dataset/")
    asset = site.get("/_next/static/app.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]


def test_api_routes_win_over_pages(site: TestClient) -> None:
    datasets = site.get("/datasets", headers=HTML)
    assert datasets.status_code == 200
    assert datasets.headers["content-type"] == "application/json"
    assert len(datasets.json()["items"]) > 0
    assert site.get("/deployment").json()["chain_id"] == 31337
    assert site.get("/health").status_code == 200
    assert site.get("/openapi.json").json()["info"]["title"] == "Datacoin API"


def test_unknown_paths_are_a_404_page_for_browsers_and_a_problem_for_clients(
    site: TestClient,
) -> None:
    page = site.get("/no/such/page/", headers=HTML)
    assert page.status_code == 404 and "not found" in page.text
    problem = site.get("/no/such/page/")
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["code"] == "not_found"


def test_the_api_starts_without_an_export(world: World, tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        app = create_app(world.settings, dapp_dir=tmp_path / "missing")
    assert any(entry["event"] == "api.dapp.missing" for entry in logs)
    with TestClient(app) as c:
        assert c.get("/datasets").status_code == 200
        assert c.get("/", headers=HTML).status_code == 404


@pytest.mark.skipif(not (WEB_OUT / "index.html").is_file(), reason="web/ not built")
def test_the_built_dapp_is_served(world: World) -> None:
    with TestClient(create_app(world.settings)) as c:
        for path in ("/", "/dataset/"):
            reply = c.get(path, headers=HTML)
            assert reply.status_code == 200, path
            assert "<html" in reply.text and "/_next/static/" in reply.text
        assert c.get("/datasets").headers["content-type"] == "application/json"
