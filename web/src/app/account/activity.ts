// How the account page words an activity row and a time.
import type { Schemas } from "@/lib/api";
import { formatCoin } from "@/lib/format";

type Activity = Schemas["Activity"];

/** An ISO time as "2025-01-31 14:05 UTC" (the same in every browser locale). */
export function when(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : `${t.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** One activity row as a phrase: "Bought dataset #3 for 5 DATACOIN". */
export function describeActivity(a: Activity): string {
  const coin = a.amount !== null ? formatCoin(a.amount) : "";
  const dataset = a.dataset_id !== null ? `dataset #${a.dataset_id}` : "a dataset";
  const job = a.job_id !== null ? `training job #${a.job_id}` : "a training job";
  switch (a.event) {
    case "DatasetListed":
      return `Listed ${dataset}${coin && ` at ${coin}`}`;
    case "DatasetDelisted":
      return `Delisted ${dataset}`;
    case "Purchased":
      return a.role === "seller" ? `Sold ${dataset}${coin && ` for ${coin}`}` : `Bought ${dataset}${coin && ` for ${coin}`}`;
    case "Rated":
      return `Rated ${dataset}`;
    case "TrainingRequested":
      return `Requested ${job}${coin && ` (${coin})`}`;
    case "TrainingLogged":
      return `Logged the result of ${job}`;
    case "TrainingRefunded":
      return `Refunded for ${job}${coin && ` (${coin})`}`;
    case "Staked":
      return `Staked ${coin}`;
    case "UnstakeRequested":
      return `Asked to unstake ${coin}`;
    case "Unstaked":
      return `Unstaked ${coin}`;
    case "Dripped":
      return `Received ${coin} from the faucet`;
    default:
      return `${a.event} (${a.role})`;
  }
}
