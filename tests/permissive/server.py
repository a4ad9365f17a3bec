#!/usr/bin/env python3
"""A permissive but correct server of the Twilio Conversations *User* resource.

Written from the documentation page (conversations-user-resource.txt), the
facts file (twilio-users-facts.md) and tests/independent/server.py (whose
structure it reuses).  Python 3.11 standard library only.

It keeps every promise the documentation makes, and HTTP's, but takes the
liberties a real production server takes and a single-locked test server never
shows: no lock across a request's lookup and its write (each store operation is
atomic, like one SQL statement), lists read from a lagging replica, rate
limiting, opaque keyset page tokens, and many wire-level liberties.  Each one
is behind a flag (see --help and NOTES.md); "LIBERTY:" and "CHOICE:" mark them
in the code.

Routes (the default service is the first one given with --services):

    /v1/Users                                   Create (POST, 201), Read (GET, 200)
    /v1/Users/{Sid}                             Fetch (GET, 200), Update (POST, 200), Delete (DELETE, 204)
    /v1/Users/{Sid}/Conversations               Read (GET, 200): always an empty page
    /v1/Services/{ChatServiceSid}/Users[...]    the same, for that service

Usage:
    python3 server.py --port N [--host 127.0.0.1] --account-sid AC... \
        --auth-token TOKEN --services IS...,IS... [--shared-default-role] [liberty flags]
"""

import argparse
import base64
import binascii
import bisect
import collections
import gzip
import hashlib
import hmac
import json
import random
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote_to_bytes

USER_SID_RE = re.compile(r"US[0-9a-fA-F]{32}")
SERVICE_SID_RE = re.compile(r"IS[0-9a-fA-F]{32}")
ROLE_SID_RE = re.compile(r"RL[0-9a-fA-F]{32}")
UINT_RE = re.compile(r"[0-9]{1,9}")
# A JSON string token, or a run of JSON's insignificant whitespace (RFC 8259 §2).
JSON_WS_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.S)

DEFAULT_PAGE_SIZE = 50      # "The default is 50"
MAX_PAGE_SIZE = 1000        # "and the maximum is 1000" / "Minimum: 1 Maximum: 1000"

# Deeply nested Attributes are parsed by the json module recursively.
sys.setrecursionlimit(20000)
threading.stack_size(64 * 1024 * 1024)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

