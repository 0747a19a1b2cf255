"use client";
// The header's chain picker: the "current chain" explore filters by and publishing,
// staking and governance act on. Remembered in localStorage. Shown when the platform runs
// on more than one chain.
import { setCurrentChain, useCurrentChainId, useDeployments } from "@/lib/deployment";

export function ChainSelect() {
  const { data: deployments } = useDeployments();
  const current = useCurrentChainId();
  if (!deployments || deployments.length < 2 || current === undefined) return null;
  return (
    <div className="chain-select">
      <label htmlFor="chain-select">Chain</label>
      <select id="chain-select" data-testid="chain-select" value={current} onChange={(e) => setCurrentChain(Number(e.target.value))}>
        {deployments.map((d) => (
          <option key={d.chain_id} value={d.chain_id}>
            {d.name ?? `Chain ${d.chain_id}`}
            {d.home ? " — home" : ""}
          </option>
        ))}
      </select>
    </div>
  );
}
