//! One network operation's libgit2 callbacks (credentials, server identity) and the mapping of
//! its failures to [`GitError`]s. A callback that refuses records why, so that the error names
//! the real cause rather than libgit2's generic text.

use std::cell::{Cell, RefCell};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::known_hosts::{self, Verdict};
use super::location::{RemoteUrl, Transport};
use super::{Credentials, GitError};

/// Why a callback refused.
#[derive(Debug, Clone)]
enum Refusal {
    /// The credential was offered once and the server asked again (with the SSH user).
    Refused(Option<String>),
    NoCredentials,
    WrongKind(&'static str),
    KeyUnusable(String),
    HostKey {
        verdict: Verdict,
        host: String,
        key_type: String,
        fingerprint: String,
    },
    NoKnownHosts {
        host: String,
        key_type: String,
        fingerprint: String,
    },
    NoHostKey(String),
}

/// State shared by the callbacks of one connection.
pub(crate) struct Session<'a> {
    pub url: &'a RemoteUrl,
    creds: &'a Credentials,
    offered: Cell<u32>,
    refusal: RefCell<Option<Refusal>>,
}

impl<'a> Session<'a> {
    pub fn new(url: &'a RemoteUrl, creds: &'a Credentials) -> Self {
        Self {
            url,
            creds,
            offered: Cell::new(0),
            refusal: RefCell::new(None),
        }
    }

    /// Fails early for transports this build of libgit2 lacks.
    pub fn check_supported(&self) -> Result<(), GitError> {
        let version = git2::Version::get();
        let missing = match self.url.transport {
            Transport::Https if !version.https() => Some("https"),
            Transport::Ssh if !version.ssh() => Some("ssh"),
            _ => None,
        };
        match missing {
            Some(what) => Err(GitError::Unsupported {
                url: self.url.redacted.clone(),
                reason: format!(
                    "this gitfleet build has no {what} support (git2 is built without its `{what}` feature)"
                ),
            }),
            None => Ok(()),
        }
    }

    fn refuse(&self, why: Refusal, text: &str) -> git2::Error {
        *self.refusal.borrow_mut() = Some(why);
        git2::Error::from_str(text)
    }

