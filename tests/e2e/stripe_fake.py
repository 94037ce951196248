"""A Stripe stand-in for what localstripe lacks: Checkout Sessions, Idempotency-Key replays,
refunds, disputes, balance transactions, and webhook faults (duplicate, reordered, forged, stale
deliveries).

It follows Stripe's wire protocol: form-encoded requests with bracketed keys, `Authorization: Bearer
sk_…`, JSON objects and errors shaped like Stripe's, `Idempotency-Key` semantics (same key and
parameters: the first answer again with `Idempotent-Replayed: true`; other parameters: 400
idempotency_error), events signed with `Stripe-Signature: t=…,v1=HMAC-SHA256("t.body")`.

Test cards (Stripe's numbers): 4242424242424242 succeeds, 4000000000000341 attaches but is declined
when charged, 4000002760003184 needs 3-D Secure (off-session: 402 authentication_required).

Test controls live under /_fake/: configure the webhook, pay a Checkout Session, open and close a
dispute, hold events and deliver them with faults.

    python3 stripe_fake.py --port 0   # prints "stripe-fake listening on PORT"
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DECLINED = {"4000000000000341"}
NEEDS_3DS = {"4000002760003184", "4000002500003155"}


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def unflatten(pairs: list[tuple[str, str]]) -> dict:
    """`a[b][0]=x` → {"a": {"b": {"0": "x"}}} (lists stay dicts keyed by index; read with values())."""
    out: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for p in parts[:-1]:
            if p == "":
                p = str(len(node))
            node = node.setdefault(p, {})
        last = parts[-1] if parts[-1] != "" else str(len(node))
        node[last] = value
    return out


class StripeError(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None, **extra):
        self.status, self.body = status, {"error": {"type": type_, "message": message, **({"code": code} if code else {}), **extra}}


class Fake:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, dict] = {}
        self.idempotency: dict[str, tuple[str, int, str]] = {}
        self.events: list[dict] = []  # every event, in creation order
        self.pending: list[dict] = []  # events not yet delivered (when auto delivery is off)
        self.webhook: tuple[str, str] | None = None
        self.auto_deliver = True
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, idempotency key)
        self.clock = itertools.count(int(time.time()))

    # -- objects ---------------------------------------------------------------------------------
    def put(self, obj: dict) -> dict:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, id_: str, kind: str) -> dict:
        obj = self.objects.get(id_)
        if obj is None or obj["object"] != kind:
            raise StripeError(404, "invalid_request_error", f"No such {kind}: '{id_}'", "resource_missing", param="id")
        return obj

    def now(self) -> int:
        return max(next(self.clock), int(time.time()))

    def balance_txn(self, type_: str, amount: int, source: str, category: str) -> None:
        self.put({"id": new_id("txn_"), "object": "balance_transaction", "type": type_, "amount": amount, "currency": "usd",
                  "source": source, "reporting_category": category, "created": self.now(), "fee": 0, "net": amount})

    def event(self, type_: str, obj: dict) -> None:
        e = {"id": new_id("evt_"), "object": "event", "type": type_, "created": self.now(), "api_version": "2024-06-20",
             "livemode": False, "data": {"object": json.loads(json.dumps(obj))}}
        self.events.append(e)
        self.pending.append(e)
        if self.auto_deliver:
            pending, self.pending = self.pending, []
            threading.Thread(target=self.deliver, args=(pending,), daemon=True).start()

    # -- webhook delivery ----------------------------------------------------------------------------
    def sign(self, body: bytes, t: int, secret: str) -> str:
        return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()

    def deliver(self, events: list[dict], copies: int = 1, forge: bool = False, stale: bool = False) -> list[int]:
        if not self.webhook:
            return []
        url, secret = self.webhook
        statuses = []
        for e in events:
            body = json.dumps(e).encode()
            t = int(time.time()) - (600 if stale else 0)
            sig = self.sign(body, t, "whsec_forged" if forge else secret)
            for _ in range(copies):
                req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", "Stripe-Signature": sig})
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        statuses.append(r.status)
                except urllib.error.HTTPError as err:
                    statuses.append(err.code)
                except OSError:
                    statuses.append(0)
        return statuses

    # -- API -----------------------------------------------------------------------------------------
    def charge(self, pi: dict, pm: dict, off_session: bool) -> None:
        number = pm["_number"]
        if number in NEEDS_3DS:
            if off_session:
                pi["status"] = "requires_payment_method"
                pi["last_payment_error"] = {"code": "authentication_required", "type": "card_error"}
                self.event("payment_intent.payment_failed", public(pi))
                raise StripeError(402, "card_error", "This payment requires authentication.", "authentication_required", payment_intent=public(pi))
            pi["status"] = "requires_action"
            pi["next_action"] = {"type": "use_stripe_sdk"}
            return
        if number in DECLINED:
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"code": "card_declined", "decline_code": "generic_decline", "type": "card_error"}
            self.event("payment_intent.payment_failed", public(pi))
            raise StripeError(402, "card_error", "Your card was declined.", "card_declined", decline_code="generic_decline", payment_intent=public(pi))
        ch = self.put({"id": new_id("ch_"), "object": "charge", "amount": pi["amount"], "amount_refunded": 0, "currency": "usd",
                       "customer": pi.get("customer"), "payment_intent": pi["id"], "payment_method": pm["id"], "status": "succeeded",
                       "paid": True, "refunded": False, "metadata": {}, "created": self.now()})
        self.balance_txn("charge", pi["amount"], ch["id"], "charge")
        pi.update(status="succeeded", latest_charge=ch["id"], amount_received=pi["amount"])
        self.event("payment_intent.succeeded", public(pi))

    def handle(self, method: str, path: str, form: dict, query: dict) -> dict:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if method == "POST" and parts == ["customers"]:
            return self.put({"id": new_id("cus_"), "object": "customer", "metadata": form.get("metadata", {}), "created": self.now(),
                             "invoice_settings": {"default_payment_method": None}})
        if method == "GET" and len(parts) == 2 and parts[0] == "customers":
            return self.get(parts[1], "customer")
        if method == "POST" and parts == ["payment_methods"]:
            card = form.get("card", {})
            return self.put({"id": new_id("pm_"), "object": "payment_method", "type": "card", "customer": None,
                             "card": {"last4": card.get("number", "")[-4:], "brand": "visa"}, "_number": card.get("number", "")})
        if method == "POST" and len(parts) == 3 and parts[0] == "payment_methods" and parts[2] == "attach":
            pm = self.get(parts[1], "payment_method")
            self.get(form.get("customer", ""), "customer")
            pm["customer"] = form["customer"]
            return pm
        if method == "POST" and parts == ["payment_intents"]:
            amount = int(form.get("amount", "0"))
            if amount < 50:
                raise StripeError(400, "invalid_request_error", "Amount must be at least 50 cents", "amount_too_small", param="amount")
            pi = self.put({"id": new_id("pi_"), "object": "payment_intent", "amount": amount, "amount_received": 0, "currency": form.get("currency", "usd"),
                           "customer": form.get("customer"), "payment_method": form.get("payment_method"), "metadata": form.get("metadata", {}),
                           "status": "requires_confirmation", "client_secret": new_id("pi_secret_"), "latest_charge": None, "created": self.now(),
                           "setup_future_usage": form.get("setup_future_usage")})
            if form.get("confirm") == "true":
                pm = self.get(pi["payment_method"] or "", "payment_method")
                self.charge(pi, pm, form.get("off_session") == "true")
            return pi
        if method == "GET" and len(parts) == 2 and parts[0] == "payment_intents":
            return self.get(parts[1], "payment_intent")
        if method == "GET" and len(parts) == 2 and parts[0] == "charges":
            return self.get(parts[1], "charge")
        if method == "POST" and parts == ["checkout", "sessions"]:
            items = list(form.get("line_items", {}).values())
            total = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", "1")) for i in items)
            s = self.put({"id": new_id("cs_"), "object": "checkout.session", "mode": form.get("mode"), "customer": form.get("customer"),
                          "client_reference_id": form.get("client_reference_id"), "amount_total": total, "currency": "usd",
                          "metadata": form.get("metadata", {}), "payment_status": "unpaid", "status": "open", "payment_intent": None,
                          "_pi_data": form.get("payment_intent_data", {}), "success_url": form.get("success_url")})
            s["url"] = f"https://checkout.stripe.test/pay/{s['id']}"
            return s
        if method == "POST" and parts == ["refunds"]:
            ch = self.get(form.get("charge") or self.get(form.get("payment_intent", ""), "payment_intent").get("latest_charge") or "", "charge")
            amount = int(form.get("amount", ch["amount"] - ch["amount_refunded"]))
            if amount <= 0 or ch["amount_refunded"] + amount > ch["amount"]:
                raise StripeError(400, "invalid_request_error", "Refund amount exceeds the charge's remaining amount.", "amount_too_large", param="amount")
            re = self.put({"id": new_id("re_"), "object": "refund", "amount": amount, "charge": ch["id"], "payment_intent": ch["payment_intent"],
                           "status": "succeeded", "currency": "usd", "created": self.now()})
            ch["amount_refunded"] += amount
            ch["refunded"] = ch["amount_refunded"] == ch["amount"]
            self.balance_txn("refund", -amount, re["id"], "refund")
            self.event("charge.refunded", public(ch))  # newer API versions: no embedded refund list
            return re
        if method == "GET" and parts == ["refunds"]:
            return self.listing([o for o in self.objects.values() if o["object"] == "refund" and o["charge"] == query.get("charge")], query)
        if method == "GET" and parts == ["balance_transactions"]:
            gte = int(query.get("created", {}).get("gte", 0))
            rows = [dict(o) for o in self.objects.values() if o["object"] == "balance_transaction" and o["created"] >= gte]
            if "data.source" in query.get("expand", {}).values():
                for r in rows:
                    r["source"] = public(self.objects[r["source"]])
            return self.listing(rows, query)
        raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def listing(self, rows: list[dict], query: dict) -> dict:
        rows = sorted(rows, key=lambda o: (-o.get("created", 0), o["id"]))
        after = query.get("starting_after")
        if after:
            ids = [r["id"] for r in rows]
            rows = rows[ids.index(after) + 1:] if after in ids else []
        limit = int(query.get("limit", "10"))
        return {"object": "list", "data": [public(r) for r in rows[:limit]], "has_more": len(rows) > limit, "url": "/v1/list"}

    # -- test controls -------------------------------------------------------------------------------
    def control(self, path: str, body: dict) -> dict:
        parts = path.strip("/").split("/")[1:]  # drop "_fake"
        if parts == ["webhook"]:
            self.webhook = (body["url"], body["secret"])
            self.auto_deliver = body.get("auto_deliver", True)
            return {"ok": True}
        if len(parts) == 3 and parts[0] == "checkout" and parts[2] == "pay":
            s = self.get(parts[1], "checkout.session")
            pm = self.put({"id": new_id("pm_"), "object": "payment_method", "type": "card", "customer": s["customer"],
                           "card": {"last4": body.get("card", "4242424242424242")[-4:]}, "_number": body.get("card", "4242424242424242")})
            pi = self.put({"id": new_id("pi_"), "object": "payment_intent", "amount": s["amount_total"], "amount_received": 0, "currency": "usd",
                           "customer": s["customer"], "payment_method": pm["id"], "metadata": s["_pi_data"].get("metadata", {}),
                           "setup_future_usage": s["_pi_data"].get("setup_future_usage"), "status": "requires_confirmation",
                           "client_secret": new_id("pi_secret_"), "latest_charge": None, "created": self.now()})
            self.charge(pi, pm, off_session=False)
            s.update(payment_status="paid", status="complete", payment_intent=pi["id"])
            self.event("checkout.session.completed", public(s))
            return public(s)
        if parts == ["disputes"]:
            ch = self.get(body["charge"], "charge")
            dp = self.put({"id": new_id("dp_"), "object": "dispute", "amount": int(body.get("amount", ch["amount"])), "charge": ch["id"],
                           "payment_intent": ch["payment_intent"], "status": "needs_response", "reason": "fraudulent", "created": self.now()})
            self.balance_txn("adjustment", -dp["amount"], dp["id"], "dispute")
            self.event("charge.dispute.created", public(dp))
            return dp
        if len(parts) == 3 and parts[0] == "disputes" and parts[2] == "close":
            dp = self.get(parts[1], "dispute")
            dp["status"] = body["status"]
            if body["status"] == "won":
                self.balance_txn("adjustment", dp["amount"], dp["id"], "dispute_reversal")
            self.event("charge.dispute.closed", public(dp))
            return dp
        if parts == ["deliver"]:  # held events, with faults
            with self.lock:
                events, self.pending = self.pending, []
            if body.get("order") == "reverse":
                events.reverse()
            return {"statuses": self.deliver(events, copies=int(body.get("copies", 1)), forge=body.get("forge", False), stale=body.get("stale", False))}
        if parts == ["resend"]:  # an event already delivered, again
            e = next(e for e in self.events if e["id"] == body["event"])
            return {"statuses": self.deliver([e], copies=int(body.get("copies", 1)), forge=body.get("forge", False), stale=body.get("stale", False))}
        if parts == ["events"]:
            return {"data": self.events, "pending": len(self.pending)}
        if parts == ["requests"]:
            return {"data": [{"method": m, "path": p, "idempotency_key": k} for m, p, k in self.requests]}
        raise StripeError(404, "invalid_request_error", f"no such control {path}")


def public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


FAKE = Fake()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def reply(self, status: int, body: dict, replayed: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", new_id("req_"))
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def route(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if url.path.startswith("/_fake/"):
            try:
                with FAKE.lock if not url.path.endswith(("/deliver", "/resend")) else _nolock():
                    self.reply(200, FAKE.control(url.path, json.loads(raw or "{}")))
            except StripeError as e:
                self.reply(e.status, e.body)
            return
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_"):
            self.reply(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}})
            return
        key = self.headers.get("Idempotency-Key") if method == "POST" else None
        form = unflatten(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        query = unflatten(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        with FAKE.lock:
            FAKE.requests.append((method, url.path, key))
            if key is not None:
                seen = FAKE.idempotency.get(key)
                fingerprint = f"{url.path}?{raw}"
                if seen is not None:
                    if seen[0] != fingerprint:
                        self.reply(400, {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}})
                    else:
                        self.reply(seen[1], json.loads(seen[2]), replayed=True)
                    return
            try:
                status, body = 200, public(FAKE.handle(method, url.path, form, query))
            except StripeError as e:
                status, body = e.status, e.body
            if key is not None and status < 500:
                FAKE.idempotency[key] = (fingerprint, status, json.dumps(body))
        self.reply(status, body)


class _nolock:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"stripe-fake listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
