"""Exceptions raised by memtech.

Every error a user can cause derives from :class:`MemtechError`, so a caller can catch one type::

    MemtechError
    ├── ConfigError      a configuration key has a value that is not allowed (names key, value, expectation)
    ├── PluginError      a plugin failed to import, or two plugins claim the same name
    └── CapacityError    a placement puts more bits into a memory than it holds
"""

from __future__ import annotations

from typing import Any


class MemtechError(Exception):
    """Base class of every error memtech raises on purpose."""


class ConfigError(MemtechError, ValueError):
    """A configuration value is invalid.

    The message always has the form ``<key> must be <expected>, got <value>``.
    """

    def __init__(self, key: str, value: Any, expected: str):
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{key} must be {expected}, got {value!r}")


class PluginError(MemtechError):
    """A plugin could not be loaded, or registered a name that is already taken."""


class CapacityError(MemtechError):
    """Tensors placed in a memory need more bits than its capacity."""
