//! Reading a remote: `ls-remote` (which commit a ref points at) and a cached, shallow fetch plus a
//! forced checkout of one ref.
//!
//! The cache directory holds `repo.git` (a bare repository reused across calls) and `worktree`
//! (the checked-out files). A ref whose commit the cache already has costs one `ls-remote` and no
//! object download; a commit id the cache has costs no network at all. Objects of older
//! commits stay in the cache (libgit2 has no gc): deleting the directory reclaims the space and
//! the next call rebuilds it.

use std::path::Path;

use git2::{AutotagOption, FetchOptions, Oid, ProxyOptions, Repository};

use super::auth::Session;
use super::location::{RemoteUrl, Transport};
use super::{Checkout, Credentials, GitError, Reference, local, open_or_init_bare};

/// Where a fetched ref lands in the cache repository.
pub(crate) const FETCHED_REF: &str = "refs/gitfleet/fetched";
/// The commit last checked out (keeps it reachable).
const CHECKED_OUT_REF: &str = "refs/gitfleet/checked-out";

/// How much history a download asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Only the wanted commits (depth 1) where the transport supports it.
    Shallow,
    /// Everything reachable (deepening a shallow repository).
    Full,
}

/// The commit `reference` points at on the remote, by `ls-remote` only (no objects are
/// downloaded). Annotated tags are peeled to their commit. A [`Reference::Commit`] is returned as
/// is, without contacting the remote.
pub fn remote_commit(
    url: &str,
    reference: &Reference,
    creds: &Credentials,
) -> Result<String, GitError> {
    if let Reference::Commit(id) = reference {
        return Ok(id.clone());
    }
    let url = RemoteUrl::parse(url);
    let session = Session::new(&url, creds);
    session.check_supported()?;
    let heads = ls_remote(&session)?;
    resolve(&heads, reference)
        .map(|(_, oid)| oid.to_string())
        .ok_or_else(|| GitError::RefNotFound {
            url: url.redacted.clone(),
            reference: reference.clone(),
        })
}

/// Brings `cache_dir` to the commit `reference` points at and checks it out (detached, forced:
/// local changes and files deleted upstream are removed) into `cache_dir/worktree`.
///
/// `cache_dir` is created on first use and reused after. Only the needed ref is fetched, with
/// depth 1 where the transport allows it (libgit2's local transport, `file://`, does not: it
/// fetches the ref's full history). A commit id the remote advertises under no ref is fetched
/// directly when the server allows that, else by fetching all branches and tags.
pub fn fetch(
    url: &str,
    reference: &Reference,
    creds: &Credentials,
    cache_dir: &Path,
) -> Result<Checkout, GitError> {
    let url = RemoteUrl::parse(url);
    let session = Session::new(&url, creds);
    session.check_supported()?;
    let git_dir = cache_dir.join("repo.git");
    let worktree = cache_dir.join("worktree");
    let repo = open_or_init_bare(&git_dir)?;
    let target = match reference {
        Reference::Commit(id) => {
            let oid = Oid::from_str(id).map_err(|_| {
                GitError::InvalidReference(format!("commit {id:?} is not a commit id"))
            })?;
            if has_commit(&repo, oid) {
                oid
            } else {
                fetch_commit(&repo, &session, reference, oid)?
            }
        }
        _ => {
            let heads = ls_remote(&session)?;
            let (name, oid) = resolve(&heads, reference).ok_or_else(|| GitError::RefNotFound {
                url: url.redacted.clone(),
                reference: reference.clone(),
            })?;
            if has_commit(&repo, oid) {
                oid
            } else {
                download(
                    &repo,
                    &session,
                    &[format!("+{name}:{FETCHED_REF}")],
                    Depth::Shallow,
                )?;
                // The remote may have moved since ls-remote: take what was fetched.
                peel_ref(&repo, &git_dir, FETCHED_REF)?
            }
        }
    };
    repo.reference(CHECKED_OUT_REF, target, true, "gitfleet checkout")
        .map_err(|e| local(&git_dir, "record checked-out commit", e))?;
    checkout(&repo, &worktree, target)?;
    tracing::debug!(url = %url.redacted, %reference, commit = %target, "checked out");
    Ok(Checkout {
        dir: worktree,
        commit: target.to_string(),
    })
}

/// The refs a remote advertises: full names (peeled tags as `refs/tags/x^{}`) and ids.
pub(crate) fn ls_remote(session: &Session<'_>) -> Result<Vec<(String, Oid)>, GitError> {
    let mut remote = git2::Remote::create_detached(session.url.raw.as_str())
        .map_err(|e| session.error("ls-remote", e))?;
    let connection = remote
        .connect_auth(
            git2::Direction::Fetch,
            Some(session.callbacks()),
            Some(proxy()),
        )
        .map_err(|e| session.error("ls-remote", e))?;
    let heads = connection
        .list()
        .map_err(|e| session.error("ls-remote", e))?
        .iter()
        .map(|h| (h.name().to_string(), h.oid()))
        .collect();
    Ok(heads)
}

/// The advertised ref for `reference` and the commit it points at (annotated tags peeled).
pub(crate) fn resolve(heads: &[(String, Oid)], reference: &Reference) -> Option<(String, Oid)> {
    let name = reference.ref_name()?;
    let direct = heads.iter().find(|(n, _)| *n == name)?.1;
    let peeled_name = format!("{name}^{{}}");
    let peeled = heads.iter().find(|(n, _)| *n == peeled_name).map(|h| h.1);
    Some((name, peeled.unwrap_or(direct)))
}

