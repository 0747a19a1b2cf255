"use client";
// What the governance pages share: the Governor's parameters from the API and the state badge.
import { useQuery } from "@tanstack/react-query";
import { ApiError, getJson, query } from "@/lib/api";
import type { GovernanceInfo } from "@/lib/governance";

/** GET /governance?chain_id= (chain `chainId`); null when that chain has no Governor.
 * Waits for the chain id (undefined while /deployments loads). */
export function useGovernanceInfo(live: boolean, chainId: number | undefined) {
  return useQuery({
    queryKey: ["governance", chainId],
    enabled: chainId !== undefined,
    queryFn: async (): Promise<GovernanceInfo | null> => {
      try {
        return await getJson<GovernanceInfo>(`/governance${query({ chain_id: chainId })}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    refetchInterval: live ? 5000 : 2000,
  });
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span className="state" data-testid="proposal-state" data-state={state}>
      {state}
    </span>
  );
}

