#!/usr/bin/env python3
"""An independent, minimal server of the Twilio Conversations *User* resource.

Written from the documentation page (conversations-user-resource.txt) and the
facts file (twilio-users-facts.md) only.  Python 3.11 standard library only.

Routes (the default service is the first one given with --services):

    /v1/Users                                   Create (POST, 201), Read (GET, 200)
    /v1/Users/{Sid}                             Fetch (GET, 200), Update (POST, 200), Delete (DELETE, 204)
    /v1/Services/{ChatServiceSid}/Users         same as /v1/Users, for that service
    /v1/Services/{ChatServiceSid}/Users/{Sid}   same as /v1/Users/{Sid}, for that service

Usage:
    python3 server.py --port N [--host 127.0.0.1] --account-sid AC... \
        --auth-token TOKEN --services IS...,IS... [--defect NAME ...]

Choices this server makes where the documentation leaves them open are marked
"CHOICE:" in the comments below.
"""

import argparse
import base64
import bisect
import hashlib
import hmac
import json
import re
import sys
import threading
import traceback
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_to_bytes, urlencode

USER_SID_RE = re.compile(r"US[0-9a-fA-F]{32}")
SERVICE_SID_RE = re.compile(r"IS[0-9a-fA-F]{32}")
ROLE_SID_RE = re.compile(r"RL[0-9a-fA-F]{32}")
PAGE_TOKEN_RE = re.compile(r"P([AB])([0-9]{1,18})")
UINT_RE = re.compile(r"[0-9]{1,9}")

DEFAULT_PAGE_SIZE = 50      # "The default is 50"
MAX_PAGE_SIZE = 1000        # "and the maximum is 1000" / "Minimum: 1 Maximum: 1000"

# Deeply nested Attributes are parsed by the json module recursively; give the
# request threads room for that.  CHOICE: an object nested deeper than the
# recursion limit allows is refused with 400 (no such limit is documented).
sys.setrecursionlimit(20000)
threading.stack_size(64 * 1024 * 1024)


class ApiError(Exception):
    """A Twilio REST error: {code, message, more_info, status}."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self):
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def not_found(path):
    return ApiError(404, 20404, f"The requested resource {path} was not found")


def bad_request(message, code=20001):
    # CHOICE: 20001 is used for every invalid or missing parameter; the facts
    # file gives 20001 for a missing Identity (Twilio's Chat API).
    return ApiError(400, code, message)


def now_iso():
    # "The date and time in GMT ... in ISO 8601 format", as in the examples.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_role_sid(service_sid):
    # CHOICE: every service has one default user role; its sid is derived
    # from the service sid so that it is stable across restarts.
    return "RL" + hashlib.md5(("default-user-role:" + service_sid).encode()).hexdigest()


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def is_json_object_text(text):
    """True when text is a JSON object (RFC 8259; NaN/Infinity are not JSON)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict)


class Service:
    def __init__(self, sid):
        self.sid = sid
        self.default_role_sid = default_role_sid(sid)
        self.users = {}          # user sid -> record (dict)
        self.by_identity = {}    # identity (exact str) -> user sid
        self.order = []          # (seq, user sid), ascending seq = creation order


