// The official Twilio Node helper library (6.x), unmodified, against the convcheck emulator.
//
// Only the base URL is changed. Reads CONVCHECK_BASE_URL, CONVCHECK_ACCOUNT_SID,
// CONVCHECK_AUTH_TOKEN and CONVCHECK_SERVICE_SID; prints `N passed, M failed` last and exits
// non-zero when anything failed.
"use strict";

const crypto = require("crypto");
const twilio = require("twilio");

const BASE = process.env.CONVCHECK_BASE_URL;
const ACCOUNT = process.env.CONVCHECK_ACCOUNT_SID;
const TOKEN = process.env.CONVCHECK_AUTH_TOKEN;
const SERVICE = process.env.CONVCHECK_SERVICE_SID;

// Unique per run, so reruns against a long-lived emulator do not collide.
const SUFFIX = crypto.randomBytes(5).toString("hex");

const client = twilio(ACCOUNT, TOKEN);
client.conversations.baseUrl = BASE;
const users = client.conversations.v1.users;

let passed = 0;
let failed = 0;

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function expectRestError(fn, status, code) {
  try {
    await fn();
  } catch (e) {
    expect(e instanceof twilio.RestException, `expected RestException, got ${e}`);
    expect(e.status === status, `status ${e.status}, expected ${status}`);
    expect(e.code === code, `code ${e.code}, expected ${code}`);
    return;
  }
  throw new Error(`expected RestException ${status}/${code}, got success`);
}

const state = {};
const IDENTITY = `node user@example.com ${SUFFIX}`;

const checks = [
  ["create", async () => {
    const u = await users.create({
      identity: IDENTITY,
      friendlyName: "Node User",
      attributes: JSON.stringify({ lang: "js" }),
    });
    expect(/^US[0-9a-fA-F]{32}$/.test(u.sid), `sid ${u.sid}`);
    expect(u.identity === IDENTITY, `identity ${u.identity}`);
    expect(u.friendlyName === "Node User", `friendlyName ${u.friendlyName}`);
    expect(u.attributes === '{"lang":"js"}', `attributes ${u.attributes}`);
    expect(u.url.startsWith(BASE), `url ${u.url}`);
    state.sid = u.sid;
  }],
  ["fetch by sid", async () => {
    const u = await users(state.sid).fetch();
    expect(u.identity === IDENTITY, `identity ${u.identity}`);
  }],
  ["fetch by identity", async () => {
    const u = await users(IDENTITY).fetch();
    expect(u.sid === state.sid, `sid ${u.sid}`);
  }],
  ["update", async () => {
    const u = await users(state.sid).update({ friendlyName: "Node User 2", attributes: "{}" });
    expect(u.friendlyName === "Node User 2", `friendlyName ${u.friendlyName}`);
    expect(u.attributes === "{}", `attributes ${u.attributes}`);
    expect(u.identity === IDENTITY, "identity changed");
    const again = await users(IDENTITY).fetch();
    expect(again.friendlyName === "Node User 2", "update not kept");
  }],
  ["service form", async () => {
    const svcUsers = client.conversations.v1.services(SERVICE).users;
    const u = await svcUsers.create({ identity: `node svc ${SUFFIX}` });
    expect(u.chatServiceSid === SERVICE, `chatServiceSid ${u.chatServiceSid}`);
    expect(u.url.includes(`/v1/Services/${SERVICE}/Users/`), `url ${u.url}`);
    const f = await svcUsers(`node svc ${SUFFIX}`).fetch();
    expect(f.sid === u.sid, "fetch by identity");
    await svcUsers(u.sid).remove();
  }],
  ["paging", async () => {
    const prefix = `node page ${SUFFIX} `;
    const made = [];
    for (let i = 0; i < 6; i++) {
      made.push((await users.create({ identity: `${prefix}${i}` })).sid);
    }
    const listed = (await users.list({ pageSize: 2 }))
      .filter((u) => u.identity.startsWith(prefix))
      .map((u) => u.sid);
    expect(JSON.stringify(listed) === JSON.stringify(made), `list gave ${listed}`);
    const limited = await users.list({ pageSize: 2, limit: 5 });
    expect(limited.length === 5, `limit 5 gave ${limited.length}`);
    let pages = 0;
    const seen = [];
    let page = await users.page({ pageSize: 2 });
    while (page) {
      pages += 1;
      seen.push(...page.instances.map((u) => u.sid));
      page = await page.nextPage();
    }
    expect(pages >= 3, `only ${pages} pages`);
    expect(new Set(seen).size === seen.length, "a user was repeated");
    expect(made.every((s) => seen.includes(s)), "a user was missing");
    for (const sid of made) await users(sid).remove();
  }],
  ["delete then 404", async () => {
    const removed = await users(state.sid).remove();
    expect(removed === true, `remove gave ${removed}`);
    await expectRestError(() => users(state.sid).fetch(), 404, 20404);
    await expectRestError(() => users(IDENTITY).fetch(), 404, 20404);
  }],
  ["duplicate identity 409", async () => {
    const identity = `node dup ${SUFFIX}`;
    const u = await users.create({ identity });
    await expectRestError(() => users.create({ identity }), 409, 50201);
    await users(u.sid).remove();
  }],
];

(async () => {
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}`);
      console.log(e && e.stack ? e.stack : e);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
