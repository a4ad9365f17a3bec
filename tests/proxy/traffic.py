"""An application's traffic, made by the official Twilio Python helper library (9.x) through
`convcheck proxy`: creates, lookups, updates, a paged list, the service form and deletes.

It judges nothing itself (the proxy does): each step's error is printed and the script goes
on, as an application's test suite would against a broken server. Reads CONVCHECK_PROXY_URL
(set by `convcheck proxy ... -- python traffic.py`), CONVCHECK_ACCOUNT_SID,
CONVCHECK_AUTH_TOKEN and CONVCHECK_SERVICE_SID. Exits 0 unless the library itself could not
run.
"""

import os
import uuid

from twilio.rest import Client

BASE = os.environ["CONVCHECK_PROXY_URL"]
ACCOUNT = os.environ["CONVCHECK_ACCOUNT_SID"]
TOKEN = os.environ["CONVCHECK_AUTH_TOKEN"]
SERVICE = os.environ["CONVCHECK_SERVICE_SID"]
SUFFIX = uuid.uuid4().hex[:8]

client = Client(ACCOUNT, TOKEN)
client.conversations.base_url = BASE
users = client.conversations.v1.users
svc_users = client.conversations.v1.services(SERVICE).users
made = {}


def step(name, fn):
    try:
        fn()
        print(f"done {name}")
    except Exception as e:  # noqa: BLE001 - a broken server's answer is the proxy's to judge
        print(f"error {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def walk(coll, **kw):
    """A paged list as an application follows it, bounded: a server whose `next_page_url`
    never ends must not hold the script forever."""
    page = coll.page(**kw)
    for _ in range(30):
        if page is None:
            return
        list(page)
        page = page.next_page()


def ident(name):
    return f"py {name} {SUFFIX}"


def create(key, identity, **kw):
    made[key] = users.create(identity=identity, **kw).sid


step("create", lambda: create("a", ident("alice"), friendly_name="Alice",
                              attributes='{"team": "blue", "level": 3}'))
step("fetch by sid", lambda: users(made["a"]).fetch())
step("fetch by identity", lambda: users(ident("alice")).fetch())
step("update", lambda: users(made["a"]).update(friendly_name="Alice B",
                                               attributes='{"team": "red"}'))
step("fetch after update", lambda: users(ident("alice")).fetch())
step("update by identity", lambda: users(ident("alice")).update(friendly_name="Alice C"))
step("fetch after update by identity", lambda: users(made["a"]).fetch())
step("numbers in attributes", lambda: create(
    "n", ident("numbers"),
    attributes='{"id": 9007199254740993, "price": 19.99, "ratio": 0.1, "sum": 0.30000000000000004, '
               '"huge": 1e400, "f": 16777217.5}'))
step("fetch numbers", lambda: users(made["n"]).fetch())
step("names", lambda: create("m", ident("markup"), friendly_name="<b>Tom & Jerry</b>"))
step("numeric name", lambda: create("z", ident("zero"), friendly_name="007"))
step("null name", lambda: create("l", ident("nulls"), friendly_name="null"))
step("fetch names", lambda: [users(made[k]).fetch() for k in "mzl"])
step("unicode identity", lambda: create("u", ident("cafe\u0301")))
step("fetch unicode identity", lambda: users(ident("cafe\u0301")).fetch())
step("spaced identity", lambda: create("s", ident("spaced") + " "))
step("fetch spaced identity", lambda: users(ident("spaced") + " ").fetch())
step("long identity", lambda: create("g", ident("long-" + "x" * 200)))
step("fetch long identity", lambda: users(ident("long-" + "x" * 200)).fetch())
step("email identity", lambda: create("e", ident("alice+tag@example.com")))
step("fetch email identity", lambda: users(ident("alice+tag@example.com")).fetch())
for probe in [ident("ALICE"), f"py alice {SUFFIX[:4]}", f"py %alice% {SUFFIX}",
              f"py _lice {SUFFIX}", f"py .*alice {SUFFIX}", ident("\uff41lice")]:
    step(f"lookup of nobody {probe!r}", lambda p=probe: users(p).fetch())
    step(f"update of nobody {probe!r}", lambda p=probe: users(p).update(friendly_name="nobody"))
step("duplicate create", lambda: users.create(identity=ident("alice")))
step("invalid attributes", lambda: users.create(identity=ident("bad"), attributes="[1, 2]"))
step("invalid page size", lambda: users.page(page_size=1001))
step("list before an update", lambda: walk(users, page_size=20))
step("update seen in the list", lambda: users(made["n"]).update(friendly_name="Numbers"))
step("list after an update", lambda: walk(users, page_size=20))
step("team", lambda: [create("t", ident("team")), create("t2", ident("team") + "-admin")])
step("delete team", lambda: users(made["t"]).delete())
step("fetch team admin", lambda: users(made["t2"]).fetch())
step("shared identity", lambda: [create("h", ident("shared")),
                                 made.__setitem__("h2", svc_users.create(identity=ident("shared")).sid)])
step("update shared by identity", lambda: users(ident("shared")).update(friendly_name="Default"))
step("fetch shared in the service", lambda: svc_users(ident("shared")).fetch())
step("delete shared by identity", lambda: users(ident("shared")).delete())
step("fetch shared in the service again", lambda: svc_users(ident("shared")).fetch())
step("delete shared in the service", lambda: svc_users(made["h2"]).delete())
step("more users", lambda: [create(f"p{i}", ident(f"page {i}")) for i in range(5)])
step("list", lambda: walk(users, page_size=2))
step("service create", lambda: made.__setitem__("c", svc_users.create(identity=ident("svc")).sid))
step("service fetch by identity", lambda: svc_users(ident("svc")).fetch())
step("service user through the shortened form", lambda: users(made["c"]).fetch())
step("service user updated through the shortened form",
     lambda: users(made["c"]).update(friendly_name="not here"))
step("service user deleted through the shortened form", lambda: users(made["c"]).delete())
step("service list", lambda: walk(svc_users, page_size=50))
step("service delete", lambda: svc_users(made["c"]).delete())
step("delete", lambda: users(made["a"]).delete())
step("fetch deleted by sid", lambda: users(made["a"]).fetch())
step("fetch deleted by identity", lambda: users(ident("alice")).fetch())
step("update deleted", lambda: users(made["a"]).update(friendly_name="back?"))
step("fetch after update of deleted", lambda: users(made["a"]).fetch())
step("list after delete", lambda: walk(users, page_size=3))
step("create again", lambda: create("a2", ident("alice")))
step("fetch recreated", lambda: users(ident("alice")).fetch())
step("fetch the deleted sid after the identity came back", lambda: users(made["a"]).fetch())
step("list after create again", lambda: walk(users, page_size=50))
for key in list(made):
    if key not in ("a", "c", "t", "h", "h2"):
        step(f"delete {key}", lambda k=key: users(made[k]).delete())
step("list at the end", lambda: walk(users))