class Store:
    """All users of all services, guarded by one lock."""

    def __init__(self, account_sid, service_sids):
        self.lock = threading.RLock()
        self.account_sid = account_sid
        self.services = {sid: Service(sid) for sid in service_sids}
        self._seq = 0

    # ---- small hooks -------------------------------------------------
    def new_user_sid(self):
        return "US" + uuid.uuid4().hex

    def store_value(self, field, value):
        """How a value given by the client is persisted (verbatim)."""
        return value

    def lookup(self, svc, key):
        """{Sid} is a sid when it matches ^US[0-9a-fA-F]{32}$, else an identity."""
        if USER_SID_RE.fullmatch(key):
            return svc.users.get(key)
        return self.lookup_identity(svc, key)

    def lookup_identity(self, svc, identity):
        # "is case-sensitive": exact, byte-for-byte comparison.
        sid = svc.by_identity.get(identity)
        return svc.users.get(sid) if sid is not None else None

    def identity_taken(self, svc, identity):
        return identity in svc.by_identity

    def _insert(self, svc, user):
        svc.users[user["sid"]] = user
        svc.by_identity[user["identity"]] = user["sid"]
        svc.order.append((user["seq"], user["sid"]))   # seq only grows

    def _remove(self, svc, user):
        svc.users.pop(user["sid"], None)
        if svc.by_identity.get(user["identity"]) == user["sid"]:
            del svc.by_identity[user["identity"]]
        i = bisect.bisect_left(svc.order, user["seq"], key=lambda t: t[0])
        if i < len(svc.order) and svc.order[i][1] == user["sid"]:
            del svc.order[i]

    def apply_changes(self, user, changes):
        for field, value in changes.items():
            user[field] = self.store_value(field, value)
        # CHOICE: every successful update moves date_updated, even one with
        # no parameter.
        user["date_updated"] = now_iso()

    def listing(self, svc):
        """The sequence Read pages through."""
        return svc.order

    def page_bounds(self, order, size, token):
        if token is None:
            start = 0
        elif token[0] == "A":            # the page after the user with this seq
            start = bisect.bisect_right(order, token[1], key=lambda t: t[0])
        else:                            # the page before the user with this seq
            end = bisect.bisect_left(order, token[1], key=lambda t: t[0])
            start = max(0, end - size)
        return start, min(len(order), start + size)

    def service(self, service_sid):
        return self.services.get(service_sid)

    def missing(self, service_sid, key):
        return not_found(f"/v1/Services/{service_sid}/Users/{key}")

    def _service(self, service_sid):
        svc = self.services.get(service_sid)
        if svc is None:
            raise not_found(f"/v1/Services/{service_sid}")
        return svc

    def _found(self, service_sid, key):
        """The service and the user {Sid} names in it, or 404; the caller holds the lock."""
        svc = self._service(service_sid)
        user = self.lookup(svc, key)
        if user is None:
            raise self.missing(service_sid, key)
        return svc, user

    # ---- operations --------------------------------------------------
    def create(self, service_sid, identity, friendly_name, attributes, role_sid):
        with self.lock:
            svc = self._service(service_sid)
            if self.identity_taken(svc, identity):
                # CHOICE: 409 (Twilio's usual conflict status) with 50201.
                raise ApiError(409, 50201, "User already exists")
            self._seq += 1
            stamp = now_iso()
            user = {
                "sid": self.new_user_sid(),
                "seq": self._seq,
                "identity": identity,
                "friendly_name": self.store_value("friendly_name", friendly_name),
                "attributes": self.store_value("attributes", attributes),
                "role_sid": self.store_value("role_sid", role_sid or svc.default_role_sid),
                "date_created": stamp,
                "date_updated": stamp,
            }
            self._insert(svc, user)
            return dict(user)

    def fetch(self, service_sid, key):
        with self.lock:
            _, user = self._found(service_sid, key)
            return dict(user)

    def update(self, service_sid, key, changes):
        with self.lock:
            _, user = self._found(service_sid, key)
            self.apply_changes(user, changes)
            return dict(user)

    def delete(self, service_sid, key):
        with self.lock:
            svc, user = self._found(service_sid, key)
            self._remove(svc, user)

    def page(self, service_sid, size, token):
        """Returns (users, previous token, next token); tokens are (kind, seq)."""
        with self.lock:
            svc = self._service(service_sid)
            order = self.listing(svc)
            start, stop = self.page_bounds(order, size, token)
            window = order[start:stop]
            users = [dict(svc.users[sid]) for _, sid in window]
            next_token = ("A", order[stop - 1][0]) if start < stop < len(order) else None
            if start == 0:
                prev_token = None
            elif start < len(order):
                prev_token = ("B", order[start][0])
            else:
                prev_token = ("B", order[-1][0] + 1)
            return users, prev_token, next_token


