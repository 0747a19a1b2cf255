"use client";
// A provider as a link to its account page: its profile's display name when it has one
// (with the address shortened beside it), else the address.
import Link from "next/link";
import { shortAddress } from "@/lib/format";
import { displayName, useProfile } from "@/lib/profiles";

export function ProviderLink({ address }: { address: string }) {
  const profile = useProfile(address);
  const name = displayName(profile.data);
  const href = `/account/?address=${address}`;
  if (!name) {
    return (
      <Link data-testid="provider-link" className="address" href={href}>
        {address}
      </Link>
    );
  }
  return (
    <>
      <Link data-testid="provider-link" href={href}>
        {name}
      </Link>{" "}
      <span className="muted address" title={address}>
        ({shortAddress(address)})
      </span>
    </>
  );
}
