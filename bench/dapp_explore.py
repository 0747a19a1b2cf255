"""Benchmark: the dApp's explore page over 10,000 listed datasets, in headless chromium.

Against the real stack of the browser tests (tests/web/dapp.py ``running_dapp``: anvil, the
indexer, projector, resolver and uvicorn serving the API and web/out, in one process), with
``--datasets`` datasets listed by real ``Marketplace.multicall(listDataset...)`` transactions
(several providers, many transactions per block, automine off) whose metadata documents are
in the platform's blob store, so titles and search come from the resolver as in production.

Measured in Debian's chromium through Playwright, with timestamps taken in the page
(``performance.now()``; "visible" is the first animation frame after the DOM change):

1. explore page load: navigation start -> first dataset cards visible (cold: a fresh
   browser context per load; warm: the same context navigating again). Target <= 1.5 s.
2. search: the last keystroke of a query typed into the search box -> the result list
   showing exactly the API's first page for that query. Target p95 <= 300 ms.
3. live update: a block with a new listing mined on anvil -> its card visible on an open
   explore page (SSE ``/stream``). Target p50 <= 500 ms.
4. first-load JS of every route in web/out, gzipped (``bench.web_bundle``). Target
   <= 200 kB each.

Each ratio printed is ``target / measured`` (> 1: met). Every process it starts (anvil,
chromium, Playwright's driver) is stopped and its databases dropped, also on SIGTERM.

    .venv/bin/python -m bench.dapp_explore [--datasets 10000] [--loads 20] [--live 40]

Needs web/out built (``cd web && npx next build``), PostgreSQL, Redis, anvil and chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import structlog
from eth_abi.abi import encode as abi_encode
from playwright.sync_api import Browser, Page, sync_playwright
from web3 import Web3

from api.routers.uploads import store_upload
from bench import web_bundle
from bench.api_load import WORDS
from bench.cpu import cores_busy, cpu_busy
from common.chain import dev_account
from common.documents import DatasetDocument
from indexer.rpc import RpcClient
from migrations.runner import upgrade
from storage.base import BlobStore
from storage.open import open_blobs, open_keyring
from tests.conftest import ADMIN_DB_URL, REDIS_URL
from tests.web.dapp import Dapp, dapp_built, running_dapp

# -- targets ------------------------------------------------------------------------------
LOAD_TARGET_MS = 1500.0
SEARCH_P95_TARGET_MS = 300.0
LIVE_P50_TARGET_MS = 500.0
BUNDLE_TARGET_KB = web_bundle.BUDGET_KB

# -- the workload -------------------------------------------------------------------------
PROVIDERS = (1, 2, 3, 4)  # anvil dev accounts (funded with ETH) that list the datasets
LISTINGS_PER_TX = 60  # ~9.2M gas each: three transactions fill anvil's 30M-gas block
# Blocks 92% full raise the base fee ~10% a block (~270x, to ~270 gwei, over 56 blocks):
# a fee cap above that, so no transaction waits in the pool for the fee to fall.
MAX_FEE = 2 * 10**12
SEND_BATCH = 8  # raw transactions per JSON-RPC batch (anvil refuses bodies of a few MB)
PRIORITY_FEE = 10**9
STORE_THREADS = 16  # metadata documents stored at once
ADJECTIVES = [
    "hourly",
    "daily",
    "annual",
    "regional",
    "global",
    "urban",
    "coastal",
    "clinical",
    "historic",
    "synthetic",
    "labelled",
    "raw",
]
#: api_load's subjects, and more (a 10k catalogue needs more distinct titles).
SUBJECTS = [
    *WORDS,
    "river",
    "forest",
    "ocean",
    "glacier",
    "volcano",
    "bird",
    "insect",
    "salmon",
]
KINDS = ["survey", "readings", "census", "benchmark", "archive", "panel", "ledger", "catalog"]
REGIONS = [
    "alps",
    "andes",
    "sahara",
    "arctic",
    "amazon",
    "baltic",
    "danube",
    "ganges",
    "mekong",
    "nile",
    "patagonia",
    "prairie",
    "siberia",
    "tasmania",
    "yukon",
]
CATEGORIES = ("tabular", "timeseries", "text", "images", "geo")
NO_MATCH = ("xylophone", "quasar", "marzipan", "trombone")

# Installed in every page before its scripts run: records keystrokes, every change of the
# result list (card ids, or "empty"), each card's first appearance and title, and each SSE
# dataset message — all in the page's own clock, so the Python side's delays never count.
INSTRUMENT = r"""
(() => {
  const bench = { keys: [], changes: [], cards: {}, sse: {}, sseOpen: false };
  window.__bench = bench;
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}
  const epoch = () => performance.timeOrigin + performance.now();
  document.addEventListener("keydown", (e) => bench.keys.push(e.timeStamp), true);
  const Native = window.EventSource;
  if (Native) {
    window.EventSource = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener("open", () => { bench.sseOpen = true; });
        this.addEventListener("dataset", (m) => {
          const id = String(JSON.parse(m.data).dataset_id);
          if (!(id in bench.sse)) bench.sse[id] = epoch();
        });
      }
    };
  }
  let last = null;
  const onChange = () => {
    const t = performance.now();
    const cards = document.querySelectorAll('[data-testid="dataset-card"]');
    const empty = document.querySelector('[data-testid="results-empty"]') !== null;
    const ids = Array.from(cards, (c) => c.getAttribute("data-dataset-id"));
    const sig = empty ? "empty" : ids.join(",");
    if (sig !== last) {
      last = sig;
      const rec = { t, sig, frame: null };
      bench.changes.push(rec);
      requestAnimationFrame(() => { rec.frame = performance.now(); });
    }
    for (const card of cards) {
      const id = card.getAttribute("data-dataset-id");
      let seen = bench.cards[id];
      if (!seen) {
        seen = bench.cards[id] = { at: epoch(), frame: null, titled: null };
        requestAnimationFrame(() => { seen.frame = epoch(); });
      }
      if (seen.titled === null) {
        const h = card.querySelector("h3");
        if (h && !h.textContent.startsWith("Dataset #")) seen.titled = epoch();
      }
    }
  };
  new MutationObserver(onChange).observe(document, {
    subtree: true, childList: true, characterData: true,
  });
})();
"""


# -- numbers ------------------------------------------------------------------------------
def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Series:
    """Samples of one measurement, in ms."""

    name: str
    values: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return pct(self.values, 50)

    @property
    def p95(self) -> float:
        return pct(self.values, 95)

    def line(self) -> str:
        known = [v for v in self.values if not math.isnan(v)]
        if not known:
            return f"{self.name:<60} (no samples)"
        return (
            f"{self.name:<60} n={len(known):<4} p50 {self.p50:8.1f}  p95 {self.p95:8.1f}"
            f"  min {min(known):8.1f}  max {max(known):8.1f} ms"
        )


@dataclass
class Verdict:
    """One target: what was measured against it, and the ratio target / measured."""

    what: str
    measured: float
    target: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.target / self.measured if self.measured > 0 else float("inf")

    def line(self) -> str:
        met = "met" if self.ratio >= 1 else "NOT met"
        return (
            f"{self.what:<52} {self.measured:9.1f} {self.unit} (target <= {self.target:g}"
            f" {self.unit})  ratio {self.ratio:5.2f}  {met}"
        )


@dataclass
class Setup:
    """Seconds each setup phase took."""

    phases: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str, say: Callable[[str], None]) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.phases[name] = time.perf_counter() - started
        say(f"  {name}: {self.phases[name]:.1f} s")

    @property
    def total(self) -> float:
        return sum(self.phases.values())


# -- the workload -------------------------------------------------------------------------
@dataclass(frozen=True)
class Listing:
    """One dataset to list: its metadata document's fields and its on-chain arguments."""

    title: str
    description: str
    category: str
    tags: list[str]
    price: int


