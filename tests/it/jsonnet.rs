//! Jsonnet conformance: every `*.jsonnet` program under `tests/jsonnet/` (and `errors/`) is
//! evaluated twice, by the oracle, Debian's `jsonnet` (the C++ implementation, which
//! `scripts/test.sh` installs and names in `GITFLEET_JSONNET`), and by gitfleet's evaluator.
//! A program that succeeds must print the same JSON: byte for byte, except how a number is
//! spelled (jsonnet 0.18 prints 17 significant digits, `0.33333333333333331`; gitfleet, like
//! go-jsonnet that Argo CD runs, the shortest form that reads back as the same double,
//! `0.3333333333333333`), so there the documents must be equal with numbers as doubles. One that
//! fails must fail in both, at the same file and line. A program's first line may hold the jsonnet flags it runs
//! with (`// jsonnet: -J lib --ext-str k=v --ext-code k=code --tla-str k=v --tla-code k=code`);
//! they map to `spec.jsonnet` (`libs`, `extVars`, `tlas`).
//!
//! Then the same programs as a user meets them: `gitfleet build` of Jsonnet paths (objects,
//! arrays, `List`s, TLAs from the command line), and hostile programs (memory, time, depth,
//! reads outside the repository) that are errors naming their file, never a hung process.
//!
//! The oracle missing is a failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitfleet::build::jsonnet::{self, JsonnetOptions, JsonnetVar};

use crate::support::{fleet_dir as repo, gitfleet};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jsonnet")
}

fn oracle() -> PathBuf {
    let path = std::env::var_os("GITFLEET_JSONNET").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "GITFLEET_JSONNET is not set: the Jsonnet conformance tests need Debian's jsonnet as \
             their oracle. Run scripts/test.sh, which installs it (apt-get install jsonnet) and \
             sets GITFLEET_JSONNET. The oracle missing is a failure, not a skip."
        )
    });
    assert!(
        path.is_file(),
        "GITFLEET_JSONNET={} does not exist: run scripts/test.sh, which installs Debian's jsonnet",
        path.display()
    );
    path
}

/// The flags on a program's first line, and the options they mean.
fn flags(text: &str) -> (Vec<String>, JsonnetOptions) {
    let args: Vec<String> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// jsonnet:"))
        .map(|rest| rest.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut opts = JsonnetOptions::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().expect("every flag takes a value");
        let var = |code| {
            let (name, value) = value.split_once('=').expect("NAME=VALUE");
            JsonnetVar {
                name: name.into(),
                value: value.into(),
                code,
            }
        };
        match flag.as_str() {
            "-J" => opts.libs.push(value.clone()),
            "--ext-str" => opts.ext_vars.push(var(false)),
            "--ext-code" => opts.ext_vars.push(var(true)),
            "--tla-str" => opts.tlas.push(var(false)),
            "--tla-code" => opts.tlas.push(var(true)),
            other => panic!("unknown flag {other} in the corpus"),
        }
    }
    (args, opts)
}

/// `file:line` of the first place in an oracle error (`f.jsonnet:3:5-9`, `f.jsonnet:(2:1)-(3:4)`).
fn first_place(stderr: &str) -> Option<(String, u32)> {
    let at = [".jsonnet:", ".libsonnet:"]
        .iter()
        .filter_map(|ext| stderr.find(ext).map(|i| i + ext.len()))
        .min()?;
    let start = stderr[..at].rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let file = &stderr[start..at - 1];
    let digits: String = stderr[at..]
        .trim_start_matches('(')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((file.to_string(), digits.parse().ok()?))
}

/// Equal as JSON, numbers compared as doubles.
fn same_json(a: &str, b: &str) -> bool {
    fn eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (V::Number(x), V::Number(y)) => x.as_f64() == y.as_f64(),
            (V::Array(x), V::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| eq(x, y))
            }
            (V::Object(x), V::Object(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|((k, x), (l, y))| k == l && eq(x, y))
            }
            (x, y) => x == y,
        }
    }
    match (serde_json::from_str(a), serde_json::from_str(b)) {
        (Ok(a), Ok(b)) => eq(&a, &b),
        _ => false,
    }
}

