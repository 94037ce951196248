"""Card billing through Stripe, end to end: Lucair against localstripe (PyPI: a stateful fake Stripe
that sends signed webhooks) and against stripe_fake.py (Checkout, idempotent replays, refunds,
disputes, balance transactions, and duplicate / reordered / forged / stale webhooks).

Invariants: a wallet is credited only by a verified webhook and only once per payment; refunds and
disputes move exactly their amounts; a declined or 3-D-Secure card pauses auto-recharge and the
wallet keeps failing closed; reconciliation matches Stripe to the cent.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import BIN_DIR, ManagedProcess, _binary, _env, _start_gateway, lucair_config
from e2e_helpers import ADMIN_KEY, httpx
from test_admin import check

WHSEC = "whsec_lucair_e2e_secret"
NANO_PER_CENT = 10_000_000
HERE = Path(__file__).resolve().parent


class Stripe:
    """A Stripe stand-in process and a client for its API (as the card's owner would use it)."""

    def __init__(self, proc: ManagedProcess, base: str):
        self.proc, self.base = proc, base
        self.api = httpx.Client(base_url=base, headers={"Authorization": "Bearer sk_test_e2e"}, timeout=30)

    def card(self, number: str) -> str:
        r = self.api.post("/v1/payment_methods", data={"type": "card", "card[number]": number, "card[exp_month]": "12",
                                                        "card[exp_year]": "2030", "card[cvc]": "123"})
        assert r.status_code == 200, r.text
        return r.json()["id"]

    def control(self, path: str, **body: Any) -> dict:
        r = self.api.post("/_fake/" + path, json=body)
        assert r.status_code == 200, r.text
        return r.json()


def _stripe_process(name: str, argv: list[str], pattern: str, tmp: Path) -> tuple[ManagedProcess, str]:
    proc = ManagedProcess(name, argv, tmp, env=_env())
    try:
        port = proc.wait_for_stdout(pattern, timeout=60).group(1)
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stripe_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stripe]:
    tmp = tmp_path_factory.mktemp("stripe-fake")
    proc, base = _stripe_process("stripe-fake", [sys.executable, "-u", str(HERE / "stripe_fake.py"), "--port", "0"], r"stripe-fake listening on (\d+)", tmp)
    try:
        yield Stripe(proc, base)
    finally:
        proc.stop()


def _billed_gateway(name: str, fake_upstream, stripe_base: str, tmp: Path):
    config = tmp / "lucair.toml"
    config.write_text(lucair_config(fake_upstream.port, tmp) + f"""
[billing]
stripe_secret_key = "sk_test_e2e"
stripe_webhook_secret = "{WHSEC}"
stripe_api_base = "{stripe_base}"
""")
    gw = _start_gateway(name, [str(_binary("lucair")), "serve", "--config", str(config)], tmp, ADMIN_KEY, timeout=60)
    gw.config_path = config
    return gw


@pytest.fixture(scope="module")
def billed(fake_upstream, stripe_fake: Stripe, tmp_path_factory: pytest.TempPathFactory):
    gw = _billed_gateway("lucair-billed", fake_upstream, stripe_fake.base, tmp_path_factory.mktemp("billed"))
    stripe_fake.control("webhook", url=gw.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=True)
    try:
        yield gw
    finally:
        gw.proc.stop()


def _tenant(gw, plan: str = "enterprise") -> tuple[str, httpx.Client]:
    """A new external (prepaid) tenant and an admin client scoped to its billing API."""
    with gw.http() as h:
        t = h.post("/admin/v1/tenants", json={"name": f"payer-{uuid.uuid4().hex[:8]}", "kind": "external", "plan": plan}).json()
        key = h.post(f"/admin/v1/tenants/{t['id']}/keys", json={"name": "app", "role": "tenant_admin"}).json()["key"]
    time.sleep(0.4)  # the new key reaches the gateway's key ring
    return t["id"], gw.http(api_key=key)


def _wallet(c: httpx.Client, tenant: str) -> int:
    return c.get(f"/admin/v1/tenants/{tenant}/wallet").json()["balance_nano"]


