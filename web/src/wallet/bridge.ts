// The bridge's wallet calls: lock DATACOIN on the home chain (one EIP-2612 permit for the
// BridgeVault, then lockWithPermit) or burn bridged DATACOIN on the other chain
// (BridgeGateway.burn: the gateway burns its caller's tokens, no approval), and the
// message id the send's event names (what the API's transfer is keyed by). Loaded with
// import() by the bridge page, like the engine itself: it is wallet code.
import { parseEventLogs, type Abi, type Address, type Hex } from "viem";
import { GATEWAY, VAULT } from "@/lib/bridge";
import type { Engine, TxUpdate } from "./engine";
import { sentenceFor, type Failure } from "./errors";

/** A bridge send: which way, to whom, how much (wei), to which chain. */
export type BridgeSend = { kind: "lock" | "burn"; to: Address; amount: bigint; destChainId: number };

/**
 * Sends `send` from the connected wallet on `engine`'s chain (the home chain for a lock,
 * the bridged chain for a burn) and follows it to final through `onUpdate`. Once it is
 * mined (before final) `onMessage` gets the message id from its BridgeLocked or
 * BridgeBurned event, so the transfer can be followed while the blocks come.
 */
export async function bridgeSend(engine: Engine, send: BridgeSend, onUpdate: (u: TxUpdate) => void, onMessage: (messageId: Hex) => void): Promise<Hex> {
  let asked = false;
  const watch = (u: TxUpdate) => {
    onUpdate(u);
    if (!asked && u.hash && u.status !== "signing" && u.status !== "pending" && u.status !== "failed" && u.status !== "cancelled") {
      asked = true;
      void messageOf(engine, send.kind, u.hash).then((id) => id && onMessage(id), () => (asked = false));
    }
  };
  onUpdate({ status: "signing" });
  if (send.kind === "lock") {
    const p = await engine.permit(VAULT, send.amount);
    return engine.send(VAULT, "lockWithPermit", [send.to, send.amount, BigInt(send.destChainId), p.deadline, p.v, p.r, p.s], watch);
  }
  return engine.send(GATEWAY, "burn", [send.to, send.amount, BigInt(send.destChainId)], watch);
}

/** The message id in transaction `hash`'s BridgeLocked (lock) or BridgeBurned (burn) log. */
export async function messageOf(engine: Engine, kind: BridgeSend["kind"], hash: Hex): Promise<Hex | null> {
  const contract = kind === "lock" ? VAULT : GATEWAY;
  const client = await engine.client();
  const receipt = await client.getTransactionReceipt({ hash });
  const abi = engine.deployment.contracts[contract]!.abi as unknown as Abi;
  const here = engine.address(contract).toLowerCase();
  const logs = parseEventLogs({ abi, logs: receipt.logs, eventName: kind === "lock" ? "BridgeLocked" : "BridgeBurned" });
  const mine = logs.find((l) => l.address.toLowerCase() === here);
  return ((mine?.args as { messageId?: Hex } | undefined)?.messageId ?? null) as Hex | null;
}

/** The bridge contracts' errors the page can meet, as sentences. */
const SENTENCES: Record<string, string> = {
  ZeroAmount: "Enter an amount above 0",
  InvalidRecipient: "The recipient must be an account address other than zero",
  UnknownDestination: "The bridge does not go to that chain",
  PeerNotSet: "The bridge is not linked to the other chain yet",
  ExceedsLocked: "The vault holds less than that for the other chain",
  ERC20InsufficientBalance: "Your DATACOIN balance on this chain is too low to send that much",
};

/** A failure as the bridge page says it: the engine's sentence, the bridge's errors reworded. */
export function describeBridge(engine: Engine, err: unknown): Failure {
  const failure = engine.describe(err);
  for (const [name, sentence] of Object.entries(SENTENCES)) {
    if (failure.message === sentenceFor(name)) return { ...failure, message: sentence };
  }
  return failure;
}
