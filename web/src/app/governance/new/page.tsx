import { Suspense } from "react";
import { NewProposalView } from "./NewProposalView";

export default function NewProposalPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <NewProposalView />
    </Suspense>
  );
}
