#!/usr/bin/env python3
"""Self-test of the permissive server: each promise is kept, each liberty happens.

Starts server.py on a free port with its default flags, runs the checks with
urllib-free http.client and threads, and exits 0 when every check passed
(otherwise it prints what failed and exits 1).  About 20-30 s.
"""

import base64
import gzip
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote, urlsplit, parse_qsl

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "AC" + "0" * 31 + "1"
TOKEN = "smoke-token"
SERVICES = ["IS" + "a" * 32, "IS" + "b" * 32, "IS" + "c" * 32]
AUTH = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
LAG_MS = 500

FAILURES = []
HOST = PORT = None


def fail(what):
    FAILURES.append(what)
    print("FAIL:", what, flush=True)


def check(cond, what):
    if not cond:
        fail(what)
    return cond


class Answer:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers          # list of (name, value)
        self.raw = raw
        self.json = None
        if raw:
            try:
                self.json = json.loads(raw.decode("utf-8"))
            except ValueError:
                pass

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<{self.status} {self.raw[:200]!r}>"


def once(method, path, body=None, headers=None, auth=True):
    """One request on a fresh connection."""
    h = {"Host": f"{HOST}:{PORT}"}
    if auth:
        h["Authorization"] = AUTH
    if body is not None:
        if isinstance(body, dict):
            body = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in body.items())
        if isinstance(body, str):
            body = body.encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    h.update(headers or {})
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        raw = r.read()
        if (r.getheader("Content-Encoding") or "").lower() == "gzip":
            raw = gzip.decompress(raw)
        return Answer(r.status, r.getheaders(), raw)
    finally:
        conn.close()


def call(method, path, body=None, headers=None, auth=True):
    """Like once(), but retries 429 (which has no effect) until it gets an answer."""
    for _ in range(200):
        a = once(method, path, body, headers, auth)
        if a.status != 429:
            return a
    raise RuntimeError("429 forever")


def users(svc=None):
    return "/v1/Users" if svc is None else f"/v1/Services/{svc}/Users"


def new_identity(tag):
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def create(identity, svc=None, **extra):
    body = {"Identity": identity}
    body.update(extra)
    return call("POST", users(svc), body)


def list_all(svc, size=1000):
    a = call("GET", users(svc) + f"?PageSize={size}")
    assert a.status == 200, a
    return a.json


def together(*fns):
    """Runs fns at the same moment in threads; returns their results in order."""
    barrier = threading.Barrier(len(fns))
    out = [None] * len(fns)

    def run(i, fn):
        barrier.wait()
        out[i] = fn()

    ts = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def t_basics():
    a = call("GET", users(), auth=False)
    check(a.status == 401 and a.json and a.json.get("code") == 20003, f"no auth: 401/20003, got {a}")
    ident = new_identity("basic space/é?")
    a = call("POST", users(), f"Identity={quote(ident, safe='').replace('%20', '+')}&FriendlyName=a+b%20c",
             headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
                      "X-Twilio-Webhook-Enabled": "true"})
    if not check(a.status == 201, f"create: 201, got {a}"):
        return
    u = a.json
    check(u["identity"] == ident and u["friendly_name"] == "a b c", f"create echo: {u}")
    check(u["attributes"] == "{}", "attributes default {}")
    check(re.fullmatch(r"US[0-9a-fA-F]{32}", u["sid"]) is not None, "sid pattern")
    check(u["url"].startswith(f"http://{HOST}:{PORT}/v1/"), "url absolute")
    check(u["links"]["user_conversations"] == u["url"] + "/Conversations", "links")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", u["date_created"]) is not None, "date format")
    check(a.header("Location") == u["url"], "Location header")
    check((a.header("Content-Type") or "").startswith("application/json"), "content type")
    check(a.header("Date") is not None, "Date header")
    # fetch by sid and by identity (percent-encoded once), both URL forms
    for path in (users() + "/" + u["sid"], users() + "/" + quote(ident, safe=""),
                 users(SERVICES[0]) + "/" + quote(ident, safe="")):
        f = call("GET", path)
        check(f.status == 200 and f.json["sid"] == u["sid"], f"fetch {path}: {f}")
    check(call("GET", users() + "/" + quote(ident.upper(), safe="")).status == 404, "identity case-sensitive")
    check(call("GET", users(SERVICES[1]) + "/" + u["sid"]).status == 404, "other service: 404")
    # update, date_updated moves, other fields kept
    time.sleep(0.01)
    up = call("POST", users() + "/" + quote(ident, safe=""), "Attributes=%7B%20%22k%22%3A%20%5B1%2C2%5D%7D")
    check(up.status == 200 and json.loads(up.json["attributes"]) == {"k": [1, 2]}, f"update: {up}")
    check(up.json["friendly_name"] == "a b c", "update keeps other fields")
    check(up.json["date_updated"] != u["date_updated"], "date_updated moves")
    # the sub-resource
    c = call("GET", u["links"]["user_conversations"][len(f"http://{HOST}:{PORT}"):])
    check(c.status == 200 and c.json["conversations"] == [], f"user_conversations: {c}")
    # validation
    for body, code in [({}, None), ({"Identity": "US" + "Ab" * 16}, 50206),
                       ({"Identity": new_identity("v"), "RoleSid": "RLxyz"}, None),
                       ({"Identity": new_identity("v"), "RoleSid": "RL" + "1" * 32}, 50100),
                       ({"Identity": new_identity("v"), "Attributes": "[1]"}, None),
                       ({"Identity": new_identity("v"), "Attributes": "{"}, None)]:
        a = call("POST", users(), body)
        check(a.status == 400 and a.json["status"] == 400 and (code is None or a.json["code"] == code),
              f"create {body}: 400/{code}, got {a}")
    a = call("POST", users(), {"Identity": new_identity("v")}, headers={"X-Twilio-Webhook-Enabled": "yes"})
    check(a.status == 400, f"webhook header yes: 400, got {a}")
    for size in ("0", "1001", "abc", "-1", "2.5"):
        a = call("GET", users() + f"?PageSize={size}")
        check(a.status == 400, f"PageSize={size}: 400, got {a}")
    # the default role, reused, is accepted
    a = call("POST", users(), {"Identity": new_identity("role"), "RoleSid": u["role_sid"]})
    check(a.status == 201 and a.json["role_sid"] == u["role_sid"], f"own role accepted: {a}")


