"use client";
// The connected account's stake: stake (one permit signature + stakeWithPermit), request
// an unstake, and withdraw once the cooldown is over in the chain's time. The wallet code
// (engine, ../../wallet/staking) loads on demand, never with the page.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { getJson, type Schemas } from "@/lib/api";
import { readable, useDeployment } from "@/lib/deployment";
import { ChainBadge } from "@/components/ChainBadge";
import type { Engine, TxUpdate } from "@/wallet/engine";
import type { StakePosition } from "@/wallet/staking";
import { loadEngine, useWallet } from "@/wallet/store";
import { formatAmount, formatDuration, parseAmount, withinLimit, type ParsedAmount } from "./amount";

type Stake = Schemas["Stake"];
type Staking = typeof import("@/wallet/staking");
/** A chain read, and when (browser clock, ms) its latest block was first seen. */
type Reading = StakePosition & { seenAt: number };

const loadStaking = (): Promise<Staking> => import("@/wallet/staking");
const ACTION_LABEL = { stake: "Stake", unstake: "Unstake request", withdraw: "Withdrawal" } as const;
type Action = keyof typeof ACTION_LABEL;

/** The chain's "now": the latest block's timestamp, moved on by the seconds the browser
 * counted since that block was first seen (the next block, whenever it comes, carries
 * the chain's own time again: a dev chain's clock may jump, a live one's barely moves). */
function chainNow(reading: Reading, now: number): bigint {
  return reading.blockTimestamp + BigInt(Math.max(0, Math.floor((now - reading.seenAt) / 1000)));
}

