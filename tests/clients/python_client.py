"""The official Twilio Python helper library (9.x), unmodified, against the convcheck emulator.

Only the base URL is changed. Reads CONVCHECK_BASE_URL, CONVCHECK_ACCOUNT_SID,
CONVCHECK_AUTH_TOKEN and CONVCHECK_SERVICE_SID; prints `N passed, M failed` last and exits
non-zero when anything failed.
"""

import os
import sys
import traceback
import uuid

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

BASE = os.environ["CONVCHECK_BASE_URL"]
ACCOUNT = os.environ["CONVCHECK_ACCOUNT_SID"]
TOKEN = os.environ["CONVCHECK_AUTH_TOKEN"]
SERVICE = os.environ["CONVCHECK_SERVICE_SID"]

# Unique per run, so reruns against a long-lived emulator do not collide.
SUFFIX = uuid.uuid4().hex[:10]

client = Client(ACCOUNT, TOKEN)
client.conversations.base_url = BASE
users = client.conversations.v1.users

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception:  # noqa: BLE001 - every failure is reported, then counted
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc()


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def expect_rest_error(fn, status, code):
    try:
        fn()
    except TwilioRestException as e:
        expect(e.status == status, f"status {e.status}, expected {status}")
        expect(e.code == code, f"code {e.code}, expected {code}")
        return
    raise AssertionError(f"expected TwilioRestException {status}/{code}, got success")


state = {}
IDENTITY = f"py user@example.com {SUFFIX}"


def create():
    u = users.create(identity=IDENTITY, friendly_name="Py User", attributes='{"lang": "py"}')
    expect(u.sid.startswith("US") and len(u.sid) == 34, f"sid {u.sid}")
    expect(u.identity == IDENTITY, f"identity {u.identity!r}")
    expect(u.friendly_name == "Py User", f"friendly_name {u.friendly_name!r}")
    expect(u.attributes == '{"lang": "py"}', f"attributes {u.attributes!r}")
    expect(u.url.startswith(BASE), f"url {u.url}")
    state["sid"] = u.sid


def fetch_by_sid():
    u = users(state["sid"]).fetch()
    expect(u.identity == IDENTITY, f"identity {u.identity!r}")


def fetch_by_identity():
    u = users(IDENTITY).fetch()
    expect(u.sid == state["sid"], f"sid {u.sid}")


def update():
    u = users(state["sid"]).update(friendly_name="Py User 2", attributes='{"lang": "python"}')
    expect(u.friendly_name == "Py User 2", f"friendly_name {u.friendly_name!r}")
    expect(u.attributes == '{"lang": "python"}', f"attributes {u.attributes!r}")
    expect(u.identity == IDENTITY, "identity changed")
    again = users(IDENTITY).fetch()
    expect(again.friendly_name == "Py User 2", "update not kept")


def service_form():
    svc_users = client.conversations.v1.services(SERVICE).users
    u = svc_users.create(identity=f"py svc {SUFFIX}")
    expect(u.chat_service_sid == SERVICE, f"chat_service_sid {u.chat_service_sid}")
    expect(f"/v1/Services/{SERVICE}/Users/" in u.url, f"url {u.url}")
    expect(svc_users(f"py svc {SUFFIX}").fetch().sid == u.sid, "fetch by identity")
    svc_users(u.sid).delete()


def paging():
    prefix = f"py page {SUFFIX} "
    made = [users.create(identity=f"{prefix}{i}").sid for i in range(6)]
    listed = [u.sid for u in users.list(page_size=2) if u.identity.startswith(prefix)]
    expect(listed == made, f"list gave {listed}, expected {made}")
    limited = users.list(page_size=2, limit=5)
    expect(len(limited) == 5, f"limit 5 gave {len(limited)}")
    pages = 0
    seen = []
    page = users.page(page_size=2)
    while page is not None:
        pages += 1
        seen.extend(u.sid for u in page)
        page = page.next_page()
    expect(pages >= 3, f"only {pages} pages")
    expect(len(seen) == len(set(seen)), "a user was repeated")
    expect(all(s in seen for s in made), "a user was missing")
    for sid in made:
        users(sid).delete()


def delete():
    users(state["sid"]).delete()
    expect_rest_error(lambda: users(state["sid"]).fetch(), 404, 20404)
    expect_rest_error(lambda: users(IDENTITY).fetch(), 404, 20404)


def duplicate():
    identity = f"py dup {SUFFIX}"
    u = users.create(identity=identity)
    expect_rest_error(lambda: users.create(identity=identity), 409, 50201)
    users(u.sid).delete()


for name, fn in [
    ("create", create),
    ("fetch by sid", fetch_by_sid),
    ("fetch by identity", fetch_by_identity),
    ("update", update),
    ("service form", service_form),
    ("paging", paging),
    ("delete then 404", delete),
    ("duplicate identity 409", duplicate),
]:
    check(name, fn)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
