//! Git access for the agent and for bootstrap, through git2 (libgit2): asking a remote which
//! commit a ref points at, keeping a cached checkout of a ref up to date, and committing a set of
//! files into a directory of a branch and pushing it.
//!
//! Everything here blocks (libgit2 is synchronous): async callers wrap calls in
//! `tokio::task::spawn_blocking`. One cache or work directory serves one caller at a time.
//!
//! Security:
//! - Credentials never appear in a message, in `Debug` or in `Display`; URLs in messages have
//!   their userinfo and query removed ([`GitError`] texts are safe to log and to put in a status).
//! - SSH host keys are checked against the `known_hosts` text of [`Credentials::Ssh`] only. With
//!   no `known_hosts` (or with other credentials over SSH) every host key is rejected: gitfleet
//!   never trusts on first use and does not read `~/.ssh/known_hosts`.
//! - HTTPS server certificates are checked by libgit2 against the system's CA store.
//! - A credential the server refuses is not offered again: the first refusal fails the operation.
//!
//! Transports: `file://` and plain paths, `git://` and `http://` always work. `https://` needs
//! git2's `https` feature and `ssh://`/`user@host:path` its `ssh` feature; a build without them
//! answers [`GitError::Unsupported`] for such URLs.

mod auth;
mod fetch;
mod known_hosts;
mod location;

/// Whether two remote URLs are reached the same way at the same place (transport, host and
/// port): credentials for one may be offered to the other, and to no other host.
pub fn same_origin(a: &str, b: &str) -> bool {
    let (a, b) = (location::RemoteUrl::parse(a), location::RemoteUrl::parse(b));
    a.transport == b.transport && a.host.is_some() && a.host == b.host && a.port == b.port
}
mod push;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use fetch::{fetch, remote_commit};
pub use push::commit_and_push;

/// Which revision of a repository: a branch, a tag or a fixed commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A branch name without `refs/heads/` (`main`).
    Branch(String),
    /// A tag name without `refs/tags/` (`v1.2.0`); annotated tags resolve to their commit.
    Tag(String),
    /// A full commit id (40 hex digits, lower case).
    Commit(String),
}

impl Reference {
    /// Builds a reference from the `branch`, `tag` and `commit` fields of a source definition:
    /// exactly one must be set (empty strings count as unset).
    pub fn from_fields(
        branch: Option<&str>,
        tag: Option<&str>,
        commit: Option<&str>,
    ) -> Result<Self, GitError> {
        let set: Vec<(&str, &str)> = [("branch", branch), ("tag", tag), ("commit", commit)]
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (k, v.trim())))
            .collect();
        match set.as_slice() {
            [("branch", b)] => Self::branch(b),
            [("tag", t)] => Self::tag(t),
            [(_, c)] => Self::commit(c),
            [] => Err(GitError::InvalidReference(
                "one of branch, tag or commit is required".into(),
            )),
            _ => Err(GitError::InvalidReference(format!(
                "only one of branch, tag or commit may be set, got {}",
                set.iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        }
    }

    /// A branch; `refs/heads/` in front is accepted and dropped.
    pub fn branch(name: &str) -> Result<Self, GitError> {
        let name = name.strip_prefix("refs/heads/").unwrap_or(name);
        check_ref_name("branch", name, "refs/heads/")?;
        Ok(Self::Branch(name.to_string()))
    }

    /// A tag; `refs/tags/` in front is accepted and dropped.
    pub fn tag(name: &str) -> Result<Self, GitError> {
        let name = name.strip_prefix("refs/tags/").unwrap_or(name);
        check_ref_name("tag", name, "refs/tags/")?;
        Ok(Self::Tag(name.to_string()))
    }

    /// A full commit id (SHA-1, 40 hex digits; SHA-256 ids, 64 digits, are accepted too).
    pub fn commit(id: &str) -> Result<Self, GitError> {
        let ok = matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(GitError::InvalidReference(format!(
                "commit {id:?} is not a full commit id (40 hex digits)"
            )));
        }
        Ok(Self::Commit(id.to_ascii_lowercase()))
    }

    /// The full ref name on the remote (`refs/heads/main`), none for a commit.
    pub fn ref_name(&self) -> Option<String> {
        match self {
            Self::Branch(b) => Some(format!("refs/heads/{b}")),
            Self::Tag(t) => Some(format!("refs/tags/{t}")),
            Self::Commit(_) => None,
        }
    }
}

