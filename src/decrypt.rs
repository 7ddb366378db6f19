//! SOPS-encrypted files, decrypted where the repository is read: the confined [`Source`] hands
//! every file it reads through [`maybe_decrypt`], so plain manifests, Kustomize resources and
//! generator files, Helm values files and anything else gitfleet reads get the same treatment in
//! one place. A file that carries SOPS metadata is decrypted with the age identities the caller
//! gave (a Sync's `spec.decryption` Secret, `--decrypt --age-key-file`), or is an error naming
//! the file when there are none; its MAC is verified (the `sops` crate); plaintext exists only in
//! memory and every decrypted value is remembered by [`redact`], which masks it in anything
//! gitfleet prints, logs or writes to a status.
//!
//! [`Source`]: crate::source::Source

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::Value;

pub use sops::Keys;

use crate::source::Problem;

/// The age identities one load decrypts with (none: an encrypted file is an error).
#[derive(Clone, Default)]
pub struct Decryption(pub Option<Arc<Keys>>);

impl Decryption {
    pub fn new(keys: Keys) -> Self {
        Decryption(Some(Arc::new(keys)))
    }
    pub fn keys(&self) -> Option<&Keys> {
        self.0.as_deref()
    }
}

impl std::fmt::Debug for Decryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the identities
        f.write_str(if self.0.is_some() {
            "Decryption(age)"
        } else {
            "Decryption(none)"
        })
    }
}

/// Values shorter than this are not masked in free text (they would mask ordinary words).
const MIN_REDACTED: usize = 4;

/// Most values remembered; past it the ones decrypted longest ago are forgotten first (an agent
/// that decrypts for months keeps what it decrypted lately, which is what it can still print).
const MAX_REMEMBERED: usize = 100_000;

/// The decrypted values, and one matcher over all of them (rebuilt when they change, so masking a
/// text is one pass over it however many values there are).
#[derive(Default)]
struct Registry {
    /// value → when it was last remembered
    values: HashMap<String, u64>,
    /// when → value, oldest first
    by_age: BTreeMap<u64, String>,
    clock: u64,
    matcher: Option<aho_corasick::AhoCorasick>,
}

impl Registry {
    fn insert(&mut self, value: String) {
        self.clock += 1;
        if let Some(old) = self.values.insert(value.clone(), self.clock) {
            self.by_age.remove(&old);
        } else {
            self.matcher = None;
        }
        self.by_age.insert(self.clock, value);
        while self.values.len() > MAX_REMEMBERED {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.values.remove(&oldest);
            self.matcher = None;
        }
    }

    fn matcher(&mut self) -> Option<&aho_corasick::AhoCorasick> {
        if self.matcher.is_none() && !self.values.is_empty() {
            // Leftmost-longest: where values overlap, the longest is masked whole.
            self.matcher = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(self.values.keys())
                .ok();
        }
        self.matcher.as_ref()
    }
}

static SECRETS: Mutex<Option<Registry>> = Mutex::new(None);

/// Masks every value this process has decrypted: `***`.
pub fn redact(text: &str) -> String {
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(matcher) = secrets.as_mut().and_then(Registry::matcher) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, dst| {
        dst.push_str("***");
        true
    });
    out
}

/// Whether `text` holds a value this process has decrypted.
pub fn holds_decrypted(text: &str) -> bool {
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    secrets
        .as_mut()
        .and_then(Registry::matcher)
        .is_some_and(|m| m.is_match(text))
}

fn remember(values: impl IntoIterator<Item = String>) {
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let secrets = secrets.get_or_insert_with(Registry::default);
    for v in values {
        for line in v.lines().map(str::trim).filter(|l| l.len() >= MIN_REDACTED) {
            secrets.insert(line.to_string());
        }
        let v = v.trim();
        if v.len() >= MIN_REDACTED {
            // a Secret's `data` value is base64: its decoded text is as secret
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(v)
                && let Ok(text) = String::from_utf8(decoded)
                && text.trim().len() >= MIN_REDACTED
            {
                secrets.insert(text.trim().to_string());
            }
            secrets.insert(v.to_string());
        }
    }
}

/// Whether `bytes`, read from `rel`, carry SOPS metadata.
pub fn is_encrypted(rel: &str, bytes: &[u8]) -> bool {
    // cheap first: every SOPS file names its metadata key
    memchr_sops(bytes) && sops::is_encrypted(bytes, sops::format_for_path(rel))
}

fn memchr_sops(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"sops")
}

/// The bytes of `rel` as gitfleet reads them: decrypted when SOPS encrypted them.
pub fn maybe_decrypt(rel: &str, bytes: Vec<u8>, keys: Option<&Keys>) -> Result<Vec<u8>, Problem> {
    if !is_encrypted(rel, &bytes) {
        return Ok(bytes);
    }
    let Some(keys) = keys else {
        return Err(Problem::Encrypted);
    };
    let format = sops::format_for_path(rel);
    let plain = sops::decrypt(&bytes, format, keys).map_err(|e| Problem::Decrypt(e.to_string()))?;
    remember(decrypted_values(format, &bytes, &plain));
    Ok(plain)
}

