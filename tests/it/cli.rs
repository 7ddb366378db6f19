//! The built binary on the example fleets: commands, output formats and exit codes.

use predicates::prelude::*;

use crate::support::moto::Moto;
use crate::support::{fleet_dir, gitfleet, root};

#[test]
fn help_version_and_every_subcommand_help() {
    gitfleet(&root())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
    gitfleet(&root())
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("gitfleet {}\n", env!("CARGO_PKG_VERSION")));
    for sub in [
        "init",
        "validate",
        "render",
        "plan",
        "up",
        "down",
        "uninstall",
        "apply",
        "diff",
        "agent",
        "status",
        "reconcile",
        "kubeconfig",
        "token",
        "schema",
        "completion",
    ] {
        gitfleet(&root())
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage: gitfleet"));
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_gitfleet()"),
        ("zsh", "#compdef gitfleet"),
        ("fish", "complete -c gitfleet"),
    ] {
        gitfleet(&root())
            .args(["completion", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker));
    }
}

#[test]
fn usage_errors_exit_1_not_2() {
    gitfleet(&root()).args(["plan", "--bogus"]).assert().code(1);
    gitfleet(&root())
        .args(["plan", "--offline", "-l", "env in"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "invalid label selector \"env in\"",
        ));
}

#[test]
fn validate_the_example_fleet() {
    gitfleet(&root())
        .arg("validate")
        .assert()
        .success()
        .stdout("fleet \"example\" is valid: 2 clusters (dev [kind], staging [existing])\n");
    let out = gitfleet(&root())
        .args(["validate", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["clusters"][0]["provider"], "kind");
}

#[test]
fn offline_plan_exits_2_and_lists_steps() {
    let out = gitfleet(&root())
        .args(["plan", "--offline"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("dev [kind]: 4 steps\n  1. create cluster dev (version: 1.31)"),
        "{text}"
    );
    assert!(
        text.contains("staging [existing]: 3 steps\n  1. install reconciler gitfleet-system"),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 7 steps across 2 clusters.\n"),
        "{text}"
    );
}

#[test]
fn json_plan_is_machine_readable() {
    let out = gitfleet(&root())
        .args(["plan", "--offline", "-o", "json", "-l", "env=dev"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["summary"]["clusters"], 1);
    assert_eq!(v["clusters"][0]["cluster"], "dev");
    let actions: Vec<&str> = v["clusters"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "install", "seed", "commit"]);
}

#[test]
fn live_plan_without_kind_installed_fails_clearly() {
    gitfleet(&root())
        .args(["plan", "-c", "dev"])
        .env("GITFLEET_KIND", "/nonexistent/kind")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "dev: error: kind provider: `/nonexistent/kind` is not installed or not on PATH; install kind (https://kind.sigs.k8s.io) and Docker",
        ));
}