def listings(count: int, seed: int = 16) -> list[Listing]:
    """`count` deterministic listings; a title is adjective, subject, kind and a number,
    the description names a codename and a region (search words of every selectivity)."""
    codenames = listings_codenames(seed)
    rng = random.Random(seed + 1)
    made = []
    for i in range(count):
        subject = rng.choice(SUBJECTS)
        title = f"{rng.choice(ADJECTIVES).title()} {subject} {rng.choice(KINDS)} {i}"
        description = (
            f"Project {rng.choice(codenames)}: {subject} measurements from the"
            f" {rng.choice(REGIONS)} region, collected in {1990 + i % 35}."
        )
        made.append(
            Listing(
                title=title,
                description=description,
                category=CATEGORIES[i % len(CATEGORIES)],
                tags=[subject, rng.choice(REGIONS)],
                price=(1 + i % 50) * 10**17,
            )
        )
    return made


def search_queries(count: int, seed: int = 17) -> list[str]:
    """Queries of every selectivity: a subject (~1/30 of the datasets), an adjective and a
    subject (~1/360), a region, a codename (~1/400), and words nothing matches."""
    rng = random.Random(seed)
    pool: list[str] = []
    pool += rng.sample(SUBJECTS, 12)
    pool += [f"{rng.choice(ADJECTIVES)} {rng.choice(SUBJECTS)}" for _ in range(10)]
    pool += rng.sample(REGIONS, 6)
    pool += [f"project {s}" for s in rng.sample(listings_codenames(), 8)]
    pool += list(NO_MATCH)
    rng.shuffle(pool)
    unique = list(dict.fromkeys(pool))  # each query once: React Query's cache never answers
    return unique[:count]


