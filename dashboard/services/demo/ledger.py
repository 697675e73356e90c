"""A seeded wallet and its month of ledger, following what its unit's meters use.

Each unit uses a daily amount of electricity and water (drawn once, and the same figure its
meters' readings follow where it has readings). Its purchases buy what that use costs at the
estate's tariff: two purchases of each over the last 30 days, each half a month of use in
round rand, so the wallet's average daily spend is its metered use at the tariff, and the
days of credit the pages promise are the days the meters would burn through.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from ...models import UTILITIES

DAILY_USE = {"electricity": (8.0, 22.0), "water": (0.25, 0.9)}  # per unit per day, kWh / kL
#: A week of readings uses 1.07 times the base day (weekends 1.25: seed.reading_times).
METERED = (5 + 2 * 1.25) / 7
THRESHOLD = 5000  # cents: R 50.00
ZERO_SHARE = 0.02  # wallets at exactly R 0.00 (credit_depleted in the demo)


def daily_use(rng) -> dict[str, float]:
    """A unit's base daily use of each metered utility."""
    return {utility: rng.uniform(low, high) for utility, (low, high) in DAILY_USE.items()}


def _round_rand(cents: float) -> int:
    """A purchase as people make them: whole tens of rand, at least R 10.00."""
    return max(1000, int(round(cents / 1000)) * 1000)


def purchases(rng, use: dict[str, float], tariffs: dict) -> list[tuple[str, int, int]]:
    """(utility, cents, days ago) of the month's purchases, oldest first: what the use
    costs at the tariff over 30 days (give or take a tenth), bought in two halves."""
    bought = []
    for utility, per_day in use.items():
        month = per_day * METERED * float(tariffs[utility]) * 100 * 30 * rng.uniform(0.9, 1.1)
        first = _round_rand(month * rng.uniform(0.4, 0.6))
        bought += [(utility, first, rng.randint(15, 29)),
                   (utility, _round_rand(month - first), rng.randint(0, 14))]
    return sorted(bought, key=lambda p: -p[2])


def pick_balance(rng) -> tuple[int, str]:
    """(balance in cents, state) of an ordinary wallet: ok 70%, low 20%, critical 10% (of
    which some at exactly zero)."""
    roll = rng.random()
    if roll < ZERO_SHARE:
        return 0, "critical"
    if roll < 0.10:
        return rng.randint(1, 999), "critical"
    if roll < 0.30:
        return rng.randint(1000, 4999), "low"
    return rng.randint(5000, 150000), "ok"


def wallet_and_ledger(rng, wallet_id: int, unit_id: int, tariffs: dict, use: dict,
                      now: datetime, w, tx_id: int, *, balance_for=None):
    """A wallet row and its ledger rows (a top-up a month ago, then the purchases).

    `balance_for(spent_cents)`, when given, sets the balance from the month's spend (the
    demo residents' wallets, which run out when the demo should show it)."""
    balance, state = pick_balance(rng)
    mode = "days" if rng.random() < 0.15 else "amount"
    bought = purchases(rng, use, tariffs)
    spent = sum(p[1] for p in bought)
    if balance_for is not None:
        balance, state = balance_for(spent), "ok"  # the state is decided by the rule later
    topup = spent + balance
    credit = dict.fromkeys(UTILITIES, 0)
    rows = [(tx_id, wallet_id, "topup", None, topup, None, 0, topup, rng.choice(
        ("card", "eft", "instant_eft")), "completed", w.ts(now - timedelta(days=30, hours=2)))]
    running = topup
    for k, (utility, amount, days_ago) in enumerate(bought, start=1):
        units = int(Decimal(amount) / Decimal(tariffs[utility]) * 10)  # thousandths of a unit
        rows.append((tx_id + k, wallet_id, "purchase", utility, amount, units, running,
                     running - amount, None, "completed",
                     w.ts(now - timedelta(days=days_ago, hours=rng.randint(0, 12)))))
        running -= amount
        credit[utility] += amount
    # In its state for up to four days (the operators' digest counts the newer ones).
    since = now - timedelta(hours=rng.uniform(1, 96))
    wallet = (wallet_id, unit_id, balance, credit["electricity"], credit["water"],
              credit["solar"], credit["hot_water"], THRESHOLD, mode, 3, 24, state, 0, 0,
              w.ts(now), w.ts(since))
    return wallet, rows
