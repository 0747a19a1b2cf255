"""Generate ``contracts/events.py``: one typed class per platform event, from the ABIs.

Run with ``python -m contracts.codegen`` (``make contracts`` runs it after compiling). A test
fails when the committed module differs from a fresh generation, as for the artifacts, so a
renamed Solidity parameter is a visible diff and a type error in every projection that
reads it, not a ``KeyError`` at run time.

Field names are the ABI's in snake_case (``datasetId`` -> ``dataset_id``, ``from`` ->
``from_``); types are Python's: ``int`` for every (u)int, ``Address`` (EIP-55) for addresses,
``bytes`` for fixed and dynamic bytes, ``str`` and ``bool``; ``list[...]`` of those for
a dynamic array (a proposal's targets, values and calldatas).
"""

from __future__ import annotations

import keyword
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from contracts.artifacts import EVENT_CONTRACTS, load_artifact

TARGET = Path(__file__).parent / "events.py"


@dataclass(frozen=True)
class Field:
    """One event input as a Python field."""

    abi_name: str
    abi_type: str
    indexed: bool

    @property
    def json_name(self) -> str:
        """The snake_case name clients see (``datasetId`` -> ``dataset_id``)."""
        return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", self.abi_name).lower()

    @property
    def name(self) -> str:
        """The attribute's name: the JSON name, with ``_`` after a Python keyword."""
        snake = self.json_name
        return snake + "_" if keyword.iskeyword(snake) else snake

    @property
    def is_list(self) -> bool:
        """A dynamic array (``address[]``, ``bytes[]``, ...) not indexed: a Python list.
        (An indexed array is stored as its topic, a keccak hash: ``bytes``.)"""
        return self.abi_type.endswith("[]") and not self.indexed

    @property
    def element_type(self) -> str:
        """The Python type of one value (of each element, for a list)."""
        t = self.abi_type.removesuffix("[]") if self.is_list else self.abi_type
        if t.endswith("]") or t.startswith("("):
            raise ValueError(f"no Python type for ABI type {self.abi_type!r}")
        if self.abi_type.endswith("]") and self.indexed:
            return "bytes"
        if t.startswith(("uint", "int")):
            return "int"
        if t == "address":
            return "Address"
        if t == "bool":
            return "bool"
        if t == "string":
            return "str"
        if t.startswith("bytes"):
            return "bytes"
        raise ValueError(f"no Python type for ABI type {t!r}")

    @property
    def python_type(self) -> str:
        return f"list[{self.element_type}]" if self.is_list else self.element_type

    def reader(self) -> str:
        """The expression turning the stored JSON value ``args[...]`` into the field."""
        value = f"args[{self.abi_name!r}]"
        if self.is_list:
            each = _read("v", self.element_type)
            return f"list({value})" if each == "v" else f"[{each} for v in {value}]"
        return _read(value, self.element_type)

    def writer(self) -> str:
        """The expression turning the field into its JSON form for clients."""
        value = f"self.{self.name}"
        if self.is_list:
            each = _write("v", self.element_type)
            return f"list({value})" if each == "v" else f"[{each} for v in {value}]"
        return _write(value, self.element_type)


def _read(value: str, python_type: str) -> str:
    """Stored JSON form -> Python value, for one value of `python_type`."""
    match python_type:
        case "int":
            return f"int({value})"
        case "Address":
            return f"checksum({value})"
        case "bytes":
            return f"bytes.fromhex({value}[2:])"
        case _:
            return value


def _write(value: str, python_type: str) -> str:
    """Python value -> the clients' JSON form, for one value of `python_type`."""
    match python_type:
        case "int":
            # uint256 exceeds JavaScript's safe integers: decimal strings, as in the store.
            return f"str({value})"
        case "bytes":
            return f'"0x" + {value}.hex()'
        case _:
            return value


@dataclass(frozen=True)
class Event:
    """One event of the platform's ABIs and the contracts that emit it."""

    name: str
    signature: str
    contracts: tuple[str, ...]
    fields: tuple[Field, ...]


def platform_events() -> list[Event]:
    """Every non-anonymous event of the platform's contracts, by name; an event name with
    two different signatures is refused (the event store keys events by name)."""
    found: dict[str, Event] = {}
    for contract in EVENT_CONTRACTS:
        for item in load_artifact(contract)["abi"]:
            if item["type"] != "event" or item.get("anonymous"):
                continue
            fields = tuple(Field(i["name"], i["type"], bool(i["indexed"])) for i in item["inputs"])
            if any(f.name == "event_name" for f in fields):
                raise ValueError(f"{item['name']}: an input named like the class's event_name")
            signature = f"{item['name']}({','.join(f.abi_type for f in fields)})"
            known = found.get(item["name"])
            if known is not None and known.signature != signature:
                raise ValueError(f"{known.signature} and {signature} share a name")
            contracts = (*known.contracts, contract) if known else (contract,)
            found[item["name"]] = Event(item["name"], signature, contracts, fields)
    return sorted(found.values(), key=lambda e: e.name)


