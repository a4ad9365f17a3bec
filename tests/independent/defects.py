"""Named, realistic defects for server.py (enabled with --defect NAME).

Each defect is a small mixin that overrides one hook or operation of the
faithful Store or Handler in server.py.  Each one shows only for some inputs,
sizes or call sequences; a first simple create / fetch / update / read /
delete behaves correctly.  See DEFECTS.md for the table.

`python3 defects.py` lists them.
"""

import bisect
import re
import threading
import time
import unicodedata
from datetime import datetime, timezone

USER_SID_RE = re.compile(r"US[0-9a-fA-F]{32}")

# Short sleeps that widen race windows the way a round trip to a database
# would.  Only the concurrency defects use them.
RACE_WINDOW = 0.05

DEFECTS = {}


class Defect:
    def __init__(self, name, kind, layer, cls, trigger):
        self.name = name
        self.kind = kind
        self.layer = layer
        self.cls = cls
        self.trigger = trigger


def defect(name, kind, trigger, layer="store"):
    def register(cls):
        DEFECTS[name] = Defect(name, kind, layer, cls, trigger)
        cls.__doc__ = (cls.__doc__ or "").strip()
        return cls
    return register


def build(names, store_cls, handler_cls):
    unknown = [n for n in names if n not in DEFECTS]
    if unknown:
        raise SystemExit(f"unknown defect(s): {', '.join(unknown)}; known: {', '.join(DEFECTS)}")
    chosen = [DEFECTS[n] for n in dict.fromkeys(names)]
    store_mixins = tuple(d.cls for d in chosen if d.layer == "store")
    handler_mixins = tuple(d.cls for d in chosen if d.layer == "handler")
    store = type("DefectiveStore", store_mixins + (store_cls,), {}) if store_mixins else store_cls
    handler = type("DefectiveHandler", handler_mixins + (handler_cls,), {}) if handler_mixins else handler_cls
    return store, handler


def _first(svc, predicate):
    """The first user in creation order (index order) that satisfies predicate."""
    for _, sid in svc.order:
        user = svc.users.get(sid)
        if user is not None and predicate(user["identity"]):
            return user
    return None


# ---------------------------------------------------------------------------
# Kind A: a write that damages something it did not address
# ---------------------------------------------------------------------------

@defect("short-form-cache", "cross-damage",
        "update or delete through /v1/Services/{default}/Users/{Sid} after a fetch through "
        "/v1/Users/{Sid}: the shortened form keeps serving the old user", layer="handler")
class ShortFormCache:
    """A read-through cache in front of the shortened URL form.  Writes through
    the shortened form refresh it; writes through the service-scoped form of
    the same (default) service forget to invalidate it."""

    def _cache(self):
        return self.server.defect_state.setdefault("short-form-cache", {})

    def op_fetch(self, ctx, sid, body):
        if not ctx.shortened:
            return super().op_fetch(ctx, sid, body)
        cache = self._cache()
        user = cache.get(sid)
        if user is None:
            user = self.store.fetch(ctx.service_sid, sid)
            cache[user["sid"]] = cache[user["identity"]] = user
        return 200, ctx.user_json(user)

    def op_update(self, ctx, sid, body):
        status, payload = super().op_update(ctx, sid, body)
        if ctx.shortened:
            user = self.store.fetch(ctx.service_sid, payload["sid"])
            cache = self._cache()
            cache[user["sid"]] = cache[user["identity"]] = user
        return status, payload

    def op_delete(self, ctx, sid, body):
        if ctx.shortened:
            cache = self._cache()
            old = cache.get(sid)
            if old is not None:
                cache.pop(old["sid"], None)
                cache.pop(old["identity"], None)
        return super().op_delete(ctx, sid, body)


@defect("update-ignores-service", "cross-damage",
        "update by identity when the same identity exists in another service: "
        "the other service's user is changed too")
class UpdateIgnoresService:
    """The UPDATE that addresses a user by identity forgets the service clause
    (`WHERE identity = ?` instead of `WHERE service = ? AND identity = ?`)."""

    def update(self, service_sid, key, changes):
        user = super().update(service_sid, key, changes)
        if not USER_SID_RE.fullmatch(key):
            with self.lock:
                for svc in self.services.values():
                    if svc.sid != service_sid:
                        other = self.lookup_identity(svc, key)
                        if other is not None:
                            self.apply_changes(other, changes)
        return user


@defect("delete-stale-positions", "cross-damage",
        "delete a user that is not the newest, then fetch/update/delete a newer user "
        "by identity: the lookup lands on that user's neighbour")
