// The wallet stack: wagmi (connection, EIP-6963 discovery, reconnect) and viem (typed
// data, transactions, receipts, error decoding). Loaded on demand by ./store.
import {
  connect as wagmiConnect,
  createConfig,
  disconnect as wagmiDisconnect,
  getConnection,
  getConnectorClient,
  http,
  injected,
  reconnect,
  watchConnection,
  watchConnectors,
  type Config,
  type Connector,
} from "@wagmi/core";
import {
  createWalletClient,
  custom,
  defineChain,
  parseSignature,
  publicActions,
  toHex,
  type Abi,
  type Address,
  type EIP1193Provider,
  type Hex,
} from "viem";
import { createSiweMessage } from "viem/siwe";
import { getJson, postJson, request, type Deployment, type Nonce, type Session } from "@/lib/api";
import { describeFailure, type Failure } from "./errors";
import { getWallet, setWallet, type WalletOption } from "./store";

export type TxStatus = "signing" | "pending" | "mined" | `confirmations ${number}/${number}` | "final" | "failed" | "cancelled";
export type TxUpdate = { status: TxStatus; hash?: Hex };
/** An EIP-2612 permit's signature, in the (deadline, v, r, s) order the *WithPermit calls take. */
export type Permit = { deadline: bigint; v: number; r: Hex; s: Hex };

const DEV_CHAINS = new Set([31337, 1337]);
const PERMIT_SECONDS = 3600n;

