import { Suspense } from "react";
import { TrainView } from "./TrainView";

// The dataset is a runtime value (a static export cannot pre-render it): /train/?dataset=&chain=
export default function TrainPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <TrainView />
    </Suspense>
  );
}
