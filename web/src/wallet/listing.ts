// Listing a dataset from the calldata POST /uploads prepared, and finding the id the
// Marketplace gave it (its DatasetListed event in the receipt).
import { parseEventLogs, type Abi, type Address, type Hex } from "viem";
import type { Deployment } from "@/lib/api";
import type { Engine, TxUpdate } from "./engine";

/** Send `listDataset` (prepared by the API) and follow it to final; the new dataset's id. */
export async function listDataset(
  engine: Engine,
  deployment: Deployment,
  call: { to: string | null; data: string },
  onUpdate: (u: TxUpdate) => void,
): Promise<string | null> {
  const to = (call.to ?? engine.address("Marketplace")) as Address;
  const hash = await engine.sendPrepared(to, call.data as Hex, onUpdate);
  const client = await engine.client();
  const receipt = await client.getTransactionReceipt({ hash });
  const abi = (deployment.contracts.Marketplace?.abi ?? []) as unknown as Abi;
  const listed = parseEventLogs({ abi, logs: receipt.logs, eventName: "DatasetListed" });
  const args = listed[0]?.args as { datasetId?: bigint } | undefined;
  return args?.datasetId !== undefined ? args.datasetId.toString() : null;
}
