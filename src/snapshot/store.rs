//! The snapshot files: insta's `.snap` format, one file per case under
//! `DIR/<edition>/`, named by case id (`create__minimal__shortened.snap`). This is the only
//! place that touches them.
//!
//! insta writes `.snap` files only from its assertion macros, which belong in tests: they
//! panic on a mismatch, read `INSTA_*` settings and look for a Cargo workspace at run time.
//! So the file is written here in insta's format (a YAML header between `---` lines, then the
//! content), and read back with insta's own parser (`insta::Snapshot::from_file`), which is
//! also what `cargo insta review` uses. A difference is written beside the file as
//! `.snap.new`, insta's pending snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a snapshot directory or file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("cannot {what} `{path}`: {source}")]
    Io {
        /// What was tried.
        what: &'static str,
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A `.snap` file is not a convcheck snapshot.
    #[error("`{path}` is not a convcheck snapshot: {why}")]
    Malformed {
        /// Where.
        path: String,
        /// Why.
        why: String,
    },
}

/// What a snapshot's header records about the run that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// What it was recorded against (`embedded emulator`, `loopback`, `twilio (host)`,
    /// `remote (host)`, see `snapshot::target_kind`): never a port or a credential.
    pub target: String,
    /// When the run started (RFC 3339, UTC).
    pub recorded_at: String,
    /// The contract edition.
    pub edition: String,
    /// The convcheck version.
    pub convcheck_version: String,
}

/// The file name of a case: `::` becomes `__` (insta's module separator, and valid on every
/// file system).
pub fn file_name(case_id: &str) -> String {
    format!("{}.snap", case_id.replace("::", "__"))
}

/// The directory of an edition's snapshots.
pub fn edition_dir(root: &Path, edition: &str) -> PathBuf {
    root.join(edition)
}

fn quoted(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    Value::String(s.to_owned()).to_string()
}

/// The text of a `.snap` file.
pub fn render(case_id: &str, header: &Header, doc: &Value) -> String {
    let body = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "null".to_owned());
    format!(
        "---\nsource: convcheck\nexpression: {}\ninfo:\n  target: {}\n  recorded_at: {}\n  edition: {}\n  convcheck_version: {}\n---\n{body}\n",
        quoted(case_id),
        quoted(&header.target),
        quoted(&header.recorded_at),
        quoted(&header.edition),
        quoted(&header.convcheck_version),
    )
}

/// Writes a case's `.snap` file unless the file already says the same: a recording whose only
/// change would be its time is left untouched, so re-recording a conformant target changes
/// nothing in version control. Returns whether it wrote.
pub fn record(
    path: &Path,
    case_id: &str,
    header: &Header,
    doc: &Value,
) -> Result<bool, StoreError> {
    let text = render(case_id, header, doc);
    let timeless = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("  recorded_at:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Ok(old) = std::fs::read_to_string(path)
        && timeless(&old) == timeless(&crate::client::scrub::scrub(&text))
    {
        return Ok(false);
    }
    write(path, &text)?;
    Ok(true)
}

/// Whether `dir` holds at least one `.snap` file.
pub fn has_snapshots(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".snap"))
    })
}

/// Reads one `.snap` file with insta's parser: the case id and the document.
pub fn load(path: &Path) -> Result<(String, Value), StoreError> {
    let shown = path.display().to_string();
    let malformed = |why: String| StoreError::Malformed {
        path: shown.clone(),
        why,
    };
    let snap = insta::Snapshot::from_file(path).map_err(|e| malformed(e.to_string()))?;
    let id = snap
        .metadata()
        .expression()
        .map(str::to_owned)
        .ok_or_else(|| malformed("the header names no case (`expression`)".to_owned()))?;
    let text = snap
        .contents()
        .as_text()
        .ok_or_else(|| malformed("binary content".to_owned()))?
        .to_string();
    let doc = serde_json::from_str(&text).map_err(|e| malformed(format!("not JSON: {e}")))?;
    Ok((id, doc))
}

/// Reads every `.snap` file of a directory, by case id.
pub fn load_dir(dir: &Path) -> Result<BTreeMap<String, (PathBuf, Value)>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StoreError::Io {
        what: "read the snapshot directory",
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    paths.sort();
    let mut out = BTreeMap::new();
    for path in paths {
        let (id, doc) = load(&path)?;
        out.insert(id, (path, doc));
    }
    Ok(out)
}

/// Writes a file, creating its directory.
pub fn write(path: &Path, text: &str) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            what: "create the snapshot directory",
            path: dir.display().to_string(),
            source,
        })?;
    }
    // Whatever its source, no credential reaches a file.
    let text = crate::client::scrub::scrub(text);
    std::fs::write(path, text).map_err(|source| StoreError::Io {
        what: "write the snapshot",
        path: path.display().to_string(),
        source,
    })
}

/// Removes a stale pending snapshot, if there is one.
pub fn remove_pending(snap: &Path) -> Result<(), StoreError> {
    let pending = pending_path(snap);
    match std::fs::remove_file(&pending) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
            what: "remove the pending snapshot",
            path: pending.display().to_string(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// `x.snap` → `x.snap.new`.
pub fn pending_path(snap: &Path) -> PathBuf {
    let mut s = snap.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn a_recording_that_changes_only_its_time_is_left_untouched() {
        let dir = std::env::temp_dir().join(format!("convcheck-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("a.snap");
        let mut header = Header {
            target: "embedded emulator".into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            edition: "docs".into(),
            convcheck_version: "0.1.0".into(),
        };
        let doc = serde_json::json!([{"status": 201}]);
        assert!(
            record(&path, "a", &header, &doc).unwrap(),
            "a new file is written"
        );
        header.recorded_at = "2026-02-02T00:00:00Z".into();
        assert!(
            !record(&path, "a", &header, &doc).unwrap(),
            "only the time changed"
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("2026-01-01T00:00:00Z")
        );
        header.target = "loopback".into();
        assert!(record(&path, "a", &header, &doc).unwrap(), "another target");
        let other = serde_json::json!([{"status": 200}]);
        assert!(
            record(&path, "a", &header, &other).unwrap(),
            "another answer"
        );
        let (_, back) = load(&path).unwrap();
        assert_eq!(back, other);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn insta_reads_what_is_written() {
        let dir = std::env::temp_dir().join(format!("convcheck-store-{}", std::process::id()));
        let path = dir.join(file_name("create::minimal::shortened"));
        let header = Header {
            target: "embedded emulator".into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            edition: "docs".into(),
            convcheck_version: "0.1.0".into(),
        };
        let doc = json!([{"request": "POST <base>/v1/Users", "form": {"Identity": "<ns>1-x: \"y\""},
                          "status": 201, "response": {"attributes": "{}"}}]);
        write(&path, &render("create::minimal::shortened", &header, &doc)).unwrap();
        assert!(path.ends_with("create__minimal__shortened.snap"));
        assert!(has_snapshots(&dir));
        let snap = insta::Snapshot::from_file(&path).unwrap();
        assert_eq!(snap.snapshot_name(), Some("shortened"));
        assert_eq!(snap.metadata().source(), Some("convcheck"));
        let (id, back) = load(&path).unwrap();
        assert_eq!(id, "create::minimal::shortened");
        assert_eq!(back, doc);
        let all = load_dir(&dir).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            pending_path(&path).file_name().unwrap(),
            "create__minimal__shortened.snap.new"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_snapshot_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("convcheck-bad-{}", std::process::id()));
        let path = dir.join("x.snap");
        write(&path, "---\nsource: convcheck\n---\nnot json\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("x.snap") && e.contains("is not a convcheck snapshot"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
