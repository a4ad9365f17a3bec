//! The emulator's users: a thread-safe in-memory store, fresh SIDs, and the `--state` file.
//!
//! One `std::sync::Mutex` guards everything, held only for short, synchronous sections, so a
//! create checks for a duplicate identity and inserts in one atomic step. Every user carries a
//! sequence number that only grows: it gives Read its stable creation order and lets a page
//! token resume after the last user shown, whatever else is created or deleted meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One stored user. Dates are Unix seconds: the API shows them to the second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The users of one service, indexed by creation order, SID and identity.
#[derive(Debug, Default)]
pub struct ServiceUsers {
    users: BTreeMap<u64, User>,
    by_sid: HashMap<String, u64>,
    by_identity: HashMap<String, u64>,
}

impl ServiceUsers {
    /// Adds `user`; the caller has checked for duplicates where it must.
    fn insert(&mut self, user: User) {
        self.by_sid.insert(user.sid.clone(), user.seq);
        if let Some(identity) = &user.identity {
            // A faulty duplicate keeps the first user reachable by identity.
            self.by_identity.entry(identity.clone()).or_insert(user.seq);
        }
        self.users.insert(user.seq, user);
    }

    /// Removes the user with sequence number `seq`.
    pub fn remove(&mut self, seq: u64) -> Option<User> {
        let user = self.users.remove(&seq)?;
        self.by_sid.remove(&user.sid);
        if let Some(identity) = &user.identity
            && self.by_identity.get(identity) == Some(&seq)
        {
            self.by_identity.remove(identity);
            // Under a duplicate-identity fault another user may still hold the identity.
            if let Some(other) = self
                .users
                .values()
                .find(|u| u.identity.as_deref() == Some(identity))
            {
                self.by_identity.insert(identity.clone(), other.seq);
            }
        }
        Some(user)
    }

    /// The user with this exact SID.
    pub fn by_sid(&self, sid: &str) -> Option<&User> {
        self.by_sid.get(sid).and_then(|s| self.users.get(s))
    }

    /// The user with this exact identity.
    pub fn by_identity(&self, identity: &str) -> Option<&User> {
        self.by_identity
            .get(identity)
            .and_then(|s| self.users.get(s))
    }

    /// Whether a user holds `identity`.
    pub fn has_identity(&self, identity: &str) -> bool {
        self.by_identity.contains_key(identity)
    }

    /// The user with sequence number `seq`.
    pub fn get(&self, seq: u64) -> Option<&User> {
        self.users.get(&seq)
    }

    /// The user with sequence number `seq`, to change in place (never its SID or identity).
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut User> {
        self.users.get_mut(&seq)
    }

    /// Every user in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &User> {
        self.users.values()
    }

    /// Users whose sequence number lies in `range`, in creation order.
    pub fn range(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = &User> {
        self.users.range(range).map(|(_, u)| u)
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

/// Everything behind the lock.
#[derive(Debug, Default)]
pub struct Inner {
    next_seq: u64,
    generation: u64,
    services: BTreeMap<String, ServiceUsers>,
}

impl Inner {
    /// The users stored under `key`, if any were ever stored there.
    pub fn service(&self, key: &str) -> Option<&ServiceUsers> {
        self.services.get(key)
    }

    /// The users stored under `key`, created empty on first use.
    pub fn service_mut(&mut self, key: &str) -> &mut ServiceUsers {
        self.services.entry(key.to_owned()).or_default()
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Adds `user` under `key`.
    pub fn insert(&mut self, key: &str, user: User) {
        self.next_seq = self.next_seq.max(user.seq);
        self.service_mut(key).insert(user);
    }

    /// Records that something changed, so the state file gets written.
    pub fn touch(&mut self) {
        self.generation += 1;
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: 1,
            next_seq: self.next_seq,
            services: self
                .services
                .iter()
                .map(|(k, s)| (k.clone(), s.iter().cloned().collect()))
                .collect(),
        }
    }
}

/// The `--state` file's content.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    next_seq: u64,
    services: BTreeMap<String, Vec<User>>,
}

/// The store, shared by every request.
#[derive(Debug, Default)]
pub struct Store {
    inner: Mutex<Inner>,
    persist: Option<Persist>,
}

/// Writes the state file; the lock orders writers so an older snapshot never wins.
#[derive(Debug)]
struct Persist {
    path: PathBuf,
    written: Mutex<u64>,
}

impl Store {
    /// An empty store, or the one saved in `state_file` when that file exists.
    pub fn open(state_file: Option<&Path>) -> anyhow::Result<Store> {
        let mut inner = Inner::default();
        if let Some(path) = state_file
            && path.exists()
        {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read state file `{}`", path.display()))?;
            let snap: Snapshot = serde_json::from_str(&text)
                .with_context(|| format!("cannot parse state file `{}`", path.display()))?;
            inner.next_seq = snap.next_seq;
            for (key, users) in snap.services {
                for user in users {
                    inner.insert(&key, user);
                }
            }
        }
        Ok(Store {
            inner: Mutex::new(inner),
            persist: state_file.map(|p| Persist {
                path: p.to_owned(),
                written: Mutex::new(0),
            }),
        })
    }

    /// Locks the store. A poisoned lock is taken over: every section leaves the data whole.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the state file if there is one and something changed since the last write.
    /// The file is written whole to a temporary file and renamed over the old one.
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(persist) = &self.persist else {
            return Ok(());
        };
        let mut written = persist.written.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, bytes) = {
            let inner = self.lock();
            if inner.generation <= *written && persist.path.exists() {
                return Ok(());
            }
            (
                inner.generation,
                serde_json::to_vec_pretty(&inner.snapshot())?,
            )
        };
        let path = &persist.path;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().with_context(|| format!("cannot write state file `{}`", path.display()))?;
        *written = generation;
        Ok(())
    }

    /// [`Store::save`] off the async workers, for request handlers.
    pub async fn save_async(self: &Arc<Self>) -> anyhow::Result<()> {
        if self.persist.is_none() {
            return Ok(());
        }
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.save())
            .await
            .context("state writer stopped")?
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
        assert_eq!(s.by_identity("b").map(|u| u.seq), Some(2));
        assert_eq!(s.remove(2).map(|u| u.seq), Some(2));
        assert!(s.by_identity("b").is_none() && s.by_sid(&user(2, "b").sid).is_none());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn state_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("convcheck-store-{:x}", fresh_u128()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let store = Store::open(Some(&path)).unwrap();
        {
            let mut inner = store.lock();
            let seq = inner.next_seq();
            inner.insert("IS1", user(seq, "a"));
            inner.touch();
        }
        store.save().unwrap();
        let again = Store::open(Some(&path)).unwrap();
        let inner = again.lock();
        assert_eq!(inner.service("IS1").map(|s| s.len()), Some(1));
        drop(inner);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
