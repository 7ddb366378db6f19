//! SOPS-encrypted documents, decrypted natively (see the crate description).
//!
//! Only age recipients are supported (one key group, no Shamir threshold). Everything is bytes in,
//! bytes out: the library never touches the filesystem. Error messages name tree paths and
//! problems, never plaintext values or key material.

mod crypto;
mod dotenv;
mod json;
mod meta;
mod num;
mod tree;
mod yaml;

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use meta::Meta;
use tree::{Entry, Node};

pub use meta::Rule;

/// The stores sops picks by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Binary,
}

/// The store sops uses for a path: `.yaml`/`.yml`, `.json`, `.env`, anything else binary (sops'
/// INI store is not supported; `.ini` files are read as binary here).
pub fn format_for_path(path: &str) -> Format {
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        Format::Yaml
    } else if path.ends_with(".json") {
        Format::Json
    } else if path.ends_with(".env") {
        Format::Dotenv
    } else {
        Format::Binary
    }
}

/// Everything that can go wrong; no variant carries plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is not well-formed in its format.
    Parse {
        format: &'static str,
        line: Option<usize>,
        message: String,
    },
    /// No `sops` metadata (with a `mac`) in the document.
    NotEncrypted,
    /// The metadata is malformed.
    Metadata(String),
    /// Only other key providers than age hold the data key.
    UnsupportedKeyProvider(Vec<String>),
    /// Several key groups / a Shamir threshold.
    UnsupportedShamir {
        groups: usize,
        threshold: Option<usize>,
    },
    /// No identities were given.
    NoKeys,
    /// None of the identities opens any age stanza.
    NoMatchingKey {
        keys: usize,
        recipients: Vec<String>,
    },
    /// The MAC does not match the decrypted tree.
    MacMismatch,
    /// A value whose authentication tag fails (wrong key, or the value or its path was changed).
    ValueAuthentication { path: String },
    /// A value that is not a well-formed `ENC[...]`.
    MalformedValue { path: String, problem: String },
    /// An identity file that cannot be read.
    InvalidKeys { line: usize, problem: String },
    /// A `.sops.yaml` that cannot be used.
    Rule(String),
    /// Encryption failed.
    Encrypt(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse {
                format,
                line: Some(l),
                message,
            } => write!(f, "invalid {format} at line {l}: {message}"),
            Error::Parse {
                format,
                line: None,
                message,
            } => write!(f, "invalid {format}: {message}"),
            Error::NotEncrypted => write!(
                f,
                "not encrypted with sops: no sops metadata with a mac found"
            ),
            Error::Metadata(m) => write!(f, "invalid sops metadata: {m}"),
            Error::UnsupportedKeyProvider(p) => write!(
                f,
                "the data key is only encrypted for unsupported key providers ({}); only age is supported",
                p.join(", ")
            ),
            Error::UnsupportedShamir { groups, threshold } => write!(
                f,
                "the data key is split across {groups} key groups (shamir_threshold {}); only a single key group is supported",
                threshold.map_or("unset".to_string(), |t| t.to_string())
            ),
            Error::NoKeys => write!(f, "no age keys were given to decrypt the data key"),
            Error::NoMatchingKey { keys, recipients } => write!(
                f,
                "none of the {keys} age keys given can decrypt the data key; recipients: {}",
                recipients.join(", ")
            ),
            Error::MacMismatch => write!(
                f,
                "the MAC does not match: the file was modified after encryption"
            ),
            Error::ValueAuthentication { path } => write!(
                f,
                "the value at {path} fails authentication: it was modified, moved, or encrypted with another data key"
            ),
            Error::MalformedValue { path, problem } => {
                write!(f, "the encrypted value at {path} is malformed: {problem}")
            }
            Error::InvalidKeys { line, problem } => {
                write!(f, "invalid age identity file at line {line}: {problem}")
            }
            Error::Rule(m) => write!(f, "invalid .sops.yaml: {m}"),
            Error::Encrypt(m) => write!(f, "cannot encrypt: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Age identities (X25519 secret keys).
pub struct Keys {
    identities: Vec<age::x25519::Identity>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("count", &self.identities.len())
            .finish()
    }
}

impl Keys {
    /// Reads age identity files (comments, blank lines, any number of `AGE-SECRET-KEY-1` lines;
    /// several files concatenated).
    pub fn parse(text: &str) -> Result<Keys, Error> {
        let mut identities = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") {
                return Err(Error::InvalidKeys {
                    line: i + 1,
                    problem: "age plugin identities are not supported".into(),
                });
            }
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(Error::InvalidKeys {
                    line: i + 1,
                    problem: "not an AGE-SECRET-KEY-1 line or a comment".into(),
                });
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| Error::InvalidKeys {
                line: i + 1,
                problem: "not a valid age secret key".into(),
            })?;
            identities.push(id);
        }
        Ok(Keys { identities })
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// The age recipients (`age1…`) of these identities.
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }
}