class DeleteStalePositions:
    """The identity index maps identity -> position in a row array.  A delete
    removes the row (later rows shift down) but does not renumber the index,
    so identity lookups of later users are off by one."""

    @staticmethod
    def _rows(svc):
        if not hasattr(svc, "rows"):
            svc.rows, svc.pos = [], {}
        return svc.rows, svc.pos

    def _insert(self, svc, user):
        super()._insert(svc, user)
        rows, pos = self._rows(svc)
        pos[user["identity"]] = len(rows)
        rows.append(user)

    def _remove(self, svc, user):
        super()._remove(svc, user)
        rows, pos = self._rows(svc)
        p = pos.pop(user["identity"], None)
        if p is not None and p < len(rows):
            del rows[p]

    def lookup_identity(self, svc, identity):
        rows, pos = self._rows(svc)
        p = pos.get(identity)
        if p is None or p >= len(rows):
            return None
        return rows[p]


# ---------------------------------------------------------------------------
# Kind B: values whose type or text the store changes
# ---------------------------------------------------------------------------

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _js_number(text):
    """The text a JavaScript-style double round trip gives a JSON number."""
    x = float(text)
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    if x == 0:
        return "0"                       # -0 and 0.0 become 0
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))               # 1e3 -> 1000, big integers lose digits
    mantissa, e, exp = repr(x).partition("e")
    if e:
        n = int(exp)
        return f"{mantissa}e{'+' if n > 0 else '-'}{abs(n)}"
    return mantissa                      # long decimals are rounded to 17 digits


def _rewrite_numbers(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "-" or "0" <= c <= "9":
            m = _JSON_NUMBER.match(text, i)
            if not m:
                out.append(c)
                i += 1
                continue
            out.append(_js_number(m.group()))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


@defect("attributes-double-numbers", "value-rewrite",
        "Attributes with big integers (> 2^53), exponents (1e3), -0, 1.0 or long decimals: "
        "the numbers come back rewritten")
class AttributesDoubleNumbers:
    """Attributes go through a store that keeps JSON numbers as doubles and
    prints them back; the rest of the text is kept."""

    def store_value(self, field, value):
        value = super().store_value(field, value)
        if field == "attributes" and isinstance(value, str):
            return _rewrite_numbers(value)
        return value


@defect("friendly-name-typed", "value-rewrite",
        "FriendlyName that looks like a number, boolean or null ('42', 'true', 'null', '007'): "
        "friendly_name comes back as a JSON number/boolean/null")
class FriendlyNameTyped:
    """A loosely typed document store infers scalar types from strings."""

    def store_value(self, field, value):
        value = super().store_value(field, value)
        if field == "friendly_name" and isinstance(value, str):
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if re.fullmatch(r"-?[0-9]{1,18}", value):
                return int(value)
            if re.fullmatch(r"-?[0-9]{1,15}\.[0-9]{1,15}", value):
                return float(value)
        return value


@defect("friendly-name-dates", "value-rewrite",
        "FriendlyName that looks like an ISO date ('2024-02-03', '2024-02-03 10:00+01:00'): "
        "it comes back as a normalised UTC timestamp")
class FriendlyNameDates:
    """An ORM column type sniffs date-looking strings and stores them as
    timestamps, which it prints back in its own canonical form."""

    def store_value(self, field, value):
        value = super().store_value(field, value)
        if field == "friendly_name" and isinstance(value, str) \
                and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.+\-Z]*)?", value):
            try:
                stamp = datetime.fromisoformat(value)
            except ValueError:
                return value
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone.utc)
            return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value


@defect("role-sid-lowercased", "value-rewrite",
        "RoleSid with upper-case hex digits (RLABCDEF...): role_sid comes back lower-cased")
class RoleSidLowercased:
    """Sids are 'canonicalised' to lower-case hex before they are stored."""

    def store_value(self, field, value):
        value = super().store_value(field, value)
        if field == "role_sid" and isinstance(value, str):
            return value[:2] + value[2:].lower()
        return value


# ---------------------------------------------------------------------------
# Kind C: lookups that are not exact
# ---------------------------------------------------------------------------

def _like_regex(pattern):
    return re.compile("".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                              for ch in pattern), re.S)


@defect("identity-like-wildcards", "inexact-lookup",
        "{Sid} identity containing '_' or '%' (a_b, 50%): fetch/update/delete hits an older "
        "user that the pattern matches (axb), or a user that does not exist answers 200")
class IdentityLikeWildcards:
    """Identity lookup is `WHERE identity LIKE ?` with the value unescaped."""

    def lookup_identity(self, svc, identity):
        rx = _like_regex(identity)
        return _first(svc, lambda candidate: rx.fullmatch(candidate) is not None)


@defect("identity-casefold", "inexact-lookup",
        "{Sid} identity in another letter case (BOB for bob, or bob when Bob was created "
        "first): fetch/update/delete answers with the other user")
class IdentityCasefold:
    """Identity lookup runs under a case-insensitive (Unicode case-folding)
    collation; the unique index on create stays exact."""

    def lookup_identity(self, svc, identity):
        key = identity.casefold()
        return _first(svc, lambda candidate: candidate.casefold() == key)


def _strip_accents(text):
    return "".join(ch for ch in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(ch))


@defect("identity-accent-fold", "inexact-lookup",
        "identities that differ only by accents or compatibility forms (José / Jose, "
        "ﬁ / fi): create answers 409, fetch answers with the other user")
