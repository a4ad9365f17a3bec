//! Data-driven command-line cases: each directory under `tests/cases/` is one test, named by
//! the directory, holding a `case.json` with the arguments, the exit code and what the output
//! must hold. Adding a case adds files, not code.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[allow(dead_code)]
    about: String,
    args: Vec<String>,
    exit: i32,
    /// Exactly these `[check, pointer]` pairs, in order, from `--format json` output.
    findings: Option<Vec<(String, String)>>,
    #[serde(default)]
    stdout_contains: Vec<String>,
    #[serde(default)]
    stderr_contains: Vec<String>,
    stderr_lines: Option<usize>,
    #[serde(default)]
    stderr_lacks: Vec<String>,
    #[serde(default)]
    env_remove: Vec<String>,
    /// Stdout is exactly this many lines, each one JSON object.
    stdout_json_lines: Option<usize>,
    /// A file (from the crate root) written to the command's standard input (closed
    /// otherwise).
    stdin_file: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_case(dir: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(dir.join("case.json"))?;
    let case: Case = serde_json::from_str(&text)?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convcheck"));
    cmd.args(&case.args).current_dir(root());
    for k in &case.env_remove {
        cmd.env_remove(k);
    }
    let out = match &case.stdin_file {
        None => cmd.stdin(Stdio::null()).output()?,
        Some(file) => {
            let input = std::fs::read(root().join(file))?;
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            let mut pipe = child.stdin.take().ok_or("no stdin pipe")?;
            pipe.write_all(&input)?;
            drop(pipe);
            child.wait_with_output()?
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ctx = || format!("\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    if out.status.code() != Some(case.exit) {
        return Err(format!(
            "exit {:?}, expected {}{}",
            out.status.code(),
            case.exit,
            ctx()
        )
        .into());
    }
    if let Some(want) = &case.findings {
        let doc: Value = serde_json::from_str(&stdout)
            .map_err(|e| format!("stdout is not JSON: {e}{}", ctx()))?;
        let got: Vec<(String, String)> = doc
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|file| file["findings"].as_array().cloned().unwrap_or_default())
            .map(|f| {
                (
                    f["check"].as_str().unwrap_or("").to_owned(),
                    f["pointer"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        if &got != want {
            return Err(format!("findings {got:?}, expected {want:?}").into());
        }
    }
    for s in &case.stdout_contains {
        if !stdout.contains(s.as_str()) {
            return Err(format!("stdout lacks {s:?}{}", ctx()).into());
        }
    }
    for s in &case.stderr_contains {
        if !stderr.contains(s.as_str()) {
            return Err(format!("stderr lacks {s:?}{}", ctx()).into());
        }
    }
    for s in &case.stderr_lacks {
        if stderr.contains(s.as_str()) || stdout.contains(s.as_str()) {
            return Err(format!("output shows {s:?}{}", ctx()).into());
        }
    }
    if let Some(n) = case.stdout_json_lines {
        let lines: Vec<&str> = stdout.lines().collect();
        if lines.len() != n {
            return Err(format!("stdout has {} lines, expected {n}{}", lines.len(), ctx()).into());
        }
        for line in lines {
            if !serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()) {
                return Err(format!("stdout line is no JSON object: {line:?}{}", ctx()).into());
            }
        }
    }
    if let Some(n) = case.stderr_lines
        && stderr.lines().count() != n
    {
        return Err(format!(
            "stderr has {} lines, expected {n}{}",
            stderr.lines().count(),
            ctx()
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/cases"))
        .expect("tests/cases exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    let trials = dirs
        .into_iter()
        .map(|dir| {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            Trial::test(name, move || run_case(&dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
