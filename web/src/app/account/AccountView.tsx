"use client";
// An account's page: /account/?address=0x… (default: the connected account). Its profile
// (editable when it is the connected account's own), stake, and its listings, purchases,
// training jobs and activity, each read page by page with the API's cursors.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useState } from "react";
import { getJson, query, type Dataset, type Purchase, type Schemas } from "@/lib/api";
import { datasetHref, formatCoin } from "@/lib/format";
import { useWallet } from "@/wallet/store";
import { useProfile } from "@/lib/profiles";
import { describeActivity, when } from "./activity";
import { PagedSection, PAGE_SIZE } from "./PagedSection";
import { ProfileCard } from "./ProfileCard";
import { ProfileEditor } from "./ProfileEditor";
import { ChainBadge } from "@/components/ChainBadge";
import "./account.css";

type Stake = Schemas["Stake"];
type TrainingJob = Schemas["TrainingJob"];
type Activity = Schemas["Activity"];

const finality = (finalized: boolean) => (finalized ? "final" : "not final yet");

export function AccountView() {
  const wallet = useWallet();
  const address = useSearchParams().get("address") ?? wallet.address ?? "";
  const valid = /^0x[0-9a-fA-F]{40}$/.test(address);
  const own = valid && wallet.status === "connected" && wallet.address?.toLowerCase() === address.toLowerCase();
  const [editing, setEditing] = useState(false);
  const [awaitingCid, setAwaitingCid] = useState<string | null>(null);
  const profile = useProfile(address, { enabled: valid, awaitingCid });
  const stakes = useQuery({
    queryKey: ["stakes", address.toLowerCase()],
    queryFn: () => getJson<Stake[]>(`/stakes/${address}`),
    enabled: valid,
  });
  if (!valid) {
    const hint = wallet.status === "connected" ? "That is not an account address." : "Connect a wallet to see your account, or open /account/?address=0x…";
    return <p className="muted">{hint}</p>;
  }
  const shown = profile.data;
  const synced = awaitingCid !== null && shown?.profile_cid === awaitingCid && shown.resolved;
  const key = address.toLowerCase();

  return (
    <section className="account">
      <ProfileCard address={address} profile={shown} loading={profile.isPending} error={profile.error?.message ?? null} />
      {own && !editing && (
        <button type="button" data-testid="profile-edit" onClick={() => setEditing(true)}>
          {shown ? "Edit profile" : "Create your profile"}
        </button>
      )}
      {own && editing && profile.isSuccess && (
        // Mounted once the profile is read, so the form starts from it; not re-keyed when a
        // save changes it, so the transaction's status stays in view.
        <ProfileEditor
          address={address}
          profile={shown ?? null}
          onSaved={setAwaitingCid}
          onClose={() => setEditing(false)}
        />
      )}
      {awaitingCid && (
        <p className="status" data-testid="profile-sync" role="status">
          {synced ? "Your profile is saved and shown." : "Saved on chain: waiting for the platform to show it…"}
        </p>
      )}

      <section className="account-section" data-testid="account-stake" aria-labelledby="account-stake-heading">
        <h2 id="account-stake-heading">Stake</h2>
        {stakes.isError && (
          <p className="error" role="alert">
            {stakes.error.message}
          </p>
        )}
        {stakes.data?.length === 0 && (
          <p className="muted" data-testid="account-stake-empty">
            No stake.
          </p>
        )}
        {stakes.data && stakes.data.length > 0 && (
          <ul className="rows">
            {stakes.data.map((s) => (
              <li key={s.chain_id} data-testid="stake-item" data-chain-id={s.chain_id}>
                <ChainBadge chainId={s.chain_id} /> <strong>{formatCoin(s.staked)}</strong> staked
                {BigInt(s.pending) > 0n && (
                  <>
                    {" "}
                    · {formatCoin(s.pending)} unstaking{s.available_at ? `, available ${when(s.available_at)}` : ""}
                  </>
                )}
                {BigInt(s.withdrawn) > 0n && <> · {formatCoin(s.withdrawn)} withdrawn</>} · {finality(s.finalized)}
              </li>
            ))}
          </ul>
        )}
      </section>

      <PagedSection<Dataset>
        testId="account-listings"
        title="Listings"
        queryKey={["datasets", "provider", key]}
        path={(cursor) => `/datasets${query({ provider: address, limit: PAGE_SIZE, cursor })}`}
        empty="No listings."
        itemKey={(d) => `${d.chain_id}-${d.dataset_id}`}
        itemTestId="listing-item"
        itemData={(d) => ({ "data-chain-id": String(d.chain_id) })}
        enabled
        render={(d) => (
          <>
            <ChainBadge chainId={d.chain_id} /> <Link href={datasetHref(String(d.dataset_id), d.chain_id)}>{d.title ?? `Dataset #${d.dataset_id}`}</Link> · {formatCoin(d.price)} ·{" "}
            {d.status} · {finality(d.finalized)}
          </>
        )}
      />

      <PagedSection<Purchase>
        testId="account-purchases"
        title="Purchases"
        queryKey={["purchases", key, "pages"]}
        path={(cursor) => `/accounts/${address}/purchases${query({ limit: PAGE_SIZE, cursor })}`}
        empty="No purchases."
        itemKey={(p) => `${p.chain_id}-${p.tx_hash}-${p.dataset_id}`}
        itemTestId="purchase-item"
        itemData={(p) => ({ "data-dataset-id": String(p.dataset_id), "data-chain-id": String(p.chain_id) })}
        enabled
        render={(p) => (
          <>
            <ChainBadge chainId={p.chain_id} /> <Link href={datasetHref(String(p.dataset_id), p.chain_id)}>Dataset #{p.dataset_id}</Link> for {formatCoin(p.price)} on{" "}
            {when(p.purchased_at)}
            {p.expires_at ? ` · access until ${when(p.expires_at)}` : " · perpetual access"} · {finality(p.finalized)}
          </>
        )}
      />

      <PagedSection<TrainingJob>
        testId="account-jobs"
        title="Training jobs"
        queryKey={["training-jobs", "requester", key]}
        path={(cursor) => `/training-jobs${query({ requester: address, limit: PAGE_SIZE, cursor })}`}
        empty="No training jobs."
        itemKey={(j) => `${j.chain_id}-${j.job_id}`}
        itemTestId="job-item"
        itemData={(j) => ({ "data-chain-id": String(j.chain_id) })}
        enabled
        render={(j) => (
          <>
            <ChainBadge chainId={j.chain_id} /> <Link data-testid="job-link" href={`/job/?id=${encodeURIComponent(j.job_id)}&chain=${j.chain_id}`}>
              Job #{j.job_id}
            </Link>{" "}
            on <Link href={datasetHref(j.dataset_id, j.chain_id)}>dataset #{j.dataset_id}</Link> · {j.status} ·{" "}
            {formatCoin(j.payment)} · requested {when(j.requested_at)}
          </>
        )}
      />

      <PagedSection<Activity>
        testId="account-activity"
        title="Activity"
        queryKey={["activity", key]}
        path={(cursor) => `/accounts/${address}/activity${query({ limit: PAGE_SIZE, cursor })}`}
        empty="No activity yet."
        itemKey={(a) => `${a.chain_id}-${a.tx_hash}-${a.event}-${a.role}-${a.dataset_id ?? ""}-${a.job_id ?? ""}`}
        itemTestId="activity-item"
        itemData={(a) => ({ "data-event": a.event, "data-role": a.role, "data-chain-id": String(a.chain_id) })}
        enabled
        render={(a) => (
          <>
            <ChainBadge chainId={a.chain_id} /> {describeActivity(a)} · {when(a.occurred_at)} · {finality(a.finalized)}
            {a.dataset_id !== null && (
              <>
                {" "}
                · <Link href={datasetHref(a.dataset_id, a.chain_id)}>dataset #{a.dataset_id}</Link>
              </>
            )}
          </>
        )}
      />
    </section>
  );
}
