//! The emulator's users: a thread-safe in-memory store, fresh SIDs, and the `--state` database.
//!
//! One `std::sync::Mutex` guards everything, held only for short, synchronous sections, so a
//! create checks for a duplicate identity and inserts in one atomic step, an update reads and
//! writes in one, a delete removes a user and its index entries in one (only the concurrency
//! faults take the lock twice, as a racy server would: `duplicate-race` for a create's check
//! and insert, `update-lost-concurrent` and `delete-update-resurrect` for an update's read and
//! write, `create-delete-index-race` for a delete's removal and index cleanup; nothing here
//! forbids two holders of one identity). Every user carries a
//! sequence number that only grows: it gives Read its stable creation order and lets a page
//! token resume after the last user shown, whatever else is created or deleted meanwhile.
//!
//! With a state file the store is write-through: every change is first committed to SQLite
//! (one INSERT, UPDATE or DELETE in its own transaction, WAL journal, `synchronous=NORMAL`),
//! and only when that commit succeeds does the in-memory index change and the caller answer.
//! A change that cannot be committed leaves memory as it was and comes back as a
//! [`WriteError`], so nothing is acknowledged that a restart would not find. The in-memory
//! indexes serve reads; on start they are rebuilt from the database, which is the source of
//! truth, after the file has been checked (SQLite, convcheck's application id, schema version,
//! unique sequence numbers and SIDs, known services).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, params};

/// `PRAGMA application_id` of a convcheck state file ("ccst"), so another program's SQLite
/// database is told apart from an old or damaged state.
pub const APPLICATION_ID: i32 = 0x6363_7374;
/// `PRAGMA user_version` of the schema this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;
/// How long a write waits for a lock another process holds before it is refused.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

const SCHEMA: &str = "
CREATE TABLE users (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    service_key   TEXT NOT NULL,
    sid           TEXT NOT NULL UNIQUE,
    service_sid   TEXT NOT NULL,
    role_sid      TEXT NOT NULL,
    identity      TEXT,
    friendly_name TEXT,
    attributes    TEXT,
    online        INTEGER,
    notifiable    INTEGER,
    date_created  INTEGER NOT NULL,
    date_updated  INTEGER NOT NULL
) STRICT;
CREATE INDEX users_by_service ON users (service_key, seq);
";

const COLUMNS: &str = "seq, service_key, sid, service_sid, role_sid, identity, friendly_name, \
                       attributes, online, notifiable, date_created, date_updated";

/// One stored user. Dates are Unix seconds: the API shows them to the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Creation order; only grows.
    pub seq: u64,
    /// `US…`.
    pub sid: String,
    /// The service the user was created through.
    pub service_sid: String,
    /// `RL…`.
    pub role_sid: String,
    /// `None` only when a fault let a create through without one.
    pub identity: Option<String>,
    /// `None` until set.
    pub friendly_name: Option<String>,
    /// `None` until set: the API then shows `"{}"`.
    pub attributes: Option<String>,
    /// Set through the emulator's presence route.
    pub online: Option<bool>,
    /// Set through the emulator's presence route.
    pub notifiable: Option<bool>,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds; never earlier than `date_created`.
    pub date_updated: i64,
}

/// How many ways of showing users (`shown` keys of [`ServiceUsers::rendered`]) are kept at
/// once: a service is normally shown through one or two URL forms to one Host. One more
/// (a client that varies its Host header, say) starts the kept texts afresh.
const SHOWN_KEPT: usize = 8;