def t_sequential_delete():
    u = create(new_identity("seqdel")).json
    a = call("DELETE", users() + "/" + u["sid"])
    b = call("DELETE", users() + "/" + u["sid"])
    c = call("GET", users() + "/" + u["sid"])
    d = call("POST", users() + "/" + u["sid"], {"FriendlyName": "x"})
    check((a.status, b.status, c.status, d.status) == (204, 404, 404, 404),
          f"sequential delete, delete, fetch, update: 204 404 404 404, got {a.status} {b.status} {c.status} {d.status}")


def t_concurrent_deletes(tries=15):
    both = 0
    for _ in range(tries):
        u = create(new_identity("cdel")).json
        p = users() + "/" + u["sid"]
        a, b = together(lambda: call("DELETE", p), lambda: call("DELETE", p))
        sts = sorted((a.status, b.status))
        if not check(sts in ([204, 204], [204, 404]), f"two deletes: {sts}"):
            return
        both += sts == [204, 204]
        check(call("GET", p).status == 404, "deleted user stays deleted")
    check(both > 0, f"two concurrent deletes both 204 in some of {tries} tries (got {both})")
    print(f"  concurrent deletes: both 204 in {both}/{tries}", flush=True)


def t_concurrent_creates(tries=40):
    outcomes = {}
    for _ in range(tries):
        ident = new_identity("ccre")
        a, b = together(lambda: create(ident), lambda: create(ident))
        sts = tuple(sorted((a.status, b.status)))
        outcomes[sts] = outcomes.get(sts, 0) + 1
        if not check(sts in ((201, 400), (201, 409)), f"two creates of one identity: {sts}"):
            return
        f = call("GET", users() + "/" + quote(ident, safe=""))
        winner = a if a.status == 201 else b
        check(f.status == 200 and f.json["sid"] == winner.json["sid"], "the winner is the user")
    print(f"  concurrent creates: {outcomes}", flush=True)


def t_concurrent_updates(tries=15):
    for i in range(tries):
        u = create(new_identity("cupd")).json
        p = users() + "/" + u["sid"]
        a, b = together(lambda: call("POST", p, {"FriendlyName": f"name {i}"}),
                        lambda: call("POST", p, {"Attributes": json.dumps({"i": i})}))
        check(a.status == 200 and b.status == 200, f"concurrent updates: {a.status} {b.status}")
        f = call("GET", p).json
        if not check(f["friendly_name"] == f"name {i}" and json.loads(f["attributes"]) == {"i": i},
                     f"both concurrent updates kept: {f}"):
            return


def t_update_races_delete(tries=15):
    seen = set()
    for _ in range(tries):
        u = create(new_identity("udel")).json
        p = users() + "/" + u["sid"]
        a, b = together(lambda: call("POST", p, {"FriendlyName": "late"}), lambda: call("DELETE", p))
        seen.add((a.status, b.status))
        check(a.status in (200, 404) and b.status == 204, f"update vs delete: {a.status} {b.status}")
        check(call("GET", p).status == 404, "no resurrection after update racing delete")
    print(f"  update racing delete: {sorted(seen)}", flush=True)


