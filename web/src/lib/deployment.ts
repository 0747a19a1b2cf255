"use client";
import { useQuery } from "@tanstack/react-query";
import { getJson, type Deployment } from "./api";

/** The runtime configuration: chain, contracts and ABIs, confirmations (GET /deployment). */
export function useDeployment() {
  return useQuery({
    queryKey: ["deployment"],
    queryFn: () => getJson<Deployment>("/deployment"),
    staleTime: 60_000,
    retry: 2,
  });
}
