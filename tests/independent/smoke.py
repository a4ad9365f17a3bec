#!/usr/bin/env python3
"""Quick self-test of server.py and defects.py (standard library only).

1. Starts the faithful server and checks a handful of documented behaviours.
2. For each defect in defects.py, on a fresh faithful server and on a fresh
   server with that defect:
     - a simple create / fetch / update / read / delete must behave correctly
       on both (the defects hide from the first simple calls);
     - the defect's demonstration must show nothing on the faithful server
       and must show the defect on the defective one.
Exit 0 when all of that holds.

    python3 smoke.py [-v] [DEFECT ...]
"""

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import defects  # noqa: E402  (only for the list of names)

ACCOUNT = "AC" + secrets.token_hex(16)
TOKEN = secrets.token_hex(16)
S1 = "IS" + secrets.token_hex(16)      # the default service
S2 = "IS" + secrets.token_hex(16)
SHORT = "/v1/Users"
SVC1 = f"/v1/Services/{S1}/Users"
SVC2 = f"/v1/Services/{S2}/Users"
VERBOSE = False


class Server:
    def __init__(self, defect_names=()):
        cmd = [sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
               "--account-sid", ACCOUNT, "--auth-token", TOKEN, "--services", f"{S1},{S2}"]
        for name in defect_names:
            cmd += ["--defect", name]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.base = line.split(" ", 2)[2]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return Client(self.base)

    def __exit__(self, *exc):
        self.stop()


