"use client";
// One section of the account page: a list read page by page with the API's cursors
// (`{items, next_cursor}`), "Load more" for the next page, and an empty state that says so.
import { useInfiniteQuery, type QueryKey } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { getJson } from "@/lib/api";

/** Items per page the account page asks for. */
export const PAGE_SIZE = 10;

type Page<T> = { items: T[]; next_cursor: string | null };

type Props<T> = {
  /** data-testid of the section; its "Load more" button is `${testId}-more`. */
  testId: string;
  title: string;
  queryKey: QueryKey;
  /** The API path of the page after `cursor` (null: the first page). */
  path: (cursor: string | null) => string;
  /** What the section says when the account has none. */
  empty: string;
  itemKey: (item: T) => string;
  /** data-testid of each item, and any data-* attributes it carries (e.g. data-event). */
  itemTestId: string;
  itemData?: (item: T) => Record<`data-${string}`, string>;
  render: (item: T) => ReactNode;
  enabled: boolean;
};

export function PagedSection<T>({ testId, title, queryKey, path, empty, itemKey, itemTestId, itemData, render, enabled }: Props<T>) {
  const pages = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => getJson<Page<T>>(path(pageParam)),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled,
  });
  const items = pages.data?.pages.flatMap((p) => p.items) ?? [];
  const headingId = `${testId}-heading`;
  return (
    <section className="account-section" data-testid={testId} aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {pages.isPending && enabled && <p className="muted">Loading…</p>}
      {pages.isError && (
        <p className="error" role="alert">
          {pages.error.message}
        </p>
      )}
      {pages.isSuccess && items.length === 0 && (
        <p className="muted" data-testid={`${testId}-empty`}>
          {empty}
        </p>
      )}
      {items.length > 0 && (
        <ul className="rows">
          {items.map((item) => (
            <li key={itemKey(item)} data-testid={itemTestId} {...itemData?.(item)}>
              {render(item)}
            </li>
          ))}
        </ul>
      )}
      {pages.hasNextPage && (
        <button
          type="button"
          className="more"
          data-testid={`${testId}-more`}
          disabled={pages.isFetchingNextPage}
          onClick={() => void pages.fetchNextPage()}
        >
          {pages.isFetchingNextPage ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}
