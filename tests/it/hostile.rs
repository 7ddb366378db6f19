//! Hostile repositories: the manifest corpus (`tests/invalid-manifests/<case>/input`, with the
//! exact stderr of `gitfleet build --root . input` in `expected.txt`), the bombs run under a
//! memory limit (a clean error, never a kill), and `render --out` kept inside its directory.
//!
//! To add a manifest case: create `tests/invalid-manifests/<case>/input/…`, run
//! `(cd tests/invalid-manifests/<case> && ../../../target/debug/gitfleet build --root . input 2> expected.txt)`
//! and read the result before committing it.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support;

const MIN_CASES: usize = 15;

fn cases() -> Vec<PathBuf> {
    let dir = support::root().join("tests").join("invalid-manifests");
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

fn text(out: &Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A kubeconfig whose server refuses connections: any attempt to reach it would fail with a
/// connection error instead of the expected diagnostics.
fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("unreachable-kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"http://127.0.0.1:9\"}\nusers:\n- name: x\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: x, user: x}\ncurrent-context: x\n",
    )
    .unwrap();
    path
}

#[test]
fn manifest_corpus_reports_exactly_the_expected_diagnostics() {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(tmp.path());
    let mut problems = Vec::new();
    let cases = cases();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{name}: expected.txt: {e}"));
        // `build` prints nothing; `apply` and `diff` stop before contacting the cluster.
        for args in [
            &["build", "--root", ".", "input"][..],
            &["apply", "--root", ".", "input", "--kubeconfig"][..],
            &["diff", "--root", ".", "input", "--kubeconfig"][..],
        ] {
            let mut cmd = support::gitfleet(case);
            cmd.args(args);
            if args[0] != "build" {
                cmd.arg(&kubeconfig);
            }
            let (code, stdout, stderr) = text(&cmd.output().unwrap());
            if code != Some(1) || !stdout.is_empty() || stderr != expected {
                problems.push(format!(
                    "{name}: `gitfleet {}` exited {code:?}\n  stdout: {stdout}\n  --- expected stderr\n{expected}\n  --- actual stderr\n{stderr}",
                    args.join(" ")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} manifest cases failed:\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n\n")
    );
}

/// Runs gitfleet with its address space limited, so a bomb that got through would abort
/// (allocation failure) instead of exiting 1 with a message.
fn limited(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    const LIMIT: libc::rlim_t = 768 << 20;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitfleet"));
    cmd.current_dir(dir)
        .env_remove("GITFLEET_FLEET")
        .env_remove("GITFLEET_LOG")
        .args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    text(&cmd.output().unwrap())
}

fn write(dir: &Path, files: &[(&str, String)]) {
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

const FLEET: &str = "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  repository: {url: \"https://github.com/example/fleet.git\"}\n";

fn kind_cluster(extra: &str) -> String {
    format!(
        "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: dev}}\nspec:\n  version: \"1.30\"\n  kind: {{workers: 1}}\n{extra}"
    )
}

/// An alias bomb ten levels deep: 10^10 nodes once expanded.
fn bomb(indent: &str) -> String {
    let mut s = format!(
        "{indent}l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
    );
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!(
            "{indent}l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    s
}

#[test]
fn bombs_end_in_a_clean_error_under_a_memory_limit() {
    let mut failures = Vec::new();
    let mut check = |what: &str, dir: &Path, args: &[&str], expect: &str| {
        let (code, stdout, stderr) = limited(dir, args);
        let stderr = format!("{stdout}{stderr}");
        if code != Some(1) || !stderr.contains(expect) {
            failures.push(format!(
                "{what}: exit {code:?} (a kill shows as None), expected 1 with {expect:?}; stderr:\n{}",
                stderr.chars().take(2000).collect::<String>()
            ));
        }
    };

    // Fleet: an alias bomb in values, one in the defaults, and deep nesting.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("fleet.yaml", FLEET.into()),
            (
                "clusters/dev/cluster.yaml",
                kind_cluster(&format!("  values:\n{}", bomb("    "))),
            ),
        ],
    );
    check(
        "values alias bomb",
        t.path(),
        &["validate", "--fleet", "."],
        "YAML aliases expand to more than",
    );
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "fleet.yaml",
                format!("{FLEET}  defaults:\n    values:\n{}", bomb("      ")),
            ),
            ("clusters/dev/cluster.yaml", kind_cluster("")),
        ],
    );
    check(
        "defaults alias bomb",
        t.path(),
        &["plan", "--offline", "--fleet", "."],
        "YAML aliases expand to more than",
    );
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("fleet.yaml", FLEET.into()),
            (
                "clusters/dev/cluster.yaml",
                kind_cluster(&format!(
                    "  values:\n    deep:\n      {}x\n",
                    "- ".repeat(20_000)
                )),
            ),
        ],
    );
    check(
        "nested block sequences",
        t.path(),
        &["validate", "--fleet", "."],
        "YAML nesting is deeper than",
    );

    // 100,000 distinct keys (1.6 MB): read in linear time, and the one mistake reported.
    let t = tempfile::tempdir().unwrap();
    let mut keys = String::from("  values:\n");
    for i in 0..100_000 {
        keys.push_str(&format!("    key{i:06}: {i}\n"));
    }
    keys.push_str("  wrokers: 1\n");
    write(
        t.path(),
        &[
            ("fleet.yaml", FLEET.into()),
            ("clusters/dev/cluster.yaml", kind_cluster(&keys)),
        ],
    );
    check(
        "many distinct keys",
        t.path(),
        &["validate", "--fleet", "."],
        "unknown field `wrokers`",
    );

    // An existing cluster's kubeconfig that never ends: a link to /dev/zero, and a named pipe.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("fleet.yaml", FLEET.into()),
            (
                "clusters/dev/cluster.yaml",
                "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec:\n  existing: {kubeconfig: clusters/dev/kubeconfig}\n".into(),
            ),
        ],
    );
    std::os::unix::fs::symlink("/dev/zero", t.path().join("clusters/dev/kubeconfig")).unwrap();
    check(
        "kubeconfig linked to /dev/zero",
        t.path(),
        &["plan", "--fleet", "."],
        "clusters/dev/kubeconfig: is a symbolic link to /dev/zero, outside the repository root",
    );
    std::fs::remove_file(t.path().join("clusters/dev/kubeconfig")).unwrap();
    let fifo = std::ffi::CString::new(
        t.path()
            .join("clusters/dev/kubeconfig")
            .to_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    check(
        "kubeconfig that is a named pipe",
        t.path(),
        &["plan", "--fleet", "."],
        "clusters/dev/kubeconfig: is a named pipe, not a regular file",
    );

    // Manifests: an alias bomb, and a template that prints without end.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "m/bomb.yaml",
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b}}\ndata:\n{}",
                    bomb("  ")
                ),
            ),
            (
                "m/print.yaml.j2",
                "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'x' * 100 }}{% endfor %}{% endfor %}\n".into(),
            ),
        ],
    );
    check(
        "manifest alias bomb",
        t.path(),
        &["build", "--root", ".", "m"],
        "m/bomb.yaml:",
    );
    check(
        "template output without end",
        t.path(),
        &["build", "--root", ".", "m"],
        "m/print.yaml.j2:1:1: error: template output is larger than",
    );

    // Helm charts: an alias bomb in values.yaml, a template that prints without end, one
    // that loops without printing, and an include that calls itself.
    let chart_yaml = "apiVersion: v2\nname: c\nversion: 0.1.0\n".to_string();
    for (what, values, template, expect) in [
        (
            "chart values alias bomb",
            bomb(""),
            "kind: ConfigMap\n".to_string(),
            "c/values.yaml",
        ),
        (
            "chart template output without end",
            String::new(),
            "{{ range until 100000 }}{{ range until 100000 }}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{ end }}{{ end }}\n".to_string(),
            "c/templates/t.yaml",
        ),
        (
            "chart template endless loop",
            String::new(),
            "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n".to_string(),
            "c/templates/t.yaml",
        ),
        (
            "chart include recursion",
            String::new(),
            "{{ define \"x\" }}{{ include \"x\" . }}{{ end }}{{ include \"x\" . }}\n".to_string(),
            "c/templates/t.yaml",
        ),
    ] {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                ("c/Chart.yaml", chart_yaml.clone()),
                ("c/values.yaml", values),
                ("c/templates/t.yaml", template),
            ],
        );
        check(what, t.path(), &["build", "--root", ".", "c"], expect);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `render --out` never writes outside its directory, whatever an overriding template names.