fn check_ref_name(kind: &str, name: &str, prefix: &str) -> Result<(), GitError> {
    if name.is_empty() || !git2::Reference::is_valid_name(&format!("{prefix}{name}")) {
        return Err(GitError::InvalidReference(format!(
            "{kind} {name:?} is not a valid ref name"
        )));
    }
    Ok(())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branch(b) => write!(f, "branch {b}"),
            Self::Tag(t) => write!(f, "tag {t}"),
            Self::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// How to authenticate to a remote. `Debug` and `Display` never show a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Anonymous (public repositories, `git://`, `file://`). Over SSH this still means every host
    /// key is rejected, as no `known_hosts` is given.
    #[default]
    None,
    /// An SSH private key (OpenSSH or PEM text), used as the URL's user (default `git`).
    Ssh {
        private_key: String,
        passphrase: Option<String>,
        /// OpenSSH known_hosts lines (`ssh-keyscan` output). `None`: every host key is rejected.
        known_hosts: Option<String>,
    },
    /// HTTP basic authentication (a token usually goes in `password`).
    Https { username: String, password: String },
}

const REDACTED: &str = "** redacted **";

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Ssh {
                private_key: _,
                passphrase,
                known_hosts,
            } => f
                .debug_struct("Ssh")
                .field("private_key", &REDACTED)
                .field("passphrase", &passphrase.as_ref().map(|_| REDACTED))
                .field(
                    "known_hosts",
                    &known_hosts.as_ref().map(|k| {
                        let n = k.lines().filter(|l| !l.trim().is_empty()).count();
                        format!("{n} line{}", if n == 1 { "" } else { "s" })
                    }),
                )
                .finish(),
            Self::Https {
                username,
                password: _,
            } => f
                .debug_struct("Https")
                .field("username", username)
                .field("password", &REDACTED)
                .finish(),
        }
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("no credentials"),
            Self::Ssh {
                passphrase,
                known_hosts,
                ..
            } => write!(
                f,
                "ssh private key ({}, {})",
                if passphrase.is_some() {
                    "with passphrase"
                } else {
                    "no passphrase"
                },
                match known_hosts {
                    Some(_) => "known_hosts set",
                    None => "no known_hosts: host keys rejected",
                }
            ),
            Self::Https { username, .. } => write!(f, "https user {username} (password redacted)"),
        }
    }
}

/// A working tree of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The directory holding exactly the commit's files (no `.git` inside).
    pub dir: PathBuf,
    /// The full commit id.
    pub commit: String,
}

/// What [`commit_and_push`] writes.
#[derive(Debug, Clone)]
pub struct CommitRequest<'a> {
    pub url: &'a str,
    /// The branch to commit on (created when the remote does not have it).
    pub branch: &'a str,
    pub creds: &'a Credentials,
    /// Directory inside the repository whose content is replaced, e.g.
    /// `clusters/dev/gitfleet-system`. Must not be empty (the root is never replaced).
    pub dir: &'a str,
    /// File paths relative to `dir` (`/`-separated) and their contents: after the commit `dir`
    /// holds exactly these files.
    pub files: BTreeMap<String, String>,
    pub message: &'a str,
    pub author_name: &'a str,
    pub author_email: &'a str,
    /// A file at the repository's root edited in the same commit: its name, and what it becomes
    /// given its content on the branch (`None`: left as it is).
    pub root_file: Option<RootFile<'a>>,
}

/// How [`CommitRequest::root_file`] changes a root file: given its content on the branch, what it
/// becomes (`None`: left as it is).
pub type RootEdit<'a> = dyn Fn(Option<&str>) -> Option<String> + 'a;