function chainOf(d: Deployment) {
  const rpc = d.rpc_url ?? "http://127.0.0.1:8545";
  return defineChain({
    id: d.chain_id,
    name: d.chain_id === 31337 ? "Anvil" : `Chain ${d.chain_id}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpc] } },
  });
}

/** The reverse-DNS id of an EIP-6963 wallet: wagmi makes each announced wallet an
 * `injected` connector whose id is the wallet's rdns (and sets no `rdns` field on it). */
function rdnsOf(c: Connector): string | undefined {
  const r = c.rdns;
  if (r !== undefined) return typeof r === "string" ? r : r[0];
  return c.type === "injected" && c.id !== "injected" ? c.id : undefined;
}

export function createEngine(deployment: Deployment) {
  const chain = chainOf(deployment);
  const hasWalletConnect = Boolean(deployment.walletconnect_project_id);
  const config: Config = createConfig({
    chains: [chain],
    connectors: [injected({ shimDisconnect: true })],
    multiInjectedProviderDiscovery: true, // EIP-6963: one connector per announced wallet
    transports: { [chain.id]: http(deployment.rpc_url ?? undefined) },
    ssr: false,
  });
  let walletConnectAdded: Promise<void> | null = null;
  if (hasWalletConnect) {
    // Only when /deployment names a project: its SDK is large and loads on its own.
    walletConnectAdded = import("@wagmi/connectors/walletConnect").then(({ walletConnect }) => {
      const fn = walletConnect({ projectId: deployment.walletconnect_project_id!, showQrModal: true });
      config._internal.connectors.setState((cs) => [...cs, config._internal.connectors.setup(fn)]);
    });
  }
  const abi = (name: string): Abi => (deployment.contracts[name]?.abi ?? []) as unknown as Abi;
  const address = (name: string): Address => deployment.contracts[name]!.address as Address;
  const allErrors = Object.values(deployment.contracts).flatMap((c) => c.abi) as unknown as Abi;

  const options = (): WalletOption[] => {
    const list = config.connectors;
    const announced = list.filter((c) => rdnsOf(c) !== undefined || c.type === "walletConnect");
    const visible = announced.length > 0 ? announced : list.filter((c) => c.id === "injected" && typeof window !== "undefined" && "ethereum" in window);
    return visible.map((c) => ({ uid: c.uid, name: c.name, icon: c.icon, rdns: rdnsOf(c) ?? (c.type === "walletConnect" ? "walletconnect" : undefined) }));
  };
  const publish = () => {
    const a = getConnection(config);
    setWallet({
      loaded: true,
      status: a.status,
      address: a.address,
      chainId: a.chainId,
      options: options(),
      ...(a.address !== getWallet().tokenAddress ? { token: undefined, tokenAddress: undefined } : {}),
    });
  };
  watchConnection(config, { onChange: publish });
  watchConnectors(config, { onChange: publish });
  publish();
  void reconnect(config).finally(publish);

  /** A viem wallet client on the connected wallet's provider (reads go through it too:
   * no RPC URL is needed when /deployment names none). */
  async function client() {
    const c = await getConnectorClient(config);
    const wallet = createWalletClient({ account: c.account, chain, transport: custom(await provider()) });
    return wallet.extend(publicActions);
  }

  async function provider(): Promise<EIP1193Provider> {
    const connector = getConnection(config).connector;
    if (!connector) throw new Error("no wallet connected");
    return (await connector.getProvider()) as EIP1193Provider;
  }

  /** Blocks on top of `block` until `confirmations` are reached, reported as they come. */
  async function follow(hash: Hex, onUpdate: (u: TxUpdate) => void): Promise<void> {
    const c = await client();
    onUpdate({ status: "pending", hash });
    const receipt = await c.waitForTransactionReceipt({ hash, pollingInterval: 500 });
    if (receipt.status !== "success") {
      onUpdate({ status: "failed", hash });
      throw new Error("The transaction reverted");
    }
    onUpdate({ status: "mined", hash });
    const wanted = deployment.confirmations;
    for (;;) {
      const head = await c.getBlockNumber({ cacheTime: 0 });
      const have = Number(head - receipt.blockNumber);
      if (have >= wanted) break;
      onUpdate({ status: `confirmations ${Math.max(have, 0)}/${wanted}`, hash });
      await new Promise((r) => setTimeout(r, 1000));
    }
    onUpdate({ status: "final", hash });
  }

  async function send(
    contract: string,
    functionName: string,
    args: readonly unknown[],
    onUpdate: (u: TxUpdate) => void,
  ): Promise<Hex> {
    const c = await client();
    const { request: req } = await c.simulateContract({
      address: address(contract),
      abi: abi(contract),
      functionName,
      args,
      account: c.account,
    } as Parameters<typeof c.simulateContract>[0]);
    const hash = await c.writeContract(req as Parameters<typeof c.writeContract>[0]);
    await follow(hash, onUpdate);
    return hash;
  }

  /** An EIP-2612 permit (one signature, no transaction) letting contract `spender` take
   * `value` DATACOIN from the connected account within the next hour. */
  async function permit(spender: string, value: bigint): Promise<Permit> {
    const c = await client();
    const owner = c.account.address;
    const coin = address("DataCoin");
    const [nonce, domain, head] = await Promise.all([
      c.readContract({ address: coin, abi: abi("DataCoin"), functionName: "nonces", args: [owner] }) as Promise<bigint>,
      c.readContract({ address: coin, abi: abi("DataCoin"), functionName: "eip712Domain" }) as Promise<
        readonly [Hex, string, string, bigint, Address, Hex, readonly bigint[]]
      >,
      c.getBlock({ blockTag: "latest" }),
    ]);
    // The chain's clock judges the deadline: one ahead of the browser's (a dev chain moved
    // on with evm_increaseTime, a skewed computer) would find a browser-based one expired.
    const browserNow = BigInt(Math.floor(Date.now() / 1000));
    const deadline = (head.timestamp > browserNow ? head.timestamp : browserNow) + PERMIT_SECONDS;
    const signature = await c.signTypedData({
      account: c.account,
      domain: { name: domain[1], version: domain[2], chainId: chain.id, verifyingContract: coin },
      types: {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      message: { owner, spender: address(spender), value, nonce, deadline },
    });
    const { r, s, v, yParity } = parseSignature(signature);
    return { deadline, v: v !== undefined ? Number(v) : yParity + 27, r, s };
  }

  /** A read of contract `contract` (by its name in /deployment). */
  async function read<T>(contract: string, functionName: string, args: readonly unknown[] = []): Promise<T> {
    const c = await client();
    return (await c.readContract({ address: address(contract), abi: abi(contract), functionName, args } as Parameters<
      typeof c.readContract
    >[0])) as T;
  }

  return {
    chainId: chain.id,
    isDevChain: DEV_CHAINS.has(chain.id),
    hasFaucet: Boolean(deployment.contracts.Faucet),
    hasWalletConnect,
    // Primitives for the feature modules (training, staking, ...): each takes the engine.
    client,
    send,
    follow,
    permit,
    read,
    address,

    async connect(uid: string): Promise<void> {
      await walletConnectAdded;
      const connector = config.connectors.find((c) => c.uid === uid);
      if (!connector) throw new Error("that wallet is gone");
      await wagmiConnect(config, { connector });
      publish();
    },

    async disconnect(): Promise<void> {
      await wagmiDisconnect(config);
      setWallet({ token: undefined, tokenAddress: undefined });
      publish();
    },

    /** wallet_switchEthereumChain, falling back to wallet_addEthereumChain. */
    async switchNetwork(): Promise<void> {
      const p = await provider();
      const chainId = toHex(chain.id);
      try {
        await p.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
      } catch (err) {
        if ((err as { code?: number }).code === 4001) throw err;
        await p.request({
          method: "wallet_addEthereumChain",
          params: [
            {
              chainId,
              chainName: chain.name,
              nativeCurrency: chain.nativeCurrency,
              rpcUrls: [...chain.rpcUrls.default.http],
            },
          ],
        });
      }
      publish();
    },

    /** Sign in with Ethereum: nonce → EIP-4361 message → signature → bearer token. */
    async signIn(): Promise<string> {
      const c = await client();
      const owner = c.account.address;
      const nonce = await getJson<Nonce>("/auth/nonce");
      const chainId = nonce.chain_ids.includes(chain.id) ? chain.id : nonce.chain_ids[0]!;
      const message = createSiweMessage({
        domain: nonce.domain,
        address: owner,
        statement: "Sign in to Datacoin",
        uri: nonce.uri,
        version: "1",
        chainId,
        nonce: nonce.nonce,
        issuedAt: new Date(),
      });
      const signature = await c.signMessage({ account: c.account, message });
      const session = await postJson<Session>("/auth/verify", { message, signature });
      setWallet({ token: session.token, tokenAddress: owner });
      return session.token;
    },

    async signOut(): Promise<void> {
      const token = getWallet().token;
      setWallet({ token: undefined, tokenAddress: undefined });
      if (token) await request("/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => undefined);
    },

    /** One EIP-2612 permit signature, then purchaseWithPermit(id, maxPrice, ...). */
    async purchase(datasetId: string, maxPrice: bigint, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
      onUpdate({ status: "signing" });
      const p = await permit("Marketplace", maxPrice);
      return send("Marketplace", "purchaseWithPermit", [BigInt(datasetId), maxPrice, p.deadline, p.v, p.r, p.s], onUpdate);
    },

    async drip(onUpdate: (u: TxUpdate) => void): Promise<Hex> {
      onUpdate({ status: "signing" });
      return send("Faucet", "drip", [], onUpdate);
    },

    async rate(datasetId: string, score: number, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
      onUpdate({ status: "signing" });
      return send("Marketplace", "rate", [BigInt(datasetId), score], onUpdate);
    },

    /** Any contract call the API prepared (listing, training): `to`, `data`. */
    async sendPrepared(to: Address, data: Hex, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
      onUpdate({ status: "signing" });
      const c = await client();
      await c.call({ account: c.account, to, data });
      const hash = await c.sendTransaction({ account: c.account, chain, to, data });
      await follow(hash, onUpdate);
      return hash;
    },

    async balance(): Promise<bigint> {
      const c = await client();
      return (await c.readContract({
        address: address("DataCoin"),
        abi: abi("DataCoin"),
        functionName: "balanceOf",
        args: [c.account.address],
      })) as bigint;
    },

    /** A failure as a sentence (custom errors decoded against every ABI), or `cancelled`. */
    describe(err: unknown): Failure {
      return describeFailure(err, allErrors);
    },
  };
}

export type Engine = ReturnType<typeof createEngine>;