#[test]
fn render_out_stays_inside_its_directory() {
    let t = tempfile::tempdir().unwrap();
    let fleet = t.path().join("fleet");
    let example = support::root().join("examples").join("eks");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&example)
        .arg(&fleet)
        .status()
        .unwrap();
    assert!(status.success());
    let builtin =
        std::fs::read_to_string(support::root().join("templates/eks/nodegroup.yaml.j2")).unwrap();
    let hostile = builtin.replace(
        "nodegroupName: {{ pool.name | tojson }}",
        "nodegroupName: {{ (\"../../../escaped-\" ~ pool.name) | tojson }}",
    );
    assert_ne!(
        builtin, hostile,
        "the override must change the node group name"
    );
    write(&fleet, &[("templates/eks/nodegroup.yaml.j2", hostile)]);
    let out_dir = t.path().join("out");
    let (code, stdout, stderr) = text(
        &support::gitfleet(&fleet)
            .args(["render", "--fleet", ".", "--out"])
            .arg(&out_dir)
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("climbs out of the output directory"),
        "{stderr}"
    );
    let escaped: Vec<_> = walk(t.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("escaped-"))
        .collect();
    assert!(escaped.is_empty(), "written outside: {escaped:?}");
    assert!(
        !out_dir.exists() || walk(&out_dir).is_empty(),
        "nothing is written when any path is refused"
    );

    // a directory inside --out that is a link elsewhere: refused before anything is created
    // or written through it
    let clean = t.path().join("clean");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&example)
        .arg(&clean)
        .status()
        .unwrap();
    assert!(status.success());
    let out2 = t.path().join("out2");
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(&out2).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out2.join("prod-eu")).unwrap();
    let (code, stdout, stderr) = text(
        &support::gitfleet(&clean)
            .args(["render", "--fleet", ".", "--out"])
            .arg(&out2)
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    assert!(
        walk(&elsewhere).is_empty(),
        "created through the link: {:?}",
        walk(&elsewhere)
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Issue 17: a file or directory of a repository that is a link out of it is refused when the
/// command line names it directly (the root is the work tree the path is written in, not the
/// one its link leads to), by `build`, `apply` and `diff` alike, before any cluster call; even
/// when the link leads into another Git work tree.
#[test]
fn a_path_that_is_a_link_out_of_the_repository_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    let repo = t.path().join("repo");
    const SECRET: &str = "c2VjcmV0LXZhbHVlLW91dHNpZGU=";
    write(
        &outside,
        &[(
            "sub/secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: default}}\ndata: {{token: {SECRET}}}\n"
            ),
        )],
    );
    for dir in [&repo, &outside.join("sub")] {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    write(
        &repo,
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n".into(),
        )],
    );
    std::os::unix::fs::symlink(outside.join("sub/secret.yaml"), repo.join("app/s.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.join("sub"), repo.join("linked")).unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("up")).unwrap();
    let kubeconfig = unreachable_kubeconfig(t.path());
    let abs_link = repo.join("app/s.yaml").to_string_lossy().into_owned();
    for path in [
        "app/s.yaml",
        "linked",
        "linked/secret.yaml",
        "up/sub",
        "up/sub/secret.yaml",
        "./app/../app/s.yaml",
    ] {
        for command in ["build", "apply", "diff"] {
            let mut cmd = support::gitfleet(&repo);
            cmd.args([command, path]);
            if command != "build" {
                cmd.arg("--kubeconfig").arg(&kubeconfig);
            }
            let (code, stdout, stderr) = text(&cmd.output().unwrap());
            assert_eq!(code, Some(1), "{command} {path}: {stdout}{stderr}");
            assert!(
                !stdout.contains(SECRET) && !stderr.contains(SECRET),
                "{command} {path} printed the outside file: {stdout}{stderr}"
            );
            assert!(
                stderr.contains("outside") || stderr.contains("symbolic link"),
                "{command} {path}: {stderr}"
            );
            assert!(
                !stderr.contains("127.0.0.1:9"),
                "{command} {path} contacted the cluster: {stderr}"
            );
        }
    }
    // named by its absolute path too
    let (code, stdout, stderr) = text(
        &support::gitfleet(t.path())
            .args(["build", &abs_link])
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains(SECRET), "{stdout}");
    // the repository's own files still build
    let (code, stdout, stderr) = text(
        &support::gitfleet(&repo)
            .args(["build", "app/cm.yaml"])
            .output()
            .unwrap(),
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("name: c"), "{stdout}");
}

/// Issue 17: a kubeconfig that fails to parse is named with the place of the problem, never
/// quoted (it holds tokens and keys), and nothing is contacted.
#[test]
fn a_malformed_kubeconfig_is_never_quoted() {
    let t = tempfile::tempdir().unwrap();
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu";
    write(
        t.path(),
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n".into(),
        )],
    );
    let variants = [
        // a tab where YAML wants spaces, on the token's line
        format!("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n\ttoken: {TOKEN}\n"),
        // an unterminated quote after the token
        format!("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {{token: \"{TOKEN}}}\n"),
        // a token where a list belongs
        format!("apiVersion: v1\nkind: Config\nusers: {TOKEN}\n"),
        // a key given twice
        format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {{token: {TOKEN}, token: {TOKEN}}}\n"
        ),
    ];
    for (i, text) in variants.iter().enumerate() {
        let path = t.path().join(format!("kubeconfig-{i}"));
        std::fs::write(&path, text).unwrap();
        for command in ["apply", "diff"] {
            let (code, stdout, stderr) = text_of(
                support::gitfleet(t.path())
                    .args([command, "cm.yaml", "--kubeconfig"])
                    .arg(&path),
            );
            assert_eq!(code, Some(1), "{command} variant {i}: {stdout}{stderr}");
            assert!(
                !stdout.contains(TOKEN) && !stderr.contains(TOKEN) && !stderr.contains("c2VjcmV0"),
                "{command} variant {i} quoted the kubeconfig: {stderr}"
            );
            assert!(
                stderr.contains(&format!("kubeconfig-{i}")),
                "{command} variant {i} does not name the file: {stderr}"
            );
        }
    }
}

