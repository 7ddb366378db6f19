//! Charts that are not in the repository: fetched from a Helm repository (`https://…`, its
//! `index.yaml` and `.tgz` archives) or an OCI registry (`oci://host/path`), the version
//! resolved from a semver range to the newest match, the archive verified against the digest
//! the index or the OCI manifest names, and cached by that digest.
//!
//! Credentials (basic auth) and a CA bundle come from the caller; they never appear in a
//! message (URLs are shown without their user info).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where a chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRef {
    /// `https://charts.example.com` or `oci://registry.example.com/charts`.
    pub repository: String,
    pub name: String,
    /// A version or a semver range (`^1.2`, `>=1.0 <2`); empty: the newest stable version.
    pub version: String,
}

/// How to reach the repository.
#[derive(Clone, Default)]
pub struct RepoAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM certificates trusted for the repository's TLS (besides nothing else).
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for RepoAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("RepoAuth")
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// A fetched chart: the version chosen, the archive and its digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub version: String,
    /// `sha256:<hex>` of the archive (a Helm repository) or of the OCI manifest.
    pub digest: String,
    pub archive: Vec<u8>,
}

const MAX_INDEX_BYTES: u64 = 64 << 20;
const MAX_ARCHIVE_BYTES: u64 = 20 << 20;
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The repository URL as it may be shown: without user info.
pub fn shown(url: &str) -> String {
    crate::diagnostic::mask_userinfo(url)
}

fn agent(auth: &RepoAuth) -> Result<ureq::Agent, String> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(pem) = &auth.ca_pem {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(_) => return Err("the CA bundle is not valid PEM".into()),
            }
        }
        if certs.is_empty() {
            return Err("the CA bundle holds no certificate".into());
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .max_redirects(5)
        .tls_config(tls.build())
        .build()
        .into())
}

fn basic(auth: &RepoAuth) -> Option<String> {
    use base64::Engine as _;
    let user = auth.username.as_deref()?;
    let pass = auth.password.as_deref().unwrap_or("");
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    ))
}

/// GET `url`, at most `limit` bytes; `Err` names the URL (without user info) and the status.
fn get(
    agent: &ureq::Agent,
    url: &str,
    authorization: Option<&str>,
    accept: Option<&str>,
    limit: u64,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let mut req = agent.get(url);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let mut resp = req
        .call()
        .map_err(|e| format!("{}: {}", shown(url), shown(&e.to_string())))?;
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| format!("{}: {e}", shown(url)))?;
    Ok((status, challenge, body))
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The newest of `versions` that satisfies `constraint` (empty: any stable version).
pub fn resolve<'a>(constraint: &str, versions: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let constraint = if constraint.trim().is_empty() {
        "*"
    } else {
        constraint.trim()
    };
    let mut best: Option<&str> = None;
    for v in versions {
        if !gotemplate::semver_matches(constraint, v).unwrap_or(false) {
            continue;
        }
        best = match best {
            Some(b) if gotemplate::semver_order(v, b) != Some(std::cmp::Ordering::Greater) => {
                Some(b)
            }
            _ => Some(v),
        };
    }
    best
}

/// Fetches the chart, from `cache` when an archive of the expected digest is already there.
pub fn fetch(r: &ChartRef, auth: &RepoAuth, cache: Option<&Path>) -> Result<Fetched, String> {
    let what = format!("chart {} from {}", r.name, shown(&r.repository));
    let out = if let Some(rest) = r.repository.strip_prefix("oci://") {
        fetch_oci(rest, r, auth, cache)
    } else if r.repository.starts_with("https://") || r.repository.starts_with("http://") {
        fetch_http(r, auth, cache)
    } else {
        Err(
            "the repository must be an https:// (or http://) Helm repository or an oci:// registry"
                .into(),
        )
    };
    out.map_err(|e| format!("{what}: {e}"))
}

fn cached(cache: Option<&Path>, digest: &str) -> Option<Vec<u8>> {
    let path = cache_path(cache?, digest);
    let data = std::fs::read(path).ok()?;
    (sha256(&data) == digest || digest.is_empty()).then_some(data)
}

fn cache_path(cache: &Path, digest: &str) -> PathBuf {
    cache.join(format!("{}.tgz", digest.replace(':', "-")))
}