def t_replica_lag(svc=SERVICES[1], tries=6):
    missed = 0
    made = []
    for _ in range(tries):
        u = create(new_identity("lag"), svc).json
        made.append(u["sid"])
        sids = {x["sid"] for x in list_all(svc)["users"]}
        missed += u["sid"] not in sids
        check(call("GET", users(svc) + "/" + u["sid"]).status == 200, "fetch reads the primary")
    check(missed > 0, f"a list right after a create misses the user in some of {tries} tries")
    time.sleep(LAG_MS / 1000 + 0.2)
    sids = {x["sid"] for x in list_all(svc)["users"]}
    check(set(made) <= sids, "after the lag the list shows every created user")
    # a delete: the list may still show the user, then no longer
    call("DELETE", users(svc) + "/" + made[0])
    time.sleep(LAG_MS / 1000 + 0.2)
    page = list_all(svc)
    check(made[0] not in {x["sid"] for x in page["users"]}, "after the lag the list drops a deleted user")
    check(all(x["is_online"] is None and x["is_notifiable"] is None for x in page["users"]),
          "is_online/is_notifiable null in Read")
    print(f"  replica lag: list right after create missed it {missed}/{tries}", flush=True)


def t_pagination(svc=SERVICES[2]):
    made = {create(new_identity("page"), svc).json["sid"] for _ in range(7)}
    time.sleep(LAG_MS / 1000 + 0.2)
    a = call("GET", users(svc) + "?PageSize=2")
    seen, pages, prev_first = [], [], None
    while True:
        check(a.status == 200, f"page: {a}")
        m = a.json["meta"]
        pages.append(m["page"])
        seen += [x["sid"] for x in a.json["users"]]
        check(m["key"] == "users" and m["page_size"] == 2, f"meta: {m}")
        if m["page"] == 1:
            check(m["previous_page_url"] is not None, "page 1 has previous_page_url")
            pv = call("GET", m["previous_page_url"][len(f"http://{HOST}:{PORT}"):])
            check([x["sid"] for x in pv.json["users"]] == prev_first, "previous page is page 0")
            check(pv.json["meta"]["page"] == 0, "previous page says page 0")
        if m["page"] == 0:
            prev_first = [x["sid"] for x in a.json["users"]]
            check(m["previous_page_url"] is None, "page 0 has no previous_page_url")
        nxt = m["next_page_url"]
        if nxt is None:
            break
        q = dict(parse_qsl(urlsplit(nxt).query))
        check("PageToken" in q and q.get("PageSize") == "2" and "Page" not in q,
              f"next_page_url has PageSize and PageToken and no Page: {nxt}")
        check(nxt.startswith(f"http://{HOST}:{PORT}/"), "next_page_url absolute")
        if len(pages) == 2:
            # a write during the walk never shifts it (keyset)
            call("DELETE", users(svc) + "/" + seen[0])
        a = call("GET", nxt[len(f"http://{HOST}:{PORT}"):])
    check(pages == list(range(len(pages))), f"meta.page counts up: {pages}")
    check(len(seen) == len(set(seen)) and set(seen) == made, "the walk sees every user once")
    check(call("GET", users(svc) + "?PageSize=2&PageToken=garbage").status == 400, "bad PageToken: 400")
    # a page exactly full links to a next page, which may be empty (lazy next)
    time.sleep(LAG_MS / 1000 + 0.2)
    n = len(list_all(svc)["users"])
    a = call("GET", users(svc) + f"?PageSize={n}")
    nxt = a.json["meta"]["next_page_url"]
    if check(len(a.json["users"]) == n and nxt is not None, "a full page has a next_page_url"):
        b = call("GET", nxt[len(f"http://{HOST}:{PORT}"):])
        check(b.json["users"] == [] and b.json["meta"]["next_page_url"] is None
              and b.json["meta"]["page"] == 1, f"then an empty last page: {b.json}")


def t_rate_limit(n=150):
    limited, created = [], []
    for i in range(n):
        ident = new_identity("rl")
        a = once("POST", users(), {"Identity": ident})
        if a.status == 429:
            ok = (a.header("Retry-After") is not None and re.fullmatch(r"\d+", a.header("Retry-After"))
                  and a.json and a.json.get("code") == 20429 and a.json.get("status") == 429)
            check(ok, f"429 has Retry-After and a 20429 body: {a} {a.headers}")
            limited.append(ident)
        elif a.status == 201:
            created.append(ident)
        else:
            fail(f"create: {a}")
    check(len(limited) > 0, f"some requests in {n} are answered 429")
    for ident in limited:
        check(call("GET", users() + "/" + quote(ident, safe="")).status == 404, "a 429'd create had no effect")
    for ident in created[:10]:
        check(call("GET", users() + "/" + quote(ident, safe="")).status == 200, "a 201'd create took effect")
    # a 429 on a delete has no effect either
    u = create(new_identity("rl-del")).json
    for _ in range(200):
        a = once("DELETE", users() + "/" + u["sid"])
        if a.status == 429:
            check(call("GET", users() + "/" + u["sid"]).status == 200, "a 429'd delete had no effect")
            break
        check(a.status == 204, f"delete: {a}")
        u = create(new_identity("rl-del")).json
    print(f"  rate limit: {len(limited)}/{n} creates answered 429", flush=True)


