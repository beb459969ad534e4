"""The alert store: alerts and their evidence, subscriptions, deliveries, dead letters and API keys.

:class:`AlertStore` is the interface the delivery stage and the API use; :class:`SqlAlertStore`
implements it on SQLAlchemy 2: an SQLite file by default (``sqlite+aiosqlite:///...``, run with the
standard library's ``sqlite3`` on the store's own thread), or PostgreSQL (``postgresql+asyncpg://...``)
when several workers share it. The schema is versioned
(:mod:`monitor.store.migrations`) and brought up to date by :meth:`SqlAlertStore.start`.
"""

from monitor.store.base import (
    AlertEvent,
    AlertStore,
    ApiKeyRecord,
    AttemptRecord,
    DeliveryRecord,
    NewDelivery,
    Page,
    StoredAlert,
    SubscriptionRecord,
    UpsertResult,
)
from monitor.store.sql import SqlAlertStore

__all__ = [
    "AlertEvent",
    "AlertStore",
    "ApiKeyRecord",
    "AttemptRecord",
    "DeliveryRecord",
    "NewDelivery",
    "Page",
    "SqlAlertStore",
    "StoredAlert",
    "SubscriptionRecord",
    "UpsertResult",
]
