"""Services never migrate: they check the schema at start (`require_current`) and stop with
one line saying what to run; `datacoin db upgrade` migrates, and two of them started at
once (two `migrate` jobs on first boot) run one after the other instead of racing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from migrations.runner import SchemaNotCurrentError, head_revision, require_current, upgrade
from tests.conftest import ADMIN_DB_URL, clone_database, drop_database


@pytest.fixture
def empty_db(database_url: str) -> Iterator[str]:
    """A database that exists but was never migrated."""
    name = f"{database_url.rsplit('/', 1)[1]}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_DB_URL.rsplit('/', 1)[0]}/{name}"
    yield url
    drop_database(url)


def test_an_unmigrated_database_is_refused_with_what_to_run(empty_db: str) -> None:
    with pytest.raises(SchemaNotCurrentError) as caught:
        require_current(empty_db)
    assert "none (empty)" in str(caught.value) and "datacoin db upgrade" in str(caught.value)


def test_a_database_at_head_passes_and_a_newer_one_is_named(migrated_template: str) -> None:
    url = clone_database(migrated_template)
    try:
        require_current(url)  # at head: no error
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        with pytest.raises(SchemaNotCurrentError, match="a newer release migrated it"):
            require_current(url)
    finally:
        drop_database(url)


def test_two_upgrades_at_once_do_not_race(empty_db: str) -> None:
    # Given two `datacoin db upgrade` started together on an empty database
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(empty_db)
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then both succeed (the second waits for the first's lock, then finds nothing to do)
    assert not any(thread.is_alive() for thread in threads), "the upgrades deadlocked"
    assert not errors, errors
    with psycopg.connect(empty_db) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert version == head_revision()
    require_current(empty_db)
