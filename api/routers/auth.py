"""Sign-In with Ethereum (EIP-4361): GET /auth/nonce, POST /auth/verify, POST /auth/logout.

Nonces live in Redis with an expiry and are consumed with an atomic GETDEL, only after
every other check passed: of two concurrent verifies of one signed message exactly one
gets a session, and a bad signature does not burn the nonce.
"""

from __future__ import annotations

import secrets
import warnings
from datetime import UTC, datetime, timedelta

import structlog
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError
from fastapi import APIRouter, Request

from api.deps import SESSION_PREFIX, CurrentSession, RedisDep, SettingsDep, SignedIn
from api.problems import Problem
from api.schemas import ERRORS, Nonce, Session, VerifyRequest
from common.settings import Settings

with warnings.catch_warnings():
    # siwe's grammar restates RFC 5234's core rules (ALPHA, DIGIT, HEXDIG, LF), and abnf
    # warns about each one as siwe is imported: eight lines on every API start, for
    # definitions equal to the ones they replace.
    warnings.filterwarnings("ignore", message=r"rule '\w+' redefines", module=r"abnf\.")
    from siwe import SiweMessage
    from siwe.siwe import VerificationError

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])
NONCE_PREFIX = "datacoin:nonce:"
#: How far ahead of our clock a wallet's `Issued At` may be (clocks drift).
CLOCK_SKEW = timedelta(seconds=60)
#: The order of secp256k1: r and s of a signature lie in [1, n-1].
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _unauthorized(code: str, reason: str) -> Problem:
    """A refused sign-in: 401 with `auth.<code>`."""
    return Problem(401, f"auth.{code}", f"sign-in refused: {reason}")


def signature_problem(signature: str) -> str | None:
    """Why a 65-byte 0x-hex signature (r || s || v) cannot be an ECDSA signature on
    secp256k1, or None. Checked before recovery: eth_keys raises BadSignature (which
    siwe does not catch) for values off the curve."""
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32]), int.from_bytes(raw[32:64]), raw[64]
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        return "invalid signature: r and s must lie in [1, n-1] of secp256k1"
    if v not in (0, 1, 27, 28):
        return f"invalid signature: recovery id v={v} (expected 27 or 28)"
    return None


def _uri_matches(uri: str, expected: str) -> bool:
    return uri.rstrip("/") == expected.rstrip("/")


def _check_claims(message: SiweMessage, settings: Settings) -> None:
    """The message names our domain, URI and a chain we serve, and was issued recently
    (not in the future); 401 otherwise."""
    if message.domain != settings.siwe_domain:
        raise _unauthorized(
            "wrong_domain", f"wrong domain {message.domain!r}, expected {settings.siwe_domain!r}"
        )
    if not _uri_matches(str(message.uri), settings.siwe_uri):
        raise _unauthorized(
            "wrong_uri", f"wrong uri {str(message.uri)!r}, expected {settings.siwe_uri!r}"
        )
    if message.chain_id not in settings.siwe_chain_ids:
        raise _unauthorized(
            "wrong_chain",
            f"wrong chain {message.chain_id}, expected one of {settings.siwe_chain_ids}",
        )
    issued = datetime.fromisoformat(str(message.issued_at).replace("Z", "+00:00"))
    now = datetime.now(UTC)
    if issued - now > CLOCK_SKEW:
        raise _unauthorized(
            "issued_in_future", f"message issued in the future ({issued.isoformat()})"
        )
    if now - issued > timedelta(seconds=settings.siwe_nonce_ttl):
        raise _unauthorized("message_expired", "message issued too long ago")


@router.get("/nonce", name="nonce", response_model=Nonce)
async def nonce(redis: RedisDep, settings: SettingsDep) -> Nonce:
    """A fresh single-use nonce, and the domain, URI and chains the message must name."""
    value = secrets.token_hex(16)  # alphanumeric, >= 8 chars as EIP-4361 requires
    ttl = settings.siwe_nonce_ttl
    await redis.set(NONCE_PREFIX + value, "1", ex=ttl)
    return Nonce(
        nonce=value,
        domain=settings.siwe_domain,
        uri=settings.siwe_uri,
        chain_ids=settings.siwe_chain_ids,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
    )


@router.post("/verify", name="verify", response_model=Session, responses=ERRORS)
async def verify(
    body: VerifyRequest, redis: RedisDep, settings: SettingsDep, request: Request
) -> Session:
    """Check a signed EIP-4361 message and open a session for its address."""
    try:
        message = SiweMessage.from_message(message=body.message)
    except Exception as exc:  # the parser raises several unrelated types
        raise _unauthorized(
            "invalid_message", f"not an EIP-4361 message ({type(exc).__name__})"
        ) from None
    _check_claims(message, settings)
    problem = signature_problem(body.signature)
    if problem is not None:
        raise _unauthorized("invalid_signature", problem)
    if not await redis.exists(NONCE_PREFIX + message.nonce):
        raise _unauthorized("invalid_nonce", "unknown, expired or already used nonce")
    try:
        message.verify(signature=body.signature, domain=settings.siwe_domain, nonce=message.nonce)
    except (BadSignature, ValidationError):  # what recovery raises past the checks above
        raise _unauthorized(
            "invalid_signature", "invalid signature: not recoverable on secp256k1"
        ) from None
    except VerificationError as exc:
        raise _unauthorized(
            "invalid_signature", f"{type(exc).__name__}: the signature or validity window is wrong"
        ) from None
    # Everything checks out: consume the nonce atomically; only one caller gets it.
    if await redis.getdel(NONCE_PREFIX + message.nonce) is None:
        raise _unauthorized("invalid_nonce", "nonce already used")
    token = secrets.token_urlsafe(32)
    address = to_checksum_address(message.address)
    await redis.set(SESSION_PREFIX + token, address, ex=settings.session_ttl)
    expires = datetime.now(UTC) + timedelta(seconds=settings.session_ttl)
    # Where the session was opened from: behind the proxy, the client's own address and
    # scheme (X-Forwarded-For/-Proto, believed from `forwarded_allow_ips` only).
    client = request.client.host if request.client else None
    log.info("auth.session.opened", address=address, client=client, scheme=request.url.scheme)
    return Session(token=token, address=address, expires_at=expires)


@router.post("/logout", name="logout", status_code=204, responses=ERRORS)
async def logout(redis: RedisDep, session: CurrentSession) -> None:
    """End the current session: its bearer token stops working at once."""
    await redis.delete(SESSION_PREFIX + session.token)


@router.get("/me", name="me", responses=ERRORS)
async def me(address: SignedIn) -> dict[str, str]:
    """The address of the current session."""
    return {"address": address}
