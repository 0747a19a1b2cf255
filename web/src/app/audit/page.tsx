import { Suspense } from "react";
import { AuditView } from "./AuditView";

export default function AuditPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <AuditView />
    </Suspense>
  );
}