def listings_codenames(seed: int = 16) -> list[str]:
    """The codenames `listings` draws from (same seed, same draws)."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ru", "ze", "ta", "vo", "ni", "shu", "pe", "dra", "qui"]
    return sorted({"".join(rng.choice(syllables) for _ in range(3)) for _ in range(400)})


def store_documents(dapp: Dapp, items: Sequence[Listing]) -> list[str]:
    """Each listing's metadata document in the platform's blob store (pinned): the CIDs.

    One real upload goes through the API's own `store_upload` (a CSV, profiled, encrypted);
    every listing's document is that document with its own title, description, category
    and tags, validated and serialised as `store_upload` does, and stored beside it. (Their
    content is the one upload: the explore page never reads it.)"""
    blobs: BlobStore = open_blobs(dapp.settings)
    sample = b"id,reading,site\n" + b"".join(f"{i},{i * 0.5},{i % 7}\n".encode() for i in range(50))
    template, _ = store_upload(
        settings=dapp.settings,
        blobs=blobs,
        keyring=open_keyring(dapp.settings),
        source=io.BytesIO(sample),
        filename="readings.csv",
        fields={
            "title": "template",
            "description": "",
            "license": "CC-BY-4.0",
            "category": "tabular",
            "tags": [],
        },
        encrypted=True,
    )
    base = template.model_dump(mode="json")
    documents = [
        # The bytes `api/routers/uploads.py` stores: validated, JSON mode, sorted keys.
        orjson.dumps(
            DatasetDocument.model_validate(
                base
                | {
                    "title": item.title,
                    "description": item.description,
                    "category": item.category,
                    "tags": item.tags,
                }
            ).model_dump(mode="json"),
            option=orjson.OPT_SORT_KEYS,
        )
        for item in items
    ]

    def put(document: bytes) -> str:
        stored = blobs.put([document])
        blobs.pin(stored.cid)
        return stored.cid

    # The store is durable (an fsync per block, pin and directory), so most of a put is
    # waiting on the disk: threads overlap the waits (puts of distinct CIDs are
    # independent files, written atomically).
    with ThreadPoolExecutor(max_workers=STORE_THREADS) as pool:
        cids = list(pool.map(put, documents))
    return cids


def _selector(signature: str) -> bytes:
    return bytes(Web3.keccak(text=signature)[:4])


LIST_DATASET = _selector("listDataset(string,bytes32,string,uint256,uint64)")
MULTICALL = _selector("multicall(bytes[])")


def listing_call(cid: str, item: Listing, content_hash: bytes) -> bytes:
    """`listDataset` calldata for one listing."""
    types = ["string", "bytes32", "string", "uint256", "uint64"]
    return LIST_DATASET + abi_encode(types, [cid, content_hash, item.category, item.price, 0])


def list_on_chain(dapp: Dapp, items: Sequence[Listing], cids: Sequence[str]) -> int:
    """List every item: `Marketplace.multicall` transactions of LISTINGS_PER_TX listings,
    round-robin over PROVIDERS, all sent to the pool with automine off, then blocks mined
    until the pool is empty. Every receipt is checked. Returns the blocks mined."""
    rpc = RpcClient(dapp.node.url, timeout=120.0)
    market = dapp.platform.deployment.address("Marketplace")
    chain_id = rpc.chain_id()
    content_hash = bytes(32)
    batches = [
        [
            listing_call(c, it, content_hash)
            for c, it in zip(cids[i : i + n], items[i : i + n], strict=True)
        ]
        for n in (LISTINGS_PER_TX,)
        for i in range(0, len(items), n)
    ]
    accounts = [dev_account(i) for i in PROVIDERS]
    first = MULTICALL + abi_encode(["bytes[]"], [batches[0]])
    estimate = {"from": accounts[0].address, "to": market, "data": "0x" + first.hex()}
    gas = int(rpc.call("eth_estimateGas", [estimate]), 16)
    gas += gas // 10
    nonces = {
        a.address: int(rpc.call("eth_getTransactionCount", [a.address, "pending"]), 16)
        for a in accounts
    }
    raw: list[str] = []
    for n, batch in enumerate(batches):
        account = accounts[n % len(accounts)]
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonces[account.address],
            "to": market,
            "value": 0,
            "data": MULTICALL + abi_encode(["bytes[]"], [batch]),
            "gas": gas,
            "maxFeePerGas": MAX_FEE,
            "maxPriorityFeePerGas": PRIORITY_FEE,
        }
        nonces[account.address] += 1
        raw.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
    rpc.call("evm_setAutomine", [False])
    blocks = 0
    try:
        hashes = []
        for i in range(0, len(raw), SEND_BATCH):
            sends = [("eth_sendRawTransaction", [r]) for r in raw[i : i + SEND_BATCH]]
            hashes += rpc.batch(sends)
        while int(rpc.call("txpool_status")["pending"], 16) > 0:
            rpc.call("evm_mine")
            blocks += 1
            if blocks > 10 * len(raw):
                raise RuntimeError("the listing transactions stay in the pool")
    finally:
        rpc.call("evm_setAutomine", [True])
    for i in range(0, len(hashes), 100):
        chunk = hashes[i : i + 100]
        for h, receipt in zip(
            chunk, rpc.batch([("eth_getTransactionReceipt", [h]) for h in chunk]), strict=True
        ):
            if receipt is None or receipt.get("status") != "0x1":
                raise RuntimeError(f"listing transaction {h} failed: {receipt}")
    return blocks


def wait_caught_up(dapp: Dapp, listed: int, timeout: float = 900.0) -> tuple[float, float]:
    """Wait until the read model lists `listed` datasets and the resolver has every one's
    metadata; the seconds to each (from the call)."""
    started = time.perf_counter()
    schema = dapp.settings.read_schema
    projected_at = resolved_at = None
    with psycopg.connect(dapp.settings.database_url, autocommit=True) as conn:
        while resolved_at is None:
            row = conn.execute(
                f"SELECT count(*), count(m.cid) FROM {schema}.datasets d"
                " LEFT JOIN public.dataset_metadata m ON m.cid = d.metadata_cid"
                " WHERE d.status = 'listed'"
            ).fetchone()
            assert row is not None
            count, titled = int(row[0]), int(row[1])
            now = time.perf_counter() - started
            if projected_at is None and count >= listed:
                projected_at = now
            if projected_at is not None and titled >= listed:
                resolved_at = now
            elif now > timeout:
                raise RuntimeError(f"after {timeout:.0f} s: {count} listed, {titled} titled")
            else:
                time.sleep(0.2)
    assert projected_at is not None
    return projected_at, resolved_at


# -- the page -----------------------------------------------------------------------------
def expected_signature(dapp: Dapp, q: str | None) -> str:
    """What the explore list shows for search `q`: the API's first page (the page's own
    parameters), as the instrumentation spells the list."""
    params: dict[str, str | int] = {"status": "listed", "sort": "newest", "limit": 20}
    if q:
        params["q"] = q
    items = httpx.get(f"{dapp.url}/datasets", params=params, timeout=30).json()["items"]
    return ",".join(str(d["dataset_id"]) for d in items) if items else "empty"


def first_results_ms(page: Page) -> float:
    """Wait for the first non-empty result list; its frame time (ms since navigation)."""
    page.wait_for_function(
        "() => window.__bench && window.__bench.changes.some("
        "  (c) => c.sig && c.sig !== 'empty' && c.frame !== null)",
        timeout=30_000,
    )
    value: float = page.evaluate(
        "() => window.__bench.changes.find((c) => c.sig && c.sig !== 'empty').frame"
    )
    return value


def load_profile(page: Page) -> dict[str, float]:
    """Where a load's time went: navigation timing and the first list request."""
    profile: dict[str, float] = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const res = performance.getEntriesByType('resource');
          const scripts = res.filter((r) => r.initiatorType === 'script' || r.name.endsWith('.js'));
          const list = res.find((r) => /\\/datasets\\?/.test(r.name) && /limit=20/.test(r.name));
          return {
            html_response_end: nav.responseEnd,
            scripts_loaded: Math.max(0, ...scripts.map((r) => r.responseEnd)),
            dom_content_loaded: nav.domContentLoadedEventEnd,
            list_request_start: list ? list.startTime : NaN,
            list_response_end: list ? list.responseEnd : NaN,
          };
        }"""
    )
    return profile


def measure_loads(
    browser: Browser, dapp: Dapp, loads: int
) -> tuple[Series, Series, dict[str, Series]]:
    """`loads` cold loads (fresh context each) and `loads` warm ones (one context)."""
    cold, warm = (
        Series("page load, cold (nav start -> first cards)"),
        Series("page load, warm cache (nav start -> first cards)"),
    )
    parts: dict[str, Series] = {}
    url = dapp.page_url("/")
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            context.add_init_script(INSTRUMENT)
            page = context.new_page()
            page.goto(url, wait_until="commit")
            cold.values.append(first_results_ms(page))
            for key, value in load_profile(page).items():
                parts.setdefault(key, Series(f"  cold: {key}")).values.append(value)
        finally:
            context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(INSTRUMENT)
        page = context.new_page()
        page.goto(url, wait_until="commit")
        first_results_ms(page)
        for _ in range(loads):
            page.goto(url, wait_until="commit")
            warm.values.append(first_results_ms(page))
    finally:
        context.close()
    return cold, warm, parts


@dataclass
class SearchSample:
    """One query's timings (ms, page clock) from its last keystroke."""

    query: str
    latency: float
    request_start: float
    response_end: float