def _until(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _chat(c: httpx.Client, max_tokens: int = 16) -> httpx.Response:
    return c.post("/v1/chat/completions", json={"model": "lucair/baseline", "max_tokens": max_tokens,
                                                 "messages": [{"role": "user", "content": "bill me [fake output_tokens=16]"}]})


# ---------------------------------------------------------------------------------------------
# Against Lucair's own Stripe fake


def test_checkout_credits_once_and_only_after_payment(billed, stripe_fake: Stripe) -> None:
    tenant, c = _tenant(billed)
    document = c.get("/openapi.json").json()
    r = c.post(f"/admin/v1/tenants/{tenant}/billing/checkout", json={"amount_cents": 2500, "success_url": "https://app.test/ok", "cancel_url": "https://app.test/no"})
    assert r.status_code == 201, r.text
    check(document, "Checkout", r.json())
    session = r.json()
    assert session["url"].startswith("https://") and session["credited"] is False
    time.sleep(0.5)
    assert _wallet(c, tenant) == 0, "never credited before payment (a redirect is not a payment)"
    stripe_fake.control(f"checkout/{session['id']}/pay", card="4242424242424242")
    # checkout.session.completed and payment_intent.succeeded both report this payment: one credit.
    _until(lambda: _wallet(c, tenant) == 2500 * NANO_PER_CENT, what="the webhook credit")
    time.sleep(1.0)
    assert _wallet(c, tenant) == 2500 * NANO_PER_CENT
    account = c.get(f"/admin/v1/tenants/{tenant}/billing").json()
    check(document, "BillingAccount", account)
    assert account["customer"].startswith("cus_") and account["payment_method"].startswith("pm_"), "the card is saved for auto-recharge"
    # The answer is now a paid request (the wallet covers it).
    assert _chat(c).status_code == 200


def test_forged_stale_duplicate_and_reordered_webhooks(billed, stripe_fake: Stripe) -> None:
    tenant, c = _tenant(billed)
    pm = stripe_fake.card("4242424242424242")
    assert c.post(f"/admin/v1/tenants/{tenant}/billing/payment_method", json={"payment_method": pm}).status_code == 200
    stripe_fake.control("webhook", url=billed.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=False)
    try:
        r = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 1000})
        assert r.status_code == 201 and r.json()["status"] == "succeeded" and r.json()["credited"] is False, r.text
        check(c.get("/openapi.json").json(), "CardTopUp", r.json())
        assert _wallet(c, tenant) == 0, "the API's answer is not a credit: only the webhook is"
        pending = stripe_fake.control("events")["pending"]
        assert pending >= 1
        # Forged (wrong secret) and stale (10 minutes old) deliveries are refused and change nothing.
        events = stripe_fake.control("events")["data"]
        event_id = next(e["id"] for e in reversed(events) if e["type"] == "payment_intent.succeeded")
        assert set(stripe_fake.control("resend", event=event_id, forge=True)["statuses"]) == {400}
        assert set(stripe_fake.control("resend", event=event_id, stale=True)["statuses"]) == {400}
        assert _wallet(c, tenant) == 0
        # Held events delivered three times each, newest first: one credit.
        statuses = stripe_fake.control("deliver", order="reverse", copies=3)["statuses"]
        assert statuses and set(statuses) == {200}
        assert _wallet(c, tenant) == 1000 * NANO_PER_CENT
        # Late redelivery days later (same event id): nothing moves.
        assert set(stripe_fake.control("resend", event=event_id, copies=2)["statuses"]) == {200}
        assert _wallet(c, tenant) == 1000 * NANO_PER_CENT
    finally:
        stripe_fake.control("deliver")
        stripe_fake.control("webhook", url=billed.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=True)


