//! Differential test: every chart of `tests/helm/charts` (and each of its
//! `ci/*.yaml` values files) rendered with this crate and with Helm 4's SDK
//! (the PyPI package helm-python-sdk, run once for the whole corpus by
//! `tests/helm/oracle.py`) must give the same documents from the same
//! templates, the same CRDs, and fail where Helm fails.
//!
//! The oracle's Python is `GITFLEET_HELM_PYTHON` (scripts/test.sh sets it)
//! or the repository's `.venv/bin/python`; if neither can import
//! helm_python the test fails: it is never skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn oracle() -> BTreeMap<String, Json> {
    let python = std::env::var("GITFLEET_HELM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"));
    let out =
        std::env::temp_dir().join(format!("gitfleet-helm-oracle-{}.json", std::process::id()));
    let status = Command::new(&python)
        .arg(root().join("tests/helm/oracle.py"))
        .arg(root().join("tests/helm/charts"))
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "the Helm oracle cannot run ({}: {e}); run scripts/test.sh, which installs helm-python-sdk",
                python.display()
            )
        });
    assert!(status.success(), "the Helm oracle failed: {status}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(&text).unwrap()
}

fn parse_doc(text: &str) -> Json {
    gotemplate::parse_yaml(text)
        .map(|v| v.to_json())
        .unwrap_or_else(|e| Json::String(format!("<unparsable: {e}>\n{text}")))
}

/// (template, document) pairs, sorted, documents that are empty dropped.
fn docs_of(pairs: impl Iterator<Item = (String, String)>) -> Vec<(String, Json)> {
    let mut v: Vec<(String, Json)> = pairs
        .map(|(t, d)| (t, parse_doc(&d)))
        .filter(|(_, j)| !j.is_null())
        .collect();
    v.sort_by_key(|a| (a.0.clone(), a.1.to_string()));
    v
}

/// The values the oracle rendered with (what Python's YAML reader made of
/// the ci file, so both renderers get the same input), else the file as
/// Helm reads it.
fn user_values(case: &Path, variant: &str, want: &Json) -> helm::Vals {
    if let Some(Json::Object(m)) = want.get("values") {
        return m.clone();
    }
    if variant == "default" {
        return Default::default();
    }
    let text = std::fs::read_to_string(case.join("ci").join(variant)).unwrap();
    match gotemplate::parse_yaml(&text).unwrap().to_json() {
        Json::Object(m) => m,
        _ => Default::default(),
    }
}

/// Where gitfleet refuses on purpose what the SDK's offline render accepts:
/// the variant, the error gitfleet must give, and why.
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "err-missing-dependency/default",
        "found in Chart.yaml, but missing in charts/ directory: postgresql",
        "`helm template` and `helm install` refuse a chart whose declared dependency is absent \
         (the SDK's Chart.render skips that check); rendering it without the sub-chart would \
         apply an incomplete application",
    ),
    (
        "err-kube-version/default",
        "chart requires kubeVersion: <1.25.0-0 which is incompatible with Kubernetes v1.36.0",
        "`helm template` and `helm install` check Chart.yaml's kubeVersion (the SDK's \
         Chart.render does not), with this message",
    ),
];

