"use client";
// An account's purchases and listings: /account/?address=0x… (default: the connected one).
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { getJson, query, type DatasetPage, type Purchase } from "@/lib/api";
import { datasetHref, formatCoin } from "@/lib/format";
import { useWallet } from "@/wallet/store";

type Page<T> = { items: T[]; next_cursor: string | null };

export function AccountView() {
  const wallet = useWallet();
  const address = useSearchParams().get("address") ?? wallet.address ?? "";
  const valid = /^0x[0-9a-fA-F]{40}$/.test(address);
  const purchases = useQuery({
    queryKey: ["purchases", address],
    queryFn: () => getJson<Page<Purchase>>(`/accounts/${address}/purchases?limit=100`),
    enabled: valid,
  });
  const listings = useQuery({
    queryKey: ["datasets", "provider", address],
    queryFn: () => getJson<DatasetPage>(`/datasets${query({ provider: address, limit: 100 })}`),
    enabled: valid,
  });
  if (!valid) return <p className="muted">Connect a wallet, or open /account/?address=0x…</p>;
  return (
    <section>
      <h1>Account</h1>
      <p className="address" data-testid="account-page-address">
        {address}
      </p>
      <h2>Purchases</h2>
      {purchases.data?.items.length === 0 && <p className="muted">No purchases.</p>}
      <ul data-testid="account-purchases">
        {purchases.data?.items.map((p) => (
          <li key={p.tx_hash}>
            <Link href={datasetHref(String(p.dataset_id), p.chain_id)}>Dataset #{p.dataset_id}</Link> for {formatCoin(p.price)}
            {p.finalized ? " · final" : " · not final yet"}
          </li>
        ))}
      </ul>
      <h2>Listings</h2>
      {listings.data?.items.length === 0 && <p className="muted">No listings.</p>}
      <ul data-testid="account-listings">
        {listings.data?.items.map((d) => (
          <li key={`${d.chain_id}-${d.dataset_id}`}>
            <Link href={datasetHref(String(d.dataset_id), d.chain_id)}>{d.title ?? `Dataset #${d.dataset_id}`}</Link> ·{" "}
            {formatCoin(d.price)} · {d.status}
          </li>
        ))}
      </ul>
    </section>
  );
}
