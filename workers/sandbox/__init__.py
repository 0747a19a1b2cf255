"""Process sandboxes for untrusted-input work: bubblewrap here, Docker where an engine runs.

Public API: :class:`Limits`, :class:`SandboxJob`, :class:`SandboxResult`, the
:class:`Sandbox` protocol (:mod:`workers.sandbox.base`), :class:`BubblewrapSandbox`,
:class:`DockerSandbox` and :func:`open_sandbox`.
"""
