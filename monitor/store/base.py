"""The store's interface (:class:`AlertStore`) and the plain records it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from monitor.delivery.matching import AlertQuery
from monitor.delivery.subscription import SubscriptionSpec
from monitor.records import Alert

T = TypeVar("T")

#: Delivery states. ``pending`` waits for an attempt; the others are final (``dead`` can be replayed).
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "delivered", "dead", "gone", "cancelled")
#: API key scopes; ``admin`` implies every other.
SCOPES: tuple[str, ...] = ("read", "ingest", "admin")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored: its latest revision, with ``alert.status`` the current status.

    ``seq`` is the store sequence of its latest change (the live stream's event id).
    """

    alert: Alert
    seq: int
    stored_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def status(self) -> str:
        """The current status (``firing``, ``acknowledged``, ``resolved``)."""
        return self.alert.status


def merge_status(stored: str | None, incoming: str) -> str:
    """The status after a new revision: an acknowledgement survives new evidence, a resolution wins,
    and a firing revision re-opens an alert resolved by hand."""
    if incoming == "firing" and stored == "acknowledged":
        return "acknowledged"
    return incoming


@dataclass(frozen=True)
class UpsertResult:
    """What :meth:`AlertStore.upsert_alert` did: ``changed`` is false for a duplicate or an older revision.

    ``created`` is true when the alert id was not stored before (nor earlier in the same batch).
    """

    stored: StoredAlert
    changed: bool
    created: bool


#: Given the alerts a batch changed (as stored, in order) and every subscription (as read in the same
#: transaction), the deliveries to enqueue with them. Pure and synchronous: it runs inside the store's
#: transaction.
DeliveryPlanner = Callable[[Sequence[Alert], Sequence["SubscriptionRecord"]], Sequence["NewDelivery"]]


@dataclass(frozen=True)
class StoredBatch:
    """What :meth:`AlertStore.store_alerts` did: one result per alert, in order; the subscriptions
    it planned with; the deliveries it enqueued (those already stored are not returned again)."""

    results: list[UpsertResult]
    subscriptions: list[SubscriptionRecord]
    deliveries: list[DeliveryRecord]


@dataclass(frozen=True)
class AlertEvent:
    """One change of an alert, in store order: the live stream replays these from an event id."""

    seq: int
    alert: Alert


@dataclass(frozen=True)
class SubscriptionRecord:
    """A stored subscription; ``disabled_reason`` is set when the store disabled it (e.g. 410 Gone)."""

    id: str
    spec: SubscriptionSpec
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    next_digest_at: datetime | None = None
    last_digest_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True when deliveries should be made to it."""
        return self.spec.enabled and self.disabled_reason is None


@dataclass(frozen=True)
class NewDelivery:
    """A message to send: the rendered body and its stable Standard Webhooks message id."""

    subscription_id: str
    channel_type: str
    message_id: str
    body: bytes
    kind: str = "alert"  # or "digest"
    alert_id: str | None = None
    revision: int | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """A stored delivery and where it stands."""

    id: int
    subscription_id: str
    channel_type: str
    message_id: str
    kind: str
    body: bytes
    status: str
    attempts: int
    created_at: datetime
    period_start: datetime
    next_attempt_at: datetime | None
    alert_id: str | None = None
    revision: int | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    dead_at: datetime | None = None
    dead_reason: str | None = None


@dataclass(frozen=True)
class AttemptRecord:
    """One HTTP attempt of a delivery."""

    delivery_id: int
    attempt: int
    at: datetime
    outcome: str  # delivered, retry, failed, gone
    duration_s: float
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key's metadata; the key itself is never stored, only its hash."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """True when the key grants ``scope`` (``admin`` grants all)."""
        return self.revoked_at is None and ("admin" in self.scopes or scope in self.scopes)


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters of ``GET /api/v1/deliveries``."""

    statuses: tuple[str, ...] = ()
    subscription_id: str | None = None
    alert_id: str | None = None


