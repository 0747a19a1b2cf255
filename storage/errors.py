"""Storage errors, placed in the platform's taxonomy (:mod:`common.errors`)."""

from __future__ import annotations

from common.errors import PermanentError, RetryableError


class ContentMismatchError(PermanentError):
    """Bytes do not hash to the CID that names them (tampered, corrupted or truncated)."""


class BlockNotFoundError(PermanentError):
    """The store does not hold the block (or the DAG root) asked for."""


class InvalidCidError(PermanentError):
    """A string that is not a CID we can use (malformed, or an unsupported hash function)."""


class UnsupportedContentError(PermanentError):
    """Authentic blocks that are not a UnixFS file we can read (directory, malformed node)."""


class KuboUnavailableError(RetryableError):
    """The Kubo node could not be reached or answered with a server error."""


class KuboRequestError(PermanentError):
    """The Kubo node rejected the request itself (bad argument, unknown command)."""


class EnvelopeError(PermanentError):
    """An encryption envelope that is malformed or uses an unknown format version."""


class UnknownKeyError(EnvelopeError):
    """The envelope names a platform key id that the key ring does not hold."""


class DecryptionError(EnvelopeError):
    """Authentication failed: wrong key, or a tampered, truncated or reordered envelope."""
