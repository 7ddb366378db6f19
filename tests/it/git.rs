//! `gitfleet::git` against real repositories made with the `git` CLI in temporary directories,
//! served over `file://`, over `git daemon` on loopback, and (for credential handling) by an HTTP
//! endpoint that always answers 401.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gitfleet::git::{self, CommitRequest, Credentials, GitError, Reference};

/// Runs `git` in `dir` with a fixed identity and no system or global configuration; returns
/// trimmed stdout and panics on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ]);
    cmd
}

fn write(dir: &Path, path: &str, content: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A non-bare upstream repository with `files` committed on `main`.
fn upstream(root: &Path, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("upstream");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    commit_files(&dir, files, "initial");
    dir
}

/// Writes `files` (an empty content deletes the file), commits everything, returns the commit.
fn commit_files(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, content) in files {
        if content.is_empty() {
            git(dir, &["rm", "-q", path]);
        } else {
            write(dir, path, content);
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A bare repository whose `main` holds `files` (none: an empty repository).
fn bare_remote(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let bare = root.join(name);
    git(root, &["init", "-q", "--bare", bare.to_str().unwrap()]);
    if !files.is_empty() {
        let seed = root.join(format!("{name}-seed"));
        git(
            root,
            &[
                "clone",
                "-q",
                bare.to_str().unwrap(),
                seed.to_str().unwrap(),
            ],
        );
        commit_files(&seed, files, "seed");
        git(&seed, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    }
    bare
}

/// Files of a directory tree (relative paths), `.git` excluded.
fn tree_files(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every file under `dir` (to see whether a call downloaded anything).
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn branch(name: &str) -> Reference {
    Reference::Branch(name.into())
}

#[test]
fn remote_commit_resolves_branch_and_annotated_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let up = upstream(tmp.path(), &[("a.yaml", "a: 1\n")]);
    let first = git(&up, &["rev-parse", "HEAD"]);
    git(&up, &["tag", "-a", "v1", "-m", "release 1"]);
    git(&up, &["tag", "light"]);
    let second = commit_files(&up, &[("a.yaml", "a: 2\n")], "second");
    let url = file_url(&up);

    let at_main = git::remote_commit(&url, &branch("main"), &Credentials::None).unwrap();
    assert_eq!(at_main, second);
    let tag_object = git(&up, &["rev-parse", "v1"]);
    assert_ne!(tag_object, first, "v1 is an annotated tag");
    let at_v1 = git::remote_commit(&url, &Reference::Tag("v1".into()), &Credentials::None);
    assert_eq!(
        at_v1.unwrap(),
        first,
        "annotated tags are peeled to their commit"
    );
    let at_light = git::remote_commit(&url, &Reference::Tag("light".into()), &Credentials::None);
    assert_eq!(at_light.unwrap(), first);
    // A commit id is its own answer.
    let fixed = Reference::Commit(first.clone());
    assert_eq!(
        git::remote_commit(&url, &fixed, &Credentials::None).unwrap(),
        first
    );
}

#[test]
fn remote_commit_missing_ref_names_url_and_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let up = upstream(tmp.path(), &[("a.yaml", "a: 1\n")]);
    let url = file_url(&up);
    let e = git::remote_commit(&url, &branch("nope"), &Credentials::None).unwrap_err();
    assert!(matches!(e, GitError::RefNotFound { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("{url}: ref not found: branch nope"));
    let e = git::remote_commit(&url, &Reference::Tag("v9".into()), &Credentials::None).unwrap_err();
    assert!(e.to_string().ends_with("ref not found: tag v9"), "{e}");

    let missing = file_url(&tmp.path().join("no-such-repo"));
    let e = git::remote_commit(&missing, &branch("main"), &Credentials::None).unwrap_err();
    assert!(matches!(e, GitError::Network { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("{missing}: ls-remote failed")),
        "{e}"
    );
}

#[test]
fn fetch_follows_new_commits_and_removes_deleted_files() {
    let tmp = tempfile::tempdir().unwrap();
    let up = upstream(
        tmp.path(),
        &[
            ("clusters/dev/a.yaml", "a: 1\n"),
            ("clusters/dev/gone.yaml", "g: 1\n"),
            ("clusters/old/x.yaml", "x: 1\n"),
        ],
    );
    let url = file_url(&up);
    let cache = tmp.path().join("cache");

    let first = git::fetch(&url, &branch("main"), &Credentials::None, &cache).unwrap();
    assert_eq!(first.commit, git(&up, &["rev-parse", "HEAD"]));
    assert_eq!(first.dir, cache.join("worktree"));
    assert_eq!(
        tree_files(&first.dir),
        map(&[
            ("clusters/dev/a.yaml", "a: 1\n"),
            ("clusters/dev/gone.yaml", "g: 1\n"),
            ("clusters/old/x.yaml", "x: 1\n"),
        ])
    );
    assert!(
        !first.dir.join(".git").exists(),
        "the work tree holds only the repo's files"
    );

    // Unchanged remote: the same answer and nothing downloaded.
    let objects = listing(&cache.join("repo.git/objects"));
    let again = git::fetch(&url, &branch("main"), &Credentials::None, &cache).unwrap();
    assert_eq!(again, first);
    assert_eq!(listing(&cache.join("repo.git/objects")), objects);

    // Upstream moves on: a file changes, one is deleted, one appears; a stray local file and a
    // local edit are overwritten.
    let second = commit_files(
        &up,
        &[
            ("clusters/dev/a.yaml", "a: 2\n"),
            ("clusters/dev/gone.yaml", ""),
            ("clusters/dev/new.yaml", "n: 1\n"),
            ("clusters/old/x.yaml", ""),
        ],
        "second",
    );
    assert_eq!(
        git::remote_commit(&url, &branch("main"), &Credentials::None).unwrap(),
        second
    );
    write(&first.dir, "stray.txt", "local junk");
    write(&first.dir, "clusters/dev/new.yaml", "local edit");
    let next = git::fetch(&url, &branch("main"), &Credentials::None, &cache).unwrap();
    assert_eq!(next.commit, second);
    assert_eq!(
        tree_files(&next.dir),
        map(&[
            ("clusters/dev/a.yaml", "a: 2\n"),
            ("clusters/dev/new.yaml", "n: 1\n")
        ])
    );
    assert!(
        !next.dir.join("clusters/old").exists(),
        "emptied directories go too"
    );

    // A tag checks out its commit.
    git(&up, &["tag", "-a", "v2", "-m", "v2"]);
    let tagged = git::fetch(
        &url,
        &Reference::Tag("v2".into()),
        &Credentials::None,
        &cache,
    );
    assert_eq!(tagged.unwrap().commit, second);

    let e = git::fetch(&url, &branch("nope"), &Credentials::None, &cache).unwrap_err();
    assert!(e.to_string().ends_with("ref not found: branch nope"), "{e}");
}

#[test]
fn fetch_at_commit_sha() {
    let tmp = tempfile::tempdir().unwrap();
    let up = upstream(tmp.path(), &[("a.yaml", "a: 1\n")]);
    let first = git(&up, &["rev-parse", "HEAD"]);
    commit_files(&up, &[("a.yaml", "a: 2\n"), ("b.yaml", "b: 1\n")], "second");
    let url = file_url(&up);
    let cache = tmp.path().join("cache");

    // Not the tip of any ref: fetched the long way, then checked out.
    let at_first = Reference::Commit(first.clone());
    let checkout = git::fetch(&url, &at_first, &Credentials::None, &cache).unwrap();
    assert_eq!(checkout.commit, first);
    assert_eq!(tree_files(&checkout.dir), map(&[("a.yaml", "a: 1\n")]));

    // Back to the tip, then the fixed commit again: it is in the cache, no remote needed.
    git::fetch(&url, &branch("main"), &Credentials::None, &cache).unwrap();
    let gone = file_url(&tmp.path().join("moved-away"));
    let cached = git::fetch(&gone, &at_first, &Credentials::None, &cache).unwrap();
    assert_eq!(cached.commit, first);
    assert_eq!(tree_files(&cached.dir), map(&[("a.yaml", "a: 1\n")]));

    let unknown = Reference::Commit("0123456789abcdef0123456789abcdef01234567".into());
    let e = git::fetch(&url, &unknown, &Credentials::None, &cache).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("ref not found: commit 0123456789abcdef0123456789abcdef01234567"),
        "{e}"
    );
}

fn request<'a>(url: &'a str, creds: &'a Credentials, files: &[(&str, &str)]) -> CommitRequest<'a> {
    CommitRequest {
        url,
        branch: "main",
        creds,
        dir: "clusters/dev/gitfleet-system",
        files: map(files),
        message: "gitfleet: manage the agent",
        author_name: "gitfleet bootstrap",
        author_email: "bootstrap@gitfleet.example",
        root_file: None,
    }
}

fn commit_count(bare: &Path, rev: &str) -> usize {
    git(bare, &["rev-list", "--count", rev]).parse().unwrap()
}

#[test]
fn commit_and_push_to_bare_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_remote(tmp.path(), "fleet.git", &[("README.md", "fleet\n")]);
    let url = file_url(&bare);
    let creds = Credentials::None;
    let work = tmp.path().join("work");

    let req = request(
        &url,
        &creds,
        &[
            ("agent.yaml", "kind: Deployment\n"),
            ("rbac/role.yaml", "kind: Role\n"),
        ],
    );
    let first = git::commit_and_push(&req, &work)
        .unwrap()
        .expect("a commit");
    assert_eq!(git(&bare, &["rev-parse", "main"]), first);
    assert_eq!(commit_count(&bare, "main"), 2);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%an <%ae>|%s", "main"]),
        "gitfleet bootstrap <bootstrap@gitfleet.example>|gitfleet: manage the agent"
    );
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "README.md\nclusters/dev/gitfleet-system/agent.yaml\nclusters/dev/gitfleet-system/rbac/role.yaml"
    );

    // The same files again: nothing to commit, nothing pushed.
    assert_eq!(git::commit_and_push(&req, &work).unwrap(), None);
    assert_eq!(git(&bare, &["rev-parse", "main"]), first);
    // Also from a fresh scratch directory.
    assert_eq!(
        git::commit_and_push(&req, &tmp.path().join("work2")).unwrap(),
        None
    );

    // A changed set: one file edited, one dropped, one added.
    let req = request(
        &url,
        &creds,
        &[
            ("agent.yaml", "kind: Deployment\nreplicas: 2\n"),
            ("sa.yaml", "kind: ServiceAccount\n"),
        ],
    );
    let second = git::commit_and_push(&req, &work)
        .unwrap()
        .expect("a commit");
    assert_ne!(second, first);
    assert_eq!(git(&bare, &["rev-parse", "main^"]), first);
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "README.md\nclusters/dev/gitfleet-system/agent.yaml\nclusters/dev/gitfleet-system/sa.yaml"
    );
    assert_eq!(
        git(
            &bare,
            &["show", "main:clusters/dev/gitfleet-system/agent.yaml"]
        ),
        "kind: Deployment\nreplicas: 2"
    );
    assert_eq!(commit_count(&bare, "main"), 3);
}

#[test]
fn commit_and_push_creates_a_missing_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_remote(tmp.path(), "empty.git", &[]);
    let url = file_url(&bare);
    let creds = Credentials::None;
    let req = request(&url, &creds, &[("agent.yaml", "kind: Deployment\n")]);
    let commit = git::commit_and_push(&req, &tmp.path().join("work"))
        .unwrap()
        .expect("a commit");
    assert_eq!(git(&bare, &["rev-parse", "main"]), commit);
    assert_eq!(commit_count(&bare, "main"), 1);
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "clusters/dev/gitfleet-system/agent.yaml"
    );

    let bad = CommitRequest {
        dir: "../outside",
        ..request(&url, &creds, &[("a.yaml", "x")])
    };
    let e = git::commit_and_push(&bad, &tmp.path().join("work")).unwrap_err();
    assert!(matches!(e, GitError::InvalidPath { .. }), "{e:?}");
}

