//! The `sops` metadata block and `.sops.yaml` creation rules.

use regex::Regex;
use yaml_rust2::{Yaml, YamlLoader};
use zeroize::Zeroizing;

use crate::tree::{Entry, Node};
use crate::{Error, Format, Keys, crypto};

pub(crate) struct Meta {
    pub(crate) age: Vec<(String, String)>,
    pub(crate) lastmodified: String,
    pub(crate) mac: String,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    pub(crate) mac_only_encrypted: bool,
    version: String,
}

fn text(n: &Node, field: &str) -> Option<String> {
    n.get(field)
        .and_then(Node::as_text)
        .filter(|s| !s.is_empty())
}

fn regex(src: Option<String>, field: &str) -> Result<Option<Regex>, String> {
    src.map(|s| Regex::new(&s).map_err(|_| format!("{field} is not a valid regular expression")))
        .transpose()
}

fn non_empty(n: Option<&Node>) -> bool {
    match n {
        Some(Node::Seq(s)) => !s.is_empty(),
        Some(Node::Map(m)) => !m.is_empty(),
        Some(Node::Null) | None => false,
        Some(_) => true,
    }
}

fn age_entries(list: Option<&Node>) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    if let Some(Node::Seq(items)) = list {
        for item in items {
            let r = text(item, "recipient")
                .ok_or_else(|| Error::Metadata("an age entry without a recipient".into()))?;
            let e = text(item, "enc")
                .ok_or_else(|| Error::Metadata("an age entry without enc".into()))?;
            out.push((r, e));
        }
    }
    Ok(out)
}

const PROVIDERS: [&str; 5] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "pgp"];

impl Meta {
    pub(crate) fn read(n: &Node) -> Result<Meta, Error> {
        let mac = text(n, "mac").ok_or(Error::NotEncrypted)?;
        let groups = match n.get("key_groups") {
            Some(Node::Seq(g)) => g.clone(),
            _ => Vec::new(),
        };
        let threshold = n
            .get("shamir_threshold")
            .and_then(Node::as_text)
            .and_then(|t| t.parse().ok());
        if groups.len() > 1 || threshold.is_some_and(|t: usize| t > 1) {
            return Err(Error::UnsupportedShamir {
                groups: groups.len(),
                threshold,
            });
        }
        let holder = groups.first().unwrap_or(n);
        let age = age_entries(holder.get("age"))?;
        if age.is_empty() {
            let others: Vec<String> = PROVIDERS
                .iter()
                .filter(|p| non_empty(holder.get(p)))
                .map(|p| p.to_string())
                .collect();
            if !others.is_empty() {
                return Err(Error::UnsupportedKeyProvider(others));
            }
            return Err(Error::Metadata(
                "no age recipients hold the data key".into(),
            ));
        }
        let m = |e: String| Error::Metadata(e);
        Ok(Meta {
            age,
            lastmodified: text(n, "lastmodified").ok_or_else(|| m("no lastmodified".into()))?,
            mac,
            unencrypted_suffix: text(n, "unencrypted_suffix"),
            encrypted_suffix: text(n, "encrypted_suffix"),
            unencrypted_regex: regex(text(n, "unencrypted_regex"), "unencrypted_regex")
                .map_err(m)?,
            encrypted_regex: regex(text(n, "encrypted_regex"), "encrypted_regex").map_err(m)?,
            mac_only_encrypted: matches!(n.get("mac_only_encrypted"), Some(Node::Bool(true)))
                || text(n, "mac_only_encrypted").as_deref() == Some("true"),
            version: text(n, "version").unwrap_or_default(),
        })
    }

    pub(crate) fn from_rule(rule: &Rule, format: Format) -> Result<Meta, Error> {
        let m = |e: String| Error::Rule(e);
        let none_set = rule.unencrypted_suffix.is_none()
            && rule.encrypted_suffix.is_none()
            && rule.unencrypted_regex.is_none()
            && rule.encrypted_regex.is_none();
        Ok(Meta {
            age: Vec::new(),
            lastmodified: now_rfc3339(),
            mac: String::new(),
            unencrypted_suffix: if none_set && format != Format::Binary {
                Some("_unencrypted".into())
            } else {
                rule.unencrypted_suffix.clone()
            },
            encrypted_suffix: rule.encrypted_suffix.clone(),
            unencrypted_regex: regex(rule.unencrypted_regex.clone(), "unencrypted_regex")
                .map_err(m)?,
            encrypted_regex: regex(rule.encrypted_regex.clone(), "encrypted_regex").map_err(m)?,
            mac_only_encrypted: rule.mac_only_encrypted,
            version: "3.11.0".into(),
        })
    }

    pub(crate) fn to_node(&self) -> Node {
        let s = |v: &str| Node::Str(v.to_string());
        let mut e = vec![Entry::Pair(
            "age".into(),
            Node::Seq(
                self.age
                    .iter()
                    .map(|(r, enc)| {
                        Node::Map(vec![
                            Entry::Pair("recipient".into(), s(r)),
                            Entry::Pair("enc".into(), s(enc)),
                        ])
                    })
                    .collect(),
            ),
        )];
        e.push(Entry::Pair("lastmodified".into(), s(&self.lastmodified)));
        e.push(Entry::Pair("mac".into(), s(&self.mac)));
        let opt = |e: &mut Vec<Entry>, k: &str, v: Option<&str>| {
            if let Some(v) = v {
                e.push(Entry::Pair(k.into(), s(v)));
            }
        };
        opt(
            &mut e,
            "unencrypted_suffix",
            self.unencrypted_suffix.as_deref(),
        );
        opt(&mut e, "encrypted_suffix", self.encrypted_suffix.as_deref());
        opt(
            &mut e,
            "unencrypted_regex",
            self.unencrypted_regex.as_ref().map(Regex::as_str),
        );
        opt(
            &mut e,
            "encrypted_regex",
            self.encrypted_regex.as_ref().map(Regex::as_str),
        );
        if self.mac_only_encrypted {
            e.push(Entry::Pair("mac_only_encrypted".into(), Node::Bool(true)));
        }
        e.push(Entry::Pair("version".into(), s(&self.version)));
        Node::Map(e)
    }

