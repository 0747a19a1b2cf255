"use client";
import { useQueryClient } from "@tanstack/react-query";
import { useApiDown } from "@/lib/apiHealth";

export function ApiErrorBanner() {
  const down = useApiDown();
  const client = useQueryClient();
  if (!down) return null;
  return (
    <div className="banner error" role="alert" data-testid="api-error">
      The Datacoin API does not answer right now.{" "}
      <button type="button" onClick={() => void client.refetchQueries({ type: "active" })}>
        Retry
      </button>
    </div>
  );
}