    /// Callbacks for a connection: credentials at most once, host keys against known_hosts.
    pub fn callbacks(&self) -> RemoteCallbacks<'_> {
        self.offered.set(0);
        self.refusal.replace(None);
        let mut cb = RemoteCallbacks::new();
        cb.credentials(|_url, user_from_url, allowed| self.credentials(user_from_url, allowed));
        // TLS certificates are left to libgit2 (system CA store, host name): with a callback
        // that passes through, libgit2 would report a refused certificate as a generic error.
        if self.url.transport == Transport::Ssh {
            cb.certificate_check(|cert, host| match cert.as_hostkey() {
                Some(hostkey) => self.check_host_key(hostkey, host),
                None => Ok(CertificateCheckStatus::CertificatePassthrough),
            });
        }
        cb
    }

    fn credentials(
        &self,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        match self.creds {
            Credentials::None => Err(self.refuse(
                Refusal::NoCredentials,
                "the server asks for credentials and none are configured",
            )),
            Credentials::Https { username, password } => {
                if self.url.transport == Transport::Http && self.offered.get() == 0 {
                    tracing::warn!(url = %self.url.redacted,
                        "sending a password over plain http: prefer https");
                }
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(self.refuse(
                        Refusal::WrongKind("https (username and password)"),
                        "credential kind not accepted",
                    ));
                }
                self.offer_once(None)?;
                Cred::userpass_plaintext(username, password)
            }
            Credentials::Ssh {
                private_key,
                passphrase,
                ..
            } => {
                let user = user_from_url.filter(|u| !u.is_empty()).unwrap_or("git");
                if allowed.contains(CredentialType::USERNAME)
                    && !allowed.contains(CredentialType::SSH_MEMORY)
                {
                    return Cred::username(user);
                }
                if !allowed.contains(CredentialType::SSH_MEMORY) {
                    return Err(self.refuse(
                        Refusal::WrongKind("ssh private key"),
                        "credential kind not accepted",
                    ));
                }
                self.offer_once(Some(user))?;
                Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref()).map_err(
                    |e| {
                        let why = Refusal::KeyUnusable(self.url.scrub(e.message()));
                        self.refuse(why, "the private key cannot be used")
                    },
                )
            }
        }
    }

    /// libgit2 asks again after a refusal; the first repeat ends the operation.
    fn offer_once(&self, ssh_user: Option<&str>) -> Result<(), git2::Error> {
        if self.offered.get() > 0 {
            let why = Refusal::Refused(ssh_user.map(str::to_string));
            return Err(self.refuse(why, "authentication failed"));
        }
        self.offered.set(self.offered.get() + 1);
        Ok(())
    }

    fn check_host_key(
        &self,
        hostkey: &git2::cert::CertHostkey<'_>,
        host: &str,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        let host = host.to_ascii_lowercase();
        let Some(blob) = hostkey.hostkey() else {
            return Err(self.refuse(
                Refusal::NoHostKey(host),
                "the server's host key is not available",
            ));
        };
        let key_type = known_hosts::key_type(blob);
        let fingerprint = known_hosts::fingerprint(blob);
        let known = match self.creds {
            Credentials::Ssh {
                known_hosts: Some(k),
                ..
            } => k,
            _ => {
                return Err(self.refuse(
                    Refusal::NoKnownHosts {
                        host,
                        key_type,
                        fingerprint,
                    },
                    "no known_hosts configured",
                ));
            }
        };
        let port = self.url.port.unwrap_or(22);
        match known_hosts::check(known, &host, port, blob) {
            Verdict::Trusted => Ok(CertificateCheckStatus::CertificateOk),
            verdict => Err(self.refuse(
                Refusal::HostKey {
                    verdict,
                    host,
                    key_type,
                    fingerprint,
                },
                "host key not trusted",
            )),
        }
    }

    /// Turns a libgit2 failure of `op` into a [`GitError`], preferring what a callback recorded.
    pub fn error(&self, op: &'static str, e: git2::Error) -> GitError {
        let url = self.url.redacted.clone();
        if let Some(why) = self.refusal.borrow_mut().take() {
            return match why {
                Refusal::Refused(ssh_user) => GitError::Auth {
                    url,
                    reason: match ssh_user {
                        Some(user) => {
                            format!("the server refused the ssh private key for user {user}")
                        }
                        None => format!("the server refused the {}", self.kind_name()),
                    },
                },
                Refusal::NoCredentials => GitError::Auth {
                    url,
                    reason: if self.url.embedded_secret.is_some() {
                        "the server refused the credentials in the URL".into()
                    } else {
                        "the server asks for credentials and none are configured".into()
                    },
                },
                Refusal::WrongKind(kind) => GitError::Auth {
                    url,
                    reason: format!("the server does not accept {kind} credentials"),
                },
                Refusal::KeyUnusable(message) => GitError::Auth {
                    url,
                    reason: format!("the ssh private key cannot be used: {message}"),
                },
                Refusal::HostKey {
                    verdict,
                    host,
                    key_type,
                    fingerprint,
                } => match verdict {
                    Verdict::Revoked => GitError::HostKeyRevoked {
                        url,
                        host,
                        key_type,
                        fingerprint,
                    },
                    Verdict::Mismatch => GitError::HostKeyMismatch {
                        url,
                        host,
                        key_type,
                        fingerprint,
                    },
                    Verdict::Unknown { hashed_skipped } => GitError::HostKeyUnknown {
                        url,
                        host,
                        key_type,
                        fingerprint,
                        hashed_skipped,
                    },
                    Verdict::Trusted => unreachable!("a trusted key is not a refusal"),
                },
                Refusal::NoKnownHosts {
                    host,
                    key_type,
                    fingerprint,
                } => GitError::NoKnownHosts {
                    url,
                    host,
                    key_type,
                    fingerprint,
                },
                Refusal::NoHostKey(host) => GitError::Network {
                    url,
                    op,
                    message: format!("the host key of {host} is not available for checking"),
                },
            };
        }
        let message = self.scrub(e.message());
        let lower = message.to_ascii_lowercase();
        let auth = e.code() == git2::ErrorCode::Auth
            || (e.class() == git2::ErrorClass::Ssh && lower.contains("authenticat"));
        let certificate = e.code() == git2::ErrorCode::Certificate
            || (e.class() == git2::ErrorClass::Ssl && lower.contains("certificate"));
        if auth {
            let hint = match self.creds {
                Credentials::Ssh { .. } if lower.contains("private key") => {
                    "; check the private key and its passphrase"
                }
                _ => "",
            };
            GitError::Auth {
                url,
                reason: format!("{message}{hint}"),
            }
        } else if certificate {
            GitError::Certificate {
                url,
                host: self.url.host.clone().unwrap_or_default(),
                message,
            }
        } else {
            GitError::Network { url, op, message }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.creds {
            Credentials::None => "anonymous access",
            Credentials::Ssh { .. } => "ssh private key",
            Credentials::Https { .. } => "username and password",
        }
    }

    /// Removes the URL's credentials and any configured secret from a libgit2 message.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = self.url.scrub(message);
        let secrets: Vec<&str> = match self.creds {
            Credentials::None => vec![],
            Credentials::Https { password, .. } => vec![password],
            Credentials::Ssh {
                private_key,
                passphrase,
                ..
            } => std::iter::once(private_key.as_str())
                .chain(passphrase.as_deref())
                .collect(),
        };
        for s in secrets.into_iter().filter(|s| s.len() >= 3) {
            out = out.replace(s, "***");
        }
        out
    }
}
