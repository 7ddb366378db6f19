//! Remote URLs as messages show them (no userinfo, no query) and as host key checks need them
//! (transport, host, port).

/// How a remote is reached; decides shallow fetches, credential kinds and host key checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `file://` or a plain path: libgit2's local transport (no shallow fetch).
    Local,
    /// `ssh://` or scp-like `user@host:path`.
    Ssh,
    Https,
    /// Plain `http://` (basic auth goes over the wire unencrypted).
    Http,
    /// `git://` (unauthenticated, read-only unless the daemon enables receive-pack).
    Git,
    Other,
}

/// A remote URL, parsed once per operation.
#[derive(Clone)]
pub(crate) struct RemoteUrl {
    /// Exactly what the caller gave: handed to libgit2, never printed.
    pub raw: String,
    /// Safe to print: userinfo, query and fragment removed.
    pub redacted: String,
    pub transport: Transport,
    /// Lower-cased host name, for SSH host key checks.
    pub host: Option<String>,
    /// Explicit or default port (22 for SSH).
    pub port: Option<u16>,
    /// A password embedded in the URL (`https://user:pw@host/`), to scrub from libgit2 messages.
    pub embedded_secret: Option<String>,
}

impl RemoteUrl {
    pub fn parse(raw: &str) -> Self {
        if let Some((scheme, _)) = raw.split_once("://") {
            return Self::parse_url_form(raw, &scheme.to_ascii_lowercase());
        }
        if let Some((userhost, _path)) = scp_like(raw) {
            let host = userhost.rsplit('@').next().unwrap_or(userhost);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return Self {
                raw: raw.to_string(),
                // scp syntax has no password; a user name like `git` is not a secret.
                redacted: raw.to_string(),
                transport: Transport::Ssh,
                host: Some(host.to_ascii_lowercase()),
                port: Some(22),
                embedded_secret: None,
            };
        }
        Self {
            raw: raw.to_string(),
            redacted: raw.to_string(),
            transport: Transport::Local,
            host: None,
            port: None,
            embedded_secret: None,
        }
    }

    fn parse_url_form(raw: &str, scheme: &str) -> Self {
        let transport = match scheme {
            "file" => Transport::Local,
            "ssh" | "ssh+git" | "git+ssh" => Transport::Ssh,
            "https" => Transport::Https,
            "http" => Transport::Http,
            "git" => Transport::Git,
            _ => Transport::Other,
        };
        match url::Url::parse(raw) {
            Ok(mut parsed) => {
                let embedded_secret = parsed
                    .password()
                    .filter(|p| !p.is_empty())
                    .map(percent_decode);
                let host = parsed.host_str().map(|h| {
                    h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                });
                let port = parsed.port().or(match transport {
                    Transport::Ssh => Some(22),
                    _ => parsed.port_or_known_default(),
                });
                // These setters fail only for URLs that cannot carry the part anyway.
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
                parsed.set_query(None);
                parsed.set_fragment(None);
                Self {
                    raw: raw.to_string(),
                    redacted: parsed.to_string(),
                    transport,
                    host,
                    port,
                    embedded_secret,
                }
            }
            Err(_) => Self {
                raw: raw.to_string(),
                redacted: strip_userinfo_lenient(raw),
                transport,
                host: None,
                port: None,
                embedded_secret: None,
            },
        }
    }

    /// Replaces the raw URL and any password it embeds in a libgit2 message.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(&self.raw, &self.redacted);
        if let Some(secret) = &self.embedded_secret {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }
}

/// `[user@]host:path` (git's scp-like syntax): no `://`, a colon before the first slash, and not a
/// Windows drive letter.
fn scp_like(raw: &str) -> Option<(&str, &str)> {
    let colon = raw.find(':')?;
    if raw[..colon].contains('/') || colon == 0 {
        return None;
    }
    if colon == 1 && raw.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    Some((&raw[..colon], &raw[colon + 1..]))
}

/// Drops everything between `://` and the last `@` of the authority, and any query, for URLs the
/// `url` crate cannot parse.
fn strip_userinfo_lenient(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_string();
    };
    let rest = &raw[start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let path = &rest[authority_end..];
    let path = path.split(['?', '#']).next().unwrap_or(path);
    format!("{}{}{}", &raw[..start], host, path)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_userinfo_query_and_fragment_are_removed() {
        let u =
            RemoteUrl::parse("https://alice:s3cr%40t@git.example.com/org/fleet.git?token=abc#x");
        assert_eq!(u.redacted, "https://git.example.com/org/fleet.git");
        assert_eq!(u.transport, Transport::Https);
        assert_eq!(u.host.as_deref(), Some("git.example.com"));
        assert_eq!(u.port, Some(443));
        assert_eq!(u.embedded_secret.as_deref(), Some("s3cr@t"));
        let msg = u.scrub("failed for https://alice:s3cr%40t@git.example.com/org/fleet.git?token=abc#x; pw s3cr@t");
        assert!(!msg.contains("s3cr"), "{msg}");
        assert!(!msg.contains("alice"), "{msg}");
    }

    #[test]
    fn ssh_forms() {
        let u = RemoteUrl::parse("ssh://git@GitHub.com:2222/org/fleet.git");
        assert_eq!(u.redacted, "ssh://GitHub.com:2222/org/fleet.git");
        assert_eq!(u.transport, Transport::Ssh);
        assert_eq!(u.host.as_deref(), Some("github.com"));
        assert_eq!(u.port, Some(2222));

        let u = RemoteUrl::parse("ssh://git@github.com/org/fleet.git");
        assert_eq!(u.port, Some(22));

        let u = RemoteUrl::parse("git@github.com:org/fleet.git");
        assert_eq!(u.transport, Transport::Ssh);
        assert_eq!(u.redacted, "git@github.com:org/fleet.git");
        assert_eq!(u.host.as_deref(), Some("github.com"));
        assert_eq!(u.port, Some(22));
    }

    #[test]
    fn local_and_git_forms() {
        assert_eq!(
            RemoteUrl::parse("/srv/fleet.git").transport,
            Transport::Local
        );
        assert_eq!(RemoteUrl::parse("./fleet").transport, Transport::Local);
        assert_eq!(RemoteUrl::parse("C:/fleet").transport, Transport::Local);
        assert_eq!(
            RemoteUrl::parse("file:///srv/fleet.git").transport,
            Transport::Local
        );
        let g = RemoteUrl::parse("git://127.0.0.1:9418/fleet.git");
        assert_eq!(g.transport, Transport::Git);
        assert_eq!(g.redacted, "git://127.0.0.1:9418/fleet.git");
    }

    #[test]
    fn unparsable_urls_are_still_stripped() {
        assert_eq!(
            strip_userinfo_lenient("weird://u:p@ho st/x?y=1"),
            "weird://ho st/x"
        );
        let u = RemoteUrl::parse("https://u:p@[bad/x");
        assert!(!u.redacted.contains("u:p"), "{}", u.redacted);
    }
}