fn store(cache: Option<&Path>, digest: &str, data: &[u8]) {
    if let Some(c) = cache
        && std::fs::create_dir_all(c).is_ok()
    {
        let tmp = c.join(format!(".{}.tmp", std::process::id()));
        if std::fs::write(&tmp, data).is_ok() {
            let _ = std::fs::rename(&tmp, cache_path(c, digest));
        }
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: std::collections::BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    #[serde(default)]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: String,
}

fn fetch_http(r: &ChartRef, auth: &RepoAuth, cache: Option<&Path>) -> Result<Fetched, String> {
    let agent = agent(auth)?;
    let authz = basic(auth);
    let base = format!("{}/", r.repository.trim_end_matches('/'));
    let index_url = format!("{base}index.yaml");
    let (status, _, body) = get(&agent, &index_url, authz.as_deref(), None, MAX_INDEX_BYTES)?;
    if status != 200 {
        return Err(format!("{} answered {status}", shown(&index_url)));
    }
    let index: Index = serde_yaml::from_slice(&body)
        .map_err(|e| format!("{} is not a Helm repository index: {e}", shown(&index_url)))?;
    let Some(entries) = index.entries.get(&r.name) else {
        return Err(format!("the repository has no chart named {}", r.name));
    };
    let Some(version) = resolve(&r.version, entries.iter().map(|e| e.version.as_str())) else {
        let mut known: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
        known.truncate(10);
        return Err(format!(
            "no version matches {:?} (the repository has {})",
            r.version,
            known.join(", ")
        ));
    };
    let entry = entries
        .iter()
        .find(|e| e.version == version)
        .expect("resolved from the entries");
    let expected = if entry.digest.is_empty() {
        String::new()
    } else {
        format!("sha256:{}", entry.digest.trim_start_matches("sha256:"))
    };
    if let Some(data) = (!expected.is_empty())
        .then(|| cached(cache, &expected))
        .flatten()
    {
        return Ok(Fetched {
            version: version.to_string(),
            digest: expected,
            archive: data,
        });
    }
    let Some(u) = entry.urls.first() else {
        return Err(format!("version {version} lists no download URL"));
    };
    let url = url::Url::parse(&base)
        .and_then(|b| b.join(u))
        .map_err(|e| format!("version {version}: bad URL {}: {e}", shown(u)))?;
    // credentials only go to the repository's own host
    let same_host = url::Url::parse(&base)
        .ok()
        .map(|b| b.host_str().map(str::to_string))
        == Some(url.host_str().map(str::to_string));
    let (status, _, data) = get(
        &agent,
        url.as_str(),
        if same_host { authz.as_deref() } else { None },
        None,
        MAX_ARCHIVE_BYTES,
    )?;
    if status != 200 {
        return Err(format!("{} answered {status}", shown(url.as_str())));
    }
    let digest = sha256(&data);
    if expected.is_empty() {
        // as Helm, which verifies no index digest at all; the archive's own digest is recorded
        tracing::warn!(
            repository = %shown(&base),
            chart = %r.name,
            %version,
            %digest,
            "the repository index names no digest for this version: the archive cannot be verified against it"
        );
    }
    if !expected.is_empty() && digest != expected {
        return Err(format!(
            "the archive of version {version} has digest {digest}, but the repository index names {expected}: refusing it"
        ));
    }
    store(cache, &digest, &data);
    Ok(Fetched {
        version: version.to_string(),
        digest,
        archive: data,
    })
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const HELM_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// An OCI registry's answer, with the bearer-token dance of the distribution spec.
struct Registry {
    agent: ureq::Agent,
    base: String,
    basic: Option<String>,
    token: std::cell::RefCell<Option<String>>,
}

impl Registry {
    fn get(&self, path: &str, accept: Option<&str>, limit: u64) -> Result<Vec<u8>, String> {
        let url = format!("{}{path}", self.base);
        let authz = self
            .token
            .borrow()
            .clone()
            .map(|t| format!("Bearer {t}"))
            .or_else(|| self.basic.clone());
        let (status, challenge, body) = get(&self.agent, &url, authz.as_deref(), accept, limit)?;
        if status == 401
            && let Some(ch) = challenge
        {
            if let Some(params) = ch.strip_prefix("Bearer ") {
                let token = self.token_for(params)?;
                *self.token.borrow_mut() = Some(token.clone());
                let (status, _, body) = get(
                    &self.agent,
                    &url,
                    Some(&format!("Bearer {token}")),
                    accept,
                    limit,
                )?;
                return ok_status(status, &url, body);
            }
            if ch.starts_with("Basic") && self.basic.is_some() && authz != self.basic {
                let (status, _, body) =
                    get(&self.agent, &url, self.basic.as_deref(), accept, limit)?;
                return ok_status(status, &url, body);
            }
        }
        ok_status(status, &url, body)
    }

    fn token_for(&self, params: &str) -> Result<String, String> {
        let mut realm = None;
        let mut query = Vec::new();
        for part in params.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            let v = v.trim_matches('"');
            match k {
                "realm" => realm = Some(v.to_string()),
                "service" | "scope" => query.push(format!("{k}={}", urlencode(v))),
                _ => {}
            }
        }
        let realm = realm.ok_or("the registry's token challenge names no realm")?;
        let url = format!("{realm}?{}", query.join("&"));
        let (status, _, body) = get(&self.agent, &url, self.basic.as_deref(), None, 1 << 20)?;
        let body = ok_status(status, &url, body)?;
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let t: Token =
            serde_json::from_slice(&body).map_err(|_| "the token service did not answer JSON")?;
        Ok(if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        })
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn ok_status(status: u16, url: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
    match status {
        200 => Ok(body),
        401 | 403 => Err(format!("{} answered {status}: not authorized", shown(url))),
        404 => Err(format!("{} answered 404: not found", shown(url))),
        s => Err(format!("{} answered {s}", shown(url))),
    }
}

fn fetch_oci(
    rest: &str,
    r: &ChartRef,
    auth: &RepoAuth,
    cache: Option<&Path>,
) -> Result<Fetched, String> {
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || host.contains('@') {
        return Err("an oci:// repository is oci://HOST[/PATH]".into());
    }
    let repo = if path.is_empty() {
        r.name.clone()
    } else {
        format!("{path}/{}", r.name)
    };
    // a registry on this machine speaks plain HTTP (as Docker and Helm's --plain-http treat it)
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let scheme = if matches!(hostname, "localhost" | "127.0.0.1" | "[::1]") {
        "http"
    } else {
        "https"
    };
    let reg = Registry {
        agent: agent(auth)?,
        base: format!("{scheme}://{host}/v2/"),
        basic: basic(auth),
        token: Default::default(),
    };
    // Helm stores `+` of a version as `_` in the tag
    let tags_body = reg.get(&format!("{repo}/tags/list"), None, MAX_INDEX_BYTES)?;
    #[derive(Deserialize)]
    struct Tags {
        #[serde(default)]
        tags: Vec<String>,
    }
    let tags: Tags = serde_json::from_slice(&tags_body).map_err(|_| "the tag list is not JSON")?;
    let versions: Vec<String> = tags.tags.iter().map(|t| t.replace('_', "+")).collect();
    let Some(version) = resolve(&r.version, versions.iter().map(String::as_str)) else {
        return Err(format!("no tag matches {:?}", r.version));
    };
    let version = version.to_string();
    let tag = version.replace('+', "_");
    let manifest = reg.get(
        &format!("{repo}/manifests/{tag}"),
        Some(OCI_MANIFEST),
        MAX_MANIFEST_BYTES,
    )?;
    let manifest_digest = sha256(&manifest);
    #[derive(Deserialize)]
    struct Layer {
        #[serde(rename = "mediaType", default)]
        media_type: String,
        #[serde(default)]
        digest: String,
    }
    #[derive(Deserialize)]
    struct Manifest {
        #[serde(default)]
        layers: Vec<Layer>,
    }
    let m: Manifest = serde_json::from_slice(&manifest).map_err(|_| "the manifest is not JSON")?;
    let Some(layer) = m.layers.iter().find(|l| l.media_type == HELM_LAYER) else {
        return Err(format!(
            "{repo}:{tag} is not a Helm chart (no {HELM_LAYER} layer)"
        ));
    };
    if !layer.digest.starts_with("sha256:") || layer.digest.len() != 71 {
        return Err(format!(
            "{repo}:{tag}: unsupported layer digest {}",
            layer.digest
        ));
    }
    if let Some(data) = cached(cache, &layer.digest) {
        return Ok(Fetched {
            version,
            digest: manifest_digest,
            archive: data,
        });
    }
    let data = reg.get(
        &format!("{repo}/blobs/{}", layer.digest),
        None,
        MAX_ARCHIVE_BYTES,
    )?;
    let got = sha256(&data);
    if got != layer.digest {
        return Err(format!(
            "the chart layer of {repo}:{tag} has digest {got}, but its manifest names {}: refusing it",
            layer.digest
        ));
    }
    store(cache, &got, &data);
    Ok(Fetched {
        version,
        digest: manifest_digest,
        archive: data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_to_the_newest_match() {
        let v = ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "2.1.0-rc.1"];
        assert_eq!(resolve("^1.2", v.iter().copied()), Some("1.10.1"));
        assert_eq!(resolve(">=1.0 <2", v.iter().copied()), Some("1.10.1"));
        assert_eq!(resolve("", v.iter().copied()), Some("2.0.0"));
        assert_eq!(resolve("1.2.0", v.iter().copied()), Some("1.2.0"));
        assert_eq!(resolve("~3", v.iter().copied()), None);
    }
}
