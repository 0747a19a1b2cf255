"use client";
// /bridge/: move DATACOIN between the home chain and the bridged chain. Out: one permit for
// the home chain's BridgeVault + lockWithPermit; back: BridgeGateway.burn on the bridged
// chain. The wallet is moved to the sending chain first; the transfer is then followed live
// (pending → final → delivered), and the account's transfers are listed. The wallet code
// (engine, ../../wallet/bridge) loads on demand, never with the page.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useState } from "react";
import { TxLine } from "@/components/TxLine";
import { ChainBadge } from "@/components/ChainBadge";
import type { Deployment } from "@/lib/api";
import { bridgeSides, MESSAGE_ID, useLiveBridge, useTransfers, type BridgeSides } from "@/lib/bridge";
import { chainName, readable, useCurrentChainId, useDeployments } from "@/lib/deployment";
import { formatCoin, shortAddress } from "@/lib/format";
import { formatAmount, parseAmount, withinLimit } from "@/app/stake/amount";
import type { TxUpdate } from "@/wallet/engine";
import { loadEngine, useWallet } from "@/wallet/store";
import { TransferCard } from "./Transfer";
import "./bridge.css";

const loadBridge = () => import("@/wallet/bridge");
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
type Kind = "lock" | "burn";

/** The connected account's DATACOIN on chain `d` (read over its RPC URL, or the wallet). */
function useBalance(d: Deployment, address: string | undefined, walletChainId: number | undefined) {
  return useQuery({
    queryKey: ["balance", d.chain_id, address?.toLowerCase()],
    queryFn: async () => (await loadEngine(d)).balance(),
    enabled: address !== undefined && readable(d, walletChainId),
    refetchInterval: 3000,
  });
}

function Balance({ d, testId, address, walletChainId }: { d: Deployment; testId: string; address?: string; walletChainId?: number }) {
  const balance = useBalance(d, address, walletChainId);
  let text = "…";
  if (address === undefined) text = "connect a wallet";
  else if (!readable(d, walletChainId)) text = "switch your wallet to this chain to read it";
  else if (balance.data !== undefined) text = `${formatAmount(balance.data)} DATACOIN`;
  else if (balance.isError) text = `could not read it (${balance.error.message})`;
  return (
    <>
      <dt>
        On <ChainBadge chainId={d.chain_id} />
      </dt>
      <dd data-testid={testId} data-wei={balance.data?.toString()}>
        {text}
      </dd>
    </>
  );
}

function TransferList({ account, followed }: { account: string; followed: string | null }) {
  const transfers = useTransfers(account);
  const { data: deployments } = useDeployments();
  const items = transfers.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section aria-labelledby="transfers-heading">
      <h2 id="transfers-heading">Your transfers</h2>
      {transfers.isError && (
        <p className="error" role="alert">
          Could not load your transfers: {transfers.error.message}
        </p>
      )}
      {transfers.isSuccess && items.length === 0 && (
        <p className="muted" data-testid="bridge-transfers-empty">
          No transfers yet.
        </p>
      )}
      <ul className="rows" data-testid="bridge-transfers">
        {items.map((t) => (
          <li key={t.message_id} data-testid="bridge-transfer-item" data-message-id={t.message_id} data-state={t.state} data-kind={t.kind}>
            <strong>{formatCoin(t.amount)}</strong> {chainName(deployments, t.source_chain_id)} → {chainName(deployments, t.dest_chain_id)}
            {t.recipient.toLowerCase() !== t.sender.toLowerCase() && <> for {shortAddress(t.recipient)}</>} ·{" "}
            <span className="state">{t.state}</span> · {new Date(t.source.timestamp).toLocaleString()}{" "}
            {followed?.toLowerCase() === t.message_id.toLowerCase() ? (
              <span className="muted">(shown above)</span>
            ) : (
              <Link href={`/bridge/?transfer=${t.message_id}`}>Follow</Link>
            )}
          </li>
        ))}
      </ul>
      {transfers.hasNextPage && (
        <button type="button" className="secondary" disabled={transfers.isFetchingNextPage} onClick={() => void transfers.fetchNextPage()}>
          More transfers
        </button>
      )}
    </section>
  );
}

