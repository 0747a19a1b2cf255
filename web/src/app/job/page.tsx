import { Suspense } from "react";
import { JobView } from "./JobView";

// The job id is a runtime value (a static export cannot pre-render it): /job/?id=&chain=
export default function JobPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <JobView />
    </Suspense>
  );
}
