"use client";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { ApiError } from "@/lib/api";
import { setApiDown } from "@/lib/apiHealth";

function track(err: unknown): void {
  if (err instanceof ApiError && err.unavailable) setApiDown(true);
}

export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(
    () =>
      new QueryClient({
        queryCache: new QueryCache({ onError: track, onSuccess: () => setApiDown(false) }),
        mutationCache: new MutationCache({ onError: track }),
        defaultOptions: {
          queries: {
            retry: (count, err) => count < 2 && !(err instanceof ApiError && !err.unavailable),
            refetchOnWindowFocus: false,
          },
        },
      }),
  );
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}