class ApiError(Exception):
    """A Twilio REST error: {code, message, more_info, status} (+ extras)."""

    def __init__(self, status, code, message, headers=None, detail=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.detail = detail

    def body(self, extras):
        items = [
            ("code", self.code),
            ("message", self.message),
            ("more_info", f"https://www.twilio.com/docs/errors/{self.code}"),
            ("status", self.status),
        ]
        if extras:
            # LIBERTY (--extra-fields): the facts file says error bodies
            # "sometimes" carry `detail`; more undocumented keys are added too.
            items.append(("detail", self.detail or self.message))
            items.append(("x_error_source", "permissive-server"))
        return items


def not_found(what):
    # LIBERTY: messages are in this server's own words; status and code are Twilio's.
    return ApiError(404, 20404, f"No such thing here: {what}")


def bad_request(message, code=20001):
    return ApiError(400, code, message)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def mix_case(hex_digits, mode, seed_bytes=None):
    """LIBERTY (--sid-case): the sid patterns are ^XX[0-9a-fA-F]{32}$."""
    if mode == "lower":
        return hex_digits.lower()
    if mode == "upper":
        return hex_digits.upper()
    bits = seed_bytes if seed_bytes is not None else uuid.uuid4().bytes
    out = []
    for i, ch in enumerate(hex_digits):
        up = (bits[(i // 8) % len(bits)] >> (i % 8)) & 1
        out.append(ch.upper() if up else ch.lower())
    return "".join(out)


def default_role_sid(service_sid, sid_case):
    # CHOICE: every service has one default user role, derived from the
    # service sid so that it is stable across restarts.
    digest = hashlib.md5(("default-user-role:" + service_sid).encode()).hexdigest()
    bits = hashlib.md5(("case:" + service_sid).encode()).digest()
    return "RL" + mix_case(digest, sid_case, bits)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def is_json_object_text(text):
    """True when text is a JSON object (RFC 8259; NaN/Infinity are not JSON)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict)


def minify_json(text):
    """Drops JSON's insignificant whitespace; strings, numbers, key order kept."""
    return JSON_WS_RE.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)


def accepts_gzip(header):
    if not header:
        return False
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if name not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


class Clock:
    """UTC timestamps; date_updated never goes backwards for one row."""

    def __init__(self, fraction):
        self.fraction = fraction

    def now(self):
        t = datetime.now(timezone.utc)
        if self.fraction:
            return t.replace(microsecond=(t.microsecond // 1000) * 1000)
        return t.replace(microsecond=0)

    def after(self, previous):
        t = self.now()
        if t > previous:
            return t
        # CHOICE: an update moves date_updated strictly forward when the
        # clock resolution allows it (milliseconds), else leaves it equal.
        return previous + timedelta(milliseconds=1) if self.fraction else previous

    def fmt(self, t):
        # "The date and time in GMT ... in ISO 8601 format".
        # LIBERTY (--date-fraction): ISO 8601 allows a decimal fraction of
        # the second; the examples happen to have none.
        if self.fraction:
            return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------
# the store: a primary with atomic statements, and a lagging replica
# --------------------------------------------------------------------------

class Duplicate(Exception):
    pass


class Store:
    """Users of all services.

    The primary answers Fetch, and every lookup and write.  Each method below
    is ONE atomic statement (the lock is held only inside it), like a single
    SQL statement: nothing holds a lock across a request's lookup and its act.

    Every committed write is appended, in commit order, to a log that the
    replica applies after a delay; Read pages through the replica.
    """

    def __init__(self, cfg, service_sids):
        self.cfg = cfg
        self.clock = Clock(cfg.date_fraction)
        self.lock = threading.Lock()                 # the primary's statement lock
        self.rows = {s: {} for s in service_sids}    # service -> user sid -> row
        self.ident = {s: {} for s in service_sids}   # UNIQUE(service, identity) index
        self.default_role = {s: default_role_sid(s, cfg.sid_case) for s in service_sids}
        if cfg.shared_default_role:
            # CHOICE (the other one): every service's default role is the first service's.
            first = default_role_sid(service_sids[0], cfg.sid_case)
            self.default_role = {s: first for s in service_sids}
        # the write log and the replica
        self.log = collections.deque()               # (due, service, kind, sid, image)
        self.last_due = 0.0
        self.lag_rng = random.Random(cfg.seed * 7919 + 1)
        self.replica_lock = threading.Lock()
        self.replica_rows = {s: {} for s in service_sids}
        self.replica_keys = {s: [] for s in service_sids}   # sorted user sids

    def has_service(self, service_sid):
        return service_sid in self.rows

    def new_user_sid(self):
        return "US" + mix_case(uuid.uuid4().hex, self.cfg.sid_case)

    # ---- primary statements -------------------------------------------
    def select(self, service_sid, key):
        """SELECT * WHERE sid=? (a US sid) or WHERE identity=? (exact, case-sensitive)."""
        with self.lock:
            if USER_SID_RE.fullmatch(key):
                row = self.rows[service_sid].get(key)
            else:
                sid = self.ident[service_sid].get(key)
                row = self.rows[service_sid].get(sid) if sid is not None else None
            return dict(row) if row is not None else None

    def insert(self, service_sid, row):
        """INSERT with UNIQUE(service, identity); raises Duplicate."""
        with self.lock:
            if row["identity"] in self.ident[service_sid]:
                raise Duplicate()
            now = self.clock.now()
            row = dict(row, date_created=now, date_updated=now, version=1)
            self.rows[service_sid][row["sid"]] = row
            self.ident[service_sid][row["identity"]] = row["sid"]
            self._log(service_sid, "insert", row["sid"], dict(row))
            return dict(row)

    def update(self, service_sid, sid, changes, touch):
        """UPDATE SET <only the sent fields> WHERE sid=? RETURNING *; None when 0 rows."""
        with self.lock:
            row = self.rows[service_sid].get(sid)
            if row is None:
                return None
            row.update(changes)
            if touch:
                row["date_updated"] = self.clock.after(row["date_updated"])
                row["version"] += 1
                self._log(service_sid, "update", sid, dict(row))
            return dict(row)

    def delete(self, service_sid, sid):
        """DELETE WHERE sid=?; returns the number of rows deleted."""
        with self.lock:
            row = self.rows[service_sid].pop(sid, None)
            if row is None:
                return 0
            if self.ident[service_sid].get(row["identity"]) == sid:
                del self.ident[service_sid][row["identity"]]
            self._log(service_sid, "delete", sid, None)
            return 1

    def _log(self, service_sid, kind, sid, image):
        # Called with the primary lock held, so the log is in commit order.
        lag = self.cfg.list_lag_ms / 1000.0
        if self.cfg.list_lag_mode == "random":
            lag = self.lag_rng.uniform(0.0, lag)
        # FIFO: a write is never applied before an earlier one, so the replica
        # is always the primary as of some past moment (a prefix of the log).
        due = max(self.last_due, time.monotonic() + lag)
        self.last_due = due
        self.log.append((due, service_sid, kind, sid, image))
        if self.replica_lock.acquire(blocking=False):   # keep the log short
            try:
                self._drain()
            finally:
                self.replica_lock.release()

    # ---- the replica ------------------------------------------------------
    def _drain(self):
        """Applies every due log entry in order; the caller holds replica_lock."""
        now = time.monotonic()
        log = self.log
        while log and log[0][0] <= now:
            _, svc, kind, sid, image = log.popleft()
            rows, keys = self.replica_rows[svc], self.replica_keys[svc]
            if kind == "insert":
                rows[sid] = image
                bisect.insort(keys, sid)
            elif kind == "update":
                if sid in rows:
                    rows[sid] = image
            else:
                if rows.pop(sid, None) is not None:
                    i = bisect.bisect_left(keys, sid)
                    if i < len(keys) and keys[i] == sid:
                        del keys[i]

    def replica_page(self, service_sid, size, op, key):
        """One keyset page of the replica.

        CHOICE: users are ordered by sid (a stable, total order that never
        changes for a user).  (op, key) bounds the window: '>' / '>=' take the
        first `size` users after the key, '<' / '<=' the last `size` before it.
        Returns (rows, next (op, key) or None, previous (op, key) or None).
        """
        with self.replica_lock:
            self._drain()
            keys = self.replica_keys[service_sid]
            rows = self.replica_rows[service_sid]
            if op == ">":
                start = bisect.bisect_right(keys, key)
                stop = min(len(keys), start + size)
            elif op == ">=":
                start = bisect.bisect_left(keys, key)
                stop = min(len(keys), start + size)
            elif op == "<":
                stop = bisect.bisect_left(keys, key)
                start = max(0, stop - size)
            else:  # "<="
                stop = bisect.bisect_right(keys, key)
                start = max(0, stop - size)
            window = [dict(rows[s]) for s in keys[start:stop]]
            if start < stop:
                nxt = (">", keys[stop - 1])
                prv = ("<", keys[start])
            else:
                # an empty window: the complement of its bound
                nxt = {"<": (">=", key), "<=": (">", key)}.get(op)
                prv = {">": ("<=", key), ">=": ("<", key)}.get(op)
            has_next = stop < len(keys)
            if self.cfg.lazy_next and start < stop and stop - start == size:
                # LIBERTY (--lazy-next): a full page links to a next page
                # without checking that one more user exists; the walk then
                # ends with an empty page whose next_page_url is null.
                has_next = True
            has_prev = start > 0
            return window, (nxt if has_next else None), (prv if has_prev else None)


# --------------------------------------------------------------------------
# page tokens
# --------------------------------------------------------------------------

TOKEN_OPS = (">", ">=", "<", "<=")


def encode_token(op, key, index):
    # LIBERTY: opaque to the client ("This is provided by the API").
    raw = json.dumps([TOKEN_OPS.index(op), key, index], separators=(",", ":")).encode()
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token):
    try:
        if not token.startswith("PT"):
            raise ValueError
        text = token[2:]
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        op, key, index = json.loads(raw)
        if not (isinstance(op, int) and 0 <= op < len(TOKEN_OPS) and isinstance(key, str)
                and isinstance(index, int) and 0 <= index < 10**9):
            raise ValueError
        return TOKEN_OPS[op], key, index
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad_request("This PageToken was not made by this server")


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------

class Context:
    """What a request addressed: the service, the URL form and the base URL."""

    def __init__(self, server, service_sid, shortened, base):
        self.server = server
        self.cfg = server.cfg
        self.account_sid = server.account_sid
        self.service_sid = service_sid
        self.shortened = shortened
        self.base = base
        if shortened and not self.cfg.canonical_urls:
            self.prefix = "/v1/Users"
        else:
            # LIBERTY (--canonical-urls): every URL this server returns uses
            # the service-scoped form, even when the request used the
            # shortened form; both name the same resource.
            self.prefix = f"/v1/Services/{service_sid}/Users"

    def shuffled(self, items):
        if self.cfg.shuffle_keys:
            # LIBERTY (--shuffle-keys): JSON object members are unordered.
            items = list(items)
            random.shuffle(items)
        return dict(items)

    def user_json(self, row, in_read):
        clock = self.server.store.clock
        url = f"{self.base}{self.prefix}/{row['sid']}"
        items = [
            ("sid", row["sid"]),
            ("account_sid", self.account_sid),
            ("chat_service_sid", self.service_sid),
            ("role_sid", row["role_sid"]),
            ("identity", row["identity"]),
            ("friendly_name", row["friendly_name"]),
            ("attributes", row["attributes"]),
            # Reachability is not enabled on these services: "This value is
            # null if the Service's reachability_enabled is false"; and "null is
            # always returned by a Read action".
            ("is_online", None),
            ("is_notifiable", None),
            ("date_created", clock.fmt(row["date_created"])),
            ("date_updated", clock.fmt(row["date_updated"])),
            ("url", url),
            ("links", self.shuffled([("user_conversations", url + "/Conversations")])),
        ]
        if self.cfg.extra_fields:
            # LIBERTY (--extra-fields): undocumented members.
            items.append(("x_row_version", row["version"]))
            items.append(("x_read_from", "replica" if in_read else "primary"))
        return self.shuffled(items)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

ODD_REASONS = {
    200: ["OK", "Fine", "", "Here you are"],
    201: ["Created", "Made it", ""],
    204: ["No Content", "Gone quietly", ""],
    400: ["Bad Request", "Hmm", ""],
    401: ["Unauthorized", "Who are you", ""],
    404: ["Not Found", "Nope", ""],
    405: ["Method Not Allowed", "Not that", ""],
    409: ["Conflict", "Taken", ""],
    429: ["Too Many Requests", "Slow down", ""],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PermissiveConversationsUsers/1.0"

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    @property
    def store(self):
        return self.server.store

    @property
    def cfg(self):
        return self.server.cfg

    def chance(self, every):
        return every > 0 and random.random() < 1.0 / every

    def race_pause(self):
        # LIBERTY (--race-window-ms): between a request's lookup and its act,
        # with no lock held, other requests run.
        if self.cfg.race_window_ms > 0:
            time.sleep(random.uniform(0, self.cfg.race_window_ms) / 1000.0)

    # ---- body in, bytes out ------------------------------------------------
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise bad_request("Invalid chunked body")
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            self.close_connection = True
            raise bad_request("Invalid Content-Length")
        return self.rfile.read(int(length))

    def hname(self, name):
        # LIBERTY (--header-case): field names are case-insensitive (RFC 9110 §5.1).
        if self.cfg.header_case and random.random() < 0.5:
            return name.lower()
        return name

    def start(self, status, headers):
        reason = None
        if self.cfg.odd_reasons:
            # LIBERTY (--odd-reasons): "A client SHOULD ignore the reason-phrase
            # content" (RFC 9112 §4).
            reason = random.choice(ODD_REASONS.get(status, [""]))
        self.send_response(status, reason)
        closing = self.close_connection or self.chance(self.cfg.close_every)
        if self.cfg.extra_headers:
            # LIBERTY (--extra-headers): headers Twilio-like servers send.
            self.send_header(self.hname("Twilio-Request-Id"), "RQ%032x" % random.getrandbits(128))
            self.send_header(self.hname("Twilio-Concurrent-Requests"), str(self.server.in_flight))
            self.send_header(self.hname("X-Shenanigans"), "none")
            self.send_header(self.hname("X-Powered-By"), "AT-5000")
            self.send_header(self.hname("Strict-Transport-Security"), "max-age=31536000")
            self.send_header(self.hname("Access-Control-Allow-Origin"), "*")
            self.send_header(self.hname("Cache-Control"), "no-store")
        for name, value in headers:
            self.send_header(self.hname(name), value)
        if closing:
            # LIBERTY (--close-every): "A client, server, or proxy MAY close the
            # transport connection at any time" (RFC 9112 §9.5).
            self.send_header(self.hname("Connection"), "close")
        elif self.cfg.idle_timeout > 0:
            self.send_header(self.hname("Keep-Alive"), f"timeout={int(self.cfg.idle_timeout)}")

    def send_json(self, status, payload, headers=()):
        if self.cfg.json_style:
            # LIBERTY (--json-style): whitespace and \u escapes are JSON's choice.
            style = random.randrange(3)
            kwargs = [dict(separators=(",", ":")), dict(), dict(indent=2)][style]
            data = json.dumps(payload, ensure_ascii=random.random() < 0.5, **kwargs)
            if random.random() < 0.3:
                data += "\n"
        else:
            data = json.dumps(payload, ensure_ascii=False)
        data = data.encode("utf-8")
        headers = [("Content-Type", "application/json; charset=utf-8")] + list(headers)
        head = self.command == "HEAD"
        if self.cfg.gzip_every > 0 and not head:
            headers.append(("Vary", "Accept-Encoding"))
            if accepts_gzip(self.headers.get("Accept-Encoding")) and self.chance(self.cfg.gzip_every):
                # LIBERTY (--gzip-every): content coding the client said it accepts.
                data = gzip.compress(data, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
        chunked = not head and self.chance(self.cfg.chunked_every)
        if chunked:
            # LIBERTY (--chunked-every): chunked transfer coding (RFC 9112 §7.1).
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(data))))
        self.start(status, headers)
        if head:
            self.end_headers()
            return
        if chunked:
            out, i = [], 0
            while i < len(data):
                piece = data[i:i + random.randint(1, max(1, len(data) // 2))]
                out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
                i += len(piece)
            out.append(b"0\r\n\r\n")
            data = b"".join(out)
        # head and body in one write (no Nagle / delayed-ACK stall)
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def send_empty(self, status, headers=()):
        # 204: no Content-Length, no body (RFC 9110 §8.6, §15.3.5).
        self.start(status, list(headers))
        self.end_headers()

    def send_error_body(self, err):
        headers = list(err.headers.items())
        items = err.body(self.cfg.extra_fields)
        if self.cfg.shuffle_keys:
            random.shuffle(items)
        self.send_json(err.status, dict(items), headers)

    # ---- request plumbing --------------------------------------------------
    def base_url(self):
        # url, links and page URLs are absolute, built from the Host the client used.
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = f"{h}:{p}"
        return "http://" + host

    def check_auth(self):
        unauthorized = ApiError(401, 20003, "Authenticate: HTTP Basic with the account sid and auth token",
                                {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise unauthorized
        try:
            raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise unauthorized
        user, sep, password = raw.partition(":")
        ok_user = hmac.compare_digest(user.encode(), self.server.account_sid.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.server.auth_token.encode())
        if not (sep and ok_user and ok_pass):
            raise unauthorized

    def rate_limited(self):
        # LIBERTY (--rate-limit-every): 429 before anything else is done.
        every = self.cfg.rate_limit_every
        if every <= 0:
            return
        with self.server.rate_lock:
            hit = self.server.rate_rng.random() < 1.0 / every
        if hit:
            raise ApiError(429, 20429, "Too Many Requests",
                           {"Retry-After": str(self.cfg.retry_after)},
                           detail="This server refuses a share of requests at random; retry.")

    @staticmethod
    def decode_segment(segment):
        try:
            return unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            return None           # no identity can match invalid UTF-8

    def route(self):
        """Returns (Context, sid-or-None, sub) where sub is None or ('conversations', id-or-None)."""
        target = self.path
        if "://" in target.split("?", 1)[0]:           # absolute-form request target
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        self.query = query
        segments = path.split("/")
        if len(segments) > 3 and segments[-1] == "":
            # CHOICE: one trailing slash is ignored (the page writes "GET /v1/Users/").
            segments = segments[:-1]
        if len(segments) < 3 or segments[0] != "" or segments[1] != "v1":
            raise not_found(path)
        rest = segments[2:]
        if rest[0] == "Users":
            service_sid = self.server.default_service
            shortened = True
            rest = rest[1:]
        elif rest[0] == "Services" and len(rest) >= 3 and rest[2] == "Users":
            service_sid = self.decode_segment(rest[1])
            if service_sid is None or not self.store.has_service(service_sid):
                raise not_found(path)
            shortened = False
            rest = rest[3:]
        else:
            raise not_found(path)
        sid, sub = None, None
        if rest:
            # {Sid} is percent-decoded exactly once ("+" stays "+" in a path).
            sid = self.decode_segment(rest[0])
            if not sid:
                raise not_found(path)
        if len(rest) >= 2:
            if rest[1] != "Conversations" or len(rest) > 3:
                raise not_found(path)
            sub = ("conversations", self.decode_segment(rest[2]) if len(rest) == 3 else None)
        ctx = Context(self.server, service_sid, shortened, self.base_url())
        return ctx, sid, sub

    def form(self, body):
        """application/x-www-form-urlencoded; '+' and '%20' are both a space."""
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise bad_request("The body is not form-urlencoded UTF-8")
        params = {}
        for name, value in pairs:
            # CHOICE: when a parameter is repeated, the first value counts.
            params.setdefault(name, value)
        return params

    def query_params(self):
        try:
            pairs = parse_qsl(self.query, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise bad_request("The query string is not valid")
        params = {}
        for name, value in pairs:
            params.setdefault(name, value)
        return params

    def check_webhook_header(self):
        value = self.headers.get("X-Twilio-Webhook-Enabled")
        # "Possible values: true false"; anything else is refused.
        if value is not None and value not in ("true", "false"):
            raise bad_request("X-Twilio-Webhook-Enabled takes true or false, nothing else")

    def dispatch(self, method):
        with self.server.count_lock:
            self.server.in_flight += 1
        try:
            body = self.read_body()
            self.rate_limited()
            self.check_auth()
            ctx, sid, sub = self.route()
            if sub is not None:
                allowed = {"GET": self.op_conversations, "HEAD": self.op_conversations}
            elif sid is None:
                allowed = {"GET": self.op_read, "HEAD": self.op_read, "POST": self.op_create}
            else:
                allowed = {"GET": self.op_fetch, "HEAD": self.op_fetch,
                           "POST": self.op_update, "DELETE": self.op_delete}
            op = allowed.get(method)
            if op is None:
                raise ApiError(405, 20004, f"{method} is not allowed here",
                               {"Allow": ", ".join(allowed)})
            if sub is not None:
                status, payload, headers = op(ctx, sid, sub[1])
            elif sid is None:
                status, payload, headers = op(ctx, body)
            else:
                status, payload, headers = op(ctx, sid, body)
            if payload is None:
                self.send_empty(status, headers)
            else:
                self.send_json(status, payload, headers)
        except ApiError as err:
            self.send_error_body(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                self.send_error_body(ApiError(500, 20500, "Internal Server Error"))
            except OSError:
                pass
        finally:
            with self.server.count_lock:
                self.server.in_flight -= 1

    # ---- validation helpers ------------------------------------------------
    def valid_attributes(self, value):
        # "The JSON Object string that stores application-specific data."
        if not is_json_object_text(value):
            raise bad_request("Attributes must be the text of a JSON object")
        if self.cfg.attributes_minify:
            # LIBERTY (--attributes-minify): stored as an equivalent JSON text
            # without insignificant whitespace; strings, numbers and member
            # order are kept exactly.
            return minify_json(value)
        return value

    def valid_role_sid(self, ctx, value):
        # Pattern ^RL[0-9a-fA-F]{32}$.
        if not ROLE_SID_RE.fullmatch(value):
            raise bad_request("RoleSid must look like RL followed by 32 hex digits")
        if self.cfg.strict_roles and value != self.store.default_role[ctx.service_sid]:
            # LIBERTY (--strict-roles): "The SID of a service-level Role to
            # assign": a role this service does not have is refused, as the
            # real service does (50100 Role not found).
            raise ApiError(400, 50100, f"Role {value} does not exist in this service")
        return value

    # ---- operations --------------------------------------------------------
    def op_create(self, ctx, body):
        self.check_webhook_header()
        params = self.form(body)
        identity = params.get("Identity")
        if not identity:
            # CHOICE: 50204 "Identity not provided" (facts: 20001 or 50204).
            raise bad_request("Identity is required to create a user", code=50204)
        if USER_SID_RE.fullmatch(identity):
            raise ApiError(400, 50206, "An identity may not look like a user sid")
        if self.cfg.max_identity_length and len(identity) > self.cfg.max_identity_length:
            raise ApiError(400, 50207, "Identity is too long")
        friendly_name = params.get("FriendlyName")          # null when not given
        attributes = params.get("Attributes")
        attributes = "{}" if attributes is None else self.valid_attributes(attributes)
        role_sid = params.get("RoleSid")
        role_sid = self.store.default_role[ctx.service_sid] if role_sid is None \
            else self.valid_role_sid(ctx, role_sid)
        duplicate = ApiError(self.cfg.duplicate_status, 50201,
                             f"A user with identity {identity!r} is already in this service")
        # Check, then act, with no lock across the two.
        if self.store.select(ctx.service_sid, identity) is not None:
            raise duplicate
        self.race_pause()
        row = {
            "sid": self.store.new_user_sid(),
            "identity": identity,
            "friendly_name": friendly_name,
            "attributes": attributes,
            "role_sid": role_sid,
        }
        try:
            row = self.store.insert(ctx.service_sid, row)   # UNIQUE(service, identity)
        except Duplicate:
            raise duplicate
        user = ctx.user_json(row, False)
        # Location: RFC 9110 §15.3.2 (201 Created).
        return 201, user, [("Location", user["url"])]

    def lookup(self, ctx, key):
        row = self.store.select(ctx.service_sid, key)
        if row is None:
            raise not_found(f"user {key!r} in service {ctx.service_sid}")
        return row

    def op_fetch(self, ctx, key, body):
        # Fetch reads the primary: strict, read-your-writes.
        return 200, ctx.user_json(self.lookup(ctx, key), False), []

    def op_update(self, ctx, key, body):
        self.check_webhook_header()
        params = self.form(body)

        def validate():
            changes = {}
            # "identity cannot be changed": an Identity parameter is ignored,
            # like any other unknown parameter.
            if "FriendlyName" in params:
                changes["friendly_name"] = params["FriendlyName"]
            if "Attributes" in params:
                changes["attributes"] = self.valid_attributes(params["Attributes"])
            if "RoleSid" in params:
                changes["role_sid"] = self.valid_role_sid(ctx, params["RoleSid"])
            return changes

        if self.cfg.lookup_before_validation:
            # LIBERTY (--lookup-before-validation): an unknown user is 404
            # even when a parameter is also invalid.
            row = self.lookup(ctx, key)
            changes = validate()
        else:
            changes = validate()
            row = self.lookup(ctx, key)
        self.race_pause()
        # CHOICE: an update that sends no parameter changes nothing, not even
        # date_updated (--empty-update-keeps-date); otherwise date_updated moves.
        touch = bool(changes) or not self.cfg.empty_update_keeps_date
        result = self.store.update(ctx.service_sid, row["sid"], changes, touch)
        if result is None:
            # The row vanished between the lookup and the UPDATE (a concurrent
            # delete).  CHOICE (--vanished-update): 404, i.e. the update is
            # ordered after the delete; or 200 with what it would have written,
            # i.e. ordered at its lookup, before the delete.
            if self.cfg.vanished_update == 404:
                raise not_found(f"user {key!r} in service {ctx.service_sid} (deleted meanwhile)")
            result = dict(row, **changes)
            if touch:
                result["date_updated"] = self.store.clock.after(row["date_updated"])
                result["version"] += 1
        return 200, ctx.user_json(result, False), []

    def op_delete(self, ctx, key, body):
        self.check_webhook_header()
        row = self.lookup(ctx, key)
        self.race_pause()
        removed = self.store.delete(ctx.service_sid, row["sid"])   # DELETE WHERE sid=?
        if removed == 0 and not self.cfg.racing_delete_204:
            raise not_found(f"user {key!r} in service {ctx.service_sid} (deleted meanwhile)")
        # LIBERTY (--racing-delete-204): 0 rows deleted still acknowledges
        # when the lookup found the user: DELETE is idempotent (RFC 9110 §9.2.2).
        return 204, None, []

    def page_size(self, params):
        size = params.get("PageSize")
        if size is None:
            return DEFAULT_PAGE_SIZE
        # CHOICE: a PageSize outside 1..1000 or not a decimal integer is 400.
        if not UINT_RE.fullmatch(size) or not 1 <= int(size) <= MAX_PAGE_SIZE:
            raise bad_request(f"PageSize takes an integer from 1 to {MAX_PAGE_SIZE}")
        return int(size)

    def page_meta(self, ctx, key, params, size, token, prev, nxt):
        if not self.cfg.lenient_page and "Page" in params:
            if not UINT_RE.fullmatch(params["Page"]):
                raise bad_request("Page takes an integer of at least 0")
        # LIBERTY (--lenient-page): Page "is simply for client state"; it is
        # neither validated nor echoed: meta.page is the true index, carried
        # in the token.
        op, bound, index = token if token else (">=", "", 0)
        list_url = ctx.base + ctx.prefix + ("" if key is None else f"/{quote(key, safe='')}/Conversations")

        def page_url(tok):
            q = [("PageSize", str(size))]
            if tok is not None:
                q.append(("PageToken", encode_token(*tok)))
            if self.cfg.shuffle_query:
                # LIBERTY (--shuffle-query): query parameters in any order.
                random.shuffle(q)
            return list_url + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in q)

        meta = [
            ("page", index),
            ("page_size", size),
            ("first_page_url", page_url(None)),
            ("previous_page_url", page_url((prev[0], prev[1], index - 1)) if prev and index > 0 else None),
            ("url", page_url(token)),
            ("next_page_url", page_url((nxt[0], nxt[1], index + 1)) if nxt else None),
            ("key", "users" if key is None else "conversations"),
        ]
        if self.cfg.extra_fields:
            meta.append(("x_consistency", "replica, may lag writes" if key is None else "strict"))
        return ctx.shuffled(meta)

    def op_read(self, ctx, body):
        params = self.query_params()
        size = self.page_size(params)
        token = decode_token(params["PageToken"]) if "PageToken" in params else None
        op, bound, _ = token if token else (">=", "", 0)
        if self.cfg.max_page_size and size > self.cfg.max_page_size:
            size = self.cfg.max_page_size          # --max-page-size (off by default)
        # LIBERTY (--list-lag-ms): Read pages through the lagging replica.
        rows, nxt, prv = self.store.replica_page(ctx.service_sid, size, op, bound)
        meta = self.page_meta(ctx, None, params, size, token, prv, nxt)
        items = [("users", [ctx.user_json(r, True) for r in rows]), ("meta", meta)]
        if self.cfg.extra_fields:
            items.append(("x_served_at", self.store.clock.fmt(self.store.clock.now())))
        return 200, ctx.shuffled(items), []

    def op_conversations(self, ctx, key, conversation):
        # links.user_conversations: this server has no conversations, so the
        # list of a known user is an empty page, and any item is 404.
        row = self.lookup(ctx, key)
        if conversation is not None:
            raise not_found(f"conversation {conversation!r} of user {key!r}")
        params = self.query_params()
        size = self.page_size(params)
        token = decode_token(params["PageToken"]) if "PageToken" in params else None
        meta = self.page_meta(ctx, row["sid"], params, size, token, None, None)
        return 200, ctx.shuffled([("conversations", []), ("meta", meta)]), []


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    on = argparse.BooleanOptionalAction
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--services", required=True,
                        help="comma-separated IS sids; the first is the default service")
    parser.add_argument("--shared-default-role", action="store_true",
                        help="one default role for every service (the other CHOICE)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--seed", type=int, default=1, help="seed of the PRNGs (default 1)")
    g = parser.add_argument_group("liberties")
    g.add_argument("--race-window-ms", type=float, default=20.0,
                   help="sleep uniform [0, N] ms between a lookup and its act (default 20; 0 = none)")
    g.add_argument("--list-lag-ms", type=float, default=500.0,
                   help="Read's replica applies each write up to N ms late (default 500; 0 = none)")
    g.add_argument("--list-lag-mode", choices=("random", "fixed"), default="random",
                   help="per-write lag uniform in [0, N] or exactly N (default random)")
    g.add_argument("--rate-limit-every", type=int, default=25,
                   help="answer about one request in N with 429 (default 25; 0 = never)")
    g.add_argument("--retry-after", type=int, default=0, help="Retry-After seconds on 429 (default 0)")
    g.add_argument("--close-every", type=int, default=10,
                   help="send Connection: close on about one answer in N (default 10; 0 = never)")
    g.add_argument("--idle-timeout", type=float, default=5.0,
                   help="close a keep-alive connection idle for N s (default 5; 0 = never)")
    g.add_argument("--chunked-every", type=int, default=4,
                   help="chunked transfer coding on about one JSON answer in N (default 4; 0 = never)")
    g.add_argument("--gzip-every", type=int, default=2,
                   help="gzip about one answer in N when Accept-Encoding allows it (default 2; 0 = never)")
    g.add_argument("--sid-case", choices=("lower", "upper", "mixed"), default="mixed",
                   help="case of the hex digits of generated US/RL sids (default mixed)")
    g.add_argument("--duplicate-status", type=int, choices=(400, 409), default=400,
                   help="status of a duplicate identity, code 50201 (default 400)")
    g.add_argument("--vanished-update", type=int, choices=(404, 200), default=404,
                   help="answer of an update whose user was deleted after its lookup (default 404)")
    g.add_argument("--max-page-size", type=int, default=0,
                   help="serve at most N users per page, honestly reported in meta.page_size "
                        "(default 0 = the requested PageSize)")
    g.add_argument("--max-identity-length", type=int, default=0,
                   help="refuse longer identities with 400/50207 (default 0 = no limit)")
    for name, text in [
        ("shuffle-keys", "JSON members in random order"),
        ("shuffle-query", "page URL parameters in random order"),
        ("json-style", "random JSON whitespace and \\u escaping"),
        ("extra-fields", "undocumented members in users, pages, meta and errors"),
        ("extra-headers", "undocumented response headers"),
        ("header-case", "random case of response header names"),
        ("odd-reasons", "unusual or empty reason phrases"),
        ("canonical-urls", "url, links and page URLs always in the service-scoped form"),
        ("attributes-minify", "store Attributes without insignificant whitespace"),
        ("strict-roles", "RoleSid must be the service's own (default) role, else 400/50100"),
        ("date-fraction", "dates with milliseconds (2024-01-02T03:04:05.678Z)"),
        ("lenient-page", "the Page parameter is neither validated nor echoed"),
        ("lazy-next", "a full page always has a next_page_url (the last page may be empty)"),
        ("racing-delete-204", "a delete whose user vanished after its lookup still answers 204"),
        ("lookup-before-validation", "update: unknown user 404 before parameter 400"),
        ("empty-update-keeps-date", "an update with no parameter leaves date_updated"),
    ]:
        g.add_argument("--" + name, action=on, default=True, help=text + " (default on)")
    args = parser.parse_args(argv)

    services = []
    for sid in args.services.split(","):
        sid = sid.strip()
        if not SERVICE_SID_RE.fullmatch(sid):
            parser.error(f"not a service sid: {sid!r}")
        if sid not in services:
            services.append(sid)
    if not services:
        parser.error("--services needs at least one IS sid")

    random.seed(args.seed)
    Handler.timeout = args.idle_timeout if args.idle_timeout > 0 else None
    httpd = Server((args.host, args.port), Handler)
    httpd.cfg = args
    httpd.store = Store(args, services)
    httpd.account_sid = args.account_sid
    httpd.auth_token = args.auth_token
    httpd.default_service = services[0]
    httpd.verbose = args.verbose
    httpd.rate_rng = random.Random(args.seed)
    httpd.rate_lock = threading.Lock()
    httpd.count_lock = threading.Lock()
    httpd.in_flight = 0
    host, port = httpd.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
