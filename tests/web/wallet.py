"""Install the test wallet (tests/web/wallet.js) into a Playwright browser context."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

SOURCE = (Path(__file__).parent / "wallet.js").read_text()
ANVIL_CHAIN_ID = 31337
RDNS = "dev.datacoin.testwallet"


@dataclass(frozen=True)
class WalletConfig:
    """What the injected wallet plays: one account, on anvil at `rpc_url` (chain `chain_id`),
    knowing the further networks of `chains` (chain id → RPC URL) as a wallet knows those
    its user added."""

    account: str
    rpc_url: str
    chain_id: int = ANVIL_CHAIN_ID
    chains: Mapping[int, str] = field(default_factory=dict)
    #: The chain the wallet starts on (another one shows the dApp's wrong-network banner).
    start_chain_id: int | None = None
    #: Refuse every signature and transaction with code 4001 ("User rejected the request.").
    reject_signatures: bool = False
    #: Refuse every network switch or addition with code 4001 (the user declines).
    reject_switch: bool = False
    #: Already authorized for the page (eth_accounts answers before eth_requestAccounts).
    connected: bool = False

    def script(self) -> str:
        """The init script: wallet.js applied to this configuration."""
        config = {
            "account": self.account,
            "rpcUrl": self.rpc_url,
            "chainId": self.chain_id,
            "chains": {str(k): v for k, v in self.chains.items()},
            "startChainId": self.start_chain_id,
            "rejectSignatures": self.reject_signatures,
            "rejectSwitch": self.reject_switch,
            "connected": self.connected,
            "uuid": str(uuid.uuid4()),
        }
        return f"{SOURCE.strip().rstrip(';')}({json.dumps(config)});\n"


def install_wallet(context: BrowserContext, config: WalletConfig) -> None:
    """Every page of `context` (served pages, not set_content) gets the wallet."""
    context.add_init_script(script=config.script())


def wallet_calls(page: Page) -> list[str]:
    """The JSON-RPC methods the page asked the wallet for, in order."""
    calls: list[str] = page.evaluate("() => [...window.__datacoinTestWallet.calls]")
    return calls


def set_reject_signatures(page: Page, reject: bool) -> None:
    """From now on, the wallet refuses (or signs) what the page asks it to sign."""
    page.evaluate("(v) => window.__datacoinTestWallet.setRejectSignatures(v)", reject)


def wallet_request(page: Page, method: str, params: list[Any] | None = None) -> Any:
    """Ask the page's wallet directly (as a dApp would), e.g. to send a transaction."""
    return page.evaluate(
        "([method, params]) => window.__datacoinTestWallet.provider.request({method, params})",
        [method, params or []],
    )


def wallet_requests(page: Page) -> list[dict[str, Any]]:
    """The requests the page made to the wallet (method and params), in order."""
    requests: list[dict[str, Any]] = page.evaluate(
        "() => window.__datacoinTestWallet.requests.map((r) => JSON.parse(JSON.stringify(r)))"
    )
    return requests


def wallet_chain_id(page: Page) -> int:
    """The chain the page's wallet is on now."""
    return int(page.evaluate("() => window.__datacoinTestWallet.chainId()"))


def set_reject_switch(page: Page, reject: bool) -> None:
    """From now on, the wallet declines (or accepts) requests to change its network."""
    page.evaluate("(v) => window.__datacoinTestWallet.setRejectSwitch(v)", reject)
