"""The background committer: order, errors, abort."""

from __future__ import annotations

import threading

import pytest

from indexer.committer import Committer


def test_commits_in_order_while_the_caller_goes_on() -> None:
    # Given a commit that is slow until released
    gate = threading.Event()
    commits: list[list[int]] = []

    def commit(items: list[int]) -> None:
        gate.wait(5)
        commits.append(items)

    # When groups are put while the first commit is still running (put does not wait)
    with Committer(commit, max_pending=3) as committer:
        committer.put([1])
        committer.put([2, 3])
        committer.put([4])
        assert commits == []
        gate.set()
    # Then each group is committed, in order
    assert commits == [[1], [2, 3], [4]]


def test_an_error_stops_committing_and_reaches_the_caller() -> None:
    commits: list[list[int]] = []

    def commit(items: list[int]) -> None:
        if 2 in items:
            raise ValueError("cursor moved")
        commits.append(items)

    committer = Committer(commit, max_pending=1)
    committer.put([1])
    committer.put([2])
    with pytest.raises(ValueError, match="cursor moved"):
        for i in range(3, 100):  # put() raises once the thread has failed
            committer.put([i])
        committer.close()
    assert commits == [[1]]


def test_abort_drops_what_is_queued() -> None:
    gate = threading.Event()
    started = threading.Event()
    commits: list[list[int]] = []

    def commit(items: list[int]) -> None:
        started.set()
        gate.wait(5)
        commits.append(items)

    with pytest.raises(KeyboardInterrupt), Committer(commit, max_pending=2) as committer:
        committer.put([1])
        started.wait(5)
        committer.put([2])
        threading.Timer(0.2, gate.set).start()
        raise KeyboardInterrupt
    assert commits == [[1]]