/// A new age identity: (identity file text as age-keygen writes it, `age1…` recipient).
pub fn generate_identity() -> (String, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let text = format!(
        "# created: {}\n# public key: {public}\n{}\n",
        meta::now_rfc3339(),
        id.to_string().expose_secret()
    );
    (text, public)
}

// ---- reading documents ----

/// The documents of a file, as trees (binary files: the JSON envelope).
fn read_docs(bytes: &[u8], format: Format) -> Result<Vec<Node>, Error> {
    match format {
        Format::Yaml => {
            let text = std::str::from_utf8(bytes).map_err(|_| Error::Parse {
                format: "YAML",
                line: None,
                message: "not UTF-8".into(),
            })?;
            yaml::parse(text)
        }
        Format::Json | Format::Binary => Ok(vec![json::parse(bytes)?]),
        Format::Dotenv => Ok(vec![dotenv::parse(bytes)?]),
    }
}

/// Whether the bytes carry sops metadata (a top-level `sops` map with a `mac`).
pub fn is_encrypted(bytes: &[u8], format: Format) -> bool {
    let Ok(docs) = read_docs(bytes, format) else {
        return false;
    };
    docs.iter().any(|d| match format {
        Format::Dotenv => d.get("sops_mac").is_some(),
        _ => d.get("sops").and_then(|s| s.get("mac")).is_some(),
    })
}

/// Decrypts a sops file to exactly the bytes `sops -d` prints (see the crate README for YAML).
pub fn decrypt(bytes: &[u8], format: Format, keys: &Keys) -> Result<Vec<u8>, Error> {
    let mut docs = read_docs(bytes, format)?;
    let mut metas = Vec::new();
    for doc in &mut docs {
        let m = match format {
            Format::Dotenv => dotenv::take_meta(doc),
            _ => tree::take_sops(doc),
        };
        metas.push(m);
    }
    let meta_node = metas.iter().flatten().next().ok_or(Error::NotEncrypted)?;
    let meta = Meta::read(meta_node)?;
    let key = meta.data_key(keys)?;
    let mut hasher = new_mac(&meta);
    for doc in &mut docs {
        let mut path = Vec::new();
        walk_decrypt(doc, &mut path, &meta, &key, &mut hasher)?;
    }
    let mac = hex_upper(&hasher.finalize());
    let stored = meta.stored_mac(&key)?;
    if stored != mac {
        return Err(Error::MacMismatch);
    }
    Ok(match format {
        Format::Yaml => yaml::emit(&docs).into_bytes(),
        Format::Json => json::emit(&docs[0]).into_bytes(),
        Format::Dotenv => dotenv::emit(&docs[0]).into_bytes(),
        Format::Binary => match docs[0].get("data") {
            Some(Node::Str(s)) => s.clone().into_bytes(),
            _ => {
                return Err(Error::Metadata(
                    "a binary file without a string `data` field".into(),
                ));
            }
        },
    })
}