    /// Whether sops encrypts the value at this path (its suffix and regex rules, in its order).
    pub(crate) fn encrypts(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suf) = &self.unencrypted_suffix
            && path.iter().any(|k| k.ends_with(suf.as_str()))
        {
            encrypted = false;
        }
        if let Some(suf) = &self.encrypted_suffix {
            encrypted = path.iter().any(|k| k.ends_with(suf.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|k| re.is_match(k))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|k| re.is_match(k));
        }
        encrypted
    }

    pub(crate) fn data_key(&self, keys: &Keys) -> Result<Zeroizing<[u8; 32]>, Error> {
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        for (_, enc) in &self.age {
            if let Some(k) = crate::age_decrypt(enc, keys) {
                return Ok(k);
            }
        }
        Err(Error::NoMatchingKey {
            keys: keys.len(),
            recipients: self.age.iter().map(|(r, _)| r.clone()).collect(),
        })
    }

    pub(crate) fn stored_mac(&self, key: &[u8; 32]) -> Result<String, Error> {
        let enc = crypto::parse_enc(&self.mac).map_err(|problem| Error::MalformedValue {
            path: "sops.mac".into(),
            problem,
        })?;
        let plain = crypto::open(&enc, key, &self.lastmodified).ok_or(Error::MacMismatch)?;
        String::from_utf8(plain).map_err(|_| Error::MacMismatch)
    }
}

/// The current UTC time as RFC 3339 (`2006-01-02T15:04:05Z`).
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How to encrypt: a `.sops.yaml` creation rule (or one built by hand).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// `age1…` recipients.
    pub age: Vec<String>,
    pub encrypted_regex: Option<String>,
    pub unencrypted_regex: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_suffix: Option<String>,
    pub mac_only_encrypted: bool,
}

impl Rule {
    /// A rule encrypting everything for these recipients.
    pub fn for_recipients<S: AsRef<str>>(recipients: &[S]) -> Rule {
        Rule {
            age: recipients.iter().map(|r| r.as_ref().to_string()).collect(),
            ..Rule::default()
        }
    }
}

fn ystr(y: &Yaml, field: &str) -> Result<Option<String>, Error> {
    match &y[field] {
        Yaml::BadValue | Yaml::Null => Ok(None),
        Yaml::String(s) => Ok(Some(s.clone())),
        Yaml::Integer(i) => Ok(Some(i.to_string())),
        _ => Err(Error::Rule(format!("{field} is not a string"))),
    }
}

fn recipients(y: &Yaml) -> Result<Vec<String>, Error> {
    Ok(match y {
        Yaml::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Yaml::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str())
            .map(|s| s.trim().to_string())
            .collect(),
        _ => Vec::new(),
    })
}

pub(crate) fn creation_rule(sops_yaml: &str, path: &str) -> Result<Option<Rule>, Error> {
    let docs = YamlLoader::load_from_str(sops_yaml).map_err(|e| Error::Rule(e.to_string()))?;
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    let Yaml::Array(rules) = &doc["creation_rules"] else {
        return Ok(None);
    };
    for r in rules {
        if let Some(re) = ystr(r, "path_regex")? {
            let re = Regex::new(&re)
                .map_err(|_| Error::Rule("path_regex is not a valid regular expression".into()))?;
            if !re.is_match(path) {
                continue;
            }
        }
        let mut age = recipients(&r["age"])?;
        if let Yaml::Array(groups) = &r["key_groups"] {
            if groups.len() > 1 || !matches!(r["shamir_threshold"], Yaml::BadValue | Yaml::Null) {
                return Err(Error::Rule(
                    "several key groups / shamir_threshold are not supported".into(),
                ));
            }
            for g in groups {
                age.extend(recipients(&g["age"])?);
            }
        }
        if age.is_empty() {
            let others: Vec<String> = PROVIDERS
                .iter()
                .filter(|p| !matches!(r[**p], Yaml::BadValue | Yaml::Null))
                .map(|p| p.to_string())
                .collect();
            if !others.is_empty() {
                return Err(Error::UnsupportedKeyProvider(others));
            }
            return Err(Error::Rule(
                "the matching creation rule names no age recipients".into(),
            ));
        }
        return Ok(Some(Rule {
            age,
            encrypted_regex: ystr(r, "encrypted_regex")?,
            unencrypted_regex: ystr(r, "unencrypted_regex")?,
            encrypted_suffix: ystr(r, "encrypted_suffix")?,
            unencrypted_suffix: ystr(r, "unencrypted_suffix")?,
            mac_only_encrypted: matches!(r["mac_only_encrypted"], Yaml::Boolean(true)),
        }));
    }
    Ok(None)
}