def test_topups_honour_idempotency_keys_both_ways(billed, stripe_fake: Stripe) -> None:
    tenant, c = _tenant(billed)
    pm = stripe_fake.card("4242424242424242")
    key = f"topup-{uuid.uuid4()}"
    first = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 700, "payment_method": pm}, headers={"Idempotency-Key": key})
    again = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 700, "payment_method": pm}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers.get("idempotent-replayed") == "true"
    other = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 900, "payment_method": pm}, headers={"Idempotency-Key": key})
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error", other.text
    _until(lambda: _wallet(c, tenant) == 700 * NANO_PER_CENT, what="one credit")
    # Every call Lucair made to Stripe carried an Idempotency-Key derived from its own record.
    lucairs = ("/v1/customers", "/v1/payment_intents", "/v1/checkout/sessions")  # the test itself makes cards and refunds
    posts = [r for r in stripe_fake.control("requests")["data"] if r["method"] == "POST" and (r["path"] in lucairs or r["path"].endswith("/attach"))]
    assert posts and all(r["idempotency_key"] and r["idempotency_key"].startswith("lucair-") for r in posts)
    pis = [r for r in posts if r["path"] == "/v1/payment_intents" and r["idempotency_key"] == "lucair-topup-" + first.json()["id"]]
    assert len(pis) == 1, "the replay did not reach Stripe again"


