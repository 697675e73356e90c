"""Accessibility in Chromium: axe-core (vendored for the tests, tests/e2e/vendor/axe.min.js)
runs on every page at 1280 and 375 px wide, as every role that may see it, and the test fails
on any `serious` or `critical` violation, listing each with the elements it names.

Every page: the GET routes of the app's url_map outside the API, /static and the probes,
filled with real ids of seeded rows (the security matrix's site, made in the live stack's
database), as operator, viewer, resident and signed-out visitor, following the redirects
(a fragment route asked for without htmx sends the browser to its page); plus the error
pages (404, 403) and forms showing their errors. A page added tomorrow is visited without
anyone listing it.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete

from dashboard.models import TaskRun, WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.test_security import Site, expected, policy

pytestmark = [pytest.mark.e2e, pytest.mark.stack]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = (1280, 375)
ROLES = {"operator": "operator", "viewer": "viewer", "resident": "resident_a",
         "anonymous": "anonymous"}
NOT_PAGES = ("api", "static", "ops")  # JSON, files and the probes
FAILING = ("serious", "critical")
MUST_SEE = {
    "operator": ["/wallets/", "/scans/runs/", "/users/", "/webhooks/", "/outbox", "404 page",
                 "wallet settings with an error"],
    "viewer": ["/deliveries", "/thresholds/estates/", "403 page"],
    "resident": ["/me/wallets/", "/me/settings", "/me/notifications", "/dev/gateway/",
                 "Top up with an error"],
    "anonymous": ["/login", "404 page", "sign-in with an error"],
}


@pytest.fixture(scope="module")
def site(stack):
    """The security matrix's data (two residents, staff, every kind of row) in the live
    stack's database, and the app's routes. The stack is shared: the estate gets a name of
    its own (test_xss makes the hostile one, and names are unique), and afterwards the scan
    run and the webhook endpoint go (Run now's test reads the first progress bar of its scan
    as its own run; nobody should send runs to port 9)."""
    from dashboard import create_app
    from dashboard.db import Session
    from tests import test_security
    from tests.conftest import app_config, private_broker_url

    app = create_app("testing", **app_config(
        stack.db_url, stack.redis_url, CELERY_BROKER_URL=private_broker_url(stack.redis_url)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_security, "HOSTILE_ESTATE", f"Accessibility {uuid.uuid4().hex[:8]}")
        made = Site(app, Session)
    Session.remove()
    yield made
    with stack.session() as s:
        endpoint = made.args["endpoint_id"]
        for model in (WebhookAttempt, WebhookMessage):
            s.execute(delete(model).where(model.endpoint_id == endpoint))
        s.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint))
        s.execute(delete(TaskRun).where(TaskRun.id == made.args["run_id"]))


def pages_for(site: Site, role: str) -> list[str]:
    """Every page URL `role` may open, from the url_map."""
    urls = []
    for rule in sorted(site.app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint.split(".")[0] in NOT_PAGES:
            continue
        if expected(policy(rule.endpoint, "GET"), ROLES[role], owns=True) == "allow":
            urls.append(site.url(rule))
    return urls


def audit(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it stands."""
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            url: v.helpUrl, nodes: v.nodes.map(n => ({target: n.target.join(' '),
            html: n.html.slice(0, 160), summary: n.failureSummary}))}));
    }""")
    return [v for v in results if v["impact"] in FAILING]


def describe(found: dict[str, list[dict]]) -> str:
    """The violations, page by page, readably."""
    lines = []
    for where, violations in found.items():
        lines.append(f"\n{where}")
        for v in violations:
            lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['url']})")
            for node in v["nodes"][:6]:
                lines.append(f"      {node['target']}: {node['html']}")
                lines.append("        " + node["summary"].replace("\n", "\n        "))
    return "\n".join(lines)


def settle(page) -> None:
    """Until the page and the widgets htmx loads into it are in and shown (the live socket
    stays open, so network idle is not waited for beyond a few seconds): a half-faded
    element would be audited at a contrast nobody sees for long."""
    page.wait_for_load_state("load")
    try:
        page.wait_for_load_state("networkidle", timeout=5000)
    except Exception:  # noqa: BLE001 - a socket that keeps polling: audit what is there
        pass
    page.wait_for_function("""() => !document.querySelector(
        '.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')""")


def sign_in_as(page, stack, site: Site, role: str) -> None:
    """Through the real form, as that role's account of the site."""
    if role == "anonymous":
        return
    page.goto(stack.url + "/login")
    page.get_by_label("Email").fill(site.emails[ROLES[role]])
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def wrong_password(page) -> None:
    """The sign-in form with a wrong password: its error."""
    page.get_by_label("Email").fill("nobody@example.test")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()


def bad_threshold(page) -> None:
    """The operator's wallet settings with "12,50": the error beside the field."""
    page.get_by_label("Alert below (R)").fill("12,50")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#low_balance_threshold-error").wait_for()


def bad_top_up(page) -> None:
    """The resident's Top up with an amount that is not one: the error beside the field."""
    page.get_by_label("Amount (R)").first.fill("abc")
    page.get_by_role("button", name="Top up").first.click()
    page.locator('[aria-invalid="true"]').first.wait_for()


def extra_states(site: Site, role: str) -> list[tuple[str, str, object]]:
    """(what, path, action) of pages in states a plain visit does not show: the error pages,
    and forms showing their errors (the action puts them there)."""
    states = [("404 page", "/no-such-page", None)]
    wallet = site.args["wallet_id"]
    if role == "viewer":
        states.append(("403 page", "/users", None))
    if role == "operator":
        states.append(("wallet settings with an error", f"/wallets/{wallet}", bad_threshold))
    if role == "resident":
        states.append(("Top up with an error", f"/me/wallets/{wallet}", bad_top_up))
    if role == "anonymous":
        states.append(("sign-in with an error", "/login", wrong_password))
    return states


def audit_at_each_width(page) -> list[tuple[int, list[dict]]]:
    """The page audited at every width of WIDTHS, resized in place (media queries apply at
    once; a frame is let through so the layout is the new width's): (width, violations)."""
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        found.append((width, audit(page)))
    return found


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_has_no_serious_accessibility_violation(browser, stack, site, role):
    """Each page `role` may open (and its error pages), at every width of WIDTHS: no serious
    or critical axe-core violation. Each page is loaded once and audited at each width in
    turn (loading it again for the second width only repeated the wait for it to settle)."""
    # Reduced motion (app.css then makes transitions instant): what is audited is what stays.
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900},
                                  reduced_motion="reduce")
    # An init script, so the page's Content-Security-Policy (our scripts only) lets it in;
    # it is the tests' copy, never served by the app.
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # Top up and Buy ask to confirm
    try:
        sign_in_as(page, stack, site, role)
        found, audited = {}, set()
        targets = [(url, url, None) for url in pages_for(site, role)]
        for label, path, action in targets + extra_states(site, role):
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            response = page.goto(stack.url + path)
            settle(page)
            if action is None and page.url in audited:
                continue  # a fragment route that sent us to a page already audited
            if action is not None:
                action(page)
                settle(page)
            audited |= {page.url, label}
            where = f"{role} {label} -> {page.url.removeprefix(stack.url)}"
            assert response is not None and response.status < 500, where
            for width, violations in audit_at_each_width(page):
                if violations:
                    found[f"{where} at {width}px"] = violations
        seen = " ".join(audited)
        for part in MUST_SEE[role]:  # so a walk that lost its pages cannot pass by seeing none
            assert part in seen, (part, sorted(audited))
        assert not found, describe(found)
    finally:
        context.close()
