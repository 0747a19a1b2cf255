"use client";
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { DatasetCard } from "@/components/DatasetCard";
import { getJson, query, type Dataset, type DatasetPage } from "@/lib/api";
import { coinToWei } from "@/lib/format";
import { useDebounced } from "@/lib/useDebounced";
import { useLiveDatasets } from "@/lib/liveUpdates";
import { useCurrentChainId, useDeployments } from "@/lib/deployment";

const SORTS = [
  ["newest", "Newest"],
  ["price", "Price"],
  ["purchases", "Most bought"],
  ["rating", "Best rated"],
] as const;

const SEARCH_DEBOUNCE_MS = 100;
const FIELD_DEBOUNCE_MS = 300;
/** While a listed dataset's metadata is not resolved yet (no title), its page is re-read. */
const UNRESOLVED_REFRESH_MS = 1500;
/** ...for this long after it was listed: a document that never resolves is not polled forever. */
const RESOLVE_WINDOW_MS = 120_000;

function awaitingMetadata(d: Dataset): boolean {
  return d.title == null && Date.now() - Date.parse(d.listed_at) < RESOLVE_WINDOW_MS;
}

export default function ExplorePage() {
  const [q, setQ] = useState("");
  const [category, setCategory] = useState("");
  const [minPrice, setMinPrice] = useState("");
  const [maxPrice, setMaxPrice] = useState("");
  const [provider, setProvider] = useState("");
  const [sort, setSort] = useState("newest");
  // The chain filter follows the header's current chain until the user picks another here
  // ("" = every chain); picking a chain in the header makes it follow again.
  const deployments = useDeployments();
  const current = useCurrentChainId();
  const [chainPick, setChainPick] = useState<{ value: string; over: number | undefined } | null>(null);
  const chainFilter = chainPick !== null && chainPick.over === current ? chainPick.value : String(current ?? "");
  const several = (deployments.data?.length ?? 0) > 1;
  // Search follows typing closely; the range and provider fields wait for a pause (a
  // half-typed price or address would fetch a useless page).
  const filters = {
    q: useDebounced(q.trim(), SEARCH_DEBOUNCE_MS),
    minPrice: useDebounced(minPrice, FIELD_DEBOUNCE_MS),
    maxPrice: useDebounced(maxPrice, FIELD_DEBOUNCE_MS),
    provider: useDebounced(provider.trim(), FIELD_DEBOUNCE_MS),
  };
  // A provider filter applies once it is a whole address (a partial one would match none).
  const providerValid = /^0x[0-9a-fA-F]{40}$/.test(filters.provider);
  useLiveDatasets();

  const params = {
    q: filters.q || undefined,
    category: category || undefined,
    min_price: coinToWei(filters.minPrice) ?? undefined,
    max_price: coinToWei(filters.maxPrice) ?? undefined,
    provider: providerValid ? filters.provider : undefined,
    sort,
    status: "listed",
    chain_id: several ? chainFilter || undefined : undefined,
    limit: 20,
  };
  const results = useInfiniteQuery({
    queryKey: ["datasets", params],
    queryFn: ({ pageParam }) => getJson<DatasetPage>(`/datasets${query({ ...params, cursor: pageParam })}`),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // The previous results stay on screen while the next query loads (no flash of "Loading…").
    placeholderData: keepPreviousData,
    // Once the chains are known (or could not be): the first page is then already filtered.
    enabled: deployments.isFetched,
    refetchInterval: (query) => (query.state.data?.pages.some((p) => p.items.some(awaitingMetadata)) ? UNRESOLVED_REFRESH_MS : false),
  });
  // The categories offered: those of the listed datasets (the API has no fixed list).
  const sample = useQuery({
    queryKey: ["datasets", "categories"],
    queryFn: () => getJson<DatasetPage>(`/datasets${query({ status: "listed", limit: 100 })}`),
    staleTime: 30_000,
  });
  const categories = useMemo(() => {
    const all = new Set(sample.data?.items.map((d) => d.category) ?? []);
    if (category) all.add(category);
    return [...all].sort();
  }, [sample.data, category]);

  const sentinel = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = results;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && hasNextPage && !isFetchingNextPage) void fetchNextPage();
      },
      { rootMargin: "400px" },
    );
    observer.observe(el);
    return () => observer.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const items = results.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section>
      <h1>Explore datasets</h1>
      <form className={several ? "filters with-chain" : "filters"} onSubmit={(e) => e.preventDefault()} role="search">
        <input
          data-testid="search"
          type="search"
          placeholder="Search titles and descriptions"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          aria-label="Search"
        />
        <select data-testid="category" value={category} onChange={(e) => setCategory(e.target.value)} aria-label="Category">
          <option value="">All categories</option>
          {categories.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        <input
          data-testid="min-price"
          inputMode="decimal"
          placeholder="Min price"
          value={minPrice}
          onChange={(e) => setMinPrice(e.target.value)}
          aria-label="Minimum price in DATACOIN"
        />
        <input
          data-testid="max-price"
          inputMode="decimal"
          placeholder="Max price"
          value={maxPrice}
          onChange={(e) => setMaxPrice(e.target.value)}
          aria-label="Maximum price in DATACOIN"
        />
        <input
          data-testid="provider-filter"
          placeholder="Provider address (0x…)"
          value={provider}
          onChange={(e) => setProvider(e.target.value)}
          aria-label="Provider address"
          aria-invalid={filters.provider !== "" && !providerValid}
        />
        {several && (
          <select data-testid="chain-filter" value={chainFilter} onChange={(e) => setChainPick({ value: e.target.value, over: current })} aria-label="Filter by chain">
            <option value="">All chains</option>
            {deployments.data?.map((d) => (
              <option key={d.chain_id} value={String(d.chain_id)}>
                {d.name ?? `Chain ${d.chain_id}`}
              </option>
            ))}
          </select>
        )}
        <select data-testid="sort" value={sort} onChange={(e) => setSort(e.target.value)} aria-label="Sort">
          {SORTS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </form>
      {results.isPending && <p className="muted">Loading…</p>}
      {results.isSuccess && items.length === 0 && (
        <p data-testid="results-empty" className="muted">
          No dataset matches these filters.
        </p>
      )}
      <ul className="grid">
        {items.map((d) => (
          <DatasetCard key={`${d.chain_id}-${d.dataset_id}`} dataset={d} />
        ))}
      </ul>
      <div ref={sentinel} className="sentinel" aria-hidden />
      {isFetchingNextPage && <p className="muted">Loading more…</p>}
      {hasNextPage && !isFetchingNextPage && (
        <button type="button" onClick={() => void fetchNextPage()}>
          Load more
        </button>
      )}
    </section>
  );
}