class Client:
    def __init__(self, base, account=None, token=None):
        self.base = base
        self.auth = "Basic " + base64.b64encode(f"{account or ACCOUNT}:{token or TOKEN}".encode()).decode()

    def req(self, method, path, form=None, headers=None, auth=True, raw_body=None):
        data = raw_body if raw_body is not None else (urlencode(form).encode() if form is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if auth:
            request.add_header("Authorization", self.auth if auth is True else auth)
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, body, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as err:
            status, body, hdrs = err.code, err.read(), err.headers
        payload = json.loads(body) if body else None
        if VERBOSE:
            print(f"    {method} {path} -> {status}")
        return status, payload, hdrs, body

    def create(self, coll, identity, **params):
        form = {"Identity": identity}
        form.update(params)
        status, payload, _, _ = self.req("POST", coll, form)
        return status, payload

    def fetch(self, coll, key):
        status, payload, _, _ = self.req("GET", f"{coll}/{quote(key, safe='')}")
        return status, payload

    def update(self, coll, key, **params):
        status, payload, _, _ = self.req("POST", f"{coll}/{quote(key, safe='')}", params)
        return status, payload

    def delete(self, coll, key):
        status, payload, _, body = self.req("DELETE", f"{coll}/{quote(key, safe='')}")
        return status, body

    def walk(self, coll, page_size, max_pages=2000):
        """All users of a collection by following next_page_url; stops at a
        repeated URL.  Returns (users, pages)."""
        users, pages, seen = [], [], set()
        path = f"{coll}?PageSize={page_size}"
        while path and len(pages) < max_pages:
            status, payload, _, _ = self.req("GET", path)
            if status != 200:
                raise AssertionError(f"GET {path} -> {status} {payload}")
            pages.append(payload)
            users += payload["users"]
            nxt = payload["meta"]["next_page_url"]
            if nxt is None:
                break
            if not nxt.startswith(self.base + "/"):
                raise AssertionError(f"next_page_url {nxt} not on {self.base}")
            parts = urlsplit(nxt)
            path = parts.path + ("?" + parts.query if parts.query else "")
            if path in seen:
                break
            seen.add(path)
        return users, pages


def together(*funcs, stagger=0.0):
    """Runs funcs in threads, started stagger seconds apart; returns results."""
    results = [None] * len(funcs)

    def run(i, f):
        results[i] = f()

    threads = []
    for i, f in enumerate(funcs):
        t = threading.Thread(target=run, args=(i, f))
        t.start()
        threads.append(t)
        if stagger:
            time.sleep(stagger)
    for t in threads:
        t.join()
    return results


def uid(prefix="u"):
    return f"{prefix}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------
# Documented behaviours of the faithful server
# ---------------------------------------------------------------------------

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def basics(c):
    # Auth
    s, p, h, _ = c.req("GET", SHORT, auth=False)
    check(s == 401 and p["code"] == 20003 and p["status"] == 401, f"no auth -> {s} {p}")
    s, p, _, _ = Client(c.base, token="wrong").req("GET", SHORT)
    check(s == 401 and p["code"] == 20003, f"wrong token -> {s}")
    # Create (201) with defaults
    ident = uid("alice")
    s, u = c.create(SHORT, ident)
    check(s == 201, f"create -> {s} {u}")
    check(u["identity"] == ident and u["attributes"] == "{}" and u["friendly_name"] is None, f"defaults {u}")
    check(u["account_sid"] == ACCOUNT and u["chat_service_sid"] == S1, "sids")
    check(len(u["sid"]) == 34 and u["sid"].startswith("US") and u["role_sid"].startswith("RL"), "sid shapes")
    check(u["url"] == f"{c.base}/v1/Users/{u['sid']}", f"url {u['url']}")
    check(u["is_online"] is None and u["is_notifiable"] is None, "reachability")
    # Fetch by sid and identity, both URL forms (the default service)
    for coll in (SHORT, SVC1):
        for key in (u["sid"], ident):
            s, f = c.fetch(coll, key)
            check(s == 200 and f["sid"] == u["sid"], f"fetch {coll} {key} -> {s}")
    check(c.fetch(SVC2, ident)[0] == 404, "service isolation")
    # Duplicates: 409 50201 within a service, fine in another one
    s, p = c.create(SVC1, ident)
    check(s == 409 and p["code"] == 50201, f"duplicate -> {s} {p}")
    s, p = c.create(SVC2, ident)
    check(s == 201 and p["chat_service_sid"] == S2, f"other service -> {s}")
    # Identity: required, not sid-shaped, case-sensitive, any characters
    s, p = c.req("POST", SHORT, {"FriendlyName": "x"})[:2]
    check(s == 400 and set(p) >= {"code", "message", "more_info", "status"}, f"missing identity {s} {p}")
    s, p = c.create(SHORT, "US" + "ab" * 16)
    check(s == 400 and p["code"] == 50206, f"sid-shaped identity {s} {p}")
    check(c.fetch(SHORT, ident.upper())[0] == 404, "case-sensitive lookup")
    odd = "a b/c?d#e%f+g&h=é \u00e9\u0301 \U0001F600"
    s, p = c.create(SHORT, odd)
    check(s == 201 and p["identity"] == odd, f"odd identity {s} {p}")
    s, p = c.fetch(SHORT, odd)
    check(s == 200 and p["identity"] == odd, f"fetch odd identity {s}")
    s, p, _, _ = c.req("POST", SHORT, raw_body=b"Identity=sp%20ace+plus&FriendlyName=a+b%20c")
    check(s == 201 and p["identity"] == "sp ace plus" and p["friendly_name"] == "a b c", f"+ and %20 {p}")
    # Attributes: JSON object string, stored verbatim
    text = '{ "duty" : "tech", "n": 1.50, "big": 12345678901234567890123, "e": 1E3, "z": -0 }'
    s, p = c.create(SHORT, uid("attrs"), Attributes=text)
    check(s == 201 and p["attributes"] == text, f"attributes verbatim {p}")
    for bad in ("[1]", "\"s\"", "{", "NaN", "{\"a\": NaN}", ""):
        s, p = c.create(SHORT, uid("bad"), Attributes=bad)
        check(s == 400 and "code" in p, f"attributes {bad!r} -> {s}")
    # Update (200), RoleSid, webhook header
    role = "RL" + "0123456789ABCDEF" * 2
    s, p, _, _ = c.req("POST", f"{SHORT}/{u['sid']}", {"FriendlyName": "new name", "RoleSid": role},
                       {"X-Twilio-Webhook-Enabled": "true"})
    check(s == 200 and p["friendly_name"] == "new name" and p["role_sid"] == role, f"update {s} {p}")
    check(c.fetch(SVC1, ident)[1]["friendly_name"] == "new name", "update persisted")
    check(c.update(SHORT, ident, RoleSid="RL123")[0] == 400, "bad RoleSid")
    s = c.req("POST", SHORT, {"Identity": uid()}, {"X-Twilio-Webhook-Enabled": "maybe"})[0]
    check(s == 400, f"webhook header 'maybe' -> {s}")
    # Read: pages of 3 over 8 users in S2, absolute next_page_url
    mine = {c.create(SVC2, uid("page"))[1]["sid"] for _ in range(8)}
    listed, pages = c.walk(SVC2, 3)
    sids = [x["sid"] for x in listed]
    check(len(sids) == len(set(sids)) and mine <= set(sids), "walk complete, no repeats")
    check(len(pages) == 3 and all(pg["meta"]["page_size"] == 3 and pg["meta"]["key"] == "users" for pg in pages), "meta")
    check(pages[0]["meta"]["previous_page_url"] is None and pages[-1]["meta"]["next_page_url"] is None, "ends")
    check(pages[1]["meta"]["page"] == 1 and pages[1]["meta"]["previous_page_url"].startswith(c.base), "page 2")
    check(all(x["is_online"] is None for x in listed), "read nulls")
    s, p, _, _ = c.req("GET", SHORT + "/")       # the page's own "GET /v1/Users/"
    check(s == 200 and p["meta"]["page_size"] == 50, "trailing slash, default size")
    for bad in ("0", "1001", "x", "-1"):
        check(c.req("GET", f"{SHORT}?PageSize={bad}")[0] == 400, f"PageSize={bad}")
    # Delete (204, empty) then 404
    s, body = c.delete(SHORT, ident)
    check(s == 204 and body == b"", f"delete {s}")
    s, p = c.fetch(SHORT, u["sid"])
    check(s == 404 and p["code"] == 20404, f"fetch deleted {s}")
    check(c.delete(SHORT, ident)[0] == 404, "delete twice")
    check(c.fetch(SVC2, ident)[0] == 200, "other service untouched")
    check(c.req("GET", f"/v1/Services/IS{'0' * 32}/Users")[0] == 404, "unknown service")
    # Concurrency: one winner among concurrent creates of one identity
    same = uid("race")
    results = together(*[lambda: c.create(SHORT, same)[0]] * 10)
    check(sorted(results) == [201] + [409] * 9, f"concurrent duplicate creates {results}")


def simple_path(c):
    """The first simple calls a test would make: every defect must pass them."""
    ident = uid("simple")
    s, u = c.create(SHORT, ident, FriendlyName="name", Attributes='{"duty": "tech"}')
    check(s == 201 and u["identity"] == ident and u["friendly_name"] == "name", f"create {s}")
    check(u["attributes"] == '{"duty": "tech"}', "attributes")
    check(c.fetch(SHORT, u["sid"])[1]["identity"] == ident, "fetch by sid")
    check(c.fetch(SHORT, ident)[1]["sid"] == u["sid"], "fetch by identity")
    s, p = c.update(SHORT, ident, FriendlyName="new name")
    check(s == 200 and p["friendly_name"] == "new name", "update")
    check(c.fetch(SHORT, u["sid"])[1]["friendly_name"] == "new name", "update persisted")
    listed, _ = c.walk(SHORT, 50)
    check([x["sid"] for x in listed] == [u["sid"]], "read")
    check(c.delete(SHORT, ident)[0] == 204, "delete")
    check(c.fetch(SHORT, ident)[0] == 404, "deleted")


# ---------------------------------------------------------------------------
# Demonstrations: each returns a description when the defect shows, else None
# ---------------------------------------------------------------------------

DEMOS = {}


def demo(name):
    def register(f):
        DEMOS[name] = f
        return f
    return register


@demo("short-form-cache")
def _(c):
    ident = uid("cache")
    c.create(SHORT, ident, FriendlyName="before")
    c.fetch(SHORT, ident)
    c.update(SVC1, ident, FriendlyName="after")
    s, p = c.fetch(SHORT, ident)
    if p["friendly_name"] != "after":
        return f"/v1/Users/{ident} still says {p['friendly_name']!r} after an update through {SVC1}"


@demo("update-ignores-service")
def _(c):
    ident = uid("twin")
    c.create(SVC1, ident, FriendlyName="one")
    c.create(SVC2, ident, FriendlyName="two")
    c.update(SVC2, ident, FriendlyName="changed")
    s, p = c.fetch(SVC1, ident)
    if p["friendly_name"] != "one":
        return f"updating {ident} in S2 changed S1's user to {p['friendly_name']!r}"


@demo("delete-stale-positions")
def _(c):
    a, b, d = uid("a"), uid("b"), uid("d")
    for x in (a, b, d):
        c.create(SHORT, x)
    c.delete(SHORT, a)
    s, p = c.fetch(SHORT, b)
    if s != 200 or p["identity"] != b:
        return f"fetch {b} after deleting {a} -> {s} {p and p['identity']}"


@demo("attributes-double-numbers")
def _(c):
    text = '{"big":12345678901234567890,"e":1e3,"z":-0,"d":0.10000000000000000555,"f":1.0}'
    s, p = c.create(SHORT, uid("nums"), Attributes=text)
    if p["attributes"] != text:
        return f"attributes came back {p['attributes']}"


@demo("friendly-name-typed")
def _(c):
    for value in ("42", "true", "null", "007"):
        s, p = c.create(SHORT, uid("typed"), FriendlyName=value)
        if p["friendly_name"] != value:
            return f"FriendlyName {value!r} came back {p['friendly_name']!r}"


@demo("friendly-name-dates")
def _(c):
    for value in ("2024-02-03", "2024-02-03 10:00+01:00"):
        s, p = c.create(SHORT, uid("date"), FriendlyName=value)
        if p["friendly_name"] != value:
            return f"FriendlyName {value!r} came back {p['friendly_name']!r}"


@demo("role-sid-lowercased")
def _(c):
    role = "RL" + "ABCDEF0123456789" * 2
    s, p = c.create(SHORT, uid("role"), RoleSid=role)
    if p["role_sid"] != role:
        return f"RoleSid {role} came back {p['role_sid']}"


@demo("identity-like-wildcards")
def _(c):
    tag = secrets.token_hex(3)
    c.create(SHORT, f"ax{tag}b")
    s, p = c.fetch(SHORT, f"a_{tag}b")
    if s != 404:
        return f"fetch a_{tag}b (never created) -> {s} {p.get('identity')}"


@demo("identity-casefold")
def _(c):
    ident = uid("Bob")
    c.create(SHORT, ident)
    s, p = c.fetch(SHORT, ident.upper())
    if s != 404:
        return f"fetch {ident.upper()} (never created) -> {s} {p.get('identity')}"


@demo("identity-accent-fold")
def _(c):
    tag = secrets.token_hex(3)
    c.create(SHORT, f"Jose-{tag}")
    s, p = c.create(SHORT, f"José-{tag}")
    if s != 201:
        return f"create José-{tag} after Jose-{tag} -> {s} {p.get('code')}"


@demo("identity-pad-space")
def _(c):
    ident = uid("carol")
    c.create(SHORT, ident)
    s, p = c.fetch(SHORT, ident + " ")
    if s != 404:
        return f"fetch {ident + ' '!r} (never created) -> {s} {p.get('identity')!r}"


def _walk_demo(c, count, page_size):
    mine = [c.create(SVC2, uid("many"))[1]["sid"] for _ in range(count)]
    listed, pages = c.walk(SVC2, page_size)
    sids = [x["sid"] for x in listed]
    missing = set(mine) - set(sids)
    repeated = len(sids) - len(set(sids))
    if missing or repeated:
        return f"{count} users, PageSize={page_size}: {len(missing)} missing, {repeated} repeated, {len(pages)} pages"


@demo("list-cap-100")
def _(c):
    return _walk_demo(c, 101, 50)


@demo("pagesize-clamp-50")
def _(c):
    return _walk_demo(c, 60, 100)


@demo("page-boundary-repeat")
def _(c):
    return _walk_demo(c, 5, 2)


@demo("lost-update")
def _(c):
    for _ in range(3):
        ident = uid("lost")
        c.create(SHORT, ident)
        together(lambda: c.update(SHORT, ident, FriendlyName="fn"),
                 lambda: c.update(SHORT, ident, Attributes='{"k": 1}'))
        s, p = c.fetch(SHORT, ident)
        if p["friendly_name"] != "fn" or p["attributes"] != '{"k": 1}':
            return f"after concurrent updates: friendly_name={p['friendly_name']!r} attributes={p['attributes']!r}"


@demo("update-resurrects-deleted")
def _(c):
    for _ in range(3):
        ident = uid("zombie")
        c.create(SHORT, ident)
        upd, dele = together(lambda: c.update(SHORT, ident, FriendlyName="x")[0],
                             lambda: c.delete(SHORT, ident)[0], stagger=0.01)
        s, p = c.fetch(SHORT, ident)
        if dele == 204 and s == 200:
            return f"update -> {upd}, delete -> {dele}, then fetch -> 200 (resurrected)"


@demo("delete-create-race")
def _(c):
    for _ in range(3):
        ident = uid("phoenix")
        c.create(SHORT, ident)
        dele, (cs, cu) = together(lambda: c.delete(SHORT, ident)[0],
                                  lambda: c.create(SHORT, ident), stagger=0.015)
        if cs == 201:
            s, _ = c.fetch(SHORT, cu["sid"])
            if s != 200:
                return f"delete -> {dele}, concurrent create -> 201 {cu['sid']}, then fetch -> {s}"


# ---------------------------------------------------------------------------

def main():
    global VERBOSE
    args = sys.argv[1:]
    if "-v" in args:
        VERBOSE = True
        args.remove("-v")
    names = args or list(defects.DEFECTS)
    missing_demo = [n for n in defects.DEFECTS if n not in DEMOS]
    failures = []
    if missing_demo:
        failures.append(f"no demonstration for: {', '.join(missing_demo)}")

    def run(label, f, c):
        try:
            f(c)
            print(f"ok    {label}")
        except Exception as err:      # noqa: BLE001
            print(f"FAIL  {label}: {err!r}")
            failures.append(label)

    if not args:
        with Server() as c:
            run("faithful: documented behaviours", basics, c)
        with Server() as c:
            run("faithful: simple path", simple_path, c)

    for name in names:
        with Server() as c:
            try:
                shown = DEMOS[name](c)
            except Exception as err:  # noqa: BLE001
                shown = f"error {err!r}"
            if shown:
                print(f"FAIL  faithful server shows {name}: {shown}")
                failures.append(f"faithful/{name}")
            else:
                print(f"ok    faithful server passes the {name} demonstration")
        with Server([name]) as c:
            run(f"{name}: simple path passes", simple_path, c)
            try:
                shown = DEMOS[name](c)
            except Exception as err:  # noqa: BLE001
                shown = None
                print(f"      (demonstration error {err!r})")
            if shown:
                print(f"ok    {name} shows: {shown}")
            else:
                print(f"FAIL  {name}: the demonstration did not show the defect")
                failures.append(name)

    print()
    if failures:
        print(f"smoke: {len(failures)} failure(s): {', '.join(failures)}")
        return 1
    print(f"smoke: all good ({len(names)} defect(s) demonstrated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
