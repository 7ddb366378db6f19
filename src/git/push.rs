//! Committing a set of files into one directory of a branch and pushing it (bootstrap writes the
//! reconciler's own manifests this way).
//!
//! The new tree is built in the object database from the branch tip's tree, with the directory
//! replaced by exactly the given files; no working tree is written. An identical tree means no
//! commit and no push. A push that loses a race (someone pushed meanwhile) is retried once on top
//! of the new tip.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, PushOptions, Repository, Tree};

use super::auth::Session;
use super::fetch::{Depth, download, has_commit, ls_remote, peel_ref, proxy};
use super::location::RemoteUrl;
use super::{CommitRequest, GitError, Reference, local, open_or_init_bare};

/// Where the branch tip lands in the work repository.
const BASE_REF: &str = "refs/gitfleet/base";
/// The commit to push.
const PUSH_REF: &str = "refs/gitfleet/push";
const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;

/// Makes `req.dir` on `req.branch` hold exactly `req.files`, as one commit on top of the
/// branch tip, and pushes it. `work_dir` is a scratch directory (a bare repository is kept there
/// and reused by later calls).
///
/// Returns `Ok(None)` when the branch already has that content (no commit, no push), else the
/// new commit id. A branch the remote does not have yet is created (its first commit holds only
/// `dir`). A push rejected because the branch moved is retried once after re-fetching and
/// re-applying; a second rejection is [`GitError::Rejected`].
pub fn commit_and_push(
    req: &CommitRequest<'_>,
    work_dir: &Path,
) -> Result<Option<String>, GitError> {
    run(req, work_dir, &mut |_| {})
}

/// [`commit_and_push`] with a hook called before each push attempt (tests race it).
pub(crate) fn run(
    req: &CommitRequest<'_>,
    work_dir: &Path,
    before_push: &mut dyn FnMut(u32),
) -> Result<Option<String>, GitError> {
    let dir = components(req.dir)?;
    let files = file_nodes(&req.files)?;
    let Reference::Branch(branch) = Reference::branch(req.branch)? else {
        unreachable!("Reference::branch builds a branch")
    };
    let refname = format!("refs/heads/{branch}");
    let url = RemoteUrl::parse(req.url);
    let session = Session::new(&url, req.creds);
    session.check_supported()?;
    let signature = git2::Signature::now(req.author_name, req.author_email)
        .map_err(|e| local(work_dir, "author signature", e))?;
    let repo = open_or_init_bare(work_dir)?;

    let mut attempt = 1;
    loop {
        let heads = ls_remote(&session)?;
        let tip = heads.iter().find(|(n, _)| *n == refname).map(|h| h.1);
        let parent = match tip {
            Some(oid) if has_commit(&repo, oid) => Some(oid),
            Some(_) => {
                download(
                    &repo,
                    &session,
                    &[format!("+{refname}:{BASE_REF}")],
                    Depth::Shallow,
                )?;
                Some(peel_ref(&repo, work_dir, BASE_REF)?)
            }
            None => None,
        };
        let parent = parent
            .map(|oid| repo.find_commit(oid))
            .transpose()
            .map_err(|e| local(work_dir, "read branch tip", e))?;
        let base_tree = parent
            .as_ref()
            .map(|c| c.tree())
            .transpose()
            .map_err(|e| local(work_dir, "read branch tree", e))?;
        let mut new_tree = build_tree(&repo, base_tree.as_ref(), &dir, req.dir, &files)
            .map_err(|e| local(work_dir, "build tree", e))?;
        if let Some(root_file) = req.root_file {
            new_tree = edit_root_file(&repo, new_tree, root_file.name, root_file.edit)
                .map_err(|e| local(work_dir, "edit a root file", e))?;
        }
        let unchanged = match &base_tree {
            Some(t) => t.id() == new_tree,
            None => files.is_empty(),
        };
        if unchanged {
            tracing::debug!(url = %url.redacted, %branch, dir = req.dir, "already up to date");
            return Ok(None);
        }
        let tree = repo
            .find_tree(new_tree)
            .map_err(|e| local(work_dir, "read new tree", e))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let commit = repo
            .commit(None, &signature, &signature, req.message, &tree, &parents)
            .map_err(|e| local(work_dir, "commit", e))?;
        repo.reference(PUSH_REF, commit, true, "gitfleet commit")
            .map_err(|e| local(work_dir, "record commit", e))?;

        before_push(attempt);
        match push(&repo, &session, &format!("{PUSH_REF}:{refname}")) {
            Ok(()) => {
                tracing::info!(url = %url.redacted, %branch, %commit, "pushed");
                return Ok(Some(commit.to_string()));
            }
            Err(PushFailure::Rejected(message)) if attempt == 1 => {
                tracing::info!(url = %url.redacted, %branch, %message,
                    "push rejected, re-applying on the new tip");
                attempt += 1;
            }
            Err(PushFailure::Rejected(message)) => {
                return Err(GitError::Rejected {
                    url: url.redacted.clone(),
                    branch: branch.clone(),
                    message,
                });
            }
            Err(PushFailure::Failed(e)) => return Err(e),
        }
    }
}

