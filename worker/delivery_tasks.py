"""Email and SMS on the `deliveries` queue, so a slow provider never delays scans or the feed.

`send_deliveries(channel)` drains what is due on one channel for up to DRAIN_BUDGET seconds
(services/channels/sender.py: claim, send within the rate, record) and queues itself again
when more is due, or for the soonest retry. It is queued when new notifications are
published (the hook below, checked against the database so a top-up without outside
deliveries queues nothing) and by `sweep_deliveries`, which beat runs every
DELIVERY_SWEEP_SECONDS: it releases holds that ended (quiet hours, SMS delays), fails rows
left `sending` by a dead worker ("outcome unknown", never resent), and queues a drain for any
channel with deliveries due. The sweep is what makes a hold, a retry's backoff or a lost task
survive a worker restart: the database, not a task's ETA, says when a delivery goes.
"""
from __future__ import annotations

import logging

import redis
from celery import shared_task
from celery.signals import worker_ready
from sqlalchemy import bindparam, select

from dashboard import events
from dashboard.db import Session, write_transaction
from dashboard.models import NotificationDelivery, utcnow
from dashboard.services.channels import delivery, sender, status
from dashboard.services.channels.ratelimit import RateLimit
from worker.common import cfg, task_session

log = logging.getLogger(__name__)
QUEUE = "deliveries"
DRAIN_BUDGET = 20.0  # seconds one task sends before it hands over to the next
RATE_SETTINGS = {"email": "EMAIL_RATE_PER_SECOND", "sms": "SMS_RATE_PER_SECOND"}
_limits: dict[tuple, RateLimit] = {}


def channel_settings(config) -> sender.ChannelSettings:
    """The sender's settings from the worker's configuration."""
    return sender.ChannelSettings(
        urls={"email": config.EMAIL_URL, "sms": config.SMS_URL},
        public_url=config.PUBLIC_URL, tz=config.CELERY_TIMEZONE,
        timeout=config.CHANNEL_TIMEOUT_SECONDS, concurrency=config.DELIVERY_CONCURRENCY,
        delays=tuple(config.DELIVERY_RETRY_SECONDS))


def limiter(config, channel: str) -> RateLimit:
    """The channel's shared rate limit (one Redis bucket per deployment and channel)."""
    rate = getattr(config, RATE_SETTINGS[channel])
    key = (config.REDIS_URL, config.SOCKETIO_CHANNEL, channel, rate)
    if key not in _limits:
        client = redis.Redis.from_url(config.REDIS_URL, socket_timeout=1,
                                      socket_connect_timeout=1)
        _limits[key] = RateLimit(client, f"{config.SOCKETIO_CHANNEL}:rate:{channel}", rate)
    return _limits[key]


@shared_task(name="send_deliveries", queue=QUEUE, bind=True, acks_late=True,
             track_started=False, soft_time_limit=300, time_limit=330)
def send_deliveries(self, channel: str) -> dict:
    """Send what is due on `channel` (safe to run twice, or many at once: claims decide)."""
    if channel not in RATE_SETTINGS:
        return {"skipped": f"no channel {channel!r}"}
    config = cfg()
    with task_session() as session:
        done = sender.drain(session, channel, channel_settings(config),
                            limiter(config, channel), budget=DRAIN_BUDGET,
                            publish=lambda ids: events.publish_deliveries(session, ids))
    if done.more:
        send_deliveries.apply_async((channel,), queue=QUEUE)
    if done.retry_in is not None:
        send_deliveries.apply_async((channel,), queue=QUEUE, countdown=done.retry_in)
    return {"channel": channel, "sent": done.sent, "failed": done.failed,
            "retrying": done.retrying, "held_or_suppressed": done.held_or_suppressed,
            "slices": done.slices}


@shared_task(name="sweep_deliveries", queue=QUEUE, acks_late=True, track_started=False)
def sweep_deliveries() -> dict:
    """Release ended holds, fail stale sends, queue a drain for each channel with work."""
    config = cfg()
    now = utcnow()
    with task_session() as session:
        with write_transaction(session):
            released = delivery.release_held(session, now)
            stale = delivery.fail_stale(session, now, timeout=config.DELIVERY_SENDING_TIMEOUT)
        events.publish_deliveries(session, released + stale)
        due = delivery.due_channels(session, now)
    for channel in due:
        send_deliveries.apply_async((channel,), queue=QUEUE)
    return {"released": len(released), "outcome_unknown": len(stale), "drained": due}


D = NotificationDelivery
# Built once (it runs after every publish of new notifications): the range is bound.
PENDING_CHANNELS = (select(D.channel).where(D.notification_id.between(bindparam("first"),
                                                                      bindparam("last")),
                                            D.channel != "in_app", D.status == "pending")
                    .distinct())


def kick(notification_ids: list[int]) -> None:
    """After new notifications are published: queue a drain for each channel they have
    pending deliveries on (one indexed query over the id range; nothing for most top-ups)."""
    if not notification_ids:
        return
    channels = Session.scalars(PENDING_CHANNELS, {"first": min(notification_ids),
                                                  "last": max(notification_ids)}).all()
    for channel in channels:
        send_deliveries.apply_async((channel,), queue=QUEUE)


events.on_notifications_published(kick)


@worker_ready.connect
def _say_which_channels_are_off(**_kwargs):
    """At start: a line for each channel without a URL (its deliveries are suppressed)."""
    config = cfg()
    for line in status.unconfigured({"email": config.EMAIL_URL, "sms": config.SMS_URL}):
        log.warning(line)
