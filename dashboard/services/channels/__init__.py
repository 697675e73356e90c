"""Channels beyond the app: email and SMS to residents.

  addresses   – people's notification email and mobile number (E.164), checked
  preferences – which types go by email and SMS (estate defaults), quiet hours, the
                critical rule
  rows        – the email and SMS deliveries, made with their notifications (set-based)
  delivery    – a delivery's life: triage (suppress, hold), claim, record, release, fail
                stale, Retry
  messages    – what an email and a one-segment GSM-7 SMS say
  transport   – sending one message through Apprise; transient or permanent
  ratelimit   – sends per second per channel, shared across processes (Redis)
  sender      – slices of due deliveries claimed, sent concurrently, recorded
  status      – channel health for the overview and /readyz
  log         – the Deliveries page and API: filtered, keyset-paged lists

Nothing here emits or sends tasks: the worker (worker/delivery_tasks.py) runs the sender
and publishes what changed.
"""