HEADER = '''"""Typed platform events: one class per event of the platform's ABIs.

GENERATED by ``python -m contracts.codegen`` from contracts/artifacts: do not edit. The
event store keeps each event's arguments in their stored JSON form (ABI names, integers as
decimal strings, lowercase hex): ``from_args`` reads that form, ``to_json`` gives clients
snake_case names, decimal-string integers and EIP-55 addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NewType

from eth_utils.address import to_checksum_address

#: An EIP-55 checksummed address.
Address = NewType("Address", str)


#: Checksummed forms of the addresses seen lately (a dict, not lru_cache: ~3x cheaper a hit,
#: measured, and a replay looks up one to three per event).
_CHECKSUMS: dict[str, Address] = {}


def checksum(address: str) -> Address:
    """EIP-55 form of a stored (lowercase) address. Cached: a chain's events name few
    accounts many times, and a keccak per address would dominate a replay."""
    found = _CHECKSUMS.get(address)
    if found is None:
        if len(_CHECKSUMS) >= 65536:  # bounded: forget all, the busy ones come back
            _CHECKSUMS.clear()
        found = _CHECKSUMS[address] = Address(to_checksum_address(address))
    return found


# Not frozen: a frozen dataclass sets each field through object.__setattr__ (~5x slower to
# build), and a replay builds one per event. Immutable by convention.
'''


def docstring(event: Event) -> list[str]:
    """The class docstring: who emits the event, and its ABI inputs, wrapped."""
    inputs = ", ".join(
        f"``{f.abi_name}`` ({f.abi_type}{', indexed' if f.indexed else ''})" for f in event.fields
    )
    text = f"``{event.name}`` of {', '.join(event.contracts)}: " + (inputs or "no inputs") + "."
    lines = textwrap.wrap(text, width=88, break_on_hyphens=False)
    lines[0] = '"""' + lines[0]
    lines[-1] += '"""'
    return ["    " + line for line in lines]


def render_event(event: Event) -> str:
    """The class of one event."""
    lines = [
        "",
        "",
        "@dataclass(slots=True, kw_only=True)",
        f"class {event.name}:",
        *docstring(event),
        "",
        f"    event_name: ClassVar[str] = {event.name!r}",
    ]
    lines += [f"    {f.name}: {f.python_type}" for f in event.fields]
    lines += [
        "",
        "    @classmethod",
        f"    def from_args(cls, args: dict[str, Any]) -> {event.name}:",
        '        """The event from its stored arguments."""',
    ]
    if event.fields:
        lines.append("        return cls(")
        lines += [f"            {f.name}={f.reader()}," for f in event.fields]
        lines.append("        )")
    else:
        lines.append("        return cls()")
    lines += [
        "",
        "    def to_json(self) -> dict[str, Any]:",
        '        """The event as clients see it (snake_case, decimal strings, EIP-55)."""',
    ]
    if event.fields:
        lines.append("        return {")
        lines += [f"            {f.json_name!r}: {f.writer()}," for f in event.fields]
        lines.append("        }")
    else:
        lines.append("        return {}")
    return "\n".join(lines)


def render(events: list[Event]) -> str:
    """The whole module."""
    names = [e.name for e in events]
    union = " | ".join(names)
    registry = "\n".join(f"    {n!r}: {n}," for n in names)
    footer = f'''

@dataclass(slots=True)
class UnknownEvent:
    """An event no platform ABI names (an older contract's, say): its stored arguments as
    they are. Projections ignore it, and their tracking still advances past it."""

    event_name: str
    args: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The stored arguments."""
        return self.args


#: Any platform event.
PlatformEvent = {union}

#: Event classes by the name the event store records.
EVENT_TYPES: dict[str, type[PlatformEvent]] = {{
{registry}
}}


def typed_event(name: str, args: dict[str, Any]) -> PlatformEvent | UnknownEvent:
    """The typed event `name` from its stored arguments; an ``UnknownEvent`` for a name no
    platform ABI has. Arguments that do not fit a known event's ABI raise (KeyError,
    ValueError): the store and the ABIs disagree, which must stop a projection loudly."""
    cls = EVENT_TYPES.get(name)
    return UnknownEvent(name, args) if cls is None else cls.from_args(args)
'''
    return HEADER + "".join(render_event(e) for e in events) + footer


def generate() -> str:
    """The module's text, formatted by ruff as the repository formats it."""
    text = render(platform_events())
    ruff = Path(sys.executable).parent / "ruff"
    formatted = subprocess.run(
        [str(ruff), "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> None:
    """Write contracts/events.py."""
    TARGET.write_text(generate())
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