function BridgeForm({ sides, onSent }: { sides: BridgeSides; onSent: (messageId: string) => void }) {
  const wallet = useWallet();
  const client = useQueryClient();
  const current = useCurrentChainId();
  const [kind, setKind] = useState<Kind>(current === sides.remote.chain_id ? "burn" : "lock");
  const [amount, setAmount] = useState("");
  const [recipient, setRecipient] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const me = wallet.status === "connected" ? wallet.address : undefined;
  const source = kind === "lock" ? sides.home : sides.remote;
  const dest = kind === "lock" ? sides.remote : sides.home;
  const sourceBalance = useBalance(source, me, wallet.chainId).data;

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (me === undefined) {
      setFormError("Connect a wallet first (the Connect button at the top).");
      return;
    }
    const to = recipient.trim() || me;
    if (!ADDRESS.test(to)) {
      setFormError("The recipient is an address: 0x and 40 hexadecimal digits (leave it empty for yourself).");
      return;
    }
    const parsed = sourceBalance === undefined ? parseAmount(amount) : withinLimit(parseAmount(amount), sourceBalance, `your balance on ${chainName([source], source.chain_id)}`);
    if (!parsed.ok) {
      setFormError(parsed.message);
      return;
    }
    setFormError(null);
    setTxError(null);
    setBusy(true);
    const [engine, bridge] = await Promise.all([loadEngine(source), loadBridge()]);
    try {
      const send = { kind, to: to as `0x${string}`, amount: parsed.wei, destChainId: dest.chain_id };
      await bridge.bridgeSend(engine, send, setTx, onSent);
      setAmount("");
    } catch (err) {
      const failure = bridge.describeBridge(engine, err);
      setTx((t) => ({ ...t, status: failure.status }));
      setTxError(failure.message);
    } finally {
      setBusy(false);
      void client.invalidateQueries({ queryKey: ["balance"] });
    }
  }

  const names = { home: chainName([sides.home], sides.home.chain_id), remote: chainName([sides.remote], sides.remote.chain_id) };
  return (
    <form className="panel stack-form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="send-heading">
      <h2 id="send-heading">Send DATACOIN across</h2>
      <fieldset className="choice">
        <legend>Direction</legend>
        <label>
          <input type="radio" name="direction" data-testid="bridge-direction-lock" checked={kind === "lock"} onChange={() => setKind("lock")} />
          {names.home} → {names.remote}
        </label>
        <label>
          <input type="radio" name="direction" data-testid="bridge-direction-burn" checked={kind === "burn"} onChange={() => setKind("burn")} />
          {names.remote} → {names.home}
        </label>
      </fieldset>
      <dl className="facts" aria-label="Your balances">
        <Balance d={sides.home} testId="bridge-balance-home" address={me} walletChainId={wallet.chainId} />
        <Balance d={sides.remote} testId="bridge-balance-remote" address={me} walletChainId={wallet.chainId} />
      </dl>
      <p className="muted" data-testid="bridge-explain">
        {kind === "lock"
          ? `The vault on ${names.home} locks your DATACOIN (one permit signature, then a transaction) and the relayers mint as much on ${names.remote} once the lock is final.`
          : `The gateway on ${names.remote} burns your bridged DATACOIN (one transaction) and the relayers release as much on ${names.home} once the burn is final.`}
        {me !== undefined && wallet.chainId !== source.chain_id && ` Your wallet is asked to switch to ${chainName([source], source.chain_id)} first.`}
      </p>
      <label htmlFor="bridge-amount">Amount (DATACOIN)</label>
      <div className="actions">
        <input
          id="bridge-amount"
          data-testid="bridge-amount"
          inputMode="decimal"
          autoComplete="off"
          placeholder="0.0"
          value={amount}
          aria-invalid={formError !== null}
          aria-describedby={formError ? "bridge-form-error" : undefined}
          onChange={(e) => setAmount(e.target.value)}
        />
        {sourceBalance !== undefined && sourceBalance > 0n && (
          <button type="button" className="secondary" onClick={() => setAmount(formatAmount(sourceBalance))}>
            All
          </button>
        )}
      </div>
      <label htmlFor="bridge-recipient">Recipient on {chainName([dest], dest.chain_id)}</label>
      <input
        id="bridge-recipient"
        data-testid="bridge-recipient"
        className="address"
        autoComplete="off"
        spellCheck={false}
        placeholder={me ?? "0x…"}
        value={recipient}
        aria-describedby="bridge-recipient-hint"
        onChange={(e) => setRecipient(e.target.value)}
      />
      <p id="bridge-recipient-hint" className="muted">
        Empty: yourself{me ? ` (${shortAddress(me)})` : ""}.
      </p>
      <div className="actions">
        <button type="submit" data-testid="bridge-submit" disabled={busy || me === undefined}>
          {kind === "lock" ? `Bridge to ${names.remote}` : `Bridge back to ${names.home}`}
        </button>
      </div>
      {formError && (
        <p className="error" role="alert" id="bridge-form-error" data-testid="bridge-form-error">
          {formError}
        </p>
      )}
      <TxLine label={kind === "lock" ? "Lock" : "Burn"} tx={tx} error={txError} />
    </form>
  );
}

export function BridgeView() {
  const params = useSearchParams();
  const router = useRouter();
  const { data: deployments, isPending, error } = useDeployments();
  const wallet = useWallet();
  const live = useLiveBridge();
  const fromUrl = params.get("transfer");
  const [followed, setFollowed] = useState<string | null>(fromUrl && MESSAGE_ID.test(fromUrl) ? fromUrl : null);
  useEffect(() => {
    if (fromUrl && MESSAGE_ID.test(fromUrl)) setFollowed(fromUrl);
  }, [fromUrl]);
  const sides = bridgeSides(deployments);
  const me = wallet.status === "connected" ? wallet.address : undefined;

  const onSent = (messageId: string) => {
    setFollowed(messageId);
    router.replace(`/bridge/?transfer=${messageId}`, { scroll: false });
  };

  return (
    <section className="bridge">
      <h1>Bridge</h1>
      <p className="muted">
        DATACOIN lives on the home chain; the bridge carries it to the other chain and back. A k-of-n set of relayers signs each
        transfer once its block is final. <span data-testid="bridge-live">{live ? "Live updates on." : "Live updates off: polling."}</span>
      </p>
      {isPending && <p className="muted">Loading…</p>}
      {error && (
        <p className="error" role="alert">
          Could not load the chains: {error.message}
        </p>
      )}
      {deployments && !sides && (
        <p className="error" data-testid="bridge-missing">
          This platform runs no bridge: its chains have no BridgeVault and BridgeGateway.
        </p>
      )}
      {fromUrl !== null && !MESSAGE_ID.test(fromUrl) && (
        <p className="error" role="alert">
          That is not a transfer id (0x and 64 hexadecimal digits).
        </p>
      )}
      {sides && <BridgeForm sides={sides} onSent={onSent} />}
      {followed && <TransferCard key={followed.toLowerCase()} messageId={followed} />}
      {me ? (
        <TransferList account={me} followed={followed} />
      ) : (
        <p className="muted" data-testid="bridge-connect">
          Connect a wallet (the Connect button at the top) to bridge and to see your transfers.
        </p>
      )}
    </section>
  );
}
