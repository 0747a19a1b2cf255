import { Suspense } from "react";
import { ProposalView } from "./ProposalView";

export default function ProposalPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <ProposalView />
    </Suspense>
  );
}