/// The users of one service, indexed by creation order, SID and identity.
#[derive(Debug, Default)]
pub struct ServiceUsers {
    users: BTreeMap<u64, User>,
    by_sid: HashMap<String, u64>,
    /// Every holder of an identity: more than one only under a duplicate-identity fault, and
    /// then the first created is the one found by identity.
    by_identity: HashMap<String, BTreeSet<u64>>,
    /// Each user's JSON as a page shows it, by the index of the caller's `shown` key in
    /// `shown` (see [`ServiceUsers::rendered`]). Every change to `users` drops the changed
    /// user's entry, so a kept text is never older than the user it shows.
    rendered: BTreeMap<u64, Vec<(usize, Arc<str>)>>,
    /// The `shown` keys met so far, at most [`SHOWN_KEPT`].
    shown: Vec<Box<str>>,
    /// Identities of deleted users that stay taken: filled only under the `recreate-conflict`
    /// fault, and kept in memory only (a restart forgets them).
    retired: HashSet<String>,
    /// The identity each user sid was created with, kept after its user is gone: filled only
    /// under the `sid-reused-after-recreate` fault, in memory only.
    former_identities: HashMap<String, String>,
    /// Users as the default service's service form first showed them, kept however the user
    /// changes or goes until a write to it goes through that form: filled only under the
    /// `alias-stale` fault.
    alias: BTreeMap<u64, User>,
    /// Read pages by request URL, dropped by a create or a delete but by no other change:
    /// filled only under the `page-cache-stale` fault.
    pages: HashMap<String, KeptPage>,
    /// How many creates and deletes the service has seen, so that a page made before one of
    /// them is not kept after it.
    changes: u64,
}

/// A Read page as the `page-cache-stale` fault keeps it: its users' texts and its `meta`.
#[derive(Debug, Clone)]
pub struct KeptPage {
    /// The users' JSON texts, in order.
    pub users: Vec<Arc<str>>,
    /// The page's `meta` object.
    pub meta: serde_json::Value,
}

impl ServiceUsers {
    /// Adds `user`; the caller has checked for duplicates where it must.
    fn insert(&mut self, user: User) {
        self.rendered.remove(&user.seq);
        self.pages.clear();
        self.changes += 1;
        self.by_sid.insert(user.sid.clone(), user.seq);
        if let Some(identity) = &user.identity {
            self.by_identity
                .entry(identity.clone())
                .or_default()
                .insert(user.seq);
        }
        self.users.insert(user.seq, user);
    }

    /// Removes the user with sequence number `seq`.
    fn remove(&mut self, seq: u64) -> Option<User> {
        self.rendered.remove(&seq);
        let user = self.users.remove(&seq)?;
        self.pages.clear();
        self.changes += 1;
        self.by_sid.remove(&user.sid);
        if let Some(identity) = &user.identity
            && let Some(holders) = self.by_identity.get_mut(identity)
        {
            holders.remove(&seq);
            if holders.is_empty() {
                self.by_identity.remove(identity);
            }
        }
        Some(user)
    }

    /// The user with this exact SID.
    pub fn by_sid(&self, sid: &str) -> Option<&User> {
        self.by_sid.get(sid).and_then(|s| self.users.get(s))
    }

    /// The user with this exact identity (the first created, should there be several).
    pub fn by_identity(&self, identity: &str) -> Option<&User> {
        self.by_identity
            .get(identity)
            .and_then(|holders| holders.first())
            .and_then(|s| self.users.get(s))
    }

    /// Whether a user holds `identity`.
    pub fn has_identity(&self, identity: &str) -> bool {
        self.by_identity.contains_key(identity)
    }

    /// Whether `identity` was kept taken by [`Inner::retire`].
    pub fn is_retired(&self, identity: &str) -> bool {
        self.retired.contains(identity)
    }

    /// The user with sequence number `seq`.
    pub fn get(&self, seq: u64) -> Option<&User> {
        self.users.get(&seq)
    }

