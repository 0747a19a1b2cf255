import { Suspense } from "react";
import { BridgeView } from "./BridgeView";

// A transfer to follow is a runtime value: /bridge/?transfer=0x… (its message id)
export default function BridgePage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <BridgeView />
    </Suspense>
  );
}