#[test]
fn the_corpus_evaluates_as_jsonnet_evaluates_it() {
    let oracle = oracle();
    let root = corpus();
    let mut programs: Vec<String> = Vec::new();
    for dir in ["", "errors/"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".jsonnet") {
                programs.push(format!("{dir}{name}"));
            }
        }
    }
    programs.sort();
    assert!(programs.len() >= 20, "{programs:?}");
    let mut failures = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for program in &programs {
        let text = std::fs::read_to_string(root.join(program)).unwrap();
        let (args, opts) = flags(&text);
        let out = Command::new(&oracle)
            .current_dir(&root)
            .args(&args)
            .arg(program)
            .output()
            .expect("the oracle runs");
        let ours = jsonnet::evaluate(&root, program, &opts);
        match (out.status.success(), ours) {
            (true, Ok(json)) => {
                ok += 1;
                let expected = String::from_utf8(out.stdout).unwrap();
                if expected.trim_end() != json.trim_end() && !same_json(&expected, &json) {
                    failures.push(format!(
                        "{program}: output differs\n--- jsonnet\n{expected}\n--- gitfleet\n{json}"
                    ));
                }
            }
            (false, Err(ours)) => {
                errors += 1;
                let stderr = String::from_utf8_lossy(&out.stderr);
                let Some((file, line)) = first_place(&stderr) else {
                    failures.push(format!(
                        "{program}: no place in the oracle's error: {stderr}"
                    ));
                    continue;
                };
                let got = (ours[0].file.clone(), ours[0].line);
                let file = gitfleet::source::normalize(&file)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or(file);
                if got != (file.clone(), line) {
                    failures.push(format!(
                        "{program}: error at {}:{} ({}), jsonnet says {file}:{line}: {stderr}",
                        got.0, got.1, ours[0].message
                    ));
                }
            }
            (true, Err(e)) => failures.push(format!(
                "{program}: jsonnet succeeds, gitfleet fails: {e:?}"
            )),
            (false, Ok(_)) => failures.push(format!(
                "{program}: gitfleet succeeds, jsonnet fails: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(errors >= 5 && ok >= 15, "{ok} programs, {errors} errors");
}

#[test]
fn build_reads_a_jsonnet_path_as_argo_cd_does() {
    let root = corpus();
    // An array of objects, with a library path.
    let out = gitfleet(&root)
        .args(["build", "-o", "json", "--jpath", "lib", "--root"])
        .arg(&root)
        .arg(root.join("guestbook.jsonnet"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = docs["items"]
        .as_array()
        .or(docs.as_array())
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Service", "Deployment"], "{docs}");
    // A function, called with top-level arguments from the command line.
    let out = gitfleet(&root)
        .args([
            "build",
            "--jpath",
            "lib",
            "--tla",
            "name=api",
            "--tla-code",
            "replicas=4",
            "--root",
        ])
        .arg(&root)
        .arg(root.join("tla.jsonnet"))
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        yaml.contains("name: api") && yaml.contains("replicas: 4"),
        "{yaml}"
    );
    // A `List`.
    let out = gitfleet(&root)
        .arg("build")
        .arg(root.join("list.jsonnet"))
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(yaml.matches("kind: ConfigMap").count(), 3, "{yaml}");
    // A directory: `*.libsonnet` files are imported, not evaluated on their own.
    let dir = repo(&[
        (
            "app/ui.jsonnet",
            "local p = import 'params.libsonnet'; { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: p.name } }",
        ),
        ("app/params.libsonnet", "{ name: 'ui' }"),
    ]);
    let out = gitfleet(dir.path())
        .arg("build")
        .arg(dir.path().join("app"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: ui"));
    // External variables from the command line (`std.extVar`), as a string and as code.
    let dir = repo(&[(
        "app/env.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: std.extVar('name') }, data: { replicas: std.toString(std.extVar('replicas') * 2) } }",
    )]);
    let out = gitfleet(dir.path())
        .args([
            "build",
            "--ext-var",
            "name=from-cli",
            "--ext-code",
            "replicas=3",
        ])
        .arg(dir.path().join("app"))
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        yaml.contains("name: from-cli") && yaml.contains("replicas: \"6\""),
        "{yaml}"
    );
}

#[test]
fn hostile_jsonnet_is_an_error_naming_its_file() {
    let dir = repo(&[
        (
            "repo/memory.jsonnet",
            "local f(s, n) = if n == 0 then s else f(s + s, n - 1); f('x', 40)",
        ),
        ("repo/recursion.jsonnet", "local f(x) = f(x + 1); f(0)"),
        ("repo/outside.jsonnet", "importstr '../secret.txt'"),
        ("repo/absolute.jsonnet", "importstr '/etc/hostname'"),
        ("repo/error.jsonnet", "{\n  a: error 'boom',\n}\n"),
        (
            "repo/huge.jsonnet",
            "local d(s, n) = if n == 0 then s else d(s + s, n - 1); {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'huge'}, data: {x: d('x', 25)}}",
        ),
        ("secret.txt", "TOKEN=hunter2"),
    ]);
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(dir.path().join("repo/deep.jsonnet"), deep).unwrap();
    let root = dir.path().join("repo");
    for (file, expected) in [
        (
            "memory.jsonnet",
            "memory.jsonnet:1:1: error: jsonnet: the Jsonnet evaluation needed more than",
        ),
        ("recursion.jsonnet", "recursion.jsonnet:1:"),
        ("deep.jsonnet", "deep.jsonnet:1:"),
        (
            "outside.jsonnet",
            "outside.jsonnet:1:1: error: jsonnet: import \"../secret.txt\"",
        ),
        (
            "absolute.jsonnet",
            "absolute.jsonnet:1:1: error: jsonnet: import \"/etc/hostname\": an absolute path",
        ),
        ("error.jsonnet", "error.jsonnet:2:6: error: jsonnet: boom"),
        ("huge.jsonnet", "the Jsonnet output is larger than"),
    ] {
        let out = gitfleet(&root)
            .arg("build")
            .arg(root.join(file))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{file}");
    }
}
