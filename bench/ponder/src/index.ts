// Insert one row per event. The ABIs are loaded at run time, so the event arguments are
// untyped here: the casts document the shapes the contracts emit.
import { ponder } from "ponder:registry";
import { datasetListed, transferEvent } from "ponder:schema";

type Hex = `0x${string}`;

ponder.on("DataCoin:Transfer", async ({ event, context }) => {
  const args = event.args as unknown as { from: Hex; to: Hex; value: bigint };
  await context.db.insert(transferEvent).values({
    id: event.id,
    blockNumber: event.block.number,
    logIndex: event.log.logIndex,
    from: args.from,
    to: args.to,
    value: args.value,
  });
});

ponder.on("Marketplace:DatasetListed", async ({ event, context }) => {
  const args = event.args as unknown as {
    datasetId: bigint;
    provider: Hex;
    price: bigint;
    accessDuration: bigint;
    metadataCid: string;
    contentHash: Hex;
    category: string;
  };
  await context.db.insert(datasetListed).values({
    id: event.id,
    blockNumber: event.block.number,
    logIndex: event.log.logIndex,
    datasetId: args.datasetId,
    provider: args.provider,
    price: args.price,
    accessDuration: args.accessDuration,
    metadataCid: args.metadataCid,
    contentHash: args.contentHash,
    category: args.category,
  });
});