    /// Every user in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &User> {
        self.users.values()
    }

    /// The texts `render` makes of the users `seqs`, in order (users that are gone are left
    /// out): made once per `shown` key and kept until the user changes or goes. `shown` must
    /// name everything besides the user that the text depends on (for a page: the base URL
    /// and the URL form). Pages are served many times over between changes, and rendering
    /// their users again each time was most of what the emulator spent on a page; the texts
    /// are shared, so the caller can join them after letting the store go.
    pub fn rendered(
        &mut self,
        seqs: &[u64],
        shown: &str,
        mut render: impl FnMut(&User) -> String,
    ) -> Vec<Arc<str>> {
        let id = match self.shown.iter().position(|s| **s == *shown) {
            Some(id) => id,
            None => {
                if self.shown.len() >= SHOWN_KEPT {
                    self.shown.clear();
                    self.rendered.clear();
                }
                self.shown.push(shown.into());
                self.shown.len() - 1
            }
        };
        let mut texts = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let Some(user) = self.users.get(seq) else {
                continue;
            };
            let kept = self.rendered.entry(*seq).or_default();
            let text = match kept.iter().find(|(s, _)| *s == id) {
                Some((_, text)) => Arc::clone(text),
                None => {
                    let text: Arc<str> = render(user).into();
                    kept.push((id, Arc::clone(&text)));
                    text
                }
            };
            texts.push(text);
        }
        texts
    }

    /// Users whose sequence number lies in `range`, in creation order.
    pub fn range(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = &User> {
        self.users.range(range).map(|(_, u)| u)
    }

    /// The identity the user `sid` was created with, whether or not it is still there (kept
    /// only under the `sid-reused-after-recreate` fault, by [`Inner::remember_identity`]).
    pub fn former_identity(&self, sid: &str) -> Option<&str> {
        self.former_identities.get(sid).map(String::as_str)
    }

    /// The user with sequence number `seq` as the default service's service form first showed
    /// it (the `alias-stale` fault): the one kept, or else the stored one, kept from now on.
    pub fn alias_shown(&mut self, seq: u64) -> Option<User> {
        if let Some(kept) = self.alias.get(&seq) {
            return Some(kept.clone());
        }
        let user = self.users.get(&seq)?.clone();
        self.alias.insert(seq, user.clone());
        Some(user)
    }

    /// The first kept user (in creation order) of the `alias-stale` fault's cache whose SID
    /// or identity is `value`: it may be gone from the store.
    pub fn alias_find(&self, value: &str) -> Option<u64> {
        self.alias
            .values()
            .find(|u| u.sid == value || u.identity.as_deref() == Some(value))
            .map(|u| u.seq)
    }

    /// Drops the user `seq` from the `alias-stale` fault's cache: a write to it went through
    /// that form.
    pub fn alias_forget(&mut self, seq: u64) {
        self.alias.remove(&seq);
    }

    /// The Read page kept for `url` (the `page-cache-stale` fault).
    pub fn kept_page(&self, url: &str) -> Option<&KeptPage> {
        self.pages.get(url)
    }

    /// How many creates and deletes the service has seen.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Keeps `page` for `url` (the `page-cache-stale` fault), unless a create or a delete came
    /// since it was made, when the service had seen `changes` of them.
    pub fn keep_page(&mut self, url: String, changes: u64, page: KeptPage) {
        if changes == self.changes {
            self.pages.insert(url, page);
        }
    }

    /// How many users the service has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the service has no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// A change the state file could not keep; memory was left as it was.
#[derive(Debug, thiserror::Error)]
#[error("cannot save the change in state file `{path}`: {reason}")]
pub struct WriteError {
    path: String,
    reason: String,
}

/// The open state database.
#[derive(Debug)]
struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    fn fail(&self, reason: impl std::fmt::Display) -> WriteError {
        WriteError {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Runs one statement in its own transaction (autocommit): when it returns `Ok`, the change
    /// is in the WAL, which survives the process being killed.
    fn exec(&self, sql: &str, values: impl rusqlite::Params) -> Result<usize, WriteError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.fail(e))?;
        stmt.execute(values).map_err(|e| self.fail(e))
    }

    fn insert(&self, key: &str, u: &User) -> Result<(), WriteError> {
        self.exec(
            "INSERT INTO users (seq, service_key, sid, service_sid, role_sid, identity, \
             friendly_name, attributes, online, notifiable, date_created, date_updated) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                db_seq(u.seq).map_err(|e| self.fail(e))?,
                key,
                u.sid,
                u.service_sid,
                u.role_sid,
                u.identity,
                u.friendly_name,
                u.attributes,
                u.online,
                u.notifiable,
                u.date_created,
                u.date_updated
            ],
        )
        .map(drop)
    }

    fn update(&self, u: &User) -> Result<(), WriteError> {
        let changed = self.exec(
            "UPDATE users SET role_sid = ?2, friendly_name = ?3, attributes = ?4, online = ?5, \
             notifiable = ?6, date_created = ?7, date_updated = ?8 WHERE seq = ?1",
            params![
                db_seq(u.seq).map_err(|e| self.fail(e))?,
                u.role_sid,
                u.friendly_name,
                u.attributes,
                u.online,
                u.notifiable,
                u.date_created,
                u.date_updated
            ],
        )?;
        if changed == 1 {
            Ok(())
        } else {
            Err(self.fail(format!("user `{}` is missing from the file", u.sid)))
        }
    }

    fn delete(&self, seq: u64) -> Result<(), WriteError> {
        let seq = db_seq(seq).map_err(|e| self.fail(e))?;
        self.exec("DELETE FROM users WHERE seq = ?1", [seq])
            .map(drop)
    }
}

