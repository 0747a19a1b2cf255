import Link from "next/link";
import type { Dataset } from "@/lib/api";
import { datasetHref, formatCoin, shortAddress } from "@/lib/format";
import { ChainBadge } from "./ChainBadge";

export function DatasetCard({ dataset }: { dataset: Dataset }) {
  return (
    <li className="card" data-testid="dataset-card" data-dataset-id={dataset.dataset_id} data-chain-id={dataset.chain_id}>
      <Link href={datasetHref(String(dataset.dataset_id), dataset.chain_id)}>
        <h3>{dataset.title ?? `Dataset #${dataset.dataset_id}`}</h3>
      </Link>
      <p className="muted clamp">{dataset.description ?? "No description yet"}</p>
      <div className="meta">
        <ChainBadge chainId={dataset.chain_id} />
        <span className="tag">{dataset.category}</span>
        <span>{formatCoin(dataset.price)}</span>
        <span>
          {dataset.rating != null ? `★ ${dataset.rating.toFixed(1)}` : "unrated"} · {dataset.purchases} sold
        </span>
        <span className="muted">by {shortAddress(dataset.provider)}</span>
      </div>
    </li>
  );
}