class Context:
    """What a request addressed: the service, the URL form and the base URL."""

    def __init__(self, account_sid, service_sid, shortened, base):
        self.account_sid = account_sid
        self.service_sid = service_sid
        self.shortened = shortened
        self.base = base
        # CHOICE: a user's `url` (and the list URLs) use the URL form the client
        # used: /v1/Users/... through the shortened form (as in the examples),
        # /v1/Services/IS.../Users/... through the service-scoped form.
        self.prefix = "/v1/Users" if shortened else f"/v1/Services/{service_sid}/Users"

    def user_json(self, user):
        url = f"{self.base}{self.prefix}/{user['sid']}"
        return {
            "sid": user["sid"],
            "account_sid": self.account_sid,
            "chat_service_sid": self.service_sid,
            "role_sid": user["role_sid"],
            "identity": user["identity"],
            "friendly_name": user["friendly_name"],
            "attributes": user["attributes"],
            # This server has no reachability (reachability_enabled is false):
            # "This value is null if the Service's reachability_enabled is
            # false"; and Read always returns null.
            "is_online": None,
            "is_notifiable": None,
            "date_created": user["date_created"],
            "date_updated": user["date_updated"],
            "url": url,
            "links": {"user_conversations": url + "/Conversations"},
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "IndependentConversationsUsers/1.0"

    def version_string(self):
        return self.server_version

    # ---- plumbing ----------------------------------------------------
    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    @property
    def store(self):
        return self.server.store

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
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

    def send_json(self, status, payload, headers=None):
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_empty(self, status):
        self.send_response(status)
        self.end_headers()

    def base_url(self):
        # next_page_url and url are absolute, built from the Host the client used.
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = f"{h}:{p}"
        return "http://" + host

    def check_auth(self):
        unauthorized = ApiError(401, 20003, "Authenticate",
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

    def route(self):
        """Returns (Context, raw path, sid-or-None) or raises 404."""
        target = self.path
        if "://" in target.split("?", 1)[0]:           # absolute-form request target
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        self.query = query
        segments = path.split("/")
        if len(segments) > 1 and segments[-1] == "" and len(segments) > 3:
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
            if service_sid is None or self.store.service(service_sid) is None:
                raise not_found(path)
            shortened = False
            rest = rest[3:]
        else:
            raise not_found(path)
        if len(rest) > 1:
            raise not_found(path)
        sid = None
        if rest:
            # {Sid} is percent-decoded exactly once ("+" stays "+" in a path).
            sid = self.decode_segment(rest[0])
            if not sid:
                raise not_found(path)
        return Context(self.server.account_sid, service_sid, shortened, self.base_url()), path, sid

    @staticmethod
    def decode_segment(segment):
        try:
            return unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            return None           # no identity can match invalid UTF-8

    def form(self, body):
        """application/x-www-form-urlencoded; '+' and '%20' are both a space."""
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise bad_request("The request body is not valid form-urlencoded UTF-8")
        params = {}
        for name, value in pairs:
            # CHOICE: when a parameter is repeated, the first value counts.
            params.setdefault(name, value)
        return params

    def check_webhook_header(self):
        value = self.headers.get("X-Twilio-Webhook-Enabled")
        # Possible values: true, false.  CHOICE: anything else is refused.
        if value is not None and value not in ("true", "false"):
            raise bad_request("X-Twilio-Webhook-Enabled must be true or false")

    def dispatch(self, method):
        try:
            body = self.read_body()
            self.check_auth()
            ctx, path, sid = self.route()
            if sid is None:
                allowed = {"GET": self.op_read, "POST": self.op_create}
            else:
                allowed = {"GET": self.op_fetch, "POST": self.op_update, "DELETE": self.op_delete}
            op = allowed.get(method)
            if op is None:
                # CHOICE: 405 with Twilio's 20004 "Method not allowed".
                raise ApiError(405, 20004, "Method not allowed",
                               {"Allow": ", ".join(allowed)})
            if sid is None:
                status, payload = op(ctx, body)
            else:
                status, payload = op(ctx, sid, body)
            if payload is None:
                self.send_empty(status)
            else:
                self.send_json(status, payload)
        except ApiError as err:
            self.send_json(err.status, err.body(), err.headers)
        except Exception:
            traceback.print_exc()
            err = ApiError(500, 20500, "Internal Server Error")
            self.close_connection = True
            self.send_json(500, err.body())

    # ---- validation helpers -----------------------------------------
    def valid_attributes(self, value):
        # "The JSON Object string that stores application-specific data."
        if not is_json_object_text(value):
            raise bad_request("Attributes must be a JSON object string")
        return value            # stored exactly as sent

    def valid_role_sid(self, value):
        # Pattern ^RL[0-9a-fA-F]{32}$.  CHOICE: this server has no Role
        # resource, so any well-formed role sid is accepted; a malformed one
        # is 400 with 50100 "Role not found".
        if not ROLE_SID_RE.fullmatch(value):
            raise ApiError(400, 50100, "Role not found")
        return value

    # ---- operations --------------------------------------------------
    def op_create(self, ctx, body):
        self.check_webhook_header()
        params = self.form(body)
        identity = params.get("Identity")
        if not identity:
            raise bad_request("Missing required parameter Identity in the post body")
        if USER_SID_RE.fullmatch(identity):
            raise ApiError(400, 50206, "Identity should not match user SID pattern")
        # CHOICE: no length limit on Identity is enforced (none is documented),
        # and no identity is reserved.
        friendly_name = params.get("FriendlyName")          # null when not given
        attributes = params.get("Attributes")
        attributes = "{}" if attributes is None else self.valid_attributes(attributes)
        role_sid = params.get("RoleSid")
        role_sid = None if role_sid is None else self.valid_role_sid(role_sid)
        user = self.store.create(ctx.service_sid, identity, friendly_name, attributes, role_sid)
        return 201, ctx.user_json(user)

    def op_fetch(self, ctx, sid, body):
        return 200, ctx.user_json(self.store.fetch(ctx.service_sid, sid))

    def op_update(self, ctx, sid, body):
        self.check_webhook_header()
        params = self.form(body)
        changes = {}
        # "identity cannot be changed": an Identity parameter is ignored, like
        # any other unknown parameter.
        if "FriendlyName" in params:
            changes["friendly_name"] = params["FriendlyName"]
        if "Attributes" in params:
            changes["attributes"] = self.valid_attributes(params["Attributes"])
        if "RoleSid" in params:
            changes["role_sid"] = self.valid_role_sid(params["RoleSid"])
        return 200, ctx.user_json(self.store.update(ctx.service_sid, sid, changes))

    def op_delete(self, ctx, sid, body):
        self.check_webhook_header()
        self.store.delete(ctx.service_sid, sid)
        return 204, None

    def op_read(self, ctx, body):
        try:
            query = dict(reversed(parse_qsl(self.query, keep_blank_values=True,
                                            encoding="utf-8", errors="strict")))
        except (UnicodeDecodeError, ValueError):
            raise bad_request("Invalid query string")
        size = query.get("PageSize")
        if size is None:
            size = DEFAULT_PAGE_SIZE
        else:
            # CHOICE: a PageSize outside 1..1000 (the documented bounds) or
            # not a decimal integer is refused with 400, not clamped.
            if not UINT_RE.fullmatch(size) or not 1 <= int(size) <= MAX_PAGE_SIZE:
                raise bad_request(f"PageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
            size = int(size)
        page = query.get("Page")
        if page is None:
            page = 0
        else:
            if not UINT_RE.fullmatch(page):
                raise bad_request("Page must be an integer of at least 0")
            page = int(page)
        # CHOICE: Page "is simply for client state": it is echoed in meta and
        # never moves the window; only PageToken (opaque, "provided by the
        # API") does.  Without a PageToken the first page is served.
        raw_token = query.get("PageToken")
        token = None
        if raw_token is not None:
            m = PAGE_TOKEN_RE.fullmatch(raw_token)
            if not m:
                raise bad_request("Invalid PageToken")
            token = (m.group(1), int(m.group(2)))
        users, prev_token, next_token = self.store.page(ctx.service_sid, size, token)

        list_url = ctx.base + ctx.prefix

        def page_url(number, tok):
            params = [("PageSize", size), ("Page", number)]
            if tok is not None:
                params.append(("PageToken", f"P{tok[0]}{tok[1]}"))
            return list_url + "?" + urlencode(params)

        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": page_url(0, None),
            "previous_page_url": page_url(max(page - 1, 0), prev_token) if prev_token else None,
            "url": page_url(page, token),
            "next_page_url": page_url(page + 1, next_token) if next_token else None,
            "key": "users",
        }
        return 200, {"users": [ctx.user_json(u) for u in users], "meta": meta}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--services", required=True,
                        help="comma-separated IS sids; the first is the default service")
    parser.add_argument("--defect", action="append", default=[],
                        help="a defect from defects.py (repeatable, or comma-separated)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--shared-default-role", action="store_true",
                        help="one default role for every service (the other CHOICE)")
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

    store_cls, handler_cls = Store, Handler
    names = [n.strip() for item in args.defect for n in item.split(",") if n.strip()]
    if names:
        import defects
        store_cls, handler_cls = defects.build(names, Store, Handler)

    httpd = Server((args.host, args.port), handler_cls)
    httpd.store = store_cls(args.account_sid, services)
    if args.shared_default_role:
        # CHOICE (the other one): the documentation does not say whether services share a
        # default role; here every service's is the first service's.
        for svc in httpd.store.services.values():
            svc.default_role_sid = default_role_sid(services[0])
    httpd.account_sid = args.account_sid
    httpd.auth_token = args.auth_token
    httpd.default_service = services[0]
    httpd.verbose = args.verbose
    httpd.defect_state = {}
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