fn db_seq(seq: u64) -> Result<i64, String> {
    i64::try_from(seq).map_err(|_| format!("sequence number `{seq}` is out of range"))
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub struct Inner {
    next_seq: u64,
    services: BTreeMap<String, ServiceUsers>,
    db: Option<Db>,
}

impl Inner {
    /// The users stored under `key`, if any were ever stored there.
    pub fn service(&self, key: &str) -> Option<&ServiceUsers> {
        self.services.get(key)
    }

    /// The users stored under `key`, to fill their kept texts ([`ServiceUsers::rendered`]).
    pub fn service_mut(&mut self, key: &str) -> Option<&mut ServiceUsers> {
        self.services.get_mut(key)
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Adds `user` under `key` in memory only (loading, or a store without a file).
    fn insert_in_memory(&mut self, key: &str, user: User) {
        self.next_seq = self.next_seq.max(user.seq);
        self.services
            .entry(key.to_owned())
            .or_default()
            .insert(user);
    }

    /// Stores a new user under `key`: committed to the state file first, then indexed.
    pub fn create(&mut self, key: &str, user: User) -> Result<(), WriteError> {
        if let Some(db) = &self.db {
            db.insert(key, &user)?;
        }
        self.insert_in_memory(key, user);
        Ok(())
    }

    /// Replaces the stored user with `user`'s sequence number (its SID and identity never
    /// change): committed to the state file first, then in memory.
    pub fn replace(&mut self, key: &str, user: User) -> Result<(), WriteError> {
        if let Some(db) = &self.db {
            db.update(&user)?;
        }
        if let Some(users) = self.services.get_mut(key)
            && let Some(slot) = users.users.get_mut(&user.seq)
        {
            users.rendered.remove(&user.seq);
            *slot = user;
        }
        Ok(())
    }

    /// Keeps `identity` taken under `key` after its user is gone (the `recreate-conflict`
    /// fault, in memory only).
    pub fn retire(&mut self, key: &str, identity: &str) {
        self.services
            .entry(key.to_owned())
            .or_default()
            .retired
            .insert(identity.to_owned());
    }

    /// Remembers that the user `sid` under `key` was created with `identity`, for good (the
    /// `sid-reused-after-recreate` fault, in memory only).
    pub fn remember_identity(&mut self, key: &str, sid: &str, identity: &str) {
        self.services
            .entry(key.to_owned())
            .or_default()
            .former_identities
            .insert(sid.to_owned(), identity.to_owned());
    }

    /// Drops `identity` from the identity index under `key`, whichever users it names by now
    /// (the `create-delete-index-race` fault, in memory only): they stay, found by SID only.
    pub fn unindex_identity(&mut self, key: &str, identity: &str) {
        if let Some(users) = self.services.get_mut(key) {
            users.by_identity.remove(identity);
        }
    }

    /// Every user holding `identity` under another key than `key`, as (key, sequence number),
    /// in key order and then creation order.
    pub fn holders_elsewhere(&self, key: &str, identity: &str) -> Vec<(String, u64)> {
        self.services
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .flat_map(|(k, users)| {
                users
                    .by_identity
                    .get(identity)
                    .into_iter()
                    .flatten()
                    .map(move |seq| (k.clone(), *seq))
            })
            .collect()
    }

    /// Removes the user with sequence number `seq` from under `key`: from the state file
    /// first, then from memory.
    pub fn remove(&mut self, key: &str, seq: u64) -> Result<Option<User>, WriteError> {
        if self.service(key).and_then(|s| s.get(seq)).is_none() {
            return Ok(None);
        }
        if let Some(db) = &self.db {
            db.delete(seq)?;
        }
        Ok(self.services.get_mut(key).and_then(|s| s.remove(seq)))
    }
}

/// The store, shared by every request.
#[derive(Debug, Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    /// An empty store without a file.
    pub fn in_memory() -> Store {
        Store::default()
    }

    /// The store kept in the SQLite database `path`, created when missing. `known_service`
    /// says which service keys a stored user may have. Refuses, with one line, a file that
    /// cannot be written or is not a valid state.
    pub fn open(path: &Path, known_service: &dyn Fn(&str) -> bool) -> anyhow::Result<Store> {
        let shown = path.display();
        refuse_foreign_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open state file `{shown}`"))?;
        anyhow::ensure!(
            !conn.is_readonly("main").unwrap_or(true),
            "cannot write state file `{shown}`: it is read-only"
        );
        conn.busy_timeout(BUSY_TIMEOUT)
            .with_context(|| format!("cannot open state file `{shown}`"))?;
        let db = Db {
            conn,
            path: path.to_owned(),
        };
        let mut inner = Inner::default();
        prepare(&db)
            .and_then(|()| load(&db, &mut inner, known_service))
            .and_then(|()| tune(&db))
            .with_context(|| format!("state file `{shown}`"))?;
        inner.db = Some(db);
        Ok(Store {
            inner: Mutex::new(inner),
        })
    }

    /// Locks the store. A poisoned lock is taken over: every section leaves the data whole.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds the WAL back into the database file, so a stopped emulator leaves one file.
    /// Nothing is lost without it: the WAL alone is replayed on the next open.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        let inner = self.lock();
        if let Some(db) = &inner.db {
            db.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .with_context(|| format!("cannot checkpoint state file `{}`", db.path.display()))?;
        }
        Ok(())
    }
}

