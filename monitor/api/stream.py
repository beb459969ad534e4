"""``GET /api/v1/alerts/stream``: the live stream of alert changes as Server-Sent Events.

Each event is ``id: <store sequence>``, ``event: alert``, ``data: <alert JSON>``. Sequences only grow,
so a client that reconnects with ``Last-Event-ID`` (or ``?last_event_id=``) gets every change after
it, without gaps; without one the stream starts with the next change (``last_event_id=0`` replays
all). A comment line (``: heartbeat``) is sent after ``sse_heartbeat_s`` of silence. Filters are
those of ``GET /api/v1/alerts``.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from monitor.api import params
from monitor.api.auth import require_scope
from monitor.api.deps import deps_of
from monitor.api.errors import api_error
from monitor.delivery.payload import alert_json

_BATCH = 200


def format_event(seq: int, data: dict[str, object], *, retry_ms: int | None = None) -> bytes:
    """One SSE event (the JSON is on one line, so one ``data:`` field suffices).

    ``retry_ms`` (sent with the first event) suggests the client's reconnection delay; it rides on
    an event because some clients report a block without data as an empty event.
    """
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"{retry}id: {seq}\nevent: alert\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def alert_stream(request: web.Request) -> web.StreamResponse:
    """Stream alert changes matching the filters until the client leaves or the service stops."""
    await require_scope(request, "read")
    deps = deps_of(request)
    query = params.alert_query(request)
    raw_last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw_last is not None and raw_last.strip() != "":
        try:
            last = int(raw_last)
        except ValueError as err:
            raise api_error(
                400, "invalid", "Last-Event-ID: must be an event id from this stream", field="Last-Event-ID"
            ) from err
    else:
        last = await deps.store.last_event_seq()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    feed, settings = deps.feed, deps.settings
    deps.metrics.sse_clients.inc()
    try:
        await response.write(b": connected\n\n")
        retry: int | None = settings.sse_retry_ms
        last_write = time.monotonic()
        while not feed.closed:
            seen = feed.version
            events = await deps.store.alert_events_after(last, limit=_BATCH)
            for event in events:
                last = event.seq
                if query.matches(event.alert):
                    await response.write(format_event(event.seq, alert_json(event.alert), retry_ms=retry))
                    retry = None
                    last_write = time.monotonic()
            if len(events) == _BATCH:
                continue
            quiet = time.monotonic() - last_write
            if quiet >= settings.sse_heartbeat_s:
                await response.write(b": heartbeat\n\n")
                last_write = time.monotonic()
                quiet = 0.0
            timeout = min(settings.sse_poll_interval_s, settings.sse_heartbeat_s - quiet)
            await feed.wait(seen, max(0.01, timeout))
    except (ConnectionResetError, ConnectionError):
        pass  # the client left
    finally:
        deps.metrics.sse_clients.dec()
    return response
