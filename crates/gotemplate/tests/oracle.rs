//! Cases rendered by Helm 4 (helm-python-sdk 0.2.2, `Chart.render`): each is a
//! chart `c` with `templates/t.yaml` (plus partials), values, and what Helm
//! rendered or the error it reported. Regenerate with the scripts described in
//! tests/README.md.

use gotemplate::{TemplateSet, Value};
use serde_json::json;

fn data(values: &serde_json::Value) -> Value {
    let mut v = Value::from_json(&json!({
        "Release": {"Name": "rel", "Namespace": "ns", "IsInstall": true, "IsUpgrade": false, "Revision": 1, "Service": "Helm"},
        "Chart": {"Name": "c", "Version": "0.1.0"},
        "Capabilities": {"KubeVersion": {"Version": "v1.36.0", "Major": "1", "Minor": "36"}, "HelmVersion": {"Version": "v4.2"}},
        "Template": {"Name": "c/templates/t.yaml", "BasePath": "c/templates"},
    }));
    if let Value::Map(m) = &mut v {
        m.borrow_mut()
            .insert("Values".into(), Value::from_json_helm(values));
    }
    v
}

/// Checks that Go's message (ours) is the one Helm reformatted: every
/// location, template name and node of the chain, and the final message.
fn same_error(ours: &str, helm: &str) -> Result<(), String> {
    if let Some(rest) = ours.strip_prefix("template: ") {
        let parse = regex::Regex::new(r"^([^ ]+:\d+): (.*)$").unwrap();
        if let Some(c) = parse.captures(rest)
            && !rest.contains("executing")
        {
            let want = format!("parse error at ({}): {}", &c[1], &c[2]);
            return if want == helm {
                Ok(())
            } else {
                Err(format!("parse: want {want:?}"))
            };
        }
    }
    if ours == helm {
        return Ok(());
    }
    let re = regex::Regex::new(r#"template: ([^ ]+:\d+:\d+): executing "([^"]*)" at <(.*?)>: "#)
        .unwrap();
    let mut last = 0;
    let helm_short = helm.starts_with("execution error at (");
    for (i, c) in re.captures_iter(ours).enumerate() {
        let m = c.get(0).unwrap();
        last = m.end();
        if helm_short && i > 0 {
            continue;
        }
        if !helm.contains(&c[1]) {
            return Err(format!("location {} missing", &c[1]));
        }
        if !helm_short && !helm.contains(&format!("executing {:?} at <{}>", &c[2], &c[3])) {
            return Err(format!("context {} <{}> missing", &c[2], &c[3]));
        }
    }
    let tail = &ours[last..];
    let calling = regex::Regex::new(r"error calling \w+: ").unwrap();
    let tail = calling.split(tail).last().unwrap_or(tail);
    if !helm.ends_with(tail) {
        return Err(format!("tail {tail:?} missing"));
    }
    Ok(())
}

#[test]
fn oracle_cases() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("oracle_cases.json")).unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let mut set = TemplateSet::new();
        let mut res = Ok(());
        let mut files: Vec<(String, &str)> = c["files"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(f, t)| (format!("c/templates/{f}"), t.as_str().unwrap()))
            .collect();
        files.push(("c/templates/t.yaml".into(), c["t"].as_str().unwrap()));
        // Helm's sortTemplates: deeper paths first, then names in reverse order
        files.sort_by(|a, b| {
            (b.0.matches('/').count(), &b.0).cmp(&(a.0.matches('/').count(), &a.0))
        });
        for (f, t) in &files {
            if res.is_ok() {
                res = set.parse(f, t);
            }
        }
        let got = res.and_then(|_| set.execute_helm("c/templates/t.yaml", &data(&c["values"])));
        let expect = &c["expect"];
        match (&got, expect.get("ok"), expect.get("err")) {
            (Ok(out), Some(want), _) if out == want.as_str().unwrap() => {}
            (Err(e), _, Some(want)) => {
                if let Err(why) = same_error(&e.message, want.as_str().unwrap()) {
                    failures.push(format!(
                        "{name}: error differs ({why})\n  ours: {}\n  helm: {}",
                        e.message, want
                    ));
                }
            }
            _ => failures.push(format!("{name}:\n  ours: {got:?}\n  helm: {expect}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