/// The MAC hash; with `mac_only_encrypted` sops seeds it with SHA-256("sops") so the two MACs
/// always differ.
fn new_mac(meta: &Meta) -> Sha512 {
    let mut h = Sha512::new();
    if meta.mac_only_encrypted {
        h.update(sha2::Sha256::digest(b"sops"));
    }
    h
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn path_str(path: &[String]) -> String {
    if path.is_empty() {
        "(top level)".into()
    } else {
        path.join(".")
    }
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn walk_decrypt(
    node: &mut Node,
    path: &mut Vec<String>,
    meta: &Meta,
    key: &[u8; 32],
    hasher: &mut Sha512,
) -> Result<(), Error> {
    match node {
        Node::Map(entries) => {
            for e in entries.iter_mut() {
                match e {
                    Entry::Comment(c) => {
                        if let Some(plain) = open_comment(c, path, key) {
                            *c = plain;
                        }
                    }
                    Entry::Pair(k, v) => {
                        path.push(k.clone());
                        let r = walk_decrypt(v, path, meta, key, hasher);
                        path.pop();
                        r?;
                    }
                }
            }
        }
        Node::Seq(items) => {
            for item in items.iter_mut() {
                walk_decrypt(item, path, meta, key, hasher)?;
            }
        }
        Node::Comment(c) => {
            if let Some(plain) = open_comment(c, path, key) {
                *c = plain;
            }
        }
        leaf => {
            let encrypted = meta.encrypts(path);
            if encrypted
                && let Node::Str(s) = leaf
                && !s.is_empty()
            {
                let enc = crypto::parse_enc(s).map_err(|problem| Error::MalformedValue {
                    path: path_str(path),
                    problem,
                })?;
                let plain = crypto::open(&enc, key, &aad(path)).ok_or_else(|| {
                    Error::ValueAuthentication {
                        path: path_str(path),
                    }
                })?;
                *leaf =
                    crypto::typed(plain, &enc.kind).map_err(|problem| Error::MalformedValue {
                        path: path_str(path),
                        problem,
                    })?;
            }
            if encrypted || !meta.mac_only_encrypted {
                hasher.update(crypto::mac_bytes(leaf));
            }
        }
    }
    Ok(())
}

/// A comment is decrypted when it is an `ENC` value that opens; sops keeps others as they are.
fn open_comment(c: &str, path: &[String], key: &[u8; 32]) -> Option<String> {
    let enc = crypto::parse_enc(c).ok()?;
    let plain = crypto::open(&enc, key, &aad(path))?;
    match crypto::typed(plain, &enc.kind).ok()? {
        Node::Comment(s) | Node::Str(s) => Some(s),
        _ => None,
    }
}

// ---- encryption ----

/// Encrypts a plaintext file for the rule's age recipients, as `sops -e` would (output that real
/// `sops -d` decrypts).
pub fn encrypt(bytes: &[u8], format: Format, rule: &Rule) -> Result<Vec<u8>, Error> {
    if rule.age.is_empty() {
        return Err(Error::Encrypt("the rule names no age recipients".into()));
    }
    let mut docs = match format {
        Format::Binary => {
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                Error::Encrypt("binary files that are not UTF-8 are not supported".into())
            })?;
            vec![Node::Map(vec![Entry::Pair("data".into(), Node::Str(text))])]
        }
        _ => read_docs(bytes, format)?,
    };
    for doc in &docs {
        if !matches!(doc, Node::Map(_)) {
            return Err(Error::Encrypt(
                "only documents that are maps can be encrypted".into(),
            ));
        }
        if doc
            .get(if format == Format::Dotenv {
                "sops_mac"
            } else {
                "sops"
            })
            .is_some()
        {
            return Err(Error::Encrypt("the file is already encrypted".into()));
        }
    }
    let mut meta = Meta::from_rule(rule, format)?;
    let key = crypto::random_key();
    meta.age = rule
        .age
        .iter()
        .map(|r| Ok((r.clone(), age_encrypt(r, &key)?)))
        .collect::<Result<_, Error>>()?;
    let mut hasher = new_mac(&meta);
    for doc in &mut docs {
        let mut path = Vec::new();
        walk_encrypt(doc, &mut path, &meta, &key, &mut hasher);
    }
    let mac = hex_upper(&hasher.finalize());
    meta.mac = crypto::seal(mac.as_bytes(), "str", &key, &meta.lastmodified);
    let meta_node = meta.to_node();
    Ok(match format {
        Format::Yaml => {
            for doc in &mut docs {
                if let Node::Map(e) = doc {
                    e.push(Entry::Pair("sops".into(), meta_node.clone()));
                }
            }
            yaml::emit(&docs).into_bytes()
        }
        Format::Json | Format::Binary => {
            if let Node::Map(e) = &mut docs[0] {
                e.push(Entry::Pair("sops".into(), meta_node));
            }
            json::emit(&docs[0]).into_bytes()
        }
        Format::Dotenv => {
            dotenv::push_meta(&mut docs[0], &meta_node);
            dotenv::emit(&docs[0]).into_bytes()
        }
    })
}

