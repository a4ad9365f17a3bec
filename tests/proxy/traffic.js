// An application's traffic, made by the official Twilio Node helper library (6.x) through
// `convcheck proxy`: creates, lookups, updates, a paged list, the service form and deletes.
//
// It judges nothing itself (the proxy does): each step's error is printed and the script goes
// on, as an application's test suite would against a broken server. Reads CONVCHECK_PROXY_URL
// (set by `convcheck proxy ... -- node traffic.js`), CONVCHECK_ACCOUNT_SID,
// CONVCHECK_AUTH_TOKEN and CONVCHECK_SERVICE_SID. The library comes from tests/clients.
"use strict";

const crypto = require("crypto");
const path = require("path");
const twilio = require(path.join(__dirname, "..", "clients", "node_modules", "twilio"));

const BASE = process.env.CONVCHECK_PROXY_URL;
const ACCOUNT = process.env.CONVCHECK_ACCOUNT_SID;
const TOKEN = process.env.CONVCHECK_AUTH_TOKEN;
const SERVICE = process.env.CONVCHECK_SERVICE_SID;
const SUFFIX = crypto.randomBytes(4).toString("hex");

const client = twilio(ACCOUNT, TOKEN);
client.conversations.baseUrl = BASE;
const users = client.conversations.v1.users;
const svcUsers = client.conversations.v1.services(SERVICE).users;
const made = {};

async function step(name, fn) {
  try {
    await fn();
    console.log(`done ${name}`);
  } catch (e) {
    console.log(`error ${name}: ${String(e.message || e).split("\n")[0]}`);
  }
}

// A paged list as an application follows it, bounded: a server whose `next_page_url` never
// ends must not hold the script forever.
async function walk(coll, opts = {}) {
  let page = await coll.page(opts);
  for (let i = 0; i < 30 && page; i++) {
    page = await page.nextPage();
  }
}

const ident = (name) => `js ${name} ${SUFFIX}`;
const create = async (key, identity, opts = {}) => {
  made[key] = (await users.create({ identity, ...opts })).sid;
};

async function main() {
  await step("create", () => create("a", ident("alice"), {
    friendlyName: "Alice", attributes: '{"team": "blue", "level": 3}',
  }));
  await step("fetch by sid", () => users(made.a).fetch());
  await step("fetch by identity", () => users(ident("alice")).fetch());
  await step("update", () => users(made.a).update({ friendlyName: "Alice B", attributes: '{"team": "red"}' }));
  await step("fetch after update", () => users(ident("alice")).fetch());
  await step("update by identity", () => users(ident("alice")).update({ friendlyName: "Alice C" }));
  await step("fetch after update by identity", () => users(made.a).fetch());
  await step("numbers in attributes", () => create("n", ident("numbers"), {
    attributes: '{"id": 9007199254740993, "price": 19.99, "ratio": 0.1, "sum": 0.30000000000000004, '
      + '"huge": 1e400, "f": 16777217.5}',
  }));
  await step("fetch numbers", () => users(made.n).fetch());
  await step("names", () => create("m", ident("markup"), { friendlyName: "<b>Tom & Jerry</b>" }));
  await step("numeric name", () => create("z", ident("zero"), { friendlyName: "007" }));
  await step("null name", () => create("l", ident("nulls"), { friendlyName: "null" }));
  await step("fetch names", async () => {
    for (const k of ["m", "z", "l"]) await users(made[k]).fetch();
  });
  await step("unicode identity", () => create("u", ident("cafe\u0301")));
  await step("fetch unicode identity", () => users(ident("cafe\u0301")).fetch());
  await step("spaced identity", () => create("s", ident("spaced") + " "));
  await step("long identity", () => create("g", ident("long-" + "x".repeat(200))));
  await step("fetch long identity", () => users(ident("long-" + "x".repeat(200))).fetch());
  await step("email identity", () => create("e", ident("alice+tag@example.com")));
  await step("fetch email identity", () => users(ident("alice+tag@example.com")).fetch());
  for (const probe of [ident("ALICE"), `js alice ${SUFFIX.slice(0, 4)}`, `js _lice ${SUFFIX}`,
    `js .*alice ${SUFFIX}`, ident("\uff41lice")]) {
    await step(`lookup of nobody ${JSON.stringify(probe)}`, () => users(probe).fetch());
    await step(`update of nobody ${JSON.stringify(probe)}`, () => users(probe).update({ friendlyName: "nobody" }));
  }
  await step("duplicate create", () => users.create({ identity: ident("alice") }));
  await step("invalid attributes", () => users.create({ identity: ident("bad"), attributes: "[1, 2]" }));
  await step("invalid page size", () => users.page({ pageSize: 1001 }));
  await step("list before an update", () => walk(users, { pageSize: 20 }));
  await step("update seen in the list", () => users(made.n).update({ friendlyName: "Numbers" }));
  await step("list after an update", () => walk(users, { pageSize: 20 }));
  await step("team", async () => {
    await create("t", ident("team"));
    await create("t2", ident("team") + "-admin");
  });
  await step("delete team", () => users(made.t).remove());
  await step("fetch team admin", () => users(made.t2).fetch());
  await step("shared identity", async () => {
    await create("h", ident("shared"));
    made.h2 = (await svcUsers.create({ identity: ident("shared") })).sid;
  });
  await step("update shared by identity", () => users(ident("shared")).update({ friendlyName: "Default" }));
  await step("fetch shared in the service", () => svcUsers(ident("shared")).fetch());
  await step("delete shared by identity", () => users(ident("shared")).remove());
  await step("fetch shared in the service again", () => svcUsers(ident("shared")).fetch());
  await step("delete shared in the service", () => svcUsers(made.h2).remove());
  await step("more users", async () => {
    for (let i = 0; i < 5; i++) await create(`p${i}`, ident(`page ${i}`));
  });
  await step("list", () => walk(users, { pageSize: 2 }));
  await step("service create", async () => {
    made.c = (await svcUsers.create({ identity: ident("svc") })).sid;
  });
  await step("service fetch by identity", () => svcUsers(ident("svc")).fetch());
  await step("service user through the shortened form", () => users(made.c).fetch());
  await step("service user updated through the shortened form", () => users(made.c).update({ friendlyName: "not here" }));
  await step("service user deleted through the shortened form", () => users(made.c).remove());
  await step("service list", () => walk(svcUsers, { pageSize: 50 }));
  await step("service delete", () => svcUsers(made.c).remove());
  await step("delete", () => users(made.a).remove());
  await step("fetch deleted by sid", () => users(made.a).fetch());
  await step("fetch deleted by identity", () => users(ident("alice")).fetch());
  await step("update deleted", () => users(made.a).update({ friendlyName: "back?" }));
  await step("fetch after update of deleted", () => users(made.a).fetch());
  await step("list after delete", () => walk(users, { pageSize: 3 }));
  await step("create again", () => create("a2", ident("alice")));
  await step("fetch recreated", () => users(ident("alice")).fetch());
  await step("fetch the deleted sid after the identity came back", () => users(made.a).fetch());
  await step("list after create again", () => walk(users, { pageSize: 50 }));
  for (const key of Object.keys(made)) {
    if (!["a", "c", "t", "h", "h2"].includes(key)) await step(`delete ${key}`, () => users(made[key]).remove());
  }
  await step("list at the end", () => walk(users));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
