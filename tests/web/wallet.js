// A test wallet: a real EIP-1193 provider announced through EIP-6963 (never `window.ethereum`).
// tests/web/wallet.py installs it with `context.add_init_script` as `(<this function>)(config)`,
// so it exists before any page script runs, in every page of the browser context.
//
// Requests are JSON-RPC forwarded to the HTTP endpoint of the anvil of the chain the wallet is
// on (anvil answers CORS): one RPC URL per chain id it knows. anvil's dev accounts are
// unlocked: it signs `eth_sendTransaction`, `eth_signTypedData_v4` and `personal_sign`
// itself, for real. The wallet plays exactly one account (a provider or a buyer) and refuses
// to sign for any other, as a real wallet would.
//
// Networks, as a real wallet: `wallet_switchEthereumChain` moves to a chain it knows (4902
// for one it does not), `wallet_addEthereumChain` learns a chain (its first rpcUrl) and moves
// to it. With `rejectSwitch` both answer 4001, as when the user declines.
//
// config: {account, rpcUrl, chainId, chains: {chainId: rpcUrl}, startChainId, rejectSignatures,
//          rejectSwitch, connected, uuid}
// Test control (never used by the dApp): window.__datacoinTestWallet
//   .calls                    every request's method, in order
//   .requests                 every request's method and params, in order
//   .setRejectSignatures(b)   signatures and transactions are refused with code 4001
//   .setRejectSwitch(b)       network switches and additions are refused with code 4001
//   .setAccount(address)      plays another account (emits accountsChanged)
//   .setChainId(id)           the chain the wallet is on (emits chainChanged)
//   .chainId()                the chain the wallet is on now
//   .provider                 the EIP-1193 provider itself
// A page binding `__datacoinWalletBeforeSign({method, params})`, when the test exposes one, is
// awaited before each signature or transaction is forwarded (e.g. to change the chain's state
// between the page's click and the wallet's answer).
(function installTestWallet(config) {
  "use strict";
  const SIGNING = new Set([
    "eth_sendTransaction",
    "eth_signTypedData_v4",
    "eth_signTypedData_v3",
    "eth_signTypedData",
    "personal_sign",
    "eth_sign",
  ]);
  const LOCAL = new Set([
    "eth_requestAccounts",
    "eth_accounts",
    "eth_chainId",
    "net_version",
    "eth_coinbase",
    "wallet_switchEthereumChain",
    "wallet_addEthereumChain",
    "wallet_requestPermissions",
    "wallet_getPermissions",
    "wallet_revokePermissions",
    "wallet_getCapabilities",
    "wallet_watchAsset",
  ]);
  const AUTH_KEY = "datacoin-test-wallet:authorized";
  const anvilChainId = Number(config.chainId);
  // The networks the wallet knows: chain id → RPC URL (the main anvil's, and any others).
  const networks = new Map([[anvilChainId, config.rpcUrl]]);
  for (const [id, url] of Object.entries(config.chains || {})) networks.set(Number(id), url);
  const state = {
    account: config.account,
    chainId: Number(config.startChainId ?? anvilChainId),
    reject: Boolean(config.rejectSignatures),
    rejectSwitch: Boolean(config.rejectSwitch),
    connected: Boolean(config.connected) || readAuthorized(),
  };
  const listeners = new Map();
  const calls = [];
  const requests = [];
  let rpcId = 0;

  function readAuthorized() {
    try {
      return window.localStorage.getItem(AUTH_KEY) === "1";
    } catch {
      return false; // opaque origins (about:blank) have no storage
    }
  }

  function writeAuthorized(value) {
    try {
      if (value) window.localStorage.setItem(AUTH_KEY, "1");
      else window.localStorage.removeItem(AUTH_KEY);
    } catch {
      // no storage here: the authorization lasts for this document only
    }
  }

  function providerError(code, message, data) {
    const error = new Error(message);
    error.code = code;
    if (data !== undefined) error.data = data;
    return error;
  }

  function emit(event, payload) {
    for (const listener of [...(listeners.get(event) || [])]) {
      try {
        listener(payload);
      } catch (e) {
        console.error("test wallet listener failed", e);
      }
    }
  }

  function hexChainId() {
    return "0x" + state.chainId.toString(16);
  }

  function sameAddress(a, b) {
    return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
  }

  // The address a signing request signs with: a real wallet signs only for its own account.
  function signer(method, params) {
    if (method === "eth_sendTransaction") return params[0] && params[0].from;
    if (method === "personal_sign") return params[1];
    return params[0]; // eth_sign, eth_signTypedData*
  }

  async function forward(method, params) {
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params });
    // The node of the chain the wallet is on (the main anvil for a chain it has no node for,
    // e.g. a wrong-network start on chain 1).
    const url = networks.get(state.chainId) || config.rpcUrl;
    let reply;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      reply = await response.json();
    } catch (e) {
      throw providerError(-32603, `test wallet: the node did not answer (${e})`);
    }
    if (reply.error) {
      throw providerError(reply.error.code, reply.error.message, reply.error.data);
    }
    return reply.result;
  }

  async function local(method, params) {
    switch (method) {
      case "eth_requestAccounts":
        if (!state.connected) {
          state.connected = true;
          writeAuthorized(true);
          emit("connect", { chainId: hexChainId() });
          emit("accountsChanged", [state.account]);
        }
        return [state.account];
      case "eth_accounts":
      case "eth_coinbase": {
        const accounts = state.connected ? [state.account] : [];
        return method === "eth_coinbase" ? accounts[0] || null : accounts;
      }
      case "eth_chainId":
        return hexChainId();
      case "net_version":
        return String(state.chainId);
      case "wallet_switchEthereumChain": {
        const wanted = Number(params[0] && params[0].chainId);
        if (!networks.has(wanted)) {
          throw providerError(4902, `test wallet: unrecognized chain ${params[0] && params[0].chainId}`);
        }
        if (state.rejectSwitch) throw providerError(4001, "User rejected the request.");
        setChainId(wanted);
        return null;
      }
      case "wallet_addEthereumChain": {
        const wanted = Number(params[0] && params[0].chainId);
        const url = params[0] && Array.isArray(params[0].rpcUrls) ? params[0].rpcUrls[0] : undefined;
        if (!Number.isSafeInteger(wanted) || wanted <= 0 || typeof url !== "string") {
          throw providerError(-32602, "test wallet: wallet_addEthereumChain needs a chainId and rpcUrls");
        }
        if (state.rejectSwitch) throw providerError(4001, "User rejected the request.");
        if (!networks.has(wanted)) networks.set(wanted, url);
        setChainId(wanted);
        return null;
      }
      case "wallet_requestPermissions":
        state.connected = true;
        writeAuthorized(true);
        return [{ parentCapability: "eth_accounts", caveats: [] }];
      case "wallet_getPermissions":
        return state.connected ? [{ parentCapability: "eth_accounts", caveats: [] }] : [];
      case "wallet_revokePermissions":
        state.connected = false;
        writeAuthorized(false);
        emit("accountsChanged", []);
        return null;
      case "wallet_getCapabilities":
        throw providerError(4200, "test wallet: wallet_getCapabilities is not supported");
      case "wallet_watchAsset":
        return true;
      default:
        throw providerError(4200, `test wallet: ${method} is not supported`);
    }
  }

  async function request(args) {
    if (!args || typeof args.method !== "string") {
      throw providerError(-32600, "test wallet: request needs a method");
    }
    const method = args.method;
    const params = Array.isArray(args.params) ? args.params : [];
    calls.push(method);
    requests.push({ method, params });
    if (LOCAL.has(method)) return local(method, params);
    if (method.startsWith("wallet_")) return local(method, params);
    if (SIGNING.has(method)) {
      if (!state.connected) {
        throw providerError(4100, "test wallet: not connected (call eth_requestAccounts)");
      }
      if (!sameAddress(signer(method, params), state.account)) {
        throw providerError(4100, `test wallet: cannot sign for ${signer(method, params)}`);
      }
      if (typeof window.__datacoinWalletBeforeSign === "function") {
        await window.__datacoinWalletBeforeSign({ method, params });
      }
      if (state.reject) {
        throw providerError(4001, "User rejected the request.");
      }
    }
    return forward(method, params);
  }

  function setChainId(chainId) {
    if (state.chainId !== Number(chainId)) {
      state.chainId = Number(chainId);
      emit("chainChanged", hexChainId());
    }
  }

  const provider = {
    isTestWallet: true,
    request,
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(listener);
      return provider;
    },
    removeListener(event, listener) {
      const set = listeners.get(event);
      if (set) set.delete(listener);
      return provider;
    },
  };
  provider.off = provider.removeListener;
  provider.addListener = provider.on;

  const icon =
    "data:image/svg+xml;base64," +
    btoa(
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
        '<rect width="32" height="32" rx="6" fill="#2b6cb0"/>' +
        '<text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff">T</text></svg>',
    );
  const info = Object.freeze({
    uuid: config.uuid || crypto.randomUUID(),
    name: "Test Wallet",
    icon,
    rdns: "dev.datacoin.testwallet",
  });
  const detail = Object.freeze({ info, provider });

  function announce() {
    window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
  }
  window.addEventListener("eip6963:requestProvider", announce);
  announce();

  Object.defineProperty(window, "__datacoinTestWallet", {
    value: Object.freeze({
      provider,
      calls,
      requests,
      setRejectSignatures(value) {
        state.reject = Boolean(value);
      },
      setRejectSwitch(value) {
        state.rejectSwitch = Boolean(value);
      },
      chainId() {
        return state.chainId;
      },
      setAccount(address) {
        state.account = address;
        if (state.connected) emit("accountsChanged", [address]);
      },
      setChainId,
    }),
  });
})