def measure_search(
    browser: Browser, dapp: Dapp, queries: Sequence[str]
) -> tuple[list[SearchSample], list[SearchSample], int]:
    """Type each query (50 ms between keys), then clear the box: for both, the last
    keystroke -> the list showing the API's first page. Queries are all different, so the
    new-query samples never come from React Query's cache; clearing returns to the
    unfiltered list, which the cache shows at once (and refetches)."""
    typed: list[SearchSample] = []
    cleared: list[SearchSample] = []
    skipped = 0
    unfiltered = expected_signature(dapp, None)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(INSTRUMENT)
        page = context.new_page()
        page.goto(dapp.page_url("/"), wait_until="commit")
        first_results_ms(page)
        box = page.get_by_test_id("search")
        for query in queries:
            for text, expected, into in (
                (query, expected_signature(dapp, query), typed),
                ("", unfiltered, cleared),
            ):
                start = page.evaluate("() => window.__bench.changes.length")
                box.click()
                page.keyboard.press("Control+A")
                if text:
                    page.keyboard.type(text, delay=50)
                else:
                    page.keyboard.press("Backspace")
                page.wait_for_function(
                    "([start, sig]) => window.__bench.changes.slice(start)"
                    ".some((c) => c.sig === sig && c.frame !== null)",
                    arg=[start, expected],
                    timeout=30_000,
                )
                sample = page.evaluate(
                    """([start, sig, text]) => {
                      const b = window.__bench;
                      const key = b.keys[b.keys.length - 1];
                      const hit = b.changes.slice(start).find((c) => c.sig === sig && c.t >= key);
                      if (!hit) return null;
                      const want = text
                        ? 'q=' + encodeURIComponent(text).replace(/%20/g, '+') : null;
                      const reqs = performance.getEntriesByType('resource').filter(
                        (r) => /\\/datasets\\?/.test(r.name) && r.startTime >= key
                          && r.name.includes('limit=20')
                          && (want ? r.name.includes(want) : !r.name.includes('q=')));
                      const req = reqs[0];
                      return {
                        latency: hit.frame - key,
                        request_start: req ? req.startTime - key : NaN,
                        response_end: req ? req.responseEnd - key : NaN,
                      };
                    }""",
                    [start, expected, text],
                )
                if sample is None:
                    skipped += 1
                    continue
                into.append(SearchSample(query=text or "(cleared)", **sample))
    finally:
        context.close()
    return typed, cleared, skipped