/// `git daemon` on a free loopback port, serving (and accepting pushes into) `base`. Killed on
/// drop.
pub(crate) struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    pub(crate) fn start(base: &Path) -> Daemon {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // The git-daemon program itself (not `git daemon`, whose child would outlive a kill).
            let exec_path = String::from_utf8(
                Command::new("git")
                    .arg("--exec-path")
                    .output()
                    .expect("git")
                    .stdout,
            )
            .unwrap();
            let mut child = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
                .current_dir(base)
                .args([
                    "--export-all",
                    "--enable=receive-pack",
                    "--reuseaddr",
                    "--informative-errors",
                    "--listen=127.0.0.1",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("git daemon starts");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Daemon { child, port };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start");
    }

    pub(crate) fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn git_daemon_fetch_and_push() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = bare_remote(
        &served,
        "fleet.git",
        &[("clusters/dev/app.yaml", "app: 1\n")],
    );
    let daemon = Daemon::start(&served);
    let url = daemon.url("fleet.git");
    let creds = Credentials::None;

    let tip = git(&bare, &["rev-parse", "main"]);
    assert_eq!(
        git::remote_commit(&url, &branch("main"), &creds).unwrap(),
        tip
    );

    let cache = tmp.path().join("cache");
    let checkout = git::fetch(&url, &branch("main"), &creds, &cache).unwrap();
    assert_eq!(checkout.commit, tip);
    assert_eq!(
        tree_files(&checkout.dir),
        map(&[("clusters/dev/app.yaml", "app: 1\n")])
    );
    assert!(
        cache.join("repo.git/shallow").exists(),
        "git:// fetches are shallow"
    );

    let req = request(&url, &creds, &[("agent.yaml", "kind: Deployment\n")]);
    let pushed = git::commit_and_push(&req, &tmp.path().join("work"))
        .unwrap()
        .expect("a commit");
    assert_eq!(git(&bare, &["rev-parse", "main"]), pushed);
    assert_eq!(git(&bare, &["rev-parse", "main^"]), tip);
    assert_eq!(
        git::commit_and_push(&req, &tmp.path().join("work")).unwrap(),
        None
    );

    // The agent's next pull sees bootstrap's commit, over the shallow cache.
    let next = git::fetch(&url, &branch("main"), &creds, &cache).unwrap();
    assert_eq!(next.commit, pushed);
    assert_eq!(
        tree_files(&next.dir),
        map(&[
            ("clusters/dev/app.yaml", "app: 1\n"),
            (
                "clusters/dev/gitfleet-system/agent.yaml",
                "kind: Deployment\n"
            ),
        ])
    );

    // Commit ids over git://: a ref tip, and an older commit (no ref points at it and
    // git daemon does not serve bare ids, so all history is fetched).
    let fresh = tmp.path().join("fresh");
    let at_tip = git::fetch(&url, &Reference::Commit(pushed.clone()), &creds, &fresh).unwrap();
    assert_eq!(at_tip.commit, pushed);
    let older = Reference::Commit(tip.clone());
    let at_older = git::fetch(&url, &older, &creds, &fresh).unwrap();
    assert_eq!(at_older.commit, tip);
    assert_eq!(
        tree_files(&at_older.dir),
        map(&[("clusters/dev/app.yaml", "app: 1\n")])
    );

    let e = git::fetch(&daemon.url("missing.git"), &branch("main"), &creds, &cache).unwrap_err();
    assert!(matches!(e, GitError::Network { .. }), "{e:?}");
}

#[test]
fn git_daemon_concurrent_push_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bare = bare_remote(&served, "fleet.git", &[("README.md", "fleet\n")]);
    let base = git(&bare, &["rev-parse", "main"]);

    // Another writer's commit on top of main, parked on a side branch.
    let other = tmp.path().join("other");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    let theirs = commit_files(&other, &[("clusters/dev/app.yaml", "app: 1\n")], "theirs");
    git(&other, &["push", "-q", "origin", "HEAD:refs/heads/other"]);

    // The first push that reaches the server finds main moved under it (the hook moves main to
    // the other writer's commit before receive-pack updates it).
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\ncat >/dev/null\nif [ ! -e \"$GIT_DIR/raced\" ]; then\n  : > \"$GIT_DIR/raced\"\n  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main refs/heads/other\nfi\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let daemon = Daemon::start(&served);
    let url = daemon.url("fleet.git");
    let creds = Credentials::None;
    let req = request(&url, &creds, &[("agent.yaml", "kind: Deployment\n")]);
    let pushed = git::commit_and_push(&req, &tmp.path().join("work"))
        .unwrap()
        .expect("a commit");

    assert!(bare.join("raced").exists(), "the race happened");
    assert_eq!(git(&bare, &["rev-parse", "main"]), pushed);
    assert_eq!(git(&bare, &["rev-parse", "main^"]), theirs);
    assert_eq!(git(&bare, &["rev-parse", "main^^"]), base);
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--name-only", "main"]),
        "README.md\nclusters/dev/app.yaml\nclusters/dev/gitfleet-system/agent.yaml"
    );
}