/// Downloads `refspecs` into `repo`. A shallow request falls back to a full one when the server
/// cannot serve shallow fetches.
pub(crate) fn download(
    repo: &Repository,
    session: &Session<'_>,
    refspecs: &[String],
    depth: Depth,
) -> Result<(), GitError> {
    let local_transport = session.url.transport == Transport::Local;
    let depth_value = match depth {
        Depth::Shallow if !local_transport => 1,
        // Deepen a shallow repository completely (libgit2's GIT_FETCH_DEPTH_UNSHALLOW).
        Depth::Full if repo.is_shallow() && !local_transport => i32::MAX,
        _ => 0,
    };
    let attempt = |depth: i32| -> Result<(), git2::Error> {
        let mut remote = repo.remote_anonymous(&session.url.raw)?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(session.callbacks())
            .proxy_options(proxy())
            .download_tags(AutotagOption::None)
            .update_fetchhead(false)
            .depth(depth);
        remote.fetch(refspecs, Some(&mut options), None)
    };
    let result = match attempt(depth_value) {
        Err(e) if depth_value == 1 && e.message().to_ascii_lowercase().contains("shallow") => {
            tracing::debug!(url = %session.url.redacted, error = %session.scrub(e.message()),
                "shallow fetch refused, fetching full history");
            attempt(0)
        }
        other => other,
    };
    result.map_err(|e| session.error("fetch", e))
}

/// Fetches a commit that is not in the cache: through a ref that points at it, else directly by
/// id (servers that allow it), else with all branches and tags.
fn fetch_commit(
    repo: &Repository,
    session: &Session<'_>,
    reference: &Reference,
    oid: Oid,
) -> Result<Oid, GitError> {
    let heads = ls_remote(session)?;
    if let Some((name, _)) = heads.iter().find(|(_, id)| *id == oid) {
        let name = name.trim_end_matches("^{}");
        download(
            repo,
            session,
            &[format!("+{name}:{FETCHED_REF}")],
            Depth::Shallow,
        )?;
        if has_commit(repo, oid) {
            return Ok(oid);
        }
    }
    match download(
        repo,
        session,
        &[format!("+{oid}:{FETCHED_REF}")],
        Depth::Shallow,
    ) {
        Ok(()) if has_commit(repo, oid) => return Ok(oid),
        // Servers without allow-*-sha1-in-want refuse a bare id: try the long way.
        Ok(()) | Err(GitError::Network { .. }) => {}
        Err(e) => return Err(e),
    }
    download(
        repo,
        session,
        &[
            "+refs/heads/*:refs/gitfleet/all/heads/*".to_string(),
            "+refs/tags/*:refs/gitfleet/all/tags/*".to_string(),
        ],
        Depth::Full,
    )?;
    if has_commit(repo, oid) {
        Ok(oid)
    } else {
        Err(GitError::RefNotFound {
            url: session.url.redacted.clone(),
            reference: reference.clone(),
        })
    }
}

pub(crate) fn has_commit(repo: &Repository, oid: Oid) -> bool {
    repo.find_commit(oid).is_ok()
}

pub(crate) fn peel_ref(repo: &Repository, git_dir: &Path, name: &str) -> Result<Oid, GitError> {
    repo.find_reference(name)
        .and_then(|r| r.peel_to_commit())
        .map(|c| c.id())
        .map_err(|e| local(git_dir, "read fetched commit", e))
}

/// Makes `worktree` hold exactly the files of `oid`.
fn checkout(repo: &Repository, worktree: &Path, oid: Oid) -> Result<(), GitError> {
    std::fs::create_dir_all(worktree).map_err(|e| local(worktree, "create directory", e))?;
    repo.set_workdir(worktree, false)
        .map_err(|e| local(worktree, "set work tree", e))?;
    let commit = repo
        .find_commit(oid)
        .map_err(|e| local(worktree, "find commit", e))?;
    let mut options = git2::build::CheckoutBuilder::new();
    options.force().remove_untracked(true).remove_ignored(true);
    repo.checkout_tree(commit.as_object(), Some(&mut options))
        .map_err(|e| local(worktree, "checkout", e))?;
    repo.set_head_detached(oid)
        .map_err(|e| local(worktree, "set HEAD", e))
}

/// Proxy settings from git config and the usual environment variables.
pub(crate) fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    #[test]
    fn resolve_peels_annotated_tags() {
        let heads = vec![
            ("HEAD".to_string(), oid(1)),
            ("refs/heads/main".to_string(), oid(1)),
            ("refs/tags/v1".to_string(), oid(2)),
            ("refs/tags/v1^{}".to_string(), oid(3)),
            ("refs/tags/light".to_string(), oid(1)),
        ];
        let branch = Reference::Branch("main".into());
        assert_eq!(
            resolve(&heads, &branch),
            Some(("refs/heads/main".into(), oid(1)))
        );
        let tag = Reference::Tag("v1".into());
        assert_eq!(resolve(&heads, &tag), Some(("refs/tags/v1".into(), oid(3))));
        let light = Reference::Tag("light".into());
        assert_eq!(resolve(&heads, &light).unwrap().1, oid(1));
        assert_eq!(resolve(&heads, &Reference::Branch("dev".into())), None);
        assert_eq!(resolve(&heads, &Reference::Commit("01".repeat(20))), None);
    }
}