/// The values SOPS encrypted in a file: where the encrypted document holds `ENC[…]`, the
/// decrypted one holds a secret.
fn decrypted_values(format: sops::Format, encrypted: &[u8], plain: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    match format {
        sops::Format::Binary => out.push(String::from_utf8_lossy(plain).into_owned()),
        sops::Format::Dotenv => {
            let enc = String::from_utf8_lossy(encrypted);
            let plain = String::from_utf8_lossy(plain);
            let encrypted_keys: BTreeSet<&str> = enc
                .lines()
                .filter_map(|l| l.split_once('='))
                .filter(|(_, v)| v.starts_with("ENC["))
                .map(|(k, _)| k)
                .collect();
            for (k, v) in plain.lines().filter_map(|l| l.split_once('=')) {
                if encrypted_keys.contains(k) {
                    out.push(v.to_string());
                }
            }
        }
        sops::Format::Yaml | sops::Format::Json => {
            let docs = |b: &[u8]| -> Vec<Value> {
                let text = String::from_utf8_lossy(b);
                serde_yaml::Deserializer::from_str(&text)
                    .filter_map(|d| serde::Deserialize::deserialize(d).ok())
                    .collect()
            };
            for (e, p) in docs(encrypted).iter().zip(docs(plain).iter()) {
                walk(e, p, &mut out);
            }
        }
    }
    out
}

fn walk(enc: &Value, plain: &Value, out: &mut Vec<String>) {
    match (enc, plain) {
        (Value::String(e), p) if e.starts_with("ENC[") => match p {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            _ => {}
        },
        (Value::Object(e), Value::Object(p)) => {
            for (k, ev) in e {
                if k == "sops" {
                    continue;
                }
                if let Some(pv) = p.get(k) {
                    walk(ev, pv, out);
                }
            }
        }
        (Value::Array(e), Value::Array(p)) => {
            for (ev, pv) in e.iter().zip(p) {
                walk(ev, pv, out);
            }
        }
        _ => {}
    }
}

/// Age identities for commands run by hand: `--age-key-file`, else `SOPS_AGE_KEY_FILE`, else
/// `SOPS_AGE_KEY` (the identities themselves), else sops's default
/// `$XDG_CONFIG_HOME/sops/age/keys.txt` (`~/.config/…`).
pub fn user_keys(file: Option<&Path>) -> anyhow::Result<Keys> {
    let from_file = |path: &Path| -> anyhow::Result<Keys> {
        let text = crate::source::read_user_file(path)?;
        Keys::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    if let Some(path) = file {
        return from_file(path);
    }
    if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
        return from_file(Path::new(&path));
    }
    if let Ok(text) = std::env::var("SOPS_AGE_KEY")
        && !text.trim().is_empty()
    {
        return Keys::parse(&text).map_err(|e| anyhow::anyhow!("SOPS_AGE_KEY: {e}"));
    }
    let default = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("sops/age/keys.txt"));
    match default {
        Some(path) if path.is_file() => from_file(&path),
        _ => anyhow::bail!(
            "--decrypt needs age identities: --age-key-file FILE, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY"
        ),
    }
}

/// Age identities from a decryption Secret's entries whose names end in `.agekey` (as Flux
/// reads them); `Err` names what is missing, never a key.
pub fn secret_keys<'a>(
    secret: &str,
    entries: impl IntoIterator<Item = (&'a String, &'a [u8])>,
) -> Result<Keys, String> {
    let mut text = String::new();
    let mut names = Vec::new();
    for (name, value) in entries {
        if name.ends_with(".agekey") {
            names.push(name.clone());
            text.push_str(&String::from_utf8_lossy(value));
            text.push('\n');
        }
    }
    if names.is_empty() {
        return Err(format!(
            "Secret {secret} (spec.decryption.secretRef) holds no *.agekey entry"
        ));
    }
    Keys::parse(&text).map_err(|e| format!("Secret {secret} ({}): {e}", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_what_was_remembered() {
        remember([
            "s3cr3t-value".to_string(),
            "aHVudGVyMjI=".to_string(),
            "ab".to_string(),
        ]);
        assert_eq!(
            redact("got s3cr3t-value and hunter22 and ab"),
            "got *** and *** and ab"
        );
    }

    #[test]
    fn a_value_that_contains_another_is_masked_whole() {
        remember(["q7-pw".to_string(), "q7-pw-of-the-db".to_string()]);
        assert_eq!(redact("x q7-pw-of-the-db y q7-pw"), "x *** y ***");
    }

    #[test]
    fn the_bound_forgets_the_oldest_value_not_a_recent_one() {
        let mut r = Registry::default();
        r.insert("zz-oldest-value".to_string());
        r.insert("aa-kept-value".to_string());
        for i in 0..MAX_REMEMBERED {
            r.insert(format!("value-{i:08}"));
            if i == 10 {
                // remembered again: now among the recent ones
                r.insert("aa-kept-value".to_string());
            }
        }
        assert_eq!(r.values.len(), MAX_REMEMBERED);
        assert!(!r.values.contains_key("zz-oldest-value"));
        assert!(r.values.contains_key("aa-kept-value"));
        let m = r.matcher().unwrap();
        assert!(m.is_match("x aa-kept-value"));
        assert!(!m.is_match("x zz-oldest-value"));
    }
}