function utc(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function StakeView() {
  const { data: deployment } = useDeployment();
  const wallet = useWallet();
  const client = useQueryClient();
  const [text, setText] = useState("");
  const [amountError, setAmountError] = useState<string | null>(null);
  const [action, setAction] = useState<Action | null>(null);
  const [tx, setTx] = useState<TxUpdate | null>(null);
  const [txError, setTxError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(() => Date.now());
  const connected = wallet.status === "connected" && wallet.address !== undefined;
  // The current chain: read over its RPC URL (or the wallet, while it is there); staking
  // moves the wallet there first.
  const canRead = connected && readable(deployment, wallet.chainId);

  const positionKey = ["stake-position", wallet.address, deployment?.chain_id, wallet.chainId];
  const position = useQuery({
    queryKey: positionKey,
    queryFn: async (): Promise<Reading> => {
      const [engine, staking] = await Promise.all([loadEngine(deployment!), loadStaking()]);
      const read = await staking.readPosition(engine);
      // The same block read again keeps its first sighting: re-reading it must not hold
      // the countdown back while no block comes.
      const before = client.getQueryData<Reading>(positionKey);
      const seenAt = before?.blockNumber === read.blockNumber ? before.seenAt : Date.now();
      return { ...read, seenAt };
    },
    enabled: canRead,
    refetchInterval: 2000,
  });
  const indexed = useQuery({
    queryKey: ["stakes", wallet.address],
    queryFn: () => getJson<Stake[]>(`/stakes/${wallet.address}`),
    enabled: connected,
    refetchInterval: 4000,
  });

  // The countdown ticks every second between chain reads.
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  const p = position.data;
  const hasPending = p !== undefined && p.pending > 0n;
  // Withdraw only once the chain itself has passed availableAt (its latest block), not
  // when the browser's extrapolation says so: the call would revert with CooldownActive.
  const cooldownOver = hasPending && p.blockTimestamp >= p.availableAt;
  const remaining = hasPending ? Number(p.availableAt - chainNow(p, now)) : 0;

  const onAmount = (value: string) => {
    setText(value);
    // Live feedback on the form of the number; the limits are checked on the action.
    const parsed = parseAmount(value);
    setAmountError(value.trim() && !parsed.ok ? parsed.message : null);
  };

  async function run(which: Action, call: (engine: Engine, staking: Staking) => Promise<unknown>) {
    if (!deployment) return;
    setAction(which);
    setTxError(null);
    setTx({ status: "signing" });
    setBusy(true);
    const [engine, staking] = await Promise.all([loadEngine(deployment), loadStaking()]);
    try {
      await call(engine, staking);
      setText("");
    } catch (err) {
      const failure = staking.describeStaking(engine, err);
      setTx((t) => ({ ...t, status: failure.status }));
      setTxError(failure.message);
    } finally {
      setBusy(false);
      void position.refetch();
      void client.invalidateQueries({ queryKey: ["stakes"] });
    }
  }

  /** The typed amount checked against `limit`; shows the sentence and returns null if bad. */
  function checked(limit: bigint, what: string): bigint | null {
    const parsed: ParsedAmount = withinLimit(parseAmount(text), limit, what);
    if (!parsed.ok) {
      setAmountError(parsed.message);
      return null;
    }
    setAmountError(null);
    return parsed.wei;
  }

  const stake = () => {
    if (!p) return;
    const wei = checked(p.balance, "your balance");
    if (wei !== null) void run("stake", (e, s) => s.stake(e, wei, setTx));
  };
  const requestUnstake = () => {
    if (!p) return;
    const wei = checked(p.staked, "your active stake");
    if (wei !== null) void run("unstake", (e, s) => s.requestUnstake(e, wei, setTx));
  };
  const withdraw = () => void run("withdraw", (e, s) => s.withdraw(e, setTx));
  const switchWallet = async () => {
    if (!deployment) return;
    const engine = await loadEngine(deployment);
    try {
      await engine.switchNetwork();
    } catch (err) {
      setTxError(engine.describe(err).message);
    }
  };

  if (!connected) {
    return (
      <section>
        <h1>Staking</h1>
        <p className="muted" data-testid="stake-connect">
          Connect a wallet (the Connect button at the top) to see and change your stake.
        </p>
      </section>
    );
  }
  const onChain = indexed.data?.find((s) => s.chain_id === deployment?.chain_id);
  const ready = canRead && p !== undefined && !busy;
  return (
    <section>
      <h1>
        Staking {deployment && <ChainBadge chainId={deployment.chain_id} />}
      </h1>
      <p className="muted">
        Staked DATACOIN backs training workers. An unstake request stops counting at once and can be withdrawn after a cooldown
        {p ? ` of ${formatDuration(Number(p.cooldown), { compact: true })}` : ""}.
      </p>
      {!canRead && deployment && (
        <p className="error">
          Switch your wallet to chain {deployment.chain_id} to see and change your stake there.{" "}
          <button type="button" data-testid="stake-switch" disabled={busy} onClick={() => void switchWallet()}>
            Switch network
          </button>
        </p>
      )}
      {position.error && (
        <p className="error" role="alert">
          Could not read your stake from the chain: {(position.error as Error).message}
        </p>
      )}
      <dl className="facts panel" aria-busy={p === undefined}>
        <dt>Wallet balance</dt>
        <dd data-testid="stake-balance">{p ? `${formatAmount(p.balance)} DATACOIN` : "…"}</dd>
        <dt>Active stake</dt>
        <dd data-testid="stake-staked">{p ? `${formatAmount(p.staked)} DATACOIN` : "…"}</dd>
        <dt>Unstake requested</dt>
        <dd data-testid="stake-pending">{p ? `${formatAmount(p.pending)} DATACOIN` : "…"}</dd>
        {hasPending && (
          <>
            <dt>Withdrawable</dt>
            <dd>
              <span data-testid="unstake-countdown" data-ready={cooldownOver ? "true" : "false"}>
                {cooldownOver
                  ? "now: the cooldown is over"
                  : remaining > 0
                    ? `in ${formatDuration(remaining)}`
                    : "with the next block (the cooldown ends now)"}
              </span>{" "}
              <span className="muted">(from {utc(p.availableAt)}, chain time)</span>
            </dd>
          </>
        )}
        <dt>Chain time</dt>
        <dd data-testid="stake-chain-time">{p ? `${utc(p.blockTimestamp)} (block ${p.blockNumber})` : "…"}</dd>
        <dt>Indexed by the API</dt>
        <dd data-testid="stake-indexed">
          {onChain
            ? `${formatAmount(BigInt(onChain.staked))} staked, ${formatAmount(BigInt(onChain.pending))} pending (block ${onChain.block_number}, ${
                onChain.finalized ? "final" : "not final yet"
              })`
            : indexed.isLoading
              ? "…"
              : "no stake yet"}
        </dd>
      </dl>
      <div className="panel">
        <label htmlFor="stake-amount">Amount (DATACOIN)</label>
        <div className="actions">
          <input
            id="stake-amount"
            data-testid="stake-amount"
            inputMode="decimal"
            autoComplete="off"
            placeholder="0.0"
            value={text}
            aria-invalid={amountError !== null}
            aria-describedby={amountError ? "stake-amount-error" : undefined}
            onChange={(e) => onAmount(e.target.value)}
          />
          <button type="button" data-testid="stake-button" disabled={!ready} onClick={stake}>
            Stake
          </button>
          <button type="button" data-testid="unstake-button" disabled={!ready || p.staked === 0n} onClick={requestUnstake}>
            Request unstake
          </button>
          <button type="button" data-testid="withdraw-button" disabled={!ready || !cooldownOver} onClick={withdraw}>
            Withdraw
          </button>
        </div>
        {amountError && (
          <p className="error" role="alert" id="stake-amount-error" data-testid="amount-error">
            {amountError}
          </p>
        )}
        <p className="status">
          {action ? ACTION_LABEL[action] : "Transaction"}: <span data-testid="tx-status">{tx?.status ?? ""}</span>
          {tx?.hash && <code className="hash"> {tx.hash}</code>}
        </p>
        {txError && (
          <p className="error" role="alert" data-testid="tx-error">
            {txError}
          </p>
        )}
      </div>
    </section>
  );
}