/// Refuses, before SQLite sees it, a file that is not an SQLite database: the JSON state of
/// earlier versions gets a message that says what to do.
fn refuse_foreign_file(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    anyhow::ensure!(
        !path.is_dir(),
        "cannot open state file `{shown}`: it is a directory"
    );
    let mut head = Vec::with_capacity(16);
    match std::fs::File::open(path) {
        Ok(f) => {
            f.take(16)
                .read_to_end(&mut head)
                .with_context(|| format!("cannot read state file `{shown}`"))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open state file `{shown}`"));
        }
    }
    if head.is_empty() || head.as_slice() == b"SQLite format 3\0" {
        return Ok(());
    }
    if head.trim_ascii_start().starts_with(b"{") {
        anyhow::bail!(
            "state file `{shown}` is in the JSON format of convcheck 0.1, which is no longer \
             read: move it aside and start again to begin with no user"
        );
    }
    anyhow::bail!("state file `{shown}` is not a convcheck state: not an SQLite database")
}

/// Checks the application id and the schema version, and creates the schema in a new file.
/// An existing file is only read until [`load`] has accepted it, so a refused file is left
/// exactly as it was.
fn prepare(db: &Db) -> anyhow::Result<()> {
    let conn = &db.conn;
    let pragma = |name: &str| -> anyhow::Result<i32> {
        conn.pragma_query_value(None, name, |r| r.get(0))
            .with_context(|| format!("cannot read `PRAGMA {name}`"))
    };
    let (app, version) = (pragma("application_id")?, pragma("user_version")?);
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .context("cannot read the schema")?;
    let fresh = app == 0 && version == 0 && objects == 0;
    anyhow::ensure!(
        fresh || app == APPLICATION_ID,
        "is not a convcheck state: an SQLite database of another application"
    );
    anyhow::ensure!(
        fresh || version == SCHEMA_VERSION,
        "has schema version {version}, and this convcheck reads version {SCHEMA_VERSION} only"
    );
    if fresh {
        wal(conn)?;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .context("cannot create the schema")?;
    }
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .context("cannot check the database")?;
    anyhow::ensure!(check == "ok", "is damaged: {check}");
    Ok(())
}

/// Switches to WAL: a commit appends to the log instead of rewriting pages in place, and the
/// log survives the process being killed.
fn wal(conn: &Connection) -> anyhow::Result<()> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .context("cannot switch to WAL")?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "cannot switch to WAL: the journal mode stays `{mode}`"
    );
    Ok(())
}