def test_refunds_and_disputes_move_exactly_their_amounts_and_reconcile(billed, stripe_fake: Stripe) -> None:
    tenant, c = _tenant(billed)
    pm = stripe_fake.card("4242424242424242")
    r = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 2000, "payment_method": pm})
    assert r.status_code == 201, r.text
    _until(lambda: _wallet(c, tenant) == 2000 * NANO_PER_CENT, what="the top-up credit")
    charge = stripe_fake.api.get(f"/v1/payment_intents/{r.json()['payment_intent']}").json()["latest_charge"]
    # Two partial refunds: each moves its own amount, keyed by its refund id.
    assert stripe_fake.api.post("/v1/refunds", data={"charge": charge, "amount": "500"}).status_code == 200
    _until(lambda: _wallet(c, tenant) == 1500 * NANO_PER_CENT, what="the first refund")
    assert stripe_fake.api.post("/v1/refunds", data={"charge": charge, "amount": "300"}).status_code == 200
    _until(lambda: _wallet(c, tenant) == 1200 * NANO_PER_CENT, what="the second refund")
    # Replaying every refund event moves nothing more.
    for e in stripe_fake.control("events")["data"]:
        if e["type"] == "charge.refunded" and e["data"]["object"]["id"] == charge:
            stripe_fake.control("resend", event=e["id"])
    assert _wallet(c, tenant) == 1200 * NANO_PER_CENT
    # A dispute holds its amount; won, it comes back.
    dp = stripe_fake.control("disputes", charge=charge, amount=1000)
    _until(lambda: _wallet(c, tenant) == 200 * NANO_PER_CENT, what="the dispute hold")
    stripe_fake.control(f"disputes/{dp['id']}/close", status="won")
    _until(lambda: _wallet(c, tenant) == 1200 * NANO_PER_CENT, what="the dispute release")
    time.sleep(0.5)
    assert _wallet(c, tenant) == 1200 * NANO_PER_CENT

    env = {**_env(), "STRIPE_SECRET_KEY": "sk_test_e2e", "STRIPE_API_BASE": stripe_fake.base}
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    ok = subprocess.run([str(BIN_DIR / "lucair"), "billing", "reconcile", "--since", since, "--config", str(billed.config_path)],
                        capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0 and "reconciled" in ok.stdout, ok.stdout + ok.stderr

    # A refund Lucair never heard of (its webhook held back): reconciliation says so and fails.
    stripe_fake.control("webhook", url=billed.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=False)
    try:
        assert stripe_fake.api.post("/v1/refunds", data={"charge": charge, "amount": "100"}).status_code == 200
        bad = subprocess.run([str(BIN_DIR / "lucair"), "billing", "reconcile", "--since", since, "--config", str(billed.config_path)],
                             capture_output=True, text=True, timeout=60, env=env)
        assert bad.returncode == 1 and "only on Stripe: refund re_" in bad.stdout, bad.stdout + bad.stderr
    finally:
        stripe_fake.control("deliver")
        stripe_fake.control("webhook", url=billed.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=True)
    _until(lambda: _wallet(c, tenant) == 1100 * NANO_PER_CENT, what="the late refund")


def test_hundred_concurrent_confirmations_and_deliveries_credit_once(billed, stripe_fake: Stripe) -> None:
    tenant, c = _tenant(billed)
    pm = stripe_fake.card("4242424242424242")
    stripe_fake.control("webhook", url=billed.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=False)
    key = f"burst-{uuid.uuid4()}"
    try:
        first = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 1234, "payment_method": pm}, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        event_id = next(e["id"] for e in reversed(stripe_fake.control("events")["data"])
                        if e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == first.json()["payment_intent"])
        results: list[int] = []

        def confirm() -> None:
            with billed.http(api_key=c.headers["Authorization"].split()[1]) as h:
                results.append(h.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 1234, "payment_method": pm},
                                      headers={"Idempotency-Key": key}).status_code)

        def deliver() -> None:
            with httpx.Client(base_url=stripe_fake.base, timeout=60) as s:
                results.extend(s.post("/_fake/resend", json={"event": event_id}).json()["statuses"])

        threads = [threading.Thread(target=confirm if i % 2 else deliver) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(results) == 100 and set(results) <= {200, 201, 409}, sorted(set(results))
        assert _wallet(c, tenant) == 1234 * NANO_PER_CENT
        pis = [r for r in stripe_fake.control("requests")["data"] if r["method"] == "POST" and r["path"] == "/v1/payment_intents" and r["idempotency_key"] == "lucair-topup-" + first.json()["id"]]
        assert len(pis) == 1, "replayed confirmations never reach Stripe again"
    finally:
        stripe_fake.control("deliver")
        stripe_fake.control("webhook", url=billed.root_url + "/webhooks/stripe", secret=WHSEC, auto_deliver=True)


def _recharge_setup(gw, stripe: Stripe, card: str, balance_cents: int) -> tuple[str, httpx.Client]:
    tenant, c = _tenant(gw)
    pm = stripe.card(card)
    assert c.post(f"/admin/v1/tenants/{tenant}/billing/payment_method", json={"payment_method": pm}).status_code == 200
    r = c.put(f"/admin/v1/tenants/{tenant}/billing/auto_recharge", json={"threshold_cents": 100, "amount_cents": 500, "monthly_cap_cents": 1000})
    assert r.status_code == 200 and r.json()["auto_recharge"]["enabled"] is True, r.text
    with gw.http() as h:
        assert h.post(f"/admin/v1/tenants/{tenant}/wallet/topups", json={"amount_nano": balance_cents * NANO_PER_CENT, "reference": f"seed-{tenant}"}).status_code == 201
    return tenant, c


def test_auto_recharge_runs_when_usage_crosses_the_threshold(billed, stripe_fake: Stripe) -> None:
    tenant, c = _recharge_setup(billed, stripe_fake, "4242424242424242", balance_cents=50)
    assert _chat(c).status_code == 200  # a debit below the $1 threshold starts one recharge
    _until(lambda: _wallet(c, tenant) > 500 * NANO_PER_CENT, what="the recharge credit")
    # The recharge record is marked right after the credit, in the same webhook.
    account = _until(lambda: (a := c.get(f"/admin/v1/tenants/{tenant}/billing").json())["recharges"][0]["status"] == "succeeded" and a, what="the recharge marked")
    assert [r["status"] for r in account["recharges"]] == ["succeeded"] and account["recharges"][0]["amount_cents"] == 500
    keys = [r["idempotency_key"] for r in stripe_fake.control("requests")["data"] if r["path"] == "/v1/payment_intents"]
    assert "lucair-recharge-" + account["recharges"][0]["id"] in keys


@pytest.mark.parametrize("card,reason", [("4000000000000341", "card_declined"), ("4000002760003184", "authentication_required")])
def test_a_refused_recharge_pauses_and_the_wallet_fails_closed(billed, stripe_fake: Stripe, card: str, reason: str) -> None:
    tenant, c = _recharge_setup(billed, stripe_fake, card, balance_cents=1)
    assert _chat(c).status_code == 200
    account = _until(lambda: (a := c.get(f"/admin/v1/tenants/{tenant}/billing").json())["auto_recharge"]["paused_reason"] and a, what="the pause")
    assert account["auto_recharge"]["paused_reason"] == reason and account["auto_recharge"]["enabled"] is False
    assert [r["status"] for r in account["recharges"]] == ["failed"]
    # Nothing was credited: a request the cent left cannot cover (20000 tokens at $1/M) is refused.
    assert _wallet(c, tenant) < 1 * NANO_PER_CENT
    refused = _chat(c, max_tokens=20000)
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "insufficient_quota", refused.text
    assert len(c.get(f"/admin/v1/tenants/{tenant}/billing").json()["recharges"]) == 1, "paused: no second attempt"


# ---------------------------------------------------------------------------------------------
# Against localstripe


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stripe]:
    tmp = tmp_path_factory.mktemp("localstripe")
    import socket
    with socket.socket() as s:  # localstripe takes a fixed port: pick a free one
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = ManagedProcess("localstripe", [sys.executable, "-u", "-m", "localstripe", "--port", str(port), "--from-scratch"], tmp, env=_env())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/v1/customers", headers={"Authorization": "Bearer sk_test_e2e"}, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.proc.poll() is not None:
                    proc.fail("did not start")
                time.sleep(0.2)
        yield Stripe(proc, base)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def on_localstripe(fake_upstream, localstripe: Stripe, tmp_path_factory: pytest.TempPathFactory):
    gw = _billed_gateway("lucair-localstripe", fake_upstream, localstripe.base, tmp_path_factory.mktemp("on-localstripe"))
    r = localstripe.api.post("/_config/webhooks/lucair", data={"url": gw.root_url + "/webhooks/stripe", "secret": WHSEC})
    assert r.status_code == 200, r.text
    try:
        yield gw
    finally:
        gw.proc.stop()