@dataclass
class LiveSample:
    """One listing's path to the open page (ms after the block was mined)."""

    dataset_id: int
    sse: float  # the SSE message arrives in the page
    detail_polls: int  # GET /datasets/{id} the page sent before refreshing its lists
    list_response: float  # the last refetch of the list answered
    visible: float  # the card's first frame
    # The card shows the title from the metadata document (NaN: not within the 300 ms
    # after it showed; the page refetches when the listing is projected, not when the
    # resolver has its document, so a card can stay "Dataset #id" until a later refetch)
    titled: float


def measure_live(browser: Browser, dapp: Dapp, count: int) -> list[LiveSample]:
    """`count` times: store a new listing's metadata, send its `listDataset` (automine
    off), then mine its block; the time from `evm_mine` to its card visible on an open
    explore page (epoch clock of this machine on both sides)."""
    rpc = RpcClient(dapp.node.url, timeout=30.0)
    market = dapp.platform.client.contract("Marketplace")
    items = listings(count, seed=99)
    cids = store_documents(dapp, items)
    provider = dapp.address(PROVIDERS[0])
    samples = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(INSTRUMENT)
        page = context.new_page()
        page.goto(dapp.page_url("/"), wait_until="commit")
        first_results_ms(page)
        page.wait_for_function("() => window.__bench.sseOpen", timeout=30_000)
        for item, cid in zip(items, cids, strict=True):
            expected_id = int(market.functions.datasetCount().call()) + 1
            rpc.call("evm_setAutomine", [False])
            try:
                rpc.call(
                    "eth_sendTransaction",
                    [
                        {
                            "from": provider,
                            "to": market.address,
                            "data": "0x" + listing_call(cid, item, bytes(32)).hex(),
                        }
                    ],
                )
                mined_at = time.time() * 1000
                rpc.call("evm_mine")
            finally:
                rpc.call("evm_setAutomine", [True])
            page.wait_for_function(
                "(id) => { const c = window.__bench.cards[id]; return c && c.frame !== null; }",
                arg=str(expected_id),
                timeout=30_000,
            )
            # The next listing is mined 300 ms after this one shows: arrivals paced like a
            # busy marketplace, and one sample's refetches do not overlap the next one's.
            page.wait_for_timeout(300)
            seen = page.evaluate(
                """(id) => {
                  const b = window.__bench;
                  const card = b.cards[id];
                  const toEpoch = (t) => performance.timeOrigin + t;
                  const res = performance.getEntriesByType('resource');
                  const polls = res.filter((r) => r.name.includes('/datasets/' + id + '?'));
                  const lists = res.filter((r) => /\\/datasets\\?/.test(r.name)
                    && r.name.includes('limit=20') && toEpoch(r.startTime) >= b.sse[id]
                    && toEpoch(r.responseEnd) <= card.at);
                  const list = lists[lists.length - 1];
                  return {
                    card, sse: b.sse[id] ?? null, polls: polls.length,
                    list: list ? toEpoch(list.responseEnd) : null,
                  };
                }""",
                str(expected_id),
            )
            nan = float("nan")
            samples.append(
                LiveSample(
                    dataset_id=expected_id,
                    sse=(seen["sse"] or nan) - mined_at,
                    detail_polls=int(seen["polls"]),
                    list_response=(seen["list"] or nan) - mined_at,
                    visible=seen["card"]["frame"] - mined_at,
                    titled=(seen["card"]["titled"] or nan) - mined_at,
                )
            )
    finally:
        context.close()
    return samples