/// A root file and its edit.
#[derive(Clone, Copy)]
pub struct RootFile<'a> {
    pub name: &'a str,
    pub edit: &'a RootEdit<'a>,
}

impl std::fmt::Debug for RootFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootFile")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What went wrong, naming the URL (without credentials), the ref and the failing step.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("invalid git reference: {0}")]
    InvalidReference(String),
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("{url}: {reason}")]
    Unsupported { url: String, reason: String },
    #[error("{url}: authentication failed: {reason}")]
    Auth { url: String, reason: String },
    #[error(
        "{url}: host key for {host} not in known_hosts (server offered {key_type} {fingerprint}){hint}",
        hint = if *.hashed_skipped { "; hashed known_hosts entries are not supported, use `ssh-keyscan` output" } else { "" }
    )]
    HostKeyUnknown {
        url: String,
        host: String,
        key_type: String,
        fingerprint: String,
        hashed_skipped: bool,
    },
    #[error(
        "{url}: host key for {host} does not match known_hosts (server offered {key_type} {fingerprint}): the key changed or the connection is intercepted"
    )]
    HostKeyMismatch {
        url: String,
        host: String,
        key_type: String,
        fingerprint: String,
    },
    #[error(
        "{url}: host key for {host} ({key_type} {fingerprint}) is marked @revoked in known_hosts"
    )]
    HostKeyRevoked {
        url: String,
        host: String,
        key_type: String,
        fingerprint: String,
    },
    #[error(
        "{url}: no known_hosts configured, refusing the host key of {host} ({key_type} {fingerprint}); add the host's `ssh-keyscan` lines to the credentials"
    )]
    NoKnownHosts {
        url: String,
        host: String,
        key_type: String,
        fingerprint: String,
    },
    #[error("{url}: TLS certificate of {host} not trusted: {message}")]
    Certificate {
        url: String,
        host: String,
        message: String,
    },
    #[error("{url}: ref not found: {reference}")]
    RefNotFound { url: String, reference: Reference },
    #[error("{url}: {op} failed: {message}")]
    Network {
        url: String,
        op: &'static str,
        message: String,
    },
    #[error("{url}: push to branch {branch} rejected: {message}")]
    Rejected {
        url: String,
        branch: String,
        message: String,
    },
    #[error("{}: {op} failed: {message}", path.display())]
    Local {
        path: PathBuf,
        op: &'static str,
        message: String,
    },
}

impl GitError {
    /// A short stable label for metrics and status reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidReference(_) | Self::InvalidPath { .. } => "invalid",
            Self::Unsupported { .. } => "unsupported",
            Self::Auth { .. } => "auth",
            Self::HostKeyUnknown { .. }
            | Self::HostKeyMismatch { .. }
            | Self::HostKeyRevoked { .. }
            | Self::NoKnownHosts { .. }
            | Self::Certificate { .. } => "server_identity",
            Self::RefNotFound { .. } => "ref_not_found",
            Self::Network { .. } => "network",
            Self::Rejected { .. } => "rejected",
            Self::Local { .. } => "local",
        }
    }

    /// Whether trying again later may help (network faults, a push that lost a race twice).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Network { .. } | Self::Rejected { .. })
    }
}

/// A local repository error (cache or work directory), with libgit2's message.
fn local(path: &Path, op: &'static str, e: impl fmt::Display) -> GitError {
    GitError::Local {
        path: path.to_path_buf(),
        op,
        message: e.to_string(),
    }
}

