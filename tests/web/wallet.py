"""Install the test wallet (tests/web/wallet.js) into a Playwright browser context."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

SOURCE = (Path(__file__).parent / "wallet.js").read_text()
ANVIL_CHAIN_ID = 31337
RDNS = "dev.datacoin.testwallet"


@dataclass(frozen=True)
class WalletConfig:
    """What the injected wallet plays: one account, on anvil at `rpc_url`."""

    account: str
    rpc_url: str
    chain_id: int = ANVIL_CHAIN_ID
    #: The chain the wallet starts on (another one shows the dApp's wrong-network banner).
    start_chain_id: int | None = None
    #: Refuse every signature and transaction with code 4001 ("User rejected the request.").
    reject_signatures: bool = False
    #: Already authorized for the page (eth_accounts answers before eth_requestAccounts).
    connected: bool = False

    def script(self) -> str:
        """The init script: wallet.js applied to this configuration."""
        config = {
            "account": self.account,
            "rpcUrl": self.rpc_url,
            "chainId": self.chain_id,
            "startChainId": self.start_chain_id,
            "rejectSignatures": self.reject_signatures,
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