# -- the run ------------------------------------------------------------------------------
@contextlib.contextmanager
def template_database() -> Iterator[str]:
    """A freshly migrated database for `running_dapp` to clone; dropped afterwards."""
    name = f"datacoin_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}_tmpl"
    url = f"{ADMIN_DB_URL.rsplit('/', 1)[0]}/{name}"
    try:
        upgrade(url)  # creates it
        yield url
    finally:
        with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def launch(playwright: Any) -> Browser:
    """Debian's chromium, headless (no sandbox as root, as tests/web/conftest.py)."""
    path = os.environ.get("DATACOIN_CHROMIUM") or shutil.which("chromium")
    if path is None:
        raise SystemExit("`chromium` is not on PATH (apt-get install chromium)")
    args = ["--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    browser: Browser = playwright.chromium.launch(executable_path=path, args=args)
    return browser


def bundle_verdicts() -> list[Verdict]:
    """First-load JS per route of the last build (bench/web_bundle.py's measure)."""
    verdicts = []
    for route, html in web_bundle.routes().items():
        kb, scripts = web_bundle.first_load_kb(html)
        verdicts.append(
            Verdict(f"first-load JS {route} ({scripts} scripts)", kb, BUNDLE_TARGET_KB, "kB")
        )
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", type=int, default=10_000, help="datasets listed on chain")
    p.add_argument("--loads", type=int, default=20, help="cold loads (and as many warm)")
    p.add_argument("--queries", type=int, default=40, help="search queries typed")
    p.add_argument("--live", type=int, default=40, help="listings mined with the page open")
    return p.parse_args(argv)


def _on_sigterm(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every cleanup


def set_up(
    stack: contextlib.ExitStack, count: int, setup: Setup, say: Callable[[str], None]
) -> Dapp:
    """The running stack with `count` datasets listed, indexed, projected and titled."""
    items = listings(count)
    say(f"setup: {count} datasets")
    with setup.phase("stack (anvil, database, indexer, projector, resolver, API)", say):
        template = stack.enter_context(template_database())
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="dapp-bench-"))
        dapp = stack.enter_context(running_dapp(template, REDIS_URL, Path(data_dir)))
    with setup.phase(f"{count} metadata documents into the blob store", say):
        cids = store_documents(dapp, items)
    with setup.phase("sign, send and mine the listing transactions", say):
        blocks = list_on_chain(dapp, items, cids)
    say(f"  ({-(-count // LISTINGS_PER_TX)} transactions in {blocks} blocks)")
    with setup.phase("indexed, projected and resolved (after the last block)", say):
        projected, resolved = wait_caught_up(dapp, count)
    say(f"  (all listed in the read model after {projected:.1f} s, titled after {resolved:.1f} s)")
    say(f"  setup total: {setup.total:.1f} s")
    check = expected_signature(dapp, "penguin")
    say(f"  search check: 'penguin' -> {len(check.split(','))} results: {check[:50]}...")
    return dapp


