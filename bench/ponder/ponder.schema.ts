// One row per event, like the event store (no aggregation), so both sides do the same work.
import { onchainTable } from "ponder";

export const transferEvent = onchainTable("transfer_event", (t) => ({
  id: t.text().primaryKey(),
  blockNumber: t.bigint().notNull(),
  logIndex: t.integer().notNull(),
  from: t.hex().notNull(),
  to: t.hex().notNull(),
  value: t.bigint().notNull(),
}));

export const datasetListed = onchainTable("dataset_listed", (t) => ({
  id: t.text().primaryKey(),
  blockNumber: t.bigint().notNull(),
  logIndex: t.integer().notNull(),
  datasetId: t.bigint().notNull(),
  provider: t.hex().notNull(),
  price: t.bigint().notNull(),
  accessDuration: t.bigint().notNull(),
  metadataCid: t.text().notNull(),
  contentHash: t.hex().notNull(),
  category: t.text().notNull(),
}));
