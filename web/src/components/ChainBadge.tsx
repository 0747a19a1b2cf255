"use client";
// Which chain an item is on: a small badge with the chain's name (from /deployments). Shown
// once the platform runs on more than one chain (or the item's chain is not one of them).
import { chainName, useDeployments } from "@/lib/deployment";

export function ChainBadge({ chainId }: { chainId: number }) {
  const { data: deployments } = useDeployments();
  if (!deployments) return null;
  if (deployments.length < 2 && deployments.some((d) => d.chain_id === chainId)) return null;
  const name = chainName(deployments, chainId);
  return (
    <span className="chain-badge" data-testid="chain-badge" data-chain-id={chainId} title={`On ${name} (chain id ${chainId})`}>
      {name}
    </span>
  );
}
