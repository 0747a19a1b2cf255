// The wallet stack: wagmi (connection, EIP-6963 discovery, reconnect) and viem (typed
// data, transactions, receipts, error decoding). Loaded on demand by ./store.
//
// One wallet, several chains: `createWallet` holds the connection; `wallet.on(deployment)`
// is that wallet acting on one chain (the Engine the pages and feature modules use). Its
// sends and signatures first move the wallet to that chain (./network); its reads go to the
// chain's public RPC URL, or through the wallet while the wallet is on that chain.
import {
  connect as wagmiConnect,
  createConfig,
  disconnect as wagmiDisconnect,
  getConnection,
  http,
  injected,
  reconnect,
  watchConnection,
  watchConnectors,
  type Config,
  type Connector,
  type Transport,
} from "@wagmi/core";
import {
  createWalletClient,
  custom,
  http as viemHttp,
  parseSignature,
  publicActions,
  type Abi,
  type Address,
  type Chain,
  type EIP1193Provider,
  type Hex,
} from "viem";
import { createSiweMessage } from "viem/siwe";
import { getJson, postJson, request, type Deployment, type Nonce, type Session } from "@/lib/api";
import { describeFailure, type Failure } from "./errors";
import { chainLabel, chainOf, DEV_CHAINS, ensureChain, walletChainId } from "./network";
import { getWallet, setWallet, type WalletOption } from "./store";

export type TxStatus = "signing" | "pending" | "mined" | `confirmations ${number}/${number}` | "final" | "failed" | "cancelled";
export type TxUpdate = { status: TxStatus; hash?: Hex };
/** An EIP-2612 permit's signature, in the (deadline, v, r, s) order the *WithPermit calls take. */
export type Permit = { deadline: bigint; v: number; r: Hex; s: Hex };

const PERMIT_SECONDS = 3600n;

/** The reverse-DNS id of an EIP-6963 wallet: wagmi makes each announced wallet an
 * `injected` connector whose id is the wallet's rdns (and sets no `rdns` field on it). */
function rdnsOf(c: Connector): string | undefined {
  const r = c.rdns;
  if (r !== undefined) return typeof r === "string" ? r : r[0];
  return c.type === "injected" && c.id !== "injected" ? c.id : undefined;
}

/** The wallet connection for every chain of `deployments` (home first). */
export function createWallet(deployments: readonly Deployment[]) {
  const home = deployments[0];
  if (!home) throw new Error("this platform has no deployment yet");
  const chains = deployments.map(chainOf) as [Chain, ...Chain[]];
  const transports: Record<number, Transport> = {};
  for (const d of deployments) transports[d.chain_id] = http(d.rpc_url ?? undefined);
  const hasWalletConnect = Boolean(home.walletconnect_project_id);
  const config: Config = createConfig({
    chains,
    connectors: [injected({ shimDisconnect: true })],
    multiInjectedProviderDiscovery: true, // EIP-6963: one connector per announced wallet
    transports,
    ssr: false,
  });
  let walletConnectAdded: Promise<void> | null = null;
  if (hasWalletConnect) {
    // Only when /deployments names a project: its SDK is large and loads on its own.
    walletConnectAdded = import("@wagmi/connectors/walletConnect").then(({ walletConnect }) => {
      const fn = walletConnect({ projectId: home.walletconnect_project_id!, showQrModal: true });
      config._internal.connectors.setState((cs) => [...cs, config._internal.connectors.setup(fn)]);
    });
  }
  const allErrors = deployments.flatMap((d) => Object.values(d.contracts).flatMap((c) => c.abi)) as unknown as Abi;

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

  async function provider(): Promise<EIP1193Provider> {
    const connector = getConnection(config).connector;
    if (!connector) throw new Error("Connect a wallet first (the Connect button at the top)");
    return (await connector.getProvider()) as EIP1193Provider;
  }

  function account(): Address {
    const a = getConnection(config).address;
    if (!a) throw new Error("Connect a wallet first (the Connect button at the top)");
    return a;
  }

  const shared = sharedActions({ config, provider, account, publish, allErrors, walletConnectAdded, hasWalletConnect, deployments });

  const engines = new Map<number, { deployment: Deployment; engine: Engine }>();
  /** This wallet acting on chain `deployment` (one Engine per chain, kept). */
  function on(deployment: Deployment): Engine {
    const kept = engines.get(deployment.chain_id);
    if (kept && kept.deployment === deployment) return kept.engine;
    const engine = chainEngine(deployment, { shared, provider, account, publish });
    engines.set(deployment.chain_id, { deployment, engine });
    return engine;
  }

  return { ...shared, on };
}

type SharedContext = {
  config: Config;
  provider: () => Promise<EIP1193Provider>;
  account: () => Address;
  publish: () => void;
  allErrors: Abi;
  walletConnectAdded: Promise<void> | null;
  hasWalletConnect: boolean;
  deployments: readonly Deployment[];
};