fn walk_encrypt(
    node: &mut Node,
    path: &mut Vec<String>,
    meta: &Meta,
    key: &[u8; 32],
    hasher: &mut Sha512,
) {
    match node {
        Node::Map(entries) => {
            for e in entries.iter_mut() {
                match e {
                    Entry::Comment(c) if meta.encrypts(path) => {
                        *c = crypto::seal(c.as_bytes(), "comment", key, &aad(path))
                    }
                    Entry::Comment(_) => {}
                    Entry::Pair(k, v) => {
                        path.push(k.clone());
                        walk_encrypt(v, path, meta, key, hasher);
                        path.pop();
                    }
                }
            }
        }
        Node::Seq(items) => {
            for item in items.iter_mut() {
                walk_encrypt(item, path, meta, key, hasher);
            }
        }
        Node::Comment(c) if meta.encrypts(path) => {
            *c = crypto::seal(c.as_bytes(), "comment", key, &aad(path))
        }
        leaf => {
            let encrypted = meta.encrypts(path);
            if encrypted || !meta.mac_only_encrypted {
                hasher.update(crypto::mac_bytes(leaf));
            }
            if encrypted
                && !matches!(leaf, Node::Str(s) if s.is_empty())
                && let Some((plain, kind)) = crypto::plain_of(leaf)
            {
                *leaf = Node::Str(crypto::seal(&plain, kind, key, &aad(path)));
            }
        }
    }
}

fn age_encrypt(recipient: &str, key: &[u8; 32]) -> Result<String, Error> {
    let r = age::x25519::Recipient::from_str(recipient)
        .map_err(|_| Error::Encrypt(format!("not an age X25519 recipient: {recipient}")))?;
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| Error::Encrypt(e.to_string()))?;
    let io = |e: std::io::Error| Error::Encrypt(e.to_string());
    let armor = age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor)
        .map_err(io)?;
    let mut w = enc.wrap_output(armor).map_err(io)?;
    w.write_all(key).map_err(io)?;
    let out = w.finish().and_then(|a| a.finish()).map_err(io)?;
    let mut s =
        String::from_utf8(out).map_err(|_| Error::Encrypt("age armor is not text".into()))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Opens one age stanza with the identities; `None` if none matches.
pub(crate) fn age_decrypt(enc: &str, keys: &Keys) -> Option<Zeroizing<[u8; 32]>> {
    let reader = age::armor::ArmoredReader::new(enc.as_bytes());
    let d = age::Decryptor::new(reader).ok()?;
    let mut r = d
        .decrypt(keys.identities.iter().map(|i| i as &dyn age::Identity))
        .ok()?;
    let mut buf = Zeroizing::new(Vec::new());
    r.by_ref().take(64).read_to_end(&mut buf).ok()?;
    let key: [u8; 32] = buf.as_slice().try_into().ok()?;
    Some(Zeroizing::new(key))
}

/// The creation rule of a `.sops.yaml` that applies to `path` (the first whose `path_regex`
/// matches, or has none).
pub fn creation_rule(sops_yaml: &str, path: &str) -> Result<Option<Rule>, Error> {
    meta::creation_rule(sops_yaml, path)
}