enum PushFailure {
    /// The remote did not take the update (moved branch, hook, protection).
    Rejected(String),
    Failed(GitError),
}

fn push(repo: &Repository, session: &Session<'_>, refspec: &str) -> Result<(), PushFailure> {
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let mut remote = repo
        .remote_anonymous(&session.url.raw)
        .map_err(|e| PushFailure::Failed(session.error("push", e)))?;
    let mut callbacks = session.callbacks();
    callbacks.push_update_reference(|_name, status| {
        if let Some(status) = status {
            *rejected.borrow_mut() = Some(status.to_string());
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks).proxy_options(proxy());
    match remote.push(&[refspec], Some(&mut options)) {
        Err(e) if e.code() == git2::ErrorCode::NotFastForward => Err(PushFailure::Rejected(
            "the branch moved on the remote (non-fast-forward)".into(),
        )),
        Err(e) => Err(PushFailure::Failed(session.error("push", e))),
        Ok(()) => match rejected.borrow_mut().take() {
            Some(status) => Err(PushFailure::Rejected(session.scrub(&status))),
            None => Ok(()),
        },
    }
}

/// A directory of files to write, by name.
#[derive(Debug)]
enum Node<'a> {
    File(&'a str),
    Dir(BTreeMap<&'a str, Node<'a>>),
}

/// Splits a relative `/`-separated path, refusing anything that could leave the directory or
/// touch git's own files.
fn components(path: &str) -> Result<Vec<&str>, GitError> {
    let invalid = |reason: &str| GitError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if trimmed.starts_with('/') {
        return Err(invalid("must be relative"));
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    for part in &parts {
        match *part {
            "" => return Err(invalid("has an empty component")),
            "." | ".." => return Err(invalid("must not contain `.` or `..`")),
            p if p.eq_ignore_ascii_case(".git") => return Err(invalid("must not name .git")),
            p if p.contains(['\\', '\0']) => {
                return Err(invalid("must not contain a backslash or NUL"));
            }
            _ => {}
        }
    }
    Ok(parts)
}

fn file_nodes(files: &BTreeMap<String, String>) -> Result<BTreeMap<&str, Node<'_>>, GitError> {
    let mut root: BTreeMap<&str, Node<'_>> = BTreeMap::new();
    for (path, content) in files {
        let parts = components(path)?;
        let conflict = || GitError::InvalidPath {
            path: path.clone(),
            reason: "is both a file and a directory".into(),
        };
        let (last, dirs) = parts.split_last().expect("components are never empty");
        let mut level = &mut root;
        for part in dirs {
            let node = level
                .entry(part)
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            level = match node {
                Node::Dir(children) => children,
                Node::File(_) => return Err(conflict()),
            };
        }
        if level.insert(last, Node::File(content)).is_some() {
            return Err(conflict());
        }
    }
    Ok(root)
}

/// The root tree of `base` with `dir` holding exactly `files` (removed when `files` is empty).
/// `tree` with its root file `name` replaced by what `edit` makes of it.
fn edit_root_file(
    repo: &Repository,
    tree: Oid,
    name: &str,
    edit: &crate::git::RootEdit<'_>,
) -> Result<Oid, git2::Error> {
    let root = repo.find_tree(tree)?;
    let old = root
        .get_name(name)
        .filter(|e| e.kind() == Some(git2::ObjectType::Blob))
        .map(|e| repo.find_blob(e.id()))
        .transpose()?
        .map(|b| String::from_utf8_lossy(b.content()).into_owned());
    let Some(new) = edit(old.as_deref()) else {
        return Ok(tree);
    };
    if old.as_deref() == Some(new.as_str()) {
        return Ok(tree);
    }
    let mut builder = repo.treebuilder(Some(&root))?;
    builder.insert(name, repo.blob(new.as_bytes())?, MODE_FILE)?;
    builder.write()
}

fn build_tree(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    dir: &[&str],
    dir_path: &str,
    files: &BTreeMap<&str, Node<'_>>,
) -> Result<Oid, git2::Error> {
    let old_dir = base
        .and_then(|t| t.get_path(Path::new(dir_path.trim_end_matches('/'))).ok())
        .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
        .map(|e| repo.find_tree(e.id()))
        .transpose()?;
    let new_dir = if files.is_empty() {
        None
    } else {
        Some(write_dir(repo, files, old_dir.as_ref())?)
    };
    match replace_at(repo, base, dir, new_dir)? {
        Some(root) => Ok(root),
        None => repo.treebuilder(None)?.write(),
    }
}

/// Writes a tree of `entries`, keeping the executable bit of files that exist in `old`.
fn write_dir(
    repo: &Repository,
    entries: &BTreeMap<&str, Node<'_>>,
    old: Option<&Tree<'_>>,
) -> Result<Oid, git2::Error> {
    let mut builder = repo.treebuilder(None)?;
    for (name, node) in entries {
        let old_entry = old.and_then(|t| t.get_name(name));
        match node {
            Node::File(content) => {
                let blob = repo.blob(content.as_bytes())?;
                let mode = match &old_entry {
                    Some(e) if e.filemode() == MODE_EXECUTABLE => MODE_EXECUTABLE,
                    _ => MODE_FILE,
                };
                builder.insert(name, blob, mode)?;
            }
            Node::Dir(children) => {
                let old_tree = old_entry
                    .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                    .map(|e| repo.find_tree(e.id()))
                    .transpose()?;
                let tree = write_dir(repo, children, old_tree.as_ref())?;
                builder.insert(name, tree, MODE_TREE)?;
            }
        }
    }
    builder.write()
}

/// `base` with the entry at `path` set to the tree `new` (or removed); trees left empty are
/// dropped, as git cannot hold empty directories.
fn replace_at(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    path: &[&str],
    new: Option<Oid>,
) -> Result<Option<Oid>, git2::Error> {
    let (first, rest) = path.split_first().expect("paths are never empty");
    let mut builder = repo.treebuilder(base)?;
    let child = if rest.is_empty() {
        new
    } else {
        let old_child = base
            .and_then(|t| t.get_name(first))
            .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
            .map(|e| repo.find_tree(e.id()))
            .transpose()?;
        replace_at(repo, old_child.as_ref(), rest, new)?
    };
    match child {
        Some(oid) => {
            builder.insert(first, oid, MODE_TREE)?;
        }
        None => {
            if builder.get(first)?.is_some() {
                builder.remove(first)?;
            }
        }
    }
    if builder.is_empty() {
        Ok(None)
    } else {
        builder.write().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Credentials;

    #[test]
    fn paths_are_checked() {
        assert_eq!(components("a/b/").unwrap(), vec!["a", "b"]);
        for bad in ["", "/", "/abs", "a//b", "a/../b", "./a", "a/.git/x", "a\\b"] {
            assert!(components(bad).is_err(), "{bad:?} accepted");
        }
        let mut files = BTreeMap::new();
        files.insert("a".to_string(), "x".to_string());
        files.insert("a/b".to_string(), "y".to_string());
        let e = file_nodes(&files).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid path "a/b": is both a file and a directory"#
        );
    }

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read_tree(repo: &Repository, tree: Oid) -> BTreeMap<String, (i32, String)> {
        let tree = repo.find_tree(tree).unwrap();
        let mut out = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = repo.find_blob(entry.id()).unwrap();
                out.insert(
                    format!("{dir}{}", entry.name().unwrap()),
                    (
                        entry.filemode(),
                        String::from_utf8_lossy(blob.content()).into_owned(),
                    ),
                );
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    #[test]
    fn tree_replaces_only_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(tmp.path()).unwrap();
        let f = files(&[("a.yaml", "1"), ("sub/b.yaml", "2")]);
        let nodes = file_nodes(&f).unwrap();
        let first = build_tree(&repo, None, &["x", "y"], "x/y", &nodes).unwrap();
        let content = read_tree(&repo, first);
        assert_eq!(content["x/y/a.yaml"], (MODE_FILE, "1".to_string()));
        assert_eq!(content["x/y/sub/b.yaml"].1, "2");

        // A sibling outside the directory stays; a file dropped from the set goes.
        let mut b = repo
            .treebuilder(Some(&repo.find_tree(first).unwrap()))
            .unwrap();
        let readme = repo.blob(b"hi").unwrap();
        b.insert("README", readme, MODE_EXECUTABLE).unwrap();
        let with_readme = repo.find_tree(b.write().unwrap()).unwrap();
        let f2 = files(&[("a.yaml", "1")]);
        let second = build_tree(
            &repo,
            Some(&with_readme),
            &["x", "y"],
            "x/y",
            &file_nodes(&f2).unwrap(),
        )
        .unwrap();
        let content = read_tree(&repo, second);
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            vec!["README", "x/y/a.yaml"]
        );
        // The same content gives the same tree (so no commit).
        let again = build_tree(
            &repo,
            Some(&repo.find_tree(second).unwrap()),
            &["x", "y"],
            "x/y",
            &file_nodes(&f2).unwrap(),
        )
        .unwrap();
        assert_eq!(again, second);
        // An empty set removes the directory and its now-empty parents.
        let empty = BTreeMap::new();
        let third = build_tree(
            &repo,
            Some(&repo.find_tree(second).unwrap()),
            &["x", "y"],
            "x/y",
            &empty,
        )
        .unwrap();
        assert_eq!(
            read_tree(&repo, third).keys().collect::<Vec<_>>(),
            vec!["README"]
        );
        assert!(repo.find_tree(third).unwrap().get_name("x").is_none());
    }

    fn git_sig() -> git2::Signature<'static> {
        git2::Signature::now("Other Writer", "other@example.com").unwrap()
    }

    /// Commits `path = content` on top of `branch` of the bare repo at `remote`, directly.
    fn commit_directly(remote: &Path, branch: &str, path: &str, content: &str) -> Oid {
        let repo = Repository::open_bare(remote).unwrap();
        let refname = format!("refs/heads/{branch}");
        let parent = repo
            .find_reference(&refname)
            .unwrap()
            .peel_to_commit()
            .unwrap();
        let mut b = repo.treebuilder(Some(&parent.tree().unwrap())).unwrap();
        b.insert(path, repo.blob(content.as_bytes()).unwrap(), MODE_FILE)
            .unwrap();
        let tree = repo.find_tree(b.write().unwrap()).unwrap();
        repo.commit(
            Some(&refname),
            &git_sig(),
            &git_sig(),
            "other",
            &tree,
            &[&parent],
        )
        .unwrap()
    }

    #[test]
    fn lost_race_is_retried_once_then_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let remote = tmp.path().join("remote.git");
        Repository::init_bare(&remote).unwrap();
        let url = format!("file://{}", remote.display());
        let creds = Credentials::None;
        let mut req = CommitRequest {
            url: &url,
            branch: "main",
            creds: &creds,
            dir: "clusters/dev/gitfleet-system",
            files: files(&[("agent.yaml", "v1")]),
            message: "gitfleet: agent manifests",
            author_name: "gitfleet",
            author_email: "gitfleet@example.com",
            root_file: None,
        };
        let first = run(&req, &tmp.path().join("work"), &mut |_| {})
            .unwrap()
            .unwrap();

        // Someone pushes between our fetch and our push: the retry builds on their commit.
        req.files = files(&[("agent.yaml", "v2")]);
        let mut raced = None;
        let second = run(&req, &tmp.path().join("work"), &mut |attempt| {
            if attempt == 1 {
                raced = Some(commit_directly(&remote, "main", "README", "theirs"));
            }
        })
        .unwrap()
        .unwrap();
        let repo = Repository::open_bare(&remote).unwrap();
        let tip = repo
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        assert_eq!(tip.id().to_string(), second);
        assert_eq!(tip.parent_id(0).unwrap(), raced.unwrap());
        assert_eq!(
            repo.find_commit(raced.unwrap())
                .unwrap()
                .parent_id(0)
                .unwrap()
                .to_string(),
            first
        );
        let content = read_tree(&repo, tip.tree_id());
        assert_eq!(content["README"].1, "theirs");
        assert_eq!(content["clusters/dev/gitfleet-system/agent.yaml"].1, "v2");

        // Losing twice is an error naming the branch.
        req.files = files(&[("agent.yaml", "v3")]);
        let mut n = 0;
        let e = run(&req, &tmp.path().join("work"), &mut |_| {
            n += 1;
            commit_directly(&remote, "main", "README", &format!("theirs {n}"));
        })
        .unwrap_err();
        assert!(matches!(e, GitError::Rejected { .. }), "{e}");
        assert!(
            e.to_string().contains("push to branch main rejected"),
            "{e}"
        );
        assert_eq!(n, 2);
    }
}