/** What the wallet does whatever the chain: connect, sign in, describe failures. */
function sharedActions({ config, provider, account, publish, allErrors, walletConnectAdded, hasWalletConnect, deployments }: SharedContext) {
  return {
    hasWalletConnect,
    chainIds: deployments.map((d) => d.chain_id),

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

    /** Sign in with Ethereum: nonce → EIP-4361 message → signature → bearer token. The
     * message names the wallet's chain when the API accepts it (no switch needed). */
    async signIn(): Promise<string> {
      const p = await provider();
      const owner = account();
      const nonce = await getJson<Nonce>("/auth/nonce");
      const onChain = await walletChainId(p);
      const chainId = nonce.chain_ids.includes(onChain) ? onChain : nonce.chain_ids[0]!;
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
      const signer = createWalletClient({ account: owner, transport: custom(p) });
      const signature = await signer.signMessage({ account: owner, message });
      const session = await postJson<Session>("/auth/verify", { message, signature });
      setWallet({ token: session.token, tokenAddress: owner });
      return session.token;
    },

    async signOut(): Promise<void> {
      const token = getWallet().token;
      setWallet({ token: undefined, tokenAddress: undefined });
      if (token) await request("/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => undefined);
    },

    /** A failure as a sentence (custom errors decoded against every chain's ABIs), a
     * declined network switch, or `cancelled`. */
    describe(err: unknown): Failure {
      return describeFailure(err, allErrors);
    },
  };
}

type Shared = ReturnType<typeof sharedActions>;
type Context = {
  shared: Shared;
  provider: () => Promise<EIP1193Provider>;
  account: () => Address;
  publish: () => void;
};

/** The wallet on chain `deployment`: its sends, signatures and reads. */
function chainEngine(deployment: Deployment, { shared, provider, account, publish }: Context) {
  const chain = chainOf(deployment);
  const label = chainLabel(deployment);
  const abi = (name: string): Abi => (deployment.contracts[name]?.abi ?? []) as unknown as Abi;
  const address = (name: string): Address => {
    const c = deployment.contracts[name];
    if (!c) throw new Error(`${name} is not deployed on ${label}`);
    return c.address as Address;
  };

  /** A client for reads on this chain, acting as the connected account: the chain's public
   * RPC URL, or the wallet's provider while the wallet is on this chain. */
  async function client() {
    const owner = account();
    if (deployment.rpc_url) {
      return createWalletClient({ account: owner, chain, transport: viemHttp(deployment.rpc_url) }).extend(publicActions);
    }
    const p = await provider();
    const on = await walletChainId(p);
    if (on !== chain.id) throw new Error(`Switch your wallet to ${label} to read it (it is on chain ${on})`);
    return createWalletClient({ account: owner, chain, transport: custom(p) }).extend(publicActions);
  }

  /** A client that signs and sends on this chain: the wallet, moved to this chain first. */
  async function signer() {
    const p = await provider();
    await ensureChain(p, deployment);
    publish();
    return createWalletClient({ account: account(), chain, transport: custom(p) }).extend(publicActions);
  }

  /** Blocks on top of the transaction's until `confirmations` are reached, reported as they come. */
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

  async function send(contract: string, functionName: string, args: readonly unknown[], onUpdate: (u: TxUpdate) => void): Promise<Hex> {
    const c = await signer();
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
   * `value` DATACOIN (this chain's token) from the connected account within the next hour. */
  async function permit(spender: string, value: bigint): Promise<Permit> {
    const c = await signer();
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

  /** A read of contract `contract` (by its name in this chain's deployment). */
  async function read<T>(contract: string, functionName: string, args: readonly unknown[] = []): Promise<T> {
    const c = await client();
    return (await c.readContract({ address: address(contract), abi: abi(contract), functionName, args } as Parameters<
      typeof c.readContract
    >[0])) as T;
  }

  return {
    ...shared,
    chainId: chain.id,
    chainLabel: label,
    deployment,
    isDevChain: DEV_CHAINS.has(chain.id),
    hasFaucet: Boolean(deployment.contracts.Faucet),
    // Primitives for the feature modules (training, staking, ...): each takes the engine.
    client,
    send,
    follow,
    permit,
    read,
    address,

    /** Moves the wallet to this chain (wallet_switchEthereumChain, else wallet_addEthereumChain). */
    async switchNetwork(): Promise<void> {
      await ensureChain(await provider(), deployment);
      publish();
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

    /** Any contract call the API prepared for this chain (listing, training): `to`, `data`. */
    async sendPrepared(to: Address, data: Hex, onUpdate: (u: TxUpdate) => void): Promise<Hex> {
      onUpdate({ status: "signing" });
      const c = await signer();
      await c.call({ account: c.account, to, data });
      const hash = await c.sendTransaction({ account: c.account, chain, to, data });
      await follow(hash, onUpdate);
      return hash;
    },

    /** The connected account's DATACOIN on this chain. */
    async balance(): Promise<bigint> {
      return read<bigint>("DataCoin", "balanceOf", [account()]);
    },
  };
}

export type Wallet = ReturnType<typeof createWallet>;
export type Engine = ReturnType<typeof chainEngine>;
