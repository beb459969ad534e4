"""Alert delivery: from an alert to the people and systems that asked for it.

The package reads like the pipeline (as Alertmanager's ``notify``)::

    Dispatcher.handle_many(alerts)   (handle(alert) is a batch of one)
      -> store.store_alerts          one transaction per batch (a transactional outbox): the alerts
                                     (the same revision twice does nothing), the subscriptions read,
                                     matching.subscription_matches, the deliveries enqueued, so a
                                     restart resumes them
      -> AlertFeed.publish           wakes the live-stream (SSE) clients
      -> SubscriptionWorker          one queue per subscription: a slow receiver delays no other
           -> ssrf.check_url         again at send time, since DNS can change
           -> payload / signing      pure bodies and Standard Webhooks signatures
           -> channels.send          raises DeliveryError(retryable, retry_after)
           -> backoff                exponential + jitter, Retry-After honoured, dead letter after the period
           -> store.record_deliveries  successful attempts, recorded in batches (group commit)

Pure modules (no aiohttp, no SQLAlchemy): ``settings``, ``subscription``, ``matching``, ``payload``,
``signing``, ``backoff``, ``schedule``, ``ssrf`` (address policy). Shells: ``channels``, ``feed``,
``dispatcher``. This ``__init__`` imports nothing so that the pure modules stay light.
"""