#[test]
fn selection_by_name_and_unknown_names() {
    gitfleet(&root())
        .args(["plan", "--offline", "-c", "staging"])
        .assert()
        .code(2)
        .stdout(
            predicate::str::contains("staging [existing]")
                .and(predicate::str::contains("dev [kind]").not()),
        );
    gitfleet(&root())
        .args(["plan", "--offline", "-c", "stagin"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no cluster named \"stagin\" in the fleet (did you mean \"staging\"?)",
        ));
    gitfleet(&root())
        .args(["plan", "--offline", "-l", "env=none"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no cluster matches the selection"));
}

#[test]
fn render_to_stdout_and_to_files() {
    gitfleet(&root())
        .args(["render", "-c", "dev"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("# Source: dev/kind/cluster.yaml\nkind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4")
                .and(predicate::str::contains("# Source: dev/reconciler/seed.yaml"))
                .and(predicate::str::contains("staging").not()),
        );
    let out = tempfile::tempdir().unwrap();
    gitfleet(&root())
        .args(["render", "--out"])
        .arg(out.path())
        .assert()
        .success();
    for f in [
        "dev/kind/cluster.yaml",
        "dev/reconciler/install.yaml",
        "staging/reconciler/seed.yaml",
    ] {
        let text = std::fs::read_to_string(out.path().join(f)).unwrap();
        assert!(!text.is_empty(), "{f}");
    }
    let seed = std::fs::read_to_string(out.path().join("staging/reconciler/seed.yaml")).unwrap();
    assert!(seed.contains("path: clusters/staging"), "{seed}");
}

#[test]
fn schema_is_json_schema_for_both_kinds() {
    let out = gitfleet(&root())
        .arg("schema")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(v["$defs"]["Fleet"]["properties"]["spec"].is_object());
    assert!(v["$defs"]["Cluster"]["properties"]["spec"].is_object());
    assert!(v["$defs"]["NodePool"]["properties"]["instanceType"].is_object());
    let out = gitfleet(&root())
        .args(["schema", "--kind", "cluster"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["title"], "gitfleet Cluster");
}

#[test]
fn init_scaffolds_a_valid_fleet_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("my-fleet");
    gitfleet(dir.path())
        .args([
            "init",
            "my-fleet",
            "--repo",
            "https://example.com/acme/fleet.git",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("created my-fleet/fleet.yaml"));
    for f in [
        "fleet.yaml",
        "clusters/dev/cluster.yaml",
        "clusters/dev/apps/hello.yaml",
        ".gitignore",
        "gitfleet.schema.json",
    ] {
        assert!(fleet.join(f).is_file(), "{f}");
    }
    gitfleet(&fleet)
        .arg("validate")
        .assert()
        .success()
        .stdout("fleet \"my-fleet\" is valid: 1 cluster (dev [kind])\n");
    gitfleet(&fleet)
        .args(["plan", "--offline"])
        .assert()
        .code(2);
    let before = std::fs::read_to_string(fleet.join("fleet.yaml")).unwrap();
    gitfleet(dir.path())
        .args(["init", "my-fleet"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "refusing to overwrite existing files",
        ));
    assert_eq!(
        std::fs::read_to_string(fleet.join("fleet.yaml")).unwrap(),
        before
    );
}

#[test]
fn warnings_do_not_fail_validation() {
    let dir = fleet_dir(&[
        (
            "fleet.yaml",
            "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  repository: {url: 'https://x.io/r.git'}\n",
        ),
        (
            "clusters/a/cluster.yaml",
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec:\n  version: \"1.30\"\n  kind: {}\n  nodePools:\n    - {name: p, instanceType: t, min: 1, max: 1}\n",
        ),
    ]);
    gitfleet(dir.path())
        .arg("validate")
        .assert()
        .success()
        .stderr("clusters/a/cluster.yaml:7:3: warning: node pools are ignored for kind clusters\n  hint: set the worker count with spec.kind.workers\n");
}

#[test]
fn a_fleet_template_override_replaces_the_builtin_and_errors_point_into_it() {
    let fleet = "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  repository: {url: 'https://x.io/r.git'}\n";
    let cluster = "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec:\n  version: \"1.30\"\n  kind: {workers: 2}\n";
    let good = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: {{ cluster.name }}\nnodes:\n  - role: control-plane\n    image: {{ 'custom/node:' ~ (values.tag | default('x')) }}\n";
    let dir = fleet_dir(&[
        ("fleet.yaml", fleet),
        ("clusters/a/cluster.yaml", cluster),
        ("templates/kind/cluster.yaml.j2", good),
    ]);
    gitfleet(dir.path())
        .args(["render", "-c", "a"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("image: custom/node:x")
                .and(predicate::str::contains("role: worker").not()),
        );

    // A misspelt variable: strict undefined, reported at the template's line.
    let bad_var =
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: {{ cluster.nmae }}\nnodes: []\n";
    let dir = fleet_dir(&[
        ("fleet.yaml", fleet),
        ("clusters/a/cluster.yaml", cluster),
        ("templates/kind/cluster.yaml.j2", bad_var),
    ]);
    gitfleet(dir.path())
        .arg("validate")
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with("templates/kind/cluster.yaml.j2:3:")
                .and(predicate::str::contains("undefined")),
        );

    // Output that does not fit the typed request: unknown field.
    let bad_field =
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: a\nnodes: []\nnodez: []\n";
    let dir = fleet_dir(&[
        ("fleet.yaml", fleet),
        ("clusters/a/cluster.yaml", cluster),
        ("templates/kind/cluster.yaml.j2", bad_field),
    ]);
    gitfleet(dir.path())
        .args(["plan", "--offline"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("templates/kind/cluster.yaml.j2:1:1: error: template output is not a valid kind cluster config: unknown field `nodez`"));
}

/// An EKS fleet of `names` (one node pool each) for runs against moto.
fn eks_fleet(names: &[&str]) -> tempfile::TempDir {
    let mut files = vec![(
        "fleet.yaml".to_string(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: eks-fleet}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n".to_string(),
    )];
    for name in names {
        files.push((
            format!("clusters/{name}/cluster.yaml"),
            format!(
                "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}}}\nspec:\n  version: \"1.30\"\n  eks:\n    region: eu-west-1\n    roleArn: arn:aws:iam::123456789012:role/eks\n    nodeRoleArn: arn:aws:iam::123456789012:role/nodes\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n  nodePools:\n    - {{name: general, instanceType: m6i.large, min: 1, max: 3}}\n"
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    fleet_dir(&refs)
}

fn against_moto(dir: &std::path::Path, moto: &Moto, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = gitfleet(dir);
    cmd.args(args)
        .args(["--aws-endpoint-url", &moto.url])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GITFLEET_POLL_INTERVAL", "10ms")
        .env_remove("AWS_PROFILE")
        .env_remove("NO_COLOR");
    cmd
}

/// Log lines to a pipe carry no ANSI colour codes, and the add-on warning of an endpoint
/// without add-on support is printed once per run, not once per cluster.
#[test]
fn warnings_to_a_pipe_are_plain_and_the_addon_warning_is_printed_once() {
    const WARNING: &str = "the EKS endpoint does not support add-ons; treating them as absent";
    let moto = Moto::start();
    let dir = eks_fleet(&["w1", "w2", "w3"]);
    let d = dir.path();
    against_moto(d, &moto, &["up", "--yes", "--no-install"])
        .assert()
        .success();
    for args in [&["plan"][..], &["up", "--yes", "--no-install"][..]] {
        let out = against_moto(d, &moto, args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.matches(WARNING).count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("\x1b["), "{args:?}: {stderr:?}");
    }
}

/// `up --no-install` asks only about the cloud steps; `--no-commit` says `--no-install` implies it.
#[test]
fn the_no_install_confirmation_does_not_promise_a_bootstrap() {
    let moto = Moto::start();
    let dir = eks_fleet(&["q1"]);
    let out = against_moto(dir.path(), &moto, &["up", "--no-install"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(
        predicate::str::is_match(r"apply \d+ cloud step\(s\)\? needs confirmation")
            .unwrap()
            .eval(&stderr),
        "{stderr}"
    );
    assert!(!stderr.contains("bootstrap"), "{stderr}");
    gitfleet(&root())
        .args(["up", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(implied by --no-install)"));
}

/// `up --parallel` defaults to Terraform's 10, as the README says; `GITFLEET_POLL_INTERVAL` is documented.
#[test]
fn up_parallel_defaults_to_10_and_the_readme_says_so() {
    gitfleet(&root())
        .args(["up", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"--parallel <N>[^\n]*\n?[^\n]*\[default: 10\]").unwrap());
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("[--parallel 10]"));
    assert!(readme.contains("`GITFLEET_POLL_INTERVAL`"));
}

/// `init` in a clone of a local bare repository writes a `file://` URL that validates.
#[test]
fn init_in_a_clone_of_a_local_repository_validates() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let st = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(st.status.success(), "git {args:?}: {st:?}");
    };
    git(&["init", "-q", "--bare", "fleet.git"]);
    git(&["clone", "-q", "fleet.git", "clone"]);
    let clone = dir.path().join("clone");
    gitfleet(&clone).arg("init").assert().success();
    let fleet_yaml = std::fs::read_to_string(clone.join("fleet.yaml")).unwrap();
    let bare = dir.path().join("fleet.git").canonicalize().unwrap();
    assert!(
        fleet_yaml.contains(&format!("url: file://{}", bare.display())),
        "{fleet_yaml}"
    );
    gitfleet(&clone).arg("validate").assert().success();
}
