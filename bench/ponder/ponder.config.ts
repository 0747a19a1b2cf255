// Ponder 0.16 config for the backfill benchmark. Everything that depends on the run (RPC URL,
// addresses, start block, ABIs) comes from the JSON file bench/indexer_backfill.py writes and
// names in PONDER_BENCH_CONFIG, so this directory holds no generated files.
import { readFileSync } from "node:fs";
import { createConfig } from "ponder";
import type { Abi } from "viem";

type BenchContract = { address: `0x${string}`; abi: Abi };
type BenchConfig = {
  rpc: string;
  chainId: number;
  startBlock: number;
  contracts: { DataCoin: BenchContract; Marketplace: BenchContract };
};

const path = process.env.PONDER_BENCH_CONFIG;
if (!path) throw new Error("PONDER_BENCH_CONFIG is not set (run bench/indexer_backfill.py)");
const bench = JSON.parse(readFileSync(path, "utf8")) as BenchConfig;

export default createConfig({
  chains: {
    anvil: { id: bench.chainId, rpc: bench.rpc, disableCache: true },
  },
  contracts: {
    DataCoin: {
      chain: "anvil",
      abi: bench.contracts.DataCoin.abi,
      address: bench.contracts.DataCoin.address,
      startBlock: bench.startBlock,
    },
    Marketplace: {
      chain: "anvil",
      abi: bench.contracts.Marketplace.abi,
      address: bench.contracts.Marketplace.address,
      startBlock: bench.startBlock,
    },
  },
});