/// An HTTP endpoint that answers 401 (Basic) to everything and records Authorization headers.
struct Refuser {
    port: u16,
    seen: Arc<Mutex<Vec<Option<String>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Refuser {
    fn start() -> Refuser {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => Self::answer(stream, &seen),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Refuser {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn answer(stream: TcpStream, seen: &Mutex<Vec<Option<String>>>) {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut auth = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                auth = Some(value.trim().to_string());
            }
        }
        seen.lock().unwrap().push(auth);
        let mut stream = reader.into_inner();
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fleet\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
}

impl Drop for Refuser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn https_credentials_never_show_the_password() {
    use base64::Engine as _;
    let password = "tok3n-s3cret-value";
    let creds = Credentials::Https {
        username: "fleet-bot".into(),
        password: password.into(),
    };
    for text in [
        format!("{creds:?}"),
        format!("{creds:#?}"),
        creds.to_string(),
    ] {
        assert!(!text.contains(password), "{text}");
        assert!(text.contains("fleet-bot"), "{text}");
    }

    // A server that refuses the credentials: one offer, then a clean error (no retry loop).
    let server = Refuser::start();
    let url = format!("http://127.0.0.1:{}/fleet.git", server.port);
    let e = git::remote_commit(&url, &branch("main"), &creds).unwrap_err();
    assert!(matches!(e, GitError::Auth { .. }), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains(password), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(e.to_string().contains("authentication failed"), "{e}");
    let seen = server.seen.lock().unwrap().clone();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("fleet-bot:{password}"))
    );
    assert_eq!(
        seen.iter()
            .filter(|a| a.as_deref() == Some(expected.as_str()))
            .count(),
        1,
        "the credentials were offered exactly once: {seen:?}"
    );
    assert!(seen.len() <= 3, "no retry loop: {seen:?}");

    // A password in the URL itself is not shown either.
    let with_userinfo = format!(
        "http://fleet-bot:{password}@127.0.0.1:{}/fleet.git",
        server.port
    );
    let e = git::fetch(
        &with_userinfo,
        &branch("main"),
        &Credentials::None,
        &tempfile::tempdir().unwrap().path().join("cache"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{url}: authentication failed: the server refused the credentials in the URL")
    );
    let text = format!("{e:?}");
    assert!(!text.contains(password), "{text}");
    assert!(!text.contains("fleet-bot"), "{text}");

    // No credentials at all: said so.
    let e = git::remote_commit(&url, &branch("main"), &Credentials::None).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("the server asks for credentials and none are configured"),
        "{e}"
    );
}

#[test]
fn ssh_without_known_hosts_is_refused_before_any_transfer() {
    // No ssh server is needed to see the configuration errors that come first: a build without
    // ssh support says so; with it, the connection to a closed port fails as a network error.
    let creds = Credentials::Ssh {
        private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n".into(),
        passphrase: Some("pass-phrase".into()),
        known_hosts: None,
    };
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ssh://git@127.0.0.1:{closed}/fleet.git");
    let e = git::remote_commit(&url, &branch("main"), &creds).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("not-a-real-key") && !text.contains("pass-phrase"),
        "{text}"
    );
    assert!(
        matches!(e, GitError::Unsupported { .. } | GitError::Network { .. }),
        "{e:?}"
    );
}

