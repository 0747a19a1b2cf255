"use client";
// Live dataset updates from GET /stream (SSE): a new listing appears once the read model
// has it, a delisting or a retracted listing disappears at once.
import { useQueryClient, type InfiniteData, type QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { getJson, type DatasetDetail, type DatasetPage } from "./api";

type DatasetEvent = { event: string; chain_id: number; dataset_id: string; retracted: boolean };

function remove(client: QueryClient, chainId: number, datasetId: string): void {
  client.setQueriesData<InfiniteData<DatasetPage>>({ queryKey: ["datasets"] }, (data) =>
    data
      ? {
          ...data,
          pages: data.pages.map((p) => ({
            ...p,
            items: p.items.filter((d) => !(d.chain_id === chainId && String(d.dataset_id) === datasetId)),
          })),
        }
      : data,
  );
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (briefly) until the API's read model shows the dataset, then refreshes lists.
 * The stream announces an event once it is indexed; the projector applies it a few
 * milliseconds later, so the first re-reads come quickly and back off from there. A new
 * listing shows at once; its title comes from its metadata document, which the resolver
 * fetches after the listing is projected: the lists refresh again once it has it. */
async function refreshWhenProjected(client: QueryClient, e: DatasetEvent): Promise<void> {
  let shown: DatasetDetail | null = null;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const d = await getJson<DatasetDetail>(`/datasets/${e.dataset_id}?chain_id=${e.chain_id}`);
      if (e.event !== "DatasetListed" || d.status === "listed") {
        shown = d;
        break;
      }
    } catch {
      /* not projected yet */
    }
    await pause(Math.min(25 * 2 ** attempt, 1000));
  }
  await client.invalidateQueries({ queryKey: ["datasets"] });
  await client.invalidateQueries({ queryKey: ["dataset", e.dataset_id] });
  if (e.event !== "DatasetListed" || !shown || shown.title != null) return;
  for (let attempt = 0; attempt < 12; attempt++) {
    await pause(Math.min(100 * 1.5 ** attempt, 2000));
    try {
      const d = await getJson<DatasetDetail>(`/datasets/${e.dataset_id}?chain_id=${e.chain_id}`);
      if (d.title != null) {
        await client.invalidateQueries({ queryKey: ["datasets"] });
        await client.invalidateQueries({ queryKey: ["dataset", e.dataset_id] });
        return;
      }
    } catch {
      return; /* retracted meanwhile: the stream says so */
    }
  }
}

/** After a dataset left the lists (delisted, or its listing retracted by a reorg): waits
 * until the API's read model no longer lists it, then refreshes the lists once more. A
 * list re-read in between (another event's refresh) may still hold it, because the stream
 * announces the retraction as soon as it is indexed, before the projector applies it. */
async function refreshWhenGone(client: QueryClient, chainId: number, datasetId: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const d = await getJson<DatasetDetail>(`/datasets/${datasetId}?chain_id=${chainId}`);
      if (d.status !== "listed") break;
    } catch {
      break; /* not found: the retraction is projected */
    }
    await pause(Math.min(25 * 2 ** attempt, 1000));
  }
  remove(client, chainId, datasetId);
  await client.invalidateQueries({ queryKey: ["datasets"] });
}

export function useLiveDatasets(): void {
  const client = useQueryClient();
  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource("/stream");
    const onDataset = (message: MessageEvent<string>) => {
      const e = JSON.parse(message.data) as DatasetEvent;
      if (e.dataset_id === undefined) return;
      const id = String(e.dataset_id);
      const gone = (e.event === "DatasetDelisted" && !e.retracted) || (e.event === "DatasetListed" && e.retracted);
      if (gone) {
        remove(client, e.chain_id, id);
        void client.invalidateQueries({ queryKey: ["dataset", id] });
        void refreshWhenGone(client, e.chain_id, id);
      } else {
        void refreshWhenProjected(client, { ...e, dataset_id: id });
      }
    };
    source.addEventListener("dataset", onDataset as EventListener);
    source.addEventListener("dataset.retracted", onDataset as EventListener);
    return () => source.close();
  }, [client]);
}