#[test]
fn every_chart_of_the_corpus_renders_as_helm_renders_it() {
    let expected = oracle();
    assert!(
        expected.len() >= 40,
        "the corpus holds {} variants",
        expected.len()
    );
    let charts = root().join("tests/helm/charts");
    let mut failures = Vec::new();
    let mut compared = 0;
    // the most budget one variant took
    let mut most = (String::new(), helm::Usage::default());
    for (key, want) in &expected {
        let (case, variant) = key.split_once('/').unwrap();
        let dir = charts.join(case);
        let opts = helm::Options {
            release_name: "rel".into(),
            namespace: "ns".into(),
            ..Default::default()
        };
        let got = helm::load_dir(&helm::FsDir(dir.clone()))
            .and_then(|c| helm::render(&c, &user_values(&dir, variant, want), &opts));
        compared += 1;
        if let Some((_, msg, _)) = DELIBERATE.iter().find(|(k, _, _)| k == key) {
            match got {
                Err(e) if e.iter().any(|e| e.to_string().contains(msg)) => {}
                other => failures.push(format!(
                    "{key}: gitfleet must refuse it with {msg:?}, got {:?}",
                    other
                        .map(|_| "a rendering")
                        .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())
                )),
            }
            continue;
        }
        if let Ok(r) = &got
            && r.usage.fuel > most.1.fuel
        {
            most = (key.clone(), r.usage);
        }
        match (want.get("ok"), got) {
            (Some(ok), Ok(r)) => {
                let want_docs = docs_of(
                    ok["manifests"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter(|(t, _)| !t.ends_with("NOTES.txt"))
                        .flat_map(|(t, text)| {
                            helm::split_manifests(text.as_str().unwrap())
                                .into_iter()
                                .map(move |d| (t.clone(), d))
                        }),
                );
                let got_docs = docs_of(
                    r.manifests
                        .iter()
                        .map(|m| (m.template.clone(), m.text.clone())),
                );
                if want_docs != got_docs {
                    failures.push(format!(
                        "{key}: documents differ\n{}",
                        describe(&want_docs, &got_docs)
                    ));
                    continue;
                }
                let mut want_crds: Vec<(String, String)> = ok["crds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        (
                            c["filename"].as_str().unwrap().to_string(),
                            c["data"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                want_crds.sort();
                let mut got_crds: Vec<(String, String)> = r
                    .crds
                    .iter()
                    .map(|m| (m.template.clone(), m.text.clone()))
                    .collect();
                got_crds.sort();
                if want_crds != got_crds {
                    failures.push(format!(
                        "{key}: CRDs differ\n  helm:     {want_crds:?}\n  gitfleet: {got_crds:?}"
                    ));
                }
            }
            (Some(_), Err(e)) => {
                let msgs: Vec<String> = e.iter().map(|e| e.to_string()).collect();
                failures.push(format!("{key}: Helm renders it, gitfleet fails: {msgs:?}"));
            }
            (None, Ok(_)) => failures.push(format!(
                "{key}: Helm fails ({}), gitfleet renders it",
                want["err"].as_str().unwrap_or("")
            )),
            (None, Err(e)) => {
                let theirs = want["err"].as_str().unwrap_or("");
                let ours: Vec<String> = e.iter().map(|e| e.message.clone()).collect();
                // Template and schema errors read as Helm's, word for word; an include that
                // never ends is cut at a lower depth than Helm's 1,000 (its message would be
                // 135 kB), with the same final words.
                let same = if theirs.contains("rendering template has a nested reference name") {
                    ours.iter()
                        .any(|o| o.contains("rendering template has a nested reference name"))
                } else if theirs.starts_with("values don't meet") {
                    let lines = |t: &str| {
                        let mut v: Vec<String> = t
                            .lines()
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty())
                            .collect();
                        v.sort();
                        v
                    };
                    ours.iter().any(|o| lines(o) == lines(theirs))
                } else if ["execution error", "template: ", "parse error"]
                    .iter()
                    .any(|p| theirs.starts_with(p))
                    || theirs.contains("\n  executing ")
                {
                    ours.iter().any(|o| o == theirs)
                } else {
                    true
                };
                if !same {
                    failures.push(format!(
                        "{key}: the error differs\n  helm:     {theirs}\n  gitfleet: {ours:?}"
                    ));
                }
            }
        }
    }
    // the chart-wide default budget leaves real charts ample room (the benchmark's 206-template
    // chart is measured by the render bench)
    eprintln!(
        "the corpus' largest render: {} ({} steps, {} bytes of output)",
        most.0, most.1.fuel, most.1.output_bytes
    );
    assert!(
        most.1.fuel < helm::DEFAULT_LIMITS.fuel / 100,
        "{} took {} steps, too close to the default limit {}",
        most.0,
        most.1.fuel,
        helm::DEFAULT_LIMITS.fuel
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} variants differ from Helm:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The differences, field by field where the documents pair up.
fn describe(want: &[(String, Json)], got: &[(String, Json)]) -> String {
    if want.len() != got.len() {
        let w: Vec<String> = want.iter().map(|(t, d)| format!("{t}: {d}")).collect();
        let g: Vec<String> = got.iter().map(|(t, d)| format!("{t}: {d}")).collect();
        return format!("  helm:     {w:#?}\n  gitfleet: {g:#?}");
    }
    let mut out = String::new();
    for ((tw, w), (tg, g)) in want.iter().zip(got) {
        if tw != tg {
            out.push_str(&format!("  template {tw} vs {tg}\n"));
        }
        diff("", w, g, &mut out);
    }
    out
}

fn diff(path: &str, w: &Json, g: &Json, out: &mut String) {
    match (w, g) {
        (Json::Object(a), Json::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (x, y) => out.push_str(&format!("  {p}: helm {x:?} gitfleet {y:?}\n")),
                }
            }
        }
        _ if w != g => out.push_str(&format!("  {path}: helm {w} gitfleet {g}\n")),
        _ => {}
    }
}