/// The connection settings of an accepted file: WAL, and `synchronous=NORMAL`, under which a
/// commit reaches the operating system before it returns (so a killed process loses nothing)
/// but is fsynced only at checkpoints (so a power cut may lose the last commits).
fn tune(db: &Db) -> anyhow::Result<()> {
    let conn = &db.conn;
    wal(conn)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .context("cannot set `synchronous`")?;
    conn.pragma_update(None, "cache_size", -65_536)
        .context("cannot set `cache_size`")?;
    Ok(())
}

/// Reads every user into `inner`, refusing a file whose rows break the store's invariants.
fn load(db: &Db, inner: &mut Inner, known_service: &dyn Fn(&str) -> bool) -> anyhow::Result<()> {
    let mut stmt = db
        .conn
        .prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY seq"))
        .context("is not a convcheck state: cannot read its users")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                User {
                    seq: 0,
                    sid: r.get(2)?,
                    service_sid: r.get(3)?,
                    role_sid: r.get(4)?,
                    identity: r.get(5)?,
                    friendly_name: r.get(6)?,
                    attributes: r.get(7)?,
                    online: r.get(8)?,
                    notifiable: r.get(9)?,
                    date_created: r.get(10)?,
                    date_updated: r.get(11)?,
                },
            ))
        })
        .context("is not a convcheck state: cannot read its users")?;
    let mut seqs = BTreeSet::new();
    let mut sids = BTreeSet::new();
    for row in rows {
        let (seq, key, mut user) = row.context("is not a convcheck state: cannot read a user")?;
        let seq = u64::try_from(seq)
            .ok()
            .filter(|s| *s > 0)
            .with_context(|| {
                format!("user `{}` has the invalid sequence number {seq}", user.sid)
            })?;
        anyhow::ensure!(seqs.insert(seq), "sequence number {seq} is used twice");
        anyhow::ensure!(
            sids.insert(user.sid.clone()),
            "user sid `{}` is used twice",
            user.sid
        );
        for service in [&key, &user.service_sid] {
            anyhow::ensure!(
                known_service(service),
                "user `{}` belongs to service `{service}`, which is not configured: start \
                 with the same services or another state file",
                user.sid
            );
        }
        anyhow::ensure!(
            user.date_updated >= user.date_created,
            "user `{}` was updated before it was created",
            user.sid
        );
        user.seq = seq;
        inner.insert_in_memory(&key, user);
    }
    // AUTOINCREMENT remembers the highest sequence number ever used, deleted users included,
    // so numbers are never handed out twice across restarts.
    let used: Option<i64> = db
        .conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'users'",
            [],
            |r| r.get(0),
        )
        .ok();
    if let Some(used) = used.and_then(|u| u64::try_from(u).ok()) {
        inner.next_seq = inner.next_seq.max(used);
    }
    Ok(())
}

