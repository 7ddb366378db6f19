//! Checking an SSH server's host key against OpenSSH `known_hosts` text (as `ssh-keyscan` prints
//! it): plain and `[host]:port` names, comma lists, `*`/`?` wildcards, `!` negation and `@revoked`.
//! Hashed names (`|1|...`) and `@cert-authority` lines are skipped: they never make a key trusted.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

/// What `known_hosts` says about the key a server offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A line for this host holds exactly this key.
    Trusted,
    /// The key is on a `@revoked` line.
    Revoked,
    /// Lines for this host exist, none with this key.
    Mismatch,
    /// No line names this host (`hashed_skipped`: hashed lines were present and not checked).
    Unknown { hashed_skipped: bool },
}

/// Checks the raw host key `blob` (SSH wire format) offered by `host` on `port`.
pub(crate) fn check(known_hosts: &str, host: &str, port: u16, blob: &[u8]) -> Verdict {
    let host = host.to_ascii_lowercase();
    let names: Vec<String> = if port == 22 {
        vec![host.clone(), format!("[{host}]:22")]
    } else {
        vec![format!("[{host}]:{port}")]
    };
    let mut host_seen = false;
    let mut trusted = false;
    let mut hashed_skipped = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        let marker = if first.starts_with('@') {
            let m = first;
            match fields.next() {
                Some(f) => first = f,
                None => continue,
            }
            Some(m)
        } else {
            None
        };
        let (Some(_key_type), Some(key_b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(key) = STANDARD.decode(key_b64) else {
            continue;
        };
        match marker {
            Some("@revoked") => {
                if key == blob {
                    return Verdict::Revoked;
                }
                continue;
            }
            Some(_) => continue,
            None => {}
        }
        if first.starts_with('|') {
            hashed_skipped = true;
            continue;
        }
        if names.iter().any(|n| hosts_match(first, n)) {
            host_seen = true;
            if key == blob {
                trusted = true;
            }
        }
    }
    if trusted {
        Verdict::Trusted
    } else if host_seen {
        Verdict::Mismatch
    } else {
        Verdict::Unknown { hashed_skipped }
    }
}

/// A comma-separated pattern list matches when a positive pattern matches and no negated one does.
fn hosts_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` (any run) and `?` (one character) wildcards.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The key's algorithm name (`ssh-ed25519`), read from the blob's first field.
pub(crate) fn key_type(blob: &[u8]) -> String {
    if blob.len() >= 4 {
        let len = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if let Some(name) = blob.get(4..4 + len)
            && let Ok(name) = std::str::from_utf8(name)
        {
            return name.to_string();
        }
    }
    "unknown-key-type".to_string()
}

/// OpenSSH's fingerprint format: `SHA256:` and unpadded base64 of the blob's SHA-256.
pub(crate) fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn line(hosts: &str, key: &[u8]) -> String {
        format!("{hosts} {} {} comment", key_type(key), STANDARD.encode(key))
    }

    #[test]
    fn trusted_unknown_and_mismatch() {
        let good = blob("ssh-ed25519", b"good");
        let other = blob("ssh-ed25519", b"other");
        let text = format!(
            "# comment\n\n{}\n{}\n",
            line("github.com,140.82.121.4", &good),
            line("[git.example.com]:2222", &other)
        );
        assert_eq!(check(&text, "GitHub.com", 22, &good), Verdict::Trusted);
        assert_eq!(check(&text, "140.82.121.4", 22, &good), Verdict::Trusted);
        assert_eq!(check(&text, "github.com", 22, &other), Verdict::Mismatch);
        assert_eq!(
            check(&text, "gitlab.com", 22, &good),
            Verdict::Unknown {
                hashed_skipped: false
            }
        );
        // A port must match exactly.
        assert_eq!(
            check(&text, "git.example.com", 22, &other),
            Verdict::Unknown {
                hashed_skipped: false
            }
        );
        assert_eq!(
            check(&text, "git.example.com", 2222, &other),
            Verdict::Trusted
        );
        assert_eq!(
            check(&text, "github.com", 2222, &good),
            Verdict::Unknown {
                hashed_skipped: false
            }
        );
    }

    #[test]
    fn wildcards_negation_markers_and_hashed_lines() {
        let key = blob("ecdsa-sha2-nistp256", b"k");
        let text = format!(
            "{}\n@cert-authority {}\n|1|c2FsdA==|aGFzaA== {} {}\n",
            line("*.example.com,!bad.example.com", &key),
            line("ca.example.org", &key),
            key_type(&key),
            STANDARD.encode(&key)
        );
        assert_eq!(check(&text, "git.example.com", 22, &key), Verdict::Trusted);
        assert_eq!(
            check(&text, "bad.example.com", 22, &key),
            Verdict::Unknown {
                hashed_skipped: true
            }
        );
        assert_eq!(
            check(&text, "ca.example.org", 22, &key),
            Verdict::Unknown {
                hashed_skipped: true
            }
        );
        let revoked = format!("{text}@revoked {}\n", line("*", &key));
        assert_eq!(
            check(&revoked, "git.example.com", 22, &key),
            Verdict::Revoked
        );
    }

    #[test]
    fn glob_patterns() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"git?.example.com", b"git1.example.com"));
        assert!(!glob(b"git?.example.com", b"git.example.com"));
        assert!(glob(b"*.example.*", b"a.example.org"));
        assert!(!glob(b"*.example.com", b"example.com"));
    }

    #[test]
    fn key_type_and_fingerprint() {
        let key = blob("ssh-rsa", b"\x00\x01");
        assert_eq!(key_type(&key), "ssh-rsa");
        assert_eq!(key_type(b"\xff"), "unknown-key-type");
        let fp = fingerprint(&key);
        assert!(fp.starts_with("SHA256:") && !fp.ends_with('='), "{fp}");
    }
}
