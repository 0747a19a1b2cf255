"""What "the same code" means for reproducibility: a hash of the training modules' source,
plus the versions of the libraries that compute the weights."""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: The modules that run inside the sandbox and decide the model's bytes.
TRAINING_MODULES = (
    "archive.py",
    "artifact.py",
    "canonical.py",
    "data.py",
    "entry.py",
    "fit.py",
    "keras_artifact.py",
    "keras_fit.py",
    "keras_model.py",
    "metrics.py",
    "model.py",
    "spec.py",
    "text.py",
    "trained.py",
    "version.py",
)
#: The libraries that read the data (all jobs), then each framework's.
COMMON_LIBRARIES = ("numpy", "pyarrow", "pillow")
LIBRARIES = {
    "pytorch": ("torch", "safetensors"),
    "tensorflow": ("tensorflow-cpu", "keras", "h5py"),
}


def code_version() -> str:
    """``sha256:<hex>`` over the training modules' names and contents."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in TRAINING_MODULES:
        source = (here / name).read_bytes()
        digest.update(name.encode() + b"\0" + len(source).to_bytes(8, "big") + source)
    return "sha256:" + digest.hexdigest()


def library_versions(framework: str = "pytorch") -> dict[str, str]:
    """Python and the libraries' versions (those of `framework`, and the data readers)."""
    found = {"python": platform.python_version()}
    for name in (*LIBRARIES.get(framework, ()), *COMMON_LIBRARIES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found
