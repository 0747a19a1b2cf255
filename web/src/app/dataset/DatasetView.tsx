"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { ApiError, getJson, query, type DatasetDetail, type Preview } from "@/lib/api";
import { formatCoin } from "@/lib/format";
import { useLiveDatasets } from "@/lib/liveUpdates";
import { ProviderLink } from "@/components/ProviderLink";
import { ChainBadge } from "@/components/ChainBadge";
import { BuyPanel } from "./BuyPanel";
import { PreviewBody, TextLengths } from "./PreviewPanel";

function duration(seconds: number): string {
  if (seconds === 0) return "Perpetual access";
  const days = seconds / 86400;
  return days >= 1 ? `Access for ${Number.isInteger(days) ? days : days.toFixed(1)} days` : `Access for ${seconds} seconds`;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function DatasetView() {
  const params = useSearchParams();
  const id = params.get("id") ?? "";
  const chain = params.get("chain");
  const valid = /^[0-9]{1,78}$/.test(id);
  useLiveDatasets();
  const detail = useQuery({
    queryKey: ["dataset", id, chain],
    queryFn: () => getJson<DatasetDetail>(`/datasets/${id}${query({ chain_id: chain })}`),
    enabled: valid,
  });
  const preview = useQuery({
    queryKey: ["preview", id, chain],
    queryFn: async () => {
      try {
        return await getJson<Preview>(`/datasets/${id}/preview${query({ chain_id: chain })}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    enabled: valid,
  });

  if (!valid) return <p>No dataset given: open one from <Link href="/">Explore</Link>.</p>;
  if (detail.isPending) return <p className="muted">Loading…</p>;
  if (detail.isError) {
    const notFound = detail.error instanceof ApiError && detail.error.status === 404;
    return <p role="alert">{notFound ? `Dataset ${id} does not exist.` : detail.error.message}</p>;
  }
  const d = detail.data;
  return (
    <article className="dataset">
      <h1 data-testid="dataset-title">{d.title ?? `Dataset #${d.dataset_id}`}</h1>
      <p>{d.description ?? "No description."}</p>
      <dl className="facts">
        <dt>Chain</dt>
        <dd data-testid="dataset-chain" data-chain-id={d.chain_id}>
          <ChainBadge chainId={d.chain_id} /> <span className="muted">chain id {d.chain_id}</span>
        </dd>
        <dt>Price</dt>
        <dd data-testid="dataset-price">{formatCoin(d.price)}</dd>
        <dt>Provider</dt>
        <dd data-testid="dataset-provider">
          <ProviderLink address={d.provider} />
        </dd>
        <dt>Access</dt>
        <dd>{duration(d.access_duration)}</dd>
        <dt>Rating</dt>
        <dd data-testid="dataset-rating">{d.rating != null ? `★ ${d.rating.toFixed(1)} (${d.rating_count})` : "Not rated yet"}</dd>
        <dt>Purchases</dt>
        <dd data-testid="dataset-purchases">{d.purchases}</dd>
        <dt>Category</dt>
        <dd>{d.category}</dd>
        <dt>Format</dt>
        <dd>
          {d.format ?? "unknown"}
          {d.rows != null && ` · ${d.rows} rows`}
          {d.columns != null && ` · ${d.columns} columns`}
        </dd>
        <dt>Status</dt>
        <dd data-testid="dataset-status">
          {d.status} · {d.finalized ? "final on chain" : "not final yet"} (block {d.block_number})
        </dd>
      </dl>

      <BuyPanel dataset={d} />

      <h2>Columns</h2>
      {d.column_schema && d.column_schema.length > 0 ? (
        <div className="scroll">
          <table data-testid="dataset-schema">
            <thead>
              <tr>
                <th>Name</th>
                <th>Type</th>
                <th>Nulls</th>
                <th>Distinct</th>
                <th>Min</th>
                <th>Max</th>
                <th>Mean</th>
              </tr>
            </thead>
            <tbody>
              {d.column_schema.map((c) => (
                <tr key={c.name}>
                  <td>{c.name}</td>
                  <td>{c.type}</td>
                  <td>{c.nulls}</td>
                  <td>{c.distinct ?? ""}</td>
                  <td>{cell(c.min)}</td>
                  <td>{cell(c.max)}</td>
                  <td>{c.mean != null ? c.mean.toPrecision(4) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <table data-testid="dataset-schema">
          <tbody>
            <tr>
              <td className="muted">No column schema published.</td>
            </tr>
          </tbody>
        </table>
      )}

      <TextLengths columns={d.column_schema ?? []} />

      <h2>Preview</h2>
      <div data-testid="dataset-preview" className="scroll">
        {preview.isPending && <p className="muted">Loading preview…</p>}
        {preview.isError && <p className="muted">The preview could not be loaded.</p>}
        {preview.data === null && <p className="muted">No preview for this dataset.</p>}
        {preview.data && <PreviewBody preview={preview.data} />}
      </div>
    </article>
  );
}
