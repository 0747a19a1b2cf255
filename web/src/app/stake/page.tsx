import { Suspense } from "react";
import { StakeView } from "./StakeView";

export default function StakePage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <StakeView />
    </Suspense>
  );
}
