"use client";
import Link from "next/link";
import dynamic from "next/dynamic";
import { ChainSelect } from "./ChainSelect";

// Client-only: the wallet state only exists in the browser.
const WalletBar = dynamic(() => import("./WalletBar").then((m) => m.WalletBar), { ssr: false });

export function Header() {
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
      </nav>
      <ChainSelect />
      <WalletBar />
    </header>
  );
}
