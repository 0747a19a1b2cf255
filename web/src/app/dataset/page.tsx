import { Suspense } from "react";
import { DatasetView } from "./DatasetView";

// The id is a runtime value (a static export cannot pre-render it): /dataset/?id=&chain=
export default function DatasetPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <DatasetView />
    </Suspense>
  );
}
