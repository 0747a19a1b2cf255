import { Suspense } from "react";
import { GovernanceView } from "./GovernanceView";

export default function GovernancePage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <GovernanceView />
    </Suspense>
  );
}