use crate::support::{Killed, free_port, run, wait_for_port};

/// OpenSSH's sshd on loopback (killed on drop), serving this machine's paths to the user running
/// the tests, who logs in with the key `client` or `client_pp` (passphrase `correct horse`);
/// `other_host_key` and `stranger` are keys it does not have / does not accept.
pub(crate) struct Sshd {
    tmp: tempfile::TempDir,
    pub(crate) port: u16,
    pub(crate) user: String,
    _server: Killed,
}

impl Sshd {
    pub(crate) fn start() -> Self {
        // scripts/test.sh installs OpenSSH's server; without it this fails, never skips
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(git2::Version::get().ssh(), "git2 is built without ssh");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: run the tests through scripts/test.sh (installs openssh-server)"
        );
        // sshd insists on its privilege-separation directory
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd cannot be created");
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let ds = d.to_str().unwrap();
        for (file, passphrase) in [
            ("host_key", ""),
            ("other_host_key", ""),
            ("client", ""),
            ("client_pp", "correct horse"),
            ("stranger", ""),
        ] {
            run(
                d,
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", passphrase, "-f", file],
            );
        }
        let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap();
        std::fs::write(
            d.join("authorized_keys"),
            format!("{}{}", read("client.pub"), read("client_pp.pub")),
        )
        .unwrap();
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {ds}/host_key\nPidFile {ds}/sshd.pid\n\
                 AuthorizedKeysFile {ds}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            ),
        )
        .unwrap();
        let mut server = Killed(
            Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(port, &mut server.0);
        let user = run(d, "id", &["-un"]);
        Self {
            tmp,
            port,
            user,
            _server: server,
        }
    }

    /// The directory of its keys (a scratch directory for the test too).
    pub(crate) fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The text of one of its key files.
    pub(crate) fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir().join(file)).unwrap()
    }

    /// The ssh:// URL of a repository at `path` on this machine.
    pub(crate) fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The known_hosts line of its host key.
    pub(crate) fn known_hosts(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.read("host_key.pub"))
    }
}