/// Opens the bare repository at `path`, creating it (and its parents) on first use.
fn open_or_init_bare(path: &Path) -> Result<git2::Repository, GitError> {
    if path.join("HEAD").exists() {
        return git2::Repository::open_bare(path).map_err(|e| local(path, "open repository", e));
    }
    std::fs::create_dir_all(path).map_err(|e| local(path, "create directory", e))?;
    git2::Repository::init_bare(path).map_err(|e| local(path, "init repository", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Sync's credentials reach remote bases on its repository's host only.
    #[test]
    fn credentials_go_to_the_same_origin_only() {
        let src = "https://github.com/org/fleet.git";
        assert!(same_origin(src, "https://github.com/org/bases.git"));
        assert!(same_origin(src, "https://GitHub.com/other/x"));
        assert!(!same_origin(src, "https://github.com.evil.example/org/x"));
        assert!(!same_origin(src, "https://evil.example/org/fleet.git"));
        assert!(!same_origin(src, "http://github.com/org/bases.git"));
        assert!(!same_origin(src, "https://github.com:8443/org/bases.git"));
        assert!(!same_origin(src, "git@github.com:org/bases.git"));
        let ssh = "git@github.com:org/fleet.git";
        assert!(same_origin(ssh, "ssh://git@github.com/org/bases.git"));
        assert!(same_origin(ssh, "git@github.com:org/bases.git"));
        assert!(!same_origin(ssh, "git@gitlab.com:org/bases.git"));
        assert!(!same_origin("/srv/fleet.git", "/srv/other.git"));
    }

    #[test]
    fn reference_from_fields() {
        assert_eq!(
            Reference::from_fields(Some("main"), None, None).unwrap(),
            Reference::Branch("main".into())
        );
        assert_eq!(
            Reference::from_fields(None, Some("refs/tags/v1.0"), Some("")).unwrap(),
            Reference::Tag("v1.0".into())
        );
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        assert_eq!(
            Reference::from_fields(None, None, Some(sha)).unwrap(),
            Reference::Commit(sha.to_ascii_lowercase())
        );
        let e = Reference::from_fields(Some("main"), Some("v1"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid git reference: only one of branch, tag or commit may be set, got branch and tag"
        );
        assert!(Reference::from_fields(None, None, None).is_err());
        assert!(Reference::branch("bad..name").is_err());
        assert!(Reference::branch("has space").is_err());
        assert!(Reference::commit("abc123").is_err());
    }

    #[test]
    fn reference_display_and_ref_name() {
        assert_eq!(Reference::Branch("main".into()).to_string(), "branch main");
        assert_eq!(Reference::Tag("v1".into()).to_string(), "tag v1");
        assert_eq!(
            Reference::Tag("v1".into()).ref_name().as_deref(),
            Some("refs/tags/v1")
        );
        assert_eq!(Reference::Commit("ab".into()).ref_name(), None);
    }

    #[test]
    fn credentials_never_show_secrets() {
        let https = Credentials::Https {
            username: "alice".into(),
            password: "hunter2-token".into(),
        };
        let ssh = Credentials::Ssh {
            private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETKEY".into(),
            passphrase: Some("open-sesame".into()),
            known_hosts: Some("github.com ssh-ed25519 AAAA\n".into()),
        };
        for (c, secrets) in [
            (&https, vec!["hunter2"]),
            (&ssh, vec!["SECRETKEY", "open-sesame", "BEGIN"]),
        ] {
            for text in [format!("{c:?}"), format!("{c:#?}"), c.to_string()] {
                for s in &secrets {
                    assert!(!text.contains(s), "{text}");
                }
            }
        }
        assert_eq!(
            format!("{https:?}"),
            r#"Https { username: "alice", password: "** redacted **" }"#
        );
        assert_eq!(https.to_string(), "https user alice (password redacted)");
        assert_eq!(
            format!("{ssh:?}"),
            r#"Ssh { private_key: "** redacted **", passphrase: Some("** redacted **"), known_hosts: Some("1 line") }"#
        );
        assert_eq!(format!("{:?}", Credentials::None), "None");
    }

    #[test]
    fn error_kinds() {
        let e = GitError::RefNotFound {
            url: "file:///x".into(),
            reference: Reference::Branch("main".into()),
        };
        assert_eq!(e.to_string(), "file:///x: ref not found: branch main");
        assert_eq!(e.kind(), "ref_not_found");
        assert!(!e.is_transient());
    }
}