def t_wire():
    """Connection: close, chunked, gzip, header case, odd reasons happen."""
    u = create(new_identity("wire")).json
    path = users() + "/" + u["sid"]
    closes = chunked = gzipped = lower = reconnects = 0
    reasons = set()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    for _ in range(150):
        try:
            conn.request("GET", path, headers={"Authorization": AUTH, "Accept-Encoding": "gzip"})
            r = conn.getresponse()
            raw = r.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            reconnects += 1
            conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
            continue
        reasons.add(r.reason)
        names = [k for k, _ in r.getheaders()]
        lower += any(k != k.title() and k == k.lower() for k in names)
        if (r.getheader("Transfer-Encoding") or "").lower() == "chunked":
            chunked += 1
        if (r.getheader("Content-Encoding") or "").lower() == "gzip":
            gzipped += 1
            raw = gzip.decompress(raw)
        if r.status == 200:
            check(json.loads(raw)["sid"] == u["sid"], "keep-alive fetch body")
        if (r.getheader("Connection") or "").lower() == "close":
            closes += 1
            conn.close()
            conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    conn.close()
    check(closes > 0, "some answers carry Connection: close")
    check(chunked > 0, "some answers are chunked")
    check(gzipped > 0, "some answers are gzipped when accepted")
    check(lower > 0, "some header names are lower case")
    check(len(reasons) > 1, f"reason phrases vary: {reasons}")
    print(f"  wire: close {closes}, chunked {chunked}, gzip {gzipped}, reasons {sorted(reasons)}", flush=True)


def t_idle_timeout():
    for _ in range(20):
        conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
        conn.request("GET", users() + "?PageSize=1", headers={"Authorization": AUTH})
        r = conn.getresponse()
        r.read()
        if conn.sock is None or r.status == 429:      # answered with Connection: close
            conn.close()
            continue
        time.sleep(5.5)
        conn.sock.settimeout(3)
        try:
            data = conn.sock.recv(65536)
        except OSError:
            data = b""
        conn.close()
        check(data == b"", f"an idle keep-alive connection is closed by the server after 5 s ({data[:80]!r})")
        return
    fail("no keep-alive answer to test the idle timeout with")


def t_load(threads=32, seconds=2.0):
    u = create(new_identity("load")).json
    path = users() + "/" + u["sid"]
    counts = {"ok": 0, "429": 0, "err": 0, "reconnect": 0}
    lock = threading.Lock()
    stop = time.time() + seconds

    def worker():
        conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
        c = {"ok": 0, "429": 0, "err": 0, "reconnect": 0}
        while time.time() < stop:
            try:
                conn.request("GET", path, headers={"Authorization": AUTH})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    c["ok"] += 1
                elif r.status == 429:
                    c["429"] += 1
                else:
                    c["err"] += 1
                if (r.getheader("Connection") or "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
            except (http.client.HTTPException, OSError):
                c["reconnect"] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
        conn.close()
        with lock:
            for k in c:
                counts[k] += c[k]

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    total = counts["ok"] + counts["429"] + counts["err"]
    check(counts["err"] == 0, f"load: no unexpected status ({counts})")
    check(counts["reconnect"] <= total * 0.01 + 5, f"load: few broken connections ({counts})")
    print(f"  load: {threads} clients, {total / seconds:.0f} requests/s (client and server share "
          f"this machine), {counts}", flush=True)


def main():
    global HOST, PORT
    cmd = [sys.executable, os.path.join(HERE, "server.py"), "--port", "0",
           "--account-sid", ACCOUNT, "--auth-token", TOKEN, "--services", ",".join(SERVICES)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    started = time.time()
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"listening on http://([0-9.]+):(\d+)", line)
        if not m:
            print("server did not start:", line)
            return 1
        HOST, PORT = m.group(1), int(m.group(2))
        tests = [t_basics, t_sequential_delete, t_concurrent_deletes, t_concurrent_creates,
                 t_concurrent_updates, t_update_races_delete, t_replica_lag, t_pagination,
                 t_rate_limit, t_wire, t_load]
        idle = threading.Thread(target=t_idle_timeout)   # runs alongside the rest
        idle.start()
        for t in tests:
            t0 = time.time()
            try:
                t()
            except Exception as e:
                import traceback
                traceback.print_exc()
                fail(f"{t.__name__} raised {e!r}")
            print(f"{t.__name__}: {time.time() - t0:.1f}s", flush=True)
        idle.join()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"total {time.time() - started:.1f}s")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