def test_localstripe_customer_card_and_paid_topup_credit_the_wallet(on_localstripe, localstripe: Stripe) -> None:
    tenant, c = _tenant(on_localstripe)
    pm = localstripe.card("4242424242424242")
    account = c.post(f"/admin/v1/tenants/{tenant}/billing/payment_method", json={"payment_method": pm})
    assert account.status_code == 200 and account.json()["customer"].startswith("cus_"), account.text
    asked = time.monotonic()
    r = c.post(f"/admin/v1/tenants/{tenant}/billing/topups", json={"amount_cents": 1500})
    assert r.status_code == 201, r.text
    wallet = _wallet(c, tenant)
    # The call itself credits nothing; localstripe sends the webhook that does 1 s after the payment,
    # so on a machine slow enough to take that long here the credit may already be in.
    if time.monotonic() - asked < 0.9:
        assert wallet == 0
    _until(lambda: _wallet(c, tenant) == 1500 * NANO_PER_CENT, timeout=20, what="localstripe's signed payment_intent.succeeded")
    assert _chat(c).status_code == 200


@pytest.mark.parametrize("card,reason", [("4000000000000341", "card_declined"), ("4000002760003184", "authentication_required")])
def test_localstripe_refused_cards_pause_auto_recharge(on_localstripe, localstripe: Stripe, card: str, reason: str) -> None:
    tenant, c = _recharge_setup(on_localstripe, localstripe, card, balance_cents=1)
    assert _chat(c).status_code == 200  # below the threshold: the recharge is tried and refused
    account = _until(lambda: (a := c.get(f"/admin/v1/tenants/{tenant}/billing").json())["auto_recharge"]["paused_reason"] and a, timeout=20, what="the pause")
    assert account["auto_recharge"]["paused_reason"] == reason
    time.sleep(1.5)  # localstripe sends its webhooks after a second: none may credit
    assert _wallet(c, tenant) < 1 * NANO_PER_CENT
    assert _chat(c, max_tokens=20000).status_code == 402


def test_localstripe_auto_recharge_triggered_by_usage(on_localstripe, localstripe: Stripe) -> None:
    tenant, c = _recharge_setup(on_localstripe, localstripe, "4242424242424242", balance_cents=50)
    assert _chat(c).status_code == 200
    _until(lambda: _wallet(c, tenant) > 500 * NANO_PER_CENT, timeout=20, what="the recharge credit from localstripe's webhook")
    account = _until(lambda: (a := c.get(f"/admin/v1/tenants/{tenant}/billing").json())["recharges"][0]["status"] == "succeeded" and a, what="the recharge marked")
    assert [r["status"] for r in account["recharges"]] == ["succeeded"]