def run_loads(
    browser: Browser, dapp: Dapp, loads: int, say: Callable[[str], None]
) -> list[Verdict]:
    say(f"\n1. explore page load ({loads} cold, {loads} warm)")
    cold, warm, parts = measure_loads(browser, dapp, loads)
    for series in (cold, warm, *parts.values()):
        say(series.line())
    return [
        Verdict("page load cold, median", cold.p50, LOAD_TARGET_MS, "ms"),
        Verdict("page load cold, p95", cold.p95, LOAD_TARGET_MS, "ms"),
        Verdict("page load warm, p95", warm.p95, LOAD_TARGET_MS, "ms"),
    ]


def api_latency(dapp: Dapp, queries: Sequence[str]) -> tuple[Series, Series]:
    """The API alone (no browser): GET /datasets as the explore page asks for it, first
    page unfiltered and per query, over one keep-alive connection, from this process."""
    plain = Series("  API alone: GET /datasets first page (unfiltered)")
    searched = Series("  API alone: GET /datasets?q= (each query)")
    base: dict[str, str | int] = {"status": "listed", "sort": "newest", "limit": 20}
    with httpx.Client(base_url=dapp.url, timeout=30) as http:
        for query in queries:
            for params, series in ((base, plain), (base | {"q": query}, searched)):
                started = time.perf_counter()
                http.get("/datasets", params=params).raise_for_status()
                series.values.append((time.perf_counter() - started) * 1000)
    return plain, searched


