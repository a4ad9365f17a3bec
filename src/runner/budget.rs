//! What the generated and stateful cases may do: the budget of a run and the bounds that keep
//! it safe. It belongs to the plan the runner owns, so the runner knows it as data and never
//! reaches into the engine that spends it (`crate::generate`).

use std::path::PathBuf;
use std::time::Duration;

/// How much to generate, and the bounds that keep it safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Sequences per generated case (`--generate`); 0 turns generation off.
    pub sequences: usize,
    /// Stop starting sequences after this long (`--generate-time`).
    pub time: Option<Duration>,
    /// The run's seed: the same seed draws the same sequences.
    pub seed: u64,
    /// How many sequences run at once.
    pub concurrency: usize,
    /// The most creates of one burst.
    pub max_burst: usize,
    /// The most operations of one sequence.
    pub max_steps: usize,
    /// The most requests one generated case sends, shrinking included.
    pub max_requests: usize,
    /// The most pages one read may take.
    pub max_pages: usize,
    /// Sequences re-run while shrinking one failure, at most.
    pub shrink_runs: usize,
    /// Time spent shrinking one failure, at most.
    pub shrink_time: Duration,
    /// A file of failing seeds: read before the run (those sequences run first) and
    /// appended to with new failures.
    pub persist: Option<PathBuf>,
    /// When a sequence reads the whole world back (`--observe`).
    pub observe: Observe,
    /// The most users one read-back fetches through every view (`--observe-users`); walks
    /// always see every user.
    pub observe_users: usize,
    /// The largest collection a sequence builds (`--max-collection`); 0 builds none.
    pub max_collection: usize,
    /// Stop starting sequences once this many checks of a case have failed
    /// (`--max-failures`); None runs every sequence.
    pub max_failures: Option<usize>,
}

/// When a generated sequence reads the whole world back: every collection walked and its
/// users fetched by sid and identity through every view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    /// After every write, and at the end of the sequence.
    EveryWrite,
    /// At the end of each sequence only.
    End,
    /// Never: each step is judged by its own answers only.
    Off,
}

impl Observe {
    /// The name `--observe` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Observe::EveryWrite => "every-write",
            Observe::End => "end",
            Observe::Off => "off",
        }
    }
}

impl std::str::FromStr for Observe {
    type Err = String;

    fn from_str(s: &str) -> Result<Observe, String> {
        [Observe::EveryWrite, Observe::End, Observe::Off]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                format!("unknown --observe `{s}`: expected `every-write`, `end` or `off`")
            })
    }
}

/// The size of the one large collection a run builds where the target allows: one more than
/// the edition's largest page, and than every common cap below it (25, 50, 100, 200).
pub const COLLECTION_SIZE: usize = 1001;

/// The large collection against a server of this machine's other than the embedded
/// emulator: above the caps of 25, 50 and 100 users, and a multiple of 35, so that one walk
/// ends on a full page. Each of its users costs such a target a create and a delete.
pub const LOOPBACK_COLLECTION_SIZE: usize = 105;

/// Where the target runs, which sets how much a default run may ask of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The emulator inside this process: a request costs a few microseconds, so a run reads
    /// the whole world back after every write and builds the largest collection.
    Embedded,
    /// A server on this machine in another process (a user's mock in CI): each request
    /// costs it about a millisecond, so the world is read back at the end of each sequence.
    Loopback,
    /// A server elsewhere: fewer requests at once, and fewer in all.
    Remote,
}

/// Sequences per generated case by default.
pub const DEFAULT_SEQUENCES: usize = 32;

impl Default for Generation {
    fn default() -> Self {
        Generation {
            sequences: DEFAULT_SEQUENCES,
            time: None,
            seed: random_seed(),
            concurrency: 32,
            max_burst: 6,
            max_steps: 12,
            max_requests: 50_000,
            max_pages: 25,
            shrink_runs: 128,
            shrink_time: Duration::from_secs(10),
            persist: None,
            observe: Observe::EveryWrite,
            observe_users: 16,
            max_collection: COLLECTION_SIZE,
            max_failures: None,
        }
    }
}

impl Generation {
    /// The default bounds for a target at `reach`: [`Generation::loopback`] or
    /// [`Generation::remote`] where they apply.
    pub fn at(self, reach: Reach) -> Generation {
        match reach {
            Reach::Embedded => self,
            Reach::Loopback => self.loopback(),
            Reach::Remote => self.remote(),
        }
    }

    /// The bounds for a server on this machine outside this process: the world read back at
    /// the end of each sequence only (each step is still judged by its own answers), through
    /// the 2 newest users, and a collection of [`LOOPBACK_COLLECTION_SIZE`] users. A default
    /// run then costs such a server about a fifth of the requests of an embedded one
    /// (`scripts/bench` prints both).
    pub fn loopback(mut self) -> Generation {
        if self.observe == Observe::EveryWrite {
            self.observe = Observe::End;
        }
        self.observe_users = self.observe_users.min(2);
        self.max_collection = self.max_collection.min(LOOPBACK_COLLECTION_SIZE);
        self
    }

    /// The bounds for a target outside this machine: fewer users and requests at once,
    /// smaller bursts, shorter walks, the world read back at the end of each sequence only
    /// and through at most 8 users, collections of at most 26 users.
    pub fn remote(mut self) -> Generation {
        self.concurrency = self.concurrency.min(4);
        self.max_burst = self.max_burst.min(3);
        self.max_pages = self.max_pages.min(10);
        self.max_requests = self.max_requests.min(2_000);
        if self.observe == Observe::EveryWrite {
            self.observe = Observe::End;
        }
        self.observe_users = self.observe_users.min(8);
        self.max_collection = self.max_collection.min(26);
        self
    }
}

/// A seed different for every run, small enough to type.
pub fn random_seed() -> u64 {
    super::entropy() % 1_000_000_000
}
