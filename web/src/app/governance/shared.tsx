"use client";
// What the governance pages share: the Governor's parameters from the API and the state badge.
import { useQuery } from "@tanstack/react-query";
import { ApiError, getJson } from "@/lib/api";
import type { GovernanceInfo } from "@/lib/governance";

/** GET /governance; null when this deployment has no Governor. */
export function useGovernanceInfo(live: boolean) {
  return useQuery({
    queryKey: ["governance"],
    queryFn: async (): Promise<GovernanceInfo | null> => {
      try {
        return await getJson<GovernanceInfo>("/governance");
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

