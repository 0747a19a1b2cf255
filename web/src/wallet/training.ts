// The training job's wallet calls: one EIP-2612 permit for the escrow, then
// requestTrainingWithPermit. Loaded with import() by the train page (it pulls in viem),
// like ./engine, so it stays out of the page's first-load JavaScript.
import { parseEventLogs, type Abi, type Address, type Hex } from "viem";
import type { Deployment, TrainingSpecResult } from "@/lib/api";
import type { Engine, TxUpdate } from "./engine";

/** The deployment's name for the contract at `to` (the API's prepared call names an
 * address, not a name); TrainingLog when the API named none. */
export function trainingContract(deployment: Deployment, to: string | null): string {
  if (!to) return "TrainingLog";
  const found = Object.entries(deployment.contracts).find(([, c]) => c.address.toLowerCase() === to.toLowerCase());
  return found?.[0] ?? "TrainingLog";
}

/** A sent training request: its transaction and the job id its TrainingRequested names. */
export type RequestedJob = { hash: Hex; jobId: string };

/**
 * Pay for the prepared job: one permit signature for the escrow to the training contract,
 * then `requestTrainingWithPermit(datasetId, specCid, payment, deadline, v, r, s)`,
 * followed to finality through `onUpdate`.
 */
export async function requestTraining(
  engine: Engine,
  deployment: Deployment,
  prepared: TrainingSpecResult,
  onUpdate: (u: TxUpdate) => void,
): Promise<RequestedJob> {
  const contract = trainingContract(deployment, prepared.call.to);
  const payment = BigInt(prepared.escrow);
  onUpdate({ status: "signing" });
  const permit = await engine.permit(contract, payment);
  const args = [BigInt(prepared.dataset_id), prepared.spec_cid, payment, permit.deadline, permit.v, permit.r, permit.s];
  const hash = await engine.send(contract, prepared.call.permit_function, args, onUpdate);
  return { hash, jobId: await jobIdOf(engine, deployment, contract, hash) };
}

/** The job id from the TrainingRequested log of transaction `hash`. */
async function jobIdOf(engine: Engine, deployment: Deployment, contract: string, hash: Hex): Promise<string> {
  const client = await engine.client();
  const receipt = await client.getTransactionReceipt({ hash });
  const abi = deployment.contracts[contract]!.abi as unknown as Abi;
  const address = engine.address(contract).toLowerCase() as Address;
  const logs = parseEventLogs({ abi, logs: receipt.logs, eventName: "TrainingRequested" });
  const mine = logs.find((l) => l.address.toLowerCase() === address);
  const jobId = (mine?.args as { jobId?: bigint } | undefined)?.jobId;
  if (jobId === undefined) throw new Error("The transaction logged no TrainingRequested event");
  return jobId.toString();
}