/// `value` as SQLite gives it back from a column of NUMERIC affinity (the
/// `friendly-name-numeric-affinity` fault): a well-formed integer or real text is stored as
/// that number and read back as SQLite writes it (`00123` is `123`, `1.50` is `1.5`, `3.0e+5`
/// is `300000`); any other text is kept as it is. The bundled SQLite itself decides, through a
/// one-row table of its own.
pub fn numeric_affinity(value: &str) -> String {
    static COLUMN: std::sync::OnceLock<Option<Mutex<Connection>>> = std::sync::OnceLock::new();
    let column = COLUMN.get_or_init(|| {
        let conn = Connection::open_in_memory().ok()?;
        conn.execute_batch("CREATE TABLE n (k INTEGER PRIMARY KEY, v NUMERIC)")
            .ok()?;
        Some(Mutex::new(conn))
    });
    let Some(column) = column else {
        return value.to_owned();
    };
    let conn = column.lock().unwrap_or_else(|e| e.into_inner());
    let stored = conn.query_row(
        "INSERT OR REPLACE INTO n (k, v) VALUES (1, ?1) RETURNING typeof(v), CAST(v AS TEXT)",
        [value],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    );
    match stored {
        Ok((kind, text)) if kind != "text" => text,
        _ => value.to_owned(),
    }
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// 128 fresh bits: a counter and the clock hashed with per-process random keys, so two
/// emulators (or two runs) do not hand out the same SIDs.
pub fn fresh_u128() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(std::collections::hash_map::RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let half = |salt: u64| {
        let mut h = keys.build_hasher();
        h.write_u64(salt);
        h.write_u64(n);
        h.write_u128(nanos);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(seq: u64, identity: &str) -> User {
        User {
            seq,
            sid: format!("US{seq:032x}"),
            service_sid: "IS1".into(),
            role_sid: "RL1".into(),
            identity: Some(identity.into()),
            friendly_name: None,
            attributes: None,
            online: None,
            notifiable: None,
            date_created: 1,
            date_updated: 1,
        }
    }

    fn known(s: &str) -> bool {
        s == "IS1"
    }

    #[test]
    fn fresh_values_differ() {
        let a: std::collections::HashSet<u128> = (0..1000).map(|_| fresh_u128()).collect();
        assert_eq!(a.len(), 1000);
    }

    #[test]
    fn indexes_follow_insert_and_remove() {
        let mut s = ServiceUsers::default();
        s.insert(user(1, "a"));
        s.insert(user(2, "b"));
        s.insert(user(3, "a"));
        assert_eq!(s.by_identity("b").map(|u| u.seq), Some(2));
        assert_eq!(s.remove(2).map(|u| u.seq), Some(2));
        assert!(s.by_identity("b").is_none() && s.by_sid(&user(2, "b").sid).is_none());
        // The first holder of a duplicated identity is found; once gone, the next one is.
        assert_eq!(s.by_identity("a").map(|u| u.seq), Some(1));
        s.remove(1);
        assert_eq!(s.by_identity("a").map(|u| u.seq), Some(3));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn kept_texts_follow_every_change() {
        let texts = |inner: &mut Inner, shown: &str| -> Vec<String> {
            let users = inner.service_mut("IS1").unwrap();
            let render = |u: &User| format!("{}:{:?}", u.seq, u.friendly_name);
            let kept = users.rendered(&[1, 2, 1], shown, render);
            kept.iter().map(|t| t.to_string()).collect()
        };
        let mut inner = Inner::default();
        inner.create("IS1", user(1, "a")).unwrap();
        inner.create("IS1", user(2, "b")).unwrap();
        assert_eq!(texts(&mut inner, "x"), ["1:None", "2:None", "1:None"]);
        let mut renamed = user(1, "a");
        renamed.friendly_name = Some("n".into());
        inner.replace("IS1", renamed).unwrap();
        assert_eq!(
            texts(&mut inner, "x"),
            ["1:Some(\"n\")", "2:None", "1:Some(\"n\")"]
        );
        inner.remove("IS1", 2).unwrap();
        assert_eq!(texts(&mut inner, "x"), ["1:Some(\"n\")", "1:Some(\"n\")"]);
        // More ways of showing than are kept start afresh and still answer right.
        for shown in 0..=SHOWN_KEPT {
            assert_eq!(texts(&mut inner, &shown.to_string()).len(), 2);
        }
        assert_eq!(texts(&mut inner, "x")[0], "1:Some(\"n\")");
    }

    #[test]
    fn state_file_round_trips_and_never_reuses_a_sequence_number() {
        let dir = std::env::temp_dir().join(format!("convcheck-store-{:x}", fresh_u128()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let store = Store::open(&path, &known).unwrap();
        {
            let mut inner = store.lock();
            for identity in ["a", "b"] {
                let seq = inner.next_seq();
                inner.create("IS1", user(seq, identity)).unwrap();
            }
            let mut changed = user(1, "a");
            changed.friendly_name = Some("A".into());
            inner.replace("IS1", changed).unwrap();
            assert_eq!(inner.remove("IS1", 2).unwrap().map(|u| u.seq), Some(2));
        }
        drop(store);
        let again = Store::open(&path, &known).unwrap();
        let mut inner = again.lock();
        let users = inner.service("IS1").unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users.get(1).unwrap().friendly_name.as_deref(), Some("A"));
        assert_eq!(inner.next_seq(), 3);
        drop(inner);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
