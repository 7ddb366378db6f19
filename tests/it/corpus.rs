//! The invalid-fleet corpus: every directory under `tests/invalid/` is a small fleet with one
//! deliberate mistake (or several), and `expected.txt` holds exactly what
//! `gitfleet validate --fleet <case>` prints on stderr. Diagnostic paths are relative to the
//! fleet directory, so the expected text does not depend on where the case lives.
//!
//! To add a case: create `tests/invalid/<case>/` (fleet.yaml + clusters/<name>/cluster.yaml),
//! run `target/debug/gitfleet validate --fleet tests/invalid/<case> 2> tests/invalid/<case>/expected.txt`
//! and read the result before committing it.

use std::path::{Path, PathBuf};

use crate::support;

/// The least number of cases the corpus must hold (a guard against the directory going missing).
const MIN_CASES: usize = 30;

/// Every case directory, sorted by name.
fn cases() -> Vec<PathBuf> {
    let dir = support::root().join("tests").join("invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= MIN_CASES,
        "expected at least {MIN_CASES} cases under {}, found {}",
        dir.display(),
        cases.len()
    );
    cases
}

fn name(case: &Path) -> String {
    case.file_name()
        .expect("case directory has a name")
        .to_string_lossy()
        .into_owned()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(case: &Path, args: &[&str]) -> Run {
    let output = support::gitfleet(case)
        .args(args)
        .arg("--fleet")
        .arg(case)
        .output()
        .expect("running gitfleet");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Fails with every collected problem, one block per case.
fn fail_if_any(what: &str, total: usize, problems: &[String]) {
    if !problems.is_empty() {
        panic!(
            "{} of {total} invalid fleets failed {what}:\n\n{}",
            problems.len(),
            problems.join("\n\n")
        );
    }
}

#[test]
fn validate_reports_exactly_the_expected_diagnostics() {
    let cases = cases();
    let mut problems = Vec::new();
    for case in &cases {
        let name = name(case);
        let expected_file = case.join("expected.txt");
        let expected = match std::fs::read_to_string(&expected_file) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!(
                    "{name}: cannot read {}: {e}",
                    expected_file.display()
                ));
                continue;
            }
        };
        let out = run(case, &["validate"]);
        let mut wrong = Vec::new();
        if out.code != Some(1) {
            wrong.push(format!("exit code {:?}, expected 1", out.code));
        }
        if !out.stdout.is_empty() {
            wrong.push(format!("stdout is not empty:\n{}", indent(&out.stdout)));
        }
        if out.stderr != expected {
            wrong.push(format!(
                "stderr differs from expected.txt\n  --- expected\n{}\n  --- actual\n{}",
                indent(&expected),
                indent(&out.stderr)
            ));
        }
        if !wrong.is_empty() {
            problems.push(format!("{name}:\n  {}", wrong.join("\n  ")));
        }
    }
    fail_if_any("`gitfleet validate`", cases.len(), &problems);
}

#[test]
fn no_command_runs_on_invalid_input() {
    let cases = cases();
    let mut problems = Vec::new();
    for case in &cases {
        let name = name(case);
        for args in [&["plan", "--offline"][..], &["render"][..]] {
            let out = run(case, args);
            // Exit 1, and nothing rendered or planned on stdout.
            if out.code != Some(1) || !out.stdout.is_empty() {
                problems.push(format!(
                    "{name}: `gitfleet {}` exited with {:?} (expected 1, with an empty stdout)\n  stdout:\n{}\n  stderr:\n{}",
                    args.join(" "),
                    out.code,
                    indent(&out.stdout),
                    indent(&out.stderr)
                ));
            }
        }
    }
    fail_if_any(
        "`gitfleet plan --offline` / `gitfleet render`",
        cases.len(),
        &problems,
    );
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
