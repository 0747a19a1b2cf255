import { Suspense } from "react";
import { AccountView } from "./AccountView";

export default function AccountPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <AccountView />
    </Suspense>
  );
}
