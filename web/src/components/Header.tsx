"use client";
import Link from "next/link";
import dynamic from "next/dynamic";
import { ChainSelect } from "./ChainSelect";
import { bridgeSides } from "@/lib/bridge";
import { useDeployments } from "@/lib/deployment";

// Client-only: the wallet state only exists in the browser.
const WalletBar = dynamic(() => import("./WalletBar").then((m) => m.WalletBar), { ssr: false });

export function Header() {
  const { data: deployments } = useDeployments();
  return (
    <header className="header">
      <Link href="/" className="brand">
        Datacoin
      </Link>
      <nav>
        <Link href="/">Explore</Link>
        <Link href="/publish/">Publish</Link>
        <Link href="/account/">Account</Link>
        <Link href="/stake/">Stake</Link>
        <Link href="/audit/">Audit</Link>
        <Link href="/governance/">Governance</Link>
        {bridgeSides(deployments) && <Link href="/bridge/">Bridge</Link>}
      </nav>
      <ChainSelect />
      <WalletBar />
    </header>
  );
}
