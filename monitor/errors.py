"""The error tree of the service. Every error the package raises on purpose derives from MonitorError.

::

    MonitorError
    ├── ConfigError            bad settings, rule or pipeline file: names file, item and field; stops start-up
    ├── InputError             an untrusted input (document, API payload, replay line) is invalid
    │   └── DecodeError        a message or line could not be decoded
    ├── BrokerError            the Kafka-compatible broker cannot be started or reached
    ├── DeliveryError          sending an alert failed; ``retryable`` says whether to try again
    └── StoreError             the alert store failed; ``transient`` says whether to wait and retry
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error raised on purpose by the service."""


class ConfigError(MonitorError):
    """A configuration, rule or pipeline file is invalid. The message names file, item and field."""


class InputError(MonitorError):
    """An untrusted input is invalid. The message names the offending field."""


class DecodeError(InputError):
    """A message, a line or a payload could not be decoded."""


class BrokerError(MonitorError):
    """The Kafka-compatible broker could not be started or reached."""


class DeliveryError(MonitorError):
    """Delivering an alert failed.

    ``retryable`` is true for timeouts, connection errors, 429 and 5xx; false for other 4xx.
    ``retry_after`` is the receiver's requested delay in seconds, when it gave one.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class StoreError(MonitorError):
    """The alert store failed. ``transient`` errors (database down, timeout) are retried until they pass,
    so that an alert stays on its topic instead of being lost; others go to the dead-letter topic."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