class AlertStore(Protocol):
    """Everything the delivery stage and the API keep. Datetimes are aware (UTC)."""

    async def start(self) -> None:
        """Connect and bring the schema up to date (idempotent)."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> bool:
        """True when the database answers (readiness)."""

    # alerts
    async def upsert_alert(self, alert: Alert, *, now: datetime) -> UpsertResult:
        """Keep the highest revision; the same (id, revision) twice changes nothing."""

    async def upsert_alerts(self, alerts: Sequence[Alert], *, now: datetime) -> list[UpsertResult]:
        """:meth:`upsert_alert` for each alert in order, in one transaction: one result per alert.

        A transient failure raises :class:`~monitor.errors.StoreError` (``transient=True``) and
        stores nothing; retrying the same batch is safe.
        """

    async def store_alerts(
        self,
        alerts: Sequence[Alert],
        *,
        now: datetime,
        planner: DeliveryPlanner,
        owner: str,
        lease_until: datetime,
    ) -> StoredBatch:
        """``upsert_alerts``, then the deliveries ``planner`` gives for the changed alerts enqueued
        leased to ``owner``, in one transaction: an alert is stored with its deliveries or not at all."""

    async def get_alert(self, alert_id: str) -> StoredAlert | None:
        """One alert (its evidence lists are on the record), or None."""

    async def get_evidence(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's evidence rows: ``{"kind": document|source|url, "value": ...}``."""

    async def list_alerts(
        self, query: AlertQuery, *, limit: int, cursor: str | None = None
    ) -> Page[StoredAlert]:
        """Alerts matching ``query``, latest change first."""

    async def set_alert_status(self, alert_id: str, status: str, *, now: datetime) -> StoredAlert | None:
        """Acknowledge or resolve an alert (a new stream event); None when unknown."""

    async def alert_events_after(self, seq: int, *, limit: int) -> list[AlertEvent]:
        """Alert changes with a sequence above ``seq``, oldest first."""

    async def last_event_seq(self) -> int:
        """The sequence of the latest alert change (0 when none)."""

    async def alerts_changed_between(
        self, start: datetime, end: datetime, *, limit: int
    ) -> list[StoredAlert]:
        """Alerts whose latest change was stored in ``(start, end]``, oldest first (digests)."""

    async def open_alerts_by_severity(self) -> dict[str, int]:
        """Counts of alerts not resolved, per severity."""

    # subscriptions
    async def create_subscription(self, spec: SubscriptionSpec, *, now: datetime) -> SubscriptionRecord:
        """Store a new subscription."""

    async def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        """One subscription, or None."""

    async def list_subscriptions(
        self, *, limit: int = 1000, cursor: str | None = None
    ) -> Page[SubscriptionRecord]:
        """Subscriptions, oldest first."""

    async def update_subscription(
        self, subscription_id: str, spec: SubscriptionSpec, *, now: datetime, clear_disabled: bool = False
    ) -> SubscriptionRecord | None:
        """Replace a subscription's spec; ``clear_disabled`` lifts a store-set ``disabled_reason``."""

    async def delete_subscription(self, subscription_id: str, *, now: datetime) -> bool:
        """Delete a subscription and cancel its pending deliveries."""

    async def disable_subscription(self, subscription_id: str, reason: str, *, now: datetime) -> None:
        """Stop deliveries to a subscription (e.g. its endpoint answered 410 Gone)."""

    async def due_digests(self, now: datetime) -> list[SubscriptionRecord]:
        """Active digest subscriptions whose ``next_digest_at`` has passed."""

    async def advance_digest(
        self, subscription_id: str, *, expected: datetime, next_at: datetime, sent_at: datetime
    ) -> bool:
        """Claim a due digest: move ``next_digest_at`` from ``expected`` to ``next_at`` and record
        ``sent_at`` as the period's end. False when another worker claimed it first."""

    # deliveries
    async def enqueue_deliveries(
        self, deliveries: Sequence[NewDelivery], *, now: datetime, owner: str, lease_until: datetime
    ) -> list[DeliveryRecord]:
        """Store new deliveries leased to ``owner``; those already stored (same message id) are skipped."""

    async def claim_due_deliveries(
        self, now: datetime, *, owner: str, lease_until: datetime, limit: int, exclude: Sequence[int] = ()
    ) -> list[DeliveryRecord]:
        """Lease pending deliveries that are due and not leased by a live worker."""

    async def renew_lease(
        self, delivery_id: int, *, now: datetime, owner: str, lease_until: datetime
    ) -> bool:
        """Extend (or take over an expired) lease; False when another worker holds it or it is final."""

    async def record_attempt(self, attempt: AttemptRecord) -> None:
        """Append one attempt to the delivery's history."""

    async def record_deliveries(self, attempts: Sequence[AttemptRecord]) -> None:
        """Successful attempts, in one transaction: each is appended to its delivery's history and
        the delivery marked delivered at the attempt's end."""

    async def schedule_retry(
        self,
        delivery_id: int,
        *,
        now: datetime,
        next_attempt_at: datetime,
        status_code: int | None,
        error: str,
    ) -> None:
        """Release the lease and try again at ``next_attempt_at``."""

    async def mark_final(
        self, delivery_id: int, status: str, *, now: datetime, reason: str, status_code: int | None = None
    ) -> None:
        """End a delivery as ``dead``, ``gone`` or ``cancelled``."""

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        """One delivery, or None."""

    async def list_deliveries(
        self, query: DeliveryQuery, *, limit: int, cursor: str | None = None
    ) -> Page[DeliveryRecord]:
        """Deliveries matching ``query``, newest first."""

    async def list_attempts(self, delivery_id: int) -> list[AttemptRecord]:
        """A delivery's attempts, oldest first."""

    async def replay_dead(
        self, *, now: datetime, subscription_id: str | None = None, delivery_ids: Sequence[int] = ()
    ) -> list[DeliveryRecord]:
        """Put dead deliveries back to pending, with a fresh retry period."""

    async def release_leases(self, owner: str) -> int:
        """Give back every pending delivery leased by ``owner`` (graceful stop)."""

    async def count_waiting_retries(self) -> int:
        """Pending deliveries that have failed at least once."""

    # API keys
    async def create_api_key(
        self, name: str, scopes: Sequence[str], key_hash: str, *, now: datetime
    ) -> ApiKeyRecord:
        """Store a key's hash; an active key of the same name is an error (ValueError)."""

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash (revoked ones too), or None."""

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key, active and revoked."""

    async def revoke_api_key(self, name: str, *, now: datetime) -> bool:
        """Revoke the active key named ``name``; False when none."""
