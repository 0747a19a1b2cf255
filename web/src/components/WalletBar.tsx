"use client";
// Connect (EIP-6963 wallet list), the connected address, sign in/out, and the
// wrong-network banner (a wallet on none of the platform's chains). The wallet stack loads
// in the background after first paint.
import { useEffect, useState } from "react";
import { chainName, useDeployment } from "@/lib/deployment";

import { loadEngine, useWallet } from "@/wallet/store";

export function WalletBar() {
  // The current chain: where "Switch network" moves a wallet that is on none of ours.
  const { data: deployment, deployments } = useDeployment();
  const wallet = useWallet();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (deployment) void loadEngine(deployment);
  }, [deployment]);

  const run = async (action: (e: Awaited<ReturnType<typeof loadEngine>>) => Promise<unknown>) => {
    if (!deployment) return;
    setError(null);
    setBusy(true);
    try {
      await action(await loadEngine(deployment));
    } catch (err) {
      const engine = await loadEngine(deployment);
      setError(engine.describe(err).message);
    } finally {
      setBusy(false);
    }
  };

  const connected = wallet.status === "connected" && wallet.address;
  const wrongNetwork = connected && deployment && deployments && !deployments.some((d) => d.chain_id === wallet.chainId);
  const ours = deployments?.map((d) => (deployments.length > 1 ? `${chainName(deployments, d.chain_id)} (${d.chain_id})` : `chain ${d.chain_id}`));

  return (
    <div className="wallet">
      {connected ? (
        <>
          <span className="address" data-testid="account-address" title={wallet.address}>
            {wallet.address}
          </span>
          {wallet.token && wallet.tokenAddress === wallet.address ? (
            <button type="button" data-testid="sign-out" disabled={busy} onClick={() => void run((e) => e.signOut())}>
              Sign out
            </button>
          ) : (
            <button type="button" data-testid="sign-in" disabled={busy} onClick={() => void run((e) => e.signIn())}>
              Sign in
            </button>
          )}
          <button type="button" className="link" onClick={() => void run((e) => e.disconnect())}>
            Disconnect
          </button>
        </>
      ) : (
        <div className="connect">
          <button
            type="button"
            data-testid="connect-wallet"
            disabled={!deployment}
            onClick={() => {
              setOpen((o) => !o);
              if (deployment) void loadEngine(deployment);
            }}
          >
            {wallet.status === "connecting" || wallet.status === "reconnecting" ? "Connecting…" : "Connect wallet"}
          </button>
          {open && (
            <ul className="wallet-list" role="menu">
              {wallet.options.length === 0 && <li className="muted">{wallet.loaded ? "No wallet found in this browser" : "Looking for wallets…"}</li>}
              {wallet.options.map((o) => (
                <li key={o.uid}>
                  <button
                    type="button"
                    role="menuitem"
                    data-testid="wallet-option"
                    data-rdns={o.rdns}
                    onClick={() => {
                      setOpen(false);
                      void run((e) => e.connect(o.uid));
                    }}
                  >
                    {o.icon && <img src={o.icon} alt="" width={20} height={20} />} {o.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {error && (
        <span className="wallet-error" role="status">
          {error}
        </span>
      )}
      {wrongNetwork && (
        <div className="banner warning" data-testid="wrong-network" role="alert">
          Your wallet is on chain {wallet.chainId}; Datacoin runs on {ours?.join(" and ")}.{" "}
          <button type="button" data-testid="switch-network" disabled={busy} onClick={() => void run((e) => e.switchNetwork())}>
            Switch network
          </button>
        </div>
      )}
    </div>
  );
}