/// The ssh transport against OpenSSH's sshd on loopback: host key checks, keys, passphrases.
#[test]
fn ssh_against_sshd() {
    let server = Sshd::start();
    let d = server.dir();
    let port = server.port;
    let read = |f: &str| server.read(f);
    let bare = bare_remote(d, "fleet.git", &[("a.yaml", "a: 1\n")]);
    let url = server.url(&bare);
    let known = server.known_hosts();
    let key = |file: &str, passphrase: Option<&str>, known_hosts: Option<&str>| Credentials::Ssh {
        private_key: read(file),
        passphrase: passphrase.map(str::to_string),
        known_hosts: known_hosts.map(str::to_string),
    };
    let good = key("client", None, Some(&known));

    let tip = git(&bare, &["rev-parse", "main"]);
    assert_eq!(
        git::remote_commit(&url, &branch("main"), &good).unwrap(),
        tip
    );
    let checkout = git::fetch(&url, &branch("main"), &good, &d.join("cache")).unwrap();
    assert_eq!(tree_files(&checkout.dir), map(&[("a.yaml", "a: 1\n")]));
    let req = request(&url, &good, &[("agent.yaml", "kind: Deployment\n")]);
    let pushed = git::commit_and_push(&req, &d.join("work"))
        .unwrap()
        .unwrap();
    assert_eq!(git(&bare, &["rev-parse", "main"]), pushed);
    let with_pp = key("client_pp", Some("correct horse"), Some(&known));
    assert_eq!(
        git::remote_commit(&url, &branch("main"), &with_pp).unwrap(),
        pushed
    );

    // Host keys: no known_hosts, another key for the host, the host on port 22 only.
    let fingerprint = run(
        d,
        "ssh-keygen",
        &["-l", "-E", "sha256", "-f", "host_key.pub"],
    );
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_string();
    let e = git::remote_commit(&url, &branch("main"), &key("client", None, None)).unwrap_err();
    assert!(matches!(e, GitError::NoKnownHosts { .. }), "{e:?}");
    assert!(e.to_string().contains(&fingerprint), "{e}");
    let other = format!("[127.0.0.1]:{port} {}", read("other_host_key.pub"));
    let e =
        git::remote_commit(&url, &branch("main"), &key("client", None, Some(&other))).unwrap_err();
    assert!(matches!(e, GitError::HostKeyMismatch { .. }), "{e:?}");
    let port_22 = format!("127.0.0.1 {}", read("host_key.pub"));
    let e = git::remote_commit(&url, &branch("main"), &key("client", None, Some(&port_22)))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("host key for 127.0.0.1 not in known_hosts"),
        "{e}"
    );

    // Keys the server refuses, or that cannot be opened: authentication errors, no secrets.
    let e = git::remote_commit(&url, &branch("main"), &key("stranger", None, Some(&known)))
        .unwrap_err();
    assert!(matches!(e, GitError::Auth { .. }), "{e:?}");
    let wrong = key("client_pp", Some("wrong horse"), Some(&known));
    let e = git::remote_commit(&url, &branch("main"), &wrong).unwrap_err();
    assert!(matches!(e, GitError::Auth { .. }), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("wrong horse") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
}

/// https with a self-signed certificate is refused as an untrusted certificate (the certificate is
/// made with the `openssl` program, which scripts/test.sh installs).
#[test]
fn https_untrusted_certificate_is_refused() {
    assert!(git2::Version::get().https(), "git2 is built without https");
    assert!(
        Command::new("openssl").arg("version").output().is_ok(),
        "openssl is missing: run the tests through scripts/test.sh (installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    run(
        d,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    let port = free_port();
    let mut server = Killed(
        Command::new("openssl")
            .current_dir(d)
            .args([
                "s_server", "-quiet", "-www", "-cert", "cert.pem", "-key", "key.pem",
            ])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, &mut server.0);
    let creds = Credentials::Https {
        username: "fleet-bot".into(),
        password: "tok3n-s3cret-value".into(),
    };
    let url = format!("https://127.0.0.1:{port}/fleet.git");
    let e = git::remote_commit(&url, &branch("main"), &creds).unwrap_err();
    assert!(matches!(e, GitError::Certificate { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("s3cret"), "{e:?}");
}
