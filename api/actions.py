"""A proposal's actions in words: each call decoded against the platform's ABIs and said
as a sentence ("Set the protocol fee from 2.5% to 3%").

Which contract a target is comes from the deployment manifest (the addresses the platform
was deployed at); what a setting was comes from the folded parameter changes: for an
executed proposal, the value its own execution replaced; otherwise the value in force at
the indexed head (unknown for the platform's settings until first changed: their
constructors emit no event, and the sentence then leaves "from" out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_typing import ABIFunction
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_names, get_abi_input_types
from eth_utils.address import to_checksum_address

from api.governance_schemas import Action
from api.queries import Row
from contracts.artifacts import load_artifact
from projections import parameters as p

WAD = Decimal(10) ** 18
#: Contracts a proposal can name, by manifest name.
NAMED = ("Marketplace", "TrainingLog", "Staking", "DataCoin", "DatacoinGovernor", "Timelock")


@dataclass(frozen=True, kw_only=True)
class Decoded:
    """A call decoded against its target's ABI."""

    function: str
    args: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Setting:
    """How a setter's sentence reads: which parameter it sets and how its values show."""

    parameter: str
    what: str
    show: Callable[[str], str]


def percent_of_bps(value: str) -> str:
    """Basis points as a percentage: 250 → "2.5%"."""
    return f"{_plain(Decimal(value) / 100)}%"


def datacoin(value: str) -> str:
    """wei as DATACOIN: 1000 * 10^18 → "1000 DATACOIN"."""
    return f"{_plain(Decimal(value) / WAD)} DATACOIN"


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


def _checksum(value: str) -> str:
    return str(to_checksum_address(value))


#: (contract, function) → the setting it changes.
SETTINGS: dict[tuple[str, str], Setting] = {
    ("Marketplace", "setFee"): Setting(
        parameter=p.FEE_BPS, what="the protocol fee", show=percent_of_bps
    ),
    ("Marketplace", "setTreasury"): Setting(
        parameter=p.TREASURY, what="the treasury", show=_checksum
    ),
    ("TrainingLog", "setMinWorkerStake"): Setting(
        parameter=p.MIN_WORKER_STAKE, what="the minimum worker stake", show=datacoin
    ),
    ("DatacoinGovernor", "setVotingDelay"): Setting(
        parameter=p.VOTING_DELAY, what="the voting delay", show=lambda v: f"{v} blocks"
    ),
    ("DatacoinGovernor", "setVotingPeriod"): Setting(
        parameter=p.VOTING_PERIOD, what="the voting period", show=lambda v: f"{v} blocks"
    ),
    ("DatacoinGovernor", "setProposalThreshold"): Setting(
        parameter=p.PROPOSAL_THRESHOLD, what="the proposal threshold", show=datacoin
    ),
    ("DatacoinGovernor", "updateQuorumNumerator"): Setting(
        parameter=p.QUORUM_NUMERATOR, what="the quorum", show=lambda v: f"{v}% of the votes"
    ),
    ("Timelock", "updateDelay"): Setting(
        parameter=p.TIMELOCK_DELAY, what="the Timelock delay", show=lambda v: f"{v} seconds"
    ),
}
#: Calls that are not settings: their sentence from their first argument.
VERBS: dict[tuple[str, str], str] = {
    ("TrainingLog", "registerWorker"): "Register the worker {}",
    ("TrainingLog", "removeWorker"): "Remove the worker {}",
}


@cache
def _functions(contract: str) -> dict[bytes, ABIFunction]:
    """A contract's functions by selector."""
    abi = load_artifact(contract)["abi"]
    functions: list[ABIFunction] = [entry for entry in abi if entry.get("type") == "function"]
    return {function_abi_to_4byte_selector(entry): entry for entry in functions}


def decode_call(contract: str, calldata: bytes) -> Decoded | None:
    """`calldata` as a call of one of `contract`'s functions; None when it is none."""
    entry = _functions(contract).get(calldata[:4])
    if entry is None:
        return None
    try:
        values = decode(get_abi_input_types(entry), calldata[4:], strict=False)
    except Exception:  # eth_abi raises several types for short or malformed data
        return None
    names = get_abi_input_names(entry)
    return Decoded(
        function=entry["name"],
        args={
            name or f"arg{i}": _json(value)
            for i, (name, value) in enumerate(zip(names, values, strict=True))
        },
    )


def _json(value: Any) -> Any:
    """An ABI value as JSON: integers as decimal strings, bytes 0x-hex, addresses EIP-55."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return _checksum(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def previous_value(
    changes: Sequence[Row], parameter: str, executed_block: int | None
) -> str | None:
    """What `parameter` was before the proposal changed it (executed: the change its own
    execution made), or is now (not executed); None when never seen."""
    if executed_block is not None:
        for change in changes:
            if change["parameter"] == parameter and change["block_number"] == executed_block:
                return str(change["old_value"])
    current = None
    for change in changes:  # oldest first: the last one is in force
        if change["parameter"] == parameter and (
            executed_block is None or change["block_number"] < executed_block
        ):
            current = str(change["new_value"])
    return current


def sentence(
    contract: str | None,
    decoded: Decoded | None,
    *,
    target: str,
    calldata: str,
    changes: Sequence[Row],
    executed_block: int | None,
) -> str:
    """The action in words."""
    if contract is None or decoded is None:
        return f"Call {target} with {calldata}"
    values = list(decoded.args.values())
    key = (contract, decoded.function)
    if (setting := SETTINGS.get(key)) is not None and values:
        new = setting.show(str(values[0]))
        old = previous_value(changes, setting.parameter, executed_block)
        if old is None:
            return f"Set {setting.what} to {new}"
        return f"Set {setting.what} from {setting.show(old)} to {new}"
    if (verb := VERBS.get(key)) is not None and values:
        return verb.format(values[0])
    shown = ", ".join(f"{name}={value}" for name, value in decoded.args.items())
    return f"Call {contract}.{decoded.function}({shown})"


def actions_of(row: Row, names: dict[str, str], changes: Sequence[Row]) -> list[Action]:
    """A proposal row's actions, decoded. `names` maps lowercase addresses to contract
    names (the manifest's, for the proposal's chain); `changes` are the chain's parameter
    changes, oldest first."""
    actions = []
    for stored in row["actions"]:
        target, calldata = stored["target"], stored["calldata"]
        contract = names.get(target)
        decoded = decode_call(contract, bytes.fromhex(calldata[2:])) if contract else None
        actions.append(
            Action(
                target=_checksum(target),
                target_name=contract,
                value=stored["value"],
                calldata=calldata,
                function=decoded.function if decoded else None,
                args=decoded.args if decoded else None,
                sentence=sentence(
                    contract,
                    decoded,
                    target=_checksum(target),
                    calldata=calldata,
                    changes=changes,
                    executed_block=row["executed_block"],
                ),
            )
        )
    return actions