class IdentityAccentFold:
    """Identities are compared under an accent-insensitive collation, both for
    the unique index and for lookups."""

    def lookup_identity(self, svc, identity):
        key = _strip_accents(identity)
        return _first(svc, lambda candidate: _strip_accents(candidate) == key)

    def identity_taken(self, svc, identity):
        return self.lookup_identity(svc, identity) is not None


@defect("identity-pad-space", "inexact-lookup",
        "identities that differ only by trailing spaces ('carol' / 'carol '): "
        "create answers 409, fetch of 'carol ' answers with carol")
class IdentityPadSpace:
    """A PAD SPACE collation: trailing spaces are ignored when identities are
    compared, for the unique index and for lookups."""

    def lookup_identity(self, svc, identity):
        key = identity.rstrip(" ")
        return _first(svc, lambda candidate: candidate.rstrip(" ") == key)

    def identity_taken(self, svc, identity):
        return self.lookup_identity(svc, identity) is not None


# ---------------------------------------------------------------------------
# Kind D: collections and page sizes at the bounds
# ---------------------------------------------------------------------------

@defect("list-cap-100", "paging",
        "more than 100 users in a service: Read (any PageSize) never shows the users after "
        "the 100th; the last page has next_page_url null")
class ListCap100:
    """The listing query has a hard LIMIT 100 under the paging logic."""

    def listing(self, svc):
        return super().listing(svc)[:100]


@defect("pagesize-clamp-50", "paging",
        "PageSize above 50 with more than 50 users: each page holds only 50 users but the "
        "next page starts after PageSize of them, so users are skipped; meta.page_size "
        "still says the requested size")
class PageSizeClamp50:
    """The storage layer silently caps a fetch at 50 rows (the newer OpenAPI
    maximum), while the cursor is computed from the requested page."""

    def page(self, service_sid, size, token):
        users, prev_token, next_token = super().page(service_sid, size, token)
        return users[:50], prev_token, next_token


@defect("page-boundary-repeat", "paging",
        "any Read that needs more than one page (e.g. 51 users with the default PageSize, "
        "2 users with PageSize=1): the last user of each page repeats as the first of the next")
class PageBoundaryRepeat:
    """The cursor comparison is inclusive (seq >= token instead of seq > token)."""

    def page_bounds(self, order, size, token):
        if token is not None and token[0] == "A":
            start = bisect.bisect_left(order, token[1], key=lambda t: t[0])
            return start, min(len(order), start + size)
        return super().page_bounds(order, size, token)


# ---------------------------------------------------------------------------
# Kind E: concurrency
# ---------------------------------------------------------------------------

@defect("lost-update", "concurrency",
        "two concurrent updates of different parameters of one user (FriendlyName and "
        "Attributes): one change is lost")
class LostUpdate:
    """Update reads the row, works on a copy without holding the lock, and
    writes the whole row back."""

    def update(self, service_sid, key, changes):
        with self.lock:
            svc, user = self._found(service_sid, key)
            draft = dict(user)
        time.sleep(RACE_WINDOW)
        self.apply_changes(draft, changes)
        with self.lock:
            live = svc.users.get(draft["sid"])
            if live is None:
                raise self.missing(service_sid, key)
            live.clear()
            live.update(draft)
            return dict(live)


@defect("update-resurrects-deleted", "concurrency",
        "an update concurrent with a delete of the same user: the delete answers 204, the "
        "update answers 200, and the user exists again afterwards")
class UpdateResurrectsDeleted:
    """Update looks the user up, then writes with an upsert; a delete that
    lands in between is undone."""

    def update(self, service_sid, key, changes):
        with self.lock:
            svc, user = self._found(service_sid, key)
            draft = dict(user)
        time.sleep(RACE_WINDOW)
        with self.lock:
            live = svc.users.get(draft["sid"])
            if live is not None:
                self.apply_changes(live, changes)
                return dict(live)
            self.apply_changes(draft, changes)          # INSERT ... ON CONFLICT UPDATE
            svc.users[draft["sid"]] = draft
            svc.by_identity.setdefault(draft["identity"], draft["sid"])
            bisect.insort(svc.order, (draft["seq"], draft["sid"]), key=lambda t: t[0])
            return dict(draft)


@defect("delete-create-race", "concurrency",
        "a create of an identity while a delete of the same identity is under way: the "
        "create answers 201 but the new user is gone afterwards (404 by sid and identity)")
class DeleteCreateRace:
    """Delete first drops the unique-index entry, then (later) deletes every
    row with that identity, including one created in between."""

    def delete(self, service_sid, key):
        with self.lock:
            svc, user = self._found(service_sid, key)
            identity = user["identity"]
            svc.by_identity.pop(identity, None)
        time.sleep(RACE_WINDOW)
        with self.lock:
            for victim in [u for u in svc.users.values() if u["identity"] == identity]:
                self._remove(svc, victim)


if __name__ == "__main__":
    for d in DEFECTS.values():
        print(f"{d.name:28} {d.kind:15} {d.trigger}")