fn text_of(cmd: &mut assert_cmd::Command) -> (Option<i32>, String, String) {
    text(&cmd.output().unwrap())
}

/// Issue 16: every problem of a kustomization is reported at once, located, before any cluster
/// call; plugins that would run programs from the repository and `validators` are refused by
/// name, never silently ignored.
#[test]
fn a_kustomization_reports_every_problem_at_once_and_refuses_plugins() {
    let t = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(t.path());
    write(
        t.path(),
        &[
            (
                "app/kustomization.yaml",
                "resources:\n- missing.yaml\n- cm.yaml\npatches:\n- path: absent-patch.yaml\nconfigMapGenerator:\n- name: g\n  files: [nofile.txt]\n".into(),
            ),
            (
                "app/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".into(),
            ),
            (
                "plugin/kustomization.yaml",
                "resources:\n- cm.yaml\ntransformers:\n- exec.yaml\n".into(),
            ),
            (
                "plugin/exec.yaml",
                "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata: {name: run-me}\n".into(),
            ),
            (
                "plugin/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".into(),
            ),
            (
                "validators/kustomization.yaml",
                "resources:\n- cm.yaml\nvalidators:\n- check.yaml\n".into(),
            ),
            (
                "validators/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".into(),
            ),
        ],
    );
    for command in ["build", "apply", "diff"] {
        let mut cmd = support::gitfleet(t.path());
        cmd.args([command, "--root", ".", "app"]);
        if command != "build" {
            cmd.arg("--kubeconfig").arg(&kubeconfig);
        }
        let (code, stdout, stderr) = text_of(&mut cmd);
        assert_eq!(code, Some(1), "{command}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{command}: {stdout}");
        for what in [
            "2:3: error: resource missing.yaml does not exist",
            "absent-patch.yaml does not exist",
            "nofile.txt does not exist",
            "3 errors",
        ] {
            assert!(
                stderr.contains(what),
                "{command}: {what} not reported: {stderr}"
            );
        }
        assert!(
            stderr.contains("kustomization.yaml:"),
            "{command}: no location: {stderr}"
        );
        assert!(
            !stderr.contains("127.0.0.1:9"),
            "{command} contacted: {stderr}"
        );
    }
    let (code, stdout, stderr) = text_of(support::gitfleet(t.path()).args(["build", "plugin"]));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("ChartInflator"), "{stderr}");
    let (code, stdout, stderr) = text_of(support::gitfleet(t.path()).args(["build", "validators"]));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("validators"), "{stderr}");
}