def run_search(
    browser: Browser, dapp: Dapp, queries: int, say: Callable[[str], None]
) -> list[Verdict]:
    say(f"\n2. search ({queries} queries typed, each then cleared)")
    chosen = search_queries(queries)
    for series in api_latency(dapp, chosen):
        say(series.line())
    typed, cleared, skipped = measure_search(browser, dapp, chosen)
    for label, samples in (("new query", typed), ("cleared (cached list)", cleared)):
        say(Series(f"last keystroke -> results, {label}", [s.latency for s in samples]).line())
        request = [s.request_start for s in samples]
        say(Series(f"  last keystroke -> list request sent, {label}", request).line())
        response = [s.response_end for s in samples]
        say(Series(f"  last keystroke -> list response in, {label}", response).line())
    if skipped:
        say(f"  ({skipped} samples skipped: the list already showed the query's results)")
    every = Series("last keystroke -> results, all", [s.latency for s in typed + cleared])
    say(every.line())
    new = pct([s.latency for s in typed], 95)
    return [
        Verdict("search keystroke -> results, p95 (all)", every.p95, SEARCH_P95_TARGET_MS, "ms"),
        Verdict("search keystroke -> results, p95 (new queries)", new, SEARCH_P95_TARGET_MS, "ms"),
    ]


def run_live(browser: Browser, dapp: Dapp, count: int, say: Callable[[str], None]) -> list[Verdict]:
    say(f"\n3. block mined -> new listing visible ({count} listings)")
    live = measure_live(browser, dapp, count)
    visible = Series("mined -> card visible", [s.visible for s in live])
    say(Series("  mined -> SSE message in the page", [s.sse for s in live]).line())
    say(Series("  mined -> last list refetch answered", [s.list_response for s in live]).line())
    say(visible.line())
    titled = [s.titled for s in live]
    say(Series("  mined -> card shows its title", titled).line())
    untitled = sum(1 for t in titled if math.isnan(t))
    say(f"  cards still untitled 300 ms after they showed: {untitled} of {len(live)}")
    polls = [s.detail_polls for s in live]
    say(
        "  GET /datasets/{id} per listing before the lists refresh: "
        + ", ".join(f"{n}x: {polls.count(n)}" for n in sorted(set(polls)))
    )
    return [
        Verdict("block mined -> listing visible, p50", visible.p50, LIVE_P50_TARGET_MS, "ms"),
    ]


def run(args: argparse.Namespace, say: Callable[[str], None]) -> list[Verdict]:
    """Set up, measure everything, print the summary; the verdicts."""
    if not dapp_built():
        raise SystemExit("web/out is not built: cd web && npx next build")
    setup = Setup()
    verdicts: list[Verdict] = []
    with contextlib.ExitStack() as stack:
        dapp = set_up(stack, args.datasets, setup, say)
        playwright = stack.enter_context(sync_playwright())
        browser = launch(playwright)
        stack.callback(browser.close)
        say(f"chromium {browser.version}, {os.cpu_count()} cores")
        for measure, count in (
            (run_loads, args.loads),
            (run_search, args.queries),
            (run_live, args.live),
        ):
            before = cpu_busy()
            verdicts += measure(browser, dapp, count, say)
            busy = cores_busy(before, cpu_busy(), os.cpu_count() or 1)
            load = os.getloadavg()[0]
            say(f"  (machine: {busy:.2f} cores busy on average, load average {load:.1f})")
        say("\n4. first-load JS per route (gzip, bench/web_bundle.py)")
        bundle = bundle_verdicts()
        for v in bundle:
            say(v.line())
        verdicts += bundle
    say("\nsummary (ratio = target / measured, > 1 met)")
    say(f"  setup: {setup.total:.1f} s for {args.datasets} datasets")
    for name, seconds in setup.phases.items():
        say(f"    {name}: {seconds:.1f} s")
    for v in verdicts:
        say("  " + v.line())
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The stack logs every block and blob at info: the numbers would drown in it.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    signal.signal(signal.SIGTERM, _on_sigterm)

    def say(message: str) -> None:
        print(message, flush=True)

    verdicts = run(args, say)
    return 0 if all(v.ratio >= 1 for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
