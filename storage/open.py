"""Build the configured blob store and key ring from settings (composition helpers)."""

from __future__ import annotations

import base64
import json
import os
import uuid

import structlog

from common.errors import ConfigurationError
from common.settings import Settings
from storage.base import BlobStore
from storage.blockstore import EmbeddedBlockStore
from storage.keyring import KeyRing, generate_key
from storage.kubo import KuboClient

log = structlog.get_logger(__name__)


def open_blobs(settings: Settings) -> BlobStore:
    """Kubo when DATACOIN_IPFS_API_URL is set, else the embedded store under data_dir."""
    if settings.ipfs_api_url:
        return KuboClient(settings.ipfs_api_url)
    return EmbeddedBlockStore(settings.blocks_dir)


def open_keyring(settings: Settings) -> KeyRing:
    """The platform key ring from settings; on a dev machine without one, a key generated
    once and kept (mode 0600) under data_dir."""
    keys = {k: base64.b64decode(v.get_secret_value()) for k, v in settings.platform_keys.items()}
    current = settings.platform_key_id
    if not keys:
        keys, current = _dev_keys(settings)
    if current is None:
        if len(keys) != 1:
            raise ConfigurationError("several platform keys: set DATACOIN_PLATFORM_KEY_ID")
        current = next(iter(keys))
    if current not in keys:
        raise ConfigurationError(f"DATACOIN_PLATFORM_KEY_ID {current!r} is not in the key ring")
    return KeyRing(keys, current)


def _dev_keys(settings: Settings) -> tuple[dict[str, bytes], str]:
    path = settings.data_dir / "platform-keys.json"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: processes starting
        # together (a worker per chain) never read a half-written ring, and the first
        # link wins (the others read its keys).
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"dev-1": base64.b64encode(generate_key()).decode()}, out)
        try:
            os.link(tmp, path)
            log.warning("storage.dev_key.generated", path=str(path))
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    stored = json.loads(path.read_text())
    return {k: base64.b64decode(v) for k, v in stored.items()}, sorted(stored)[-1]
