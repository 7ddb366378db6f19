//! Helm charts through the CLI: `gitfleet build` of a chart directory (and of a directory that
//! holds charts beside plain manifests), with values files, `--set`, the release name and
//! namespace, `--kube-version` and `--skip-crds`. Conformance to Helm itself is the helm
//! crate's differential test (crates/helm/tests/oracle.rs); this checks the wiring.

use serde_json::Value;

use crate::support;

fn chart(dir: &std::path::Path) {
    let files: &[(&str, &str)] = &[
        (
            "web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.2.3\nkubeVersion: \">=1.20.0-0\"\n",
        ),
        ("web/values.yaml", "replicas: 1\ncolor: blue\n"),
        ("web/prod.yaml", "color: red\n"),
        (
            "web/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n  namespace: {{ .Release.Namespace }}\ndata:\n  color: {{ .Values.color | quote }}\n  replicas: {{ .Values.replicas | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  policy: {{ .Capabilities.APIVersions.Has \"example.com/v1\" | quote }}\n",
        ),
        (
            "web/templates/NOTES.txt",
            "Installed {{ .Release.Name }}.\n",
        ),
        (
            "web/crds/widgets.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n",
        ),
        (
            "plain/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
        ),
    ];
    for (p, text) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn build(dir: &std::path::Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = support::gitfleet(dir)
        .args(["build", "--root", ".", "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let items = serde_json::from_str::<Value>(&stdout)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        items,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn named<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no object {name} in {items:?}"))
}

#[test]
fn a_chart_directory_builds_with_values_release_and_capabilities() {
    let t = tempfile::tempdir().unwrap();
    chart(t.path());
    let (code, items, stderr) = build(
        t.path(),
        &[
            "web",
            "--values",
            "web/prod.yaml",
            "--set",
            "replicas=3",
            "--release-name",
            "shop",
            "-n",
            "prod",
            "--kube-version",
            "v1.30.2",
            "--api-versions",
            "example.com/v1",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        items.len(),
        2,
        "the CRD and the ConfigMap; NOTES.txt is not an object: {items:?}"
    );
    let cm = named(&items, "shop-config");
    assert_eq!(cm["metadata"]["namespace"], "prod");
    assert_eq!(cm["data"]["color"], "red", "--values wins over values.yaml");
    assert_eq!(cm["data"]["replicas"], "3", "--set wins over --values");
    assert_eq!(cm["data"]["kube"], "v1.30.2");
    assert_eq!(cm["data"]["policy"], "true");
    assert_eq!(
        named(&items, "widgets.example.com")["kind"],
        "CustomResourceDefinition"
    );

    // defaults: the chart's name as the release, Helm's Kubernetes version; --skip-crds
    let (code, items, stderr) = build(t.path(), &["web", "--skip-crds"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(items.len(), 1);
    let cm = named(&items, "web-config");
    assert_eq!(cm["data"]["color"], "blue");
    assert_eq!(cm["data"]["kube"], helm::DEFAULT_KUBE_VERSION);
    assert_eq!(cm["metadata"]["namespace"], "default");
    assert_eq!(cm["data"]["policy"], "false");

    // a chart's kubeVersion constraint is checked as `helm template` checks it
    let (code, items, stderr) = build(t.path(), &["web", "--kube-version", "v1.19.0"]);
    assert_eq!(code, 1);
    assert!(items.is_empty());
    assert!(
        stderr.contains(
            "chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.0"
        ),
        "{stderr}"
    );
}

#[test]
fn a_directory_holding_a_chart_and_plain_manifests_reads_both() {
    let t = tempfile::tempdir().unwrap();
    chart(t.path());
    let (code, items, stderr) = build(t.path(), &["."]);
    assert_eq!(code, 0, "{stderr}");
    let mut names: Vec<&str> = items
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    // the chart's values files are not read as manifests
    assert_eq!(names, ["plain", "web-config", "widgets.example.com"]);
}

#[test]
fn a_template_error_names_the_file_line_and_column_and_nothing_is_printed() {
    let t = tempfile::tempdir().unwrap();
    chart(t.path());
    std::fs::write(
        t.path().join("web/templates/broken.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: {{ required \"password is required\" .Values.password }}\n",
    )
    .unwrap();
    let (code, items, stderr) = build(t.path(), &["web"]);
    assert_eq!(code, 1);
    assert!(items.is_empty());
    assert!(
        stderr.contains("web/templates/broken.yaml:6:9: error: execution error at (web/templates/broken.yaml:6:9): password is required"),
        "{stderr}"
    );
}

/// Dependencies a chart declares but does not vendor are read as `helm dependency build`
/// would fetch them: `file://` from the repository, `https://` from the chart repository at
/// the `Chart.lock` version (else the newest match), cached; nothing is written to the chart.
#[test]
fn undeclared_dependencies_are_fetched_as_helm_dependency_build_would() {
    let charts = crate::agent::ChartRepo::start();
    let t = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    charts.publish(work.path(), &["1.0.0", "1.2.0"], &[]);
    let files = [
        (
            "app/Chart.yaml",
            format!(
                "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: web\n  version: \"^1.0\"\n  repository: {}\n- name: common\n  version: 0.1.0\n  repository: file://../common\n",
                charts.url()
            ),
        ),
        ("app/values.yaml", "web:\n  color: red\n".to_string()),
        (
            "common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 0.1.0\n".to_string(),
        ),
        (
            "common/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-common\n"
                .to_string(),
        ),
    ];
    for (p, text) in &files {
        let path = t.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        let out = support::gitfleet(t.path())
            .env("XDG_CACHE_HOME", cache.path())
            .args(["build", "--root", ".", "-o", "json", "app"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        serde_json::from_str::<Value>(&stdout).unwrap()["items"]
            .as_array()
            .cloned()
            .unwrap()
    };
    let items = run();
    let web = named(&items, "app-web");
    assert_eq!(web["data"]["version"], "1.2.0", "the newest ^1.0");
    assert_eq!(
        web["data"]["color"], "red",
        "the parent's values reach the fetched sub-chart"
    );
    named(&items, "app-common");
    assert!(
        !t.path().join("app/charts").exists(),
        "nothing is written into the chart"
    );
    // Chart.lock pins the version
    std::fs::write(
        t.path().join("app/Chart.lock"),
        format!(
            "dependencies:\n- name: web\n  version: 1.0.0\n  repository: {}\n",
            charts.url()
        ),
    )
    .unwrap();
    let items = run();
    assert_eq!(
        named(&items, "app-web")["data"]["version"],
        "1.0.0",
        "the locked version"
    );
}

/// `helmCharts` with a `repo` and no vendored chart pulls it as `helm pull --repo` would (the
/// newest version of the range, verified, cached; nothing written into the repository), and
/// the overlay's transformers apply to what it renders.
#[test]
fn a_kustomization_pulls_a_helm_chart_from_its_repo() {
    let charts = crate::agent::ChartRepo::start();
    let work = tempfile::tempdir().unwrap();
    charts.publish(work.path(), &["1.0.0", "1.1.0", "2.0.0"], &[]);
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("kustomization.yaml"),
        format!(
            "namePrefix: dev-\nhelmCharts:\n- name: web\n  repo: {}\n  version: \"<2\"\n  releaseName: shop\n  valuesInline: {{color: purple}}\n",
            charts.url()
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = support::gitfleet(t.path())
        .env("XDG_CACHE_HOME", cache.path())
        .args(["build", "--root", ".", "-o", "json", "."])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let items = serde_json::from_slice::<Value>(&out.stdout).unwrap()["items"]
        .as_array()
        .cloned()
        .unwrap();
    let cm = named(&items, "dev-shop-web");
    assert_eq!(cm["data"]["version"], "1.1.0");
    assert_eq!(cm["data"]["color"], "purple");
    assert!(
        !t.path().join("charts").exists(),
        "nothing is written into the repository"
    );
}

/// A private chart repository: basic auth from the caller reaches it; without it the error
/// names the repository and the status, and never a credential.
#[test]
fn a_private_chart_repository_takes_basic_auth_and_never_shows_it() {
    use base64::Engine as _;
    use gitfleet::build::chart_repo::{ChartRef, RepoAuth, fetch};
    let charts = crate::agent::ChartRepo::start();
    let work = tempfile::tempdir().unwrap();
    charts.publish(work.path(), &["1.0.0"], &[]);
    *charts.required.lock().unwrap() = Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("deploy:s3cret-token")
    ));
    let r = ChartRef {
        repository: charts.url(),
        name: "web".into(),
        version: String::new(),
    };
    let auth = RepoAuth {
        username: Some("deploy".into()),
        password: Some("s3cret-token".into()),
        ca_pem: None,
    };
    let got = fetch(&r, &auth, None).expect("fetched with credentials");
    assert_eq!(got.version, "1.0.0");
    assert!(got.digest.starts_with("sha256:"));
    let wrong = RepoAuth {
        password: Some("wrong-token".into()),
        ..auth.clone()
    };
    let e = fetch(&r, &wrong, None).unwrap_err();
    assert!(e.contains("401"), "{e}");
    assert!(!e.contains("wrong-token") && !e.contains("s3cret"), "{e}");
    // credentials in the URL are masked too
    let r = ChartRef {
        repository: charts.url().replace("http://", "http://deploy:url-token@"),
        ..r
    };
    let e = fetch(&r, &RepoAuth::default(), None).unwrap_err();
    assert!(!e.contains("url-token"), "{e}");
    assert!(
        !format!("{auth:?}").contains("s3cret"),
        "Debug never shows the password"
    );
}

/// A chart through `gitfleet apply` and `gitfleet diff` against a cluster (the stand-in, or a
/// real one): its hooks run around the release (a post-upgrade hook only on an upgrade, a
/// pre-install one only on the install), `diff` leaves hooks out and exits 0 once applied, and
/// a values change shows as a diff (exit 2) and applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_applies_and_diffs_through_the_cli_with_its_hooks() {
    let c = support::cluster::Cluster::new();
    let ns = c.name("chart");
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, String)] = &[
        (
            "app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 0.1.0\n".into(),
        ),
        ("app/values.yaml", "color: blue\n".into()),
        (
            "app/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: {{ .Values.color | quote }}\n".into(),
        ),
        (
            "app/templates/installed.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: installed\n  annotations:\n    helm.sh/hook: pre-install\ndata: {at: install}\n".into(),
        ),
        (
            "app/templates/upgraded.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: upgraded-{{ .Values.color }}\n  annotations:\n    helm.sh/hook: post-upgrade\n    helm.sh/hook-delete-policy: hook-failed\ndata: {at: upgrade}\n".into(),
        ),
    ];
    for (p, text) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let run = |command: &str, extra: &[&str]| {
        let out = c
            .gitfleet()
            .current_dir(dir.path())
            .args([command, "--root", ".", "app", "-n", &ns])
            .args(["--inventory", "app", "--inventory-namespace", &ns])
            .args(extra)
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let client = c.client().await;
    kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .patch(
            &ns,
            &kube::api::PatchParams::apply("test-setup"),
            &kube::api::Patch::Apply(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
        )
        .await
        .unwrap();
    let cm = |name: &'static str| {
        let client = client.clone();
        let ns = ns.clone();
        async move { crate::agent::get(&client, "v1", "ConfigMap", "configmaps", &ns, name).await }
    };
    let (code, out, err) = run("apply", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cm("settings").await.unwrap()["data"]["color"], "blue");
    assert!(cm("installed").await.is_some(), "the pre-install hook ran");
    assert!(cm("upgraded-blue").await.is_none(), "no upgrade yet");
    let (code, out, err) = run("diff", &[]);
    assert_eq!(code, 0, "hooks are not diffed: {out}{err}");

    let (code, out, err) = run("diff", &["--set", "color=green"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("green"), "{out}");
    let (code, out, err) = run("apply", &["--set", "color=green"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cm("settings").await.unwrap()["data"]["color"], "green");
    assert!(
        cm("upgraded-green").await.is_some(),
        "the post-upgrade hook ran on the upgrade"
    );
}
