//! Semantic validation: the rules a schema cannot say (one provider block, version format,
//! DNS-1123 names, node pool sizes, provider-specific limits). Runs on documents that passed the
//! structural check and reports every problem with its position and a hint.

use super::selector::Selector;
use super::types::{API_VERSION, Cluster, Fleet, ProviderKind};
use super::yaml::{Node, PathSeg};
use crate::diagnostic::{
    Diagnostic, Span, ascii_fold, mask_userinfo, unusual_chars_note, url_credentials, visible,
};

/// `"value"`, with characters that would mislead on screen written as `<U+XXXX>`.
fn q(value: &str) -> String {
    format!("\"{}\"", visible(value))
}

/// `hint`, preceded by the unusual characters `value` holds (if any) and where they are;
/// `span` is where `value` starts in the file. (For a quoted scalar that is its opening quote, so
/// the columns named are one short there: `yaml::Node` does not say whether it was quoted.)
fn hint_with_chars(value: &str, span: &Span, hint: &str) -> String {
    match unusual_chars_note(value, span.column) {
        Some(note) => format!("it {note}; {hint}"),
        None => hint.to_string(),
    }
}

/// An error about `value` (at `span`) whose hint names any unusual character it holds.
fn value_error(span: Span, value: &str, message: String, hint: &str) -> Diagnostic {
    let hint = hint_with_chars(value, &span, hint);
    Diagnostic::error(span, message).with_hint(hint)
}

/// A path into a document, written compactly: `p(&["spec", "nodePools"]).idx(0)`.
struct At<'a> {
    doc: &'a Node,
    path: Vec<PathSeg>,
}

impl<'a> At<'a> {
    fn new(doc: &'a Node, keys: &[&str]) -> Self {
        Self {
            doc,
            path: keys.iter().map(|k| PathSeg::Key(k.to_string())).collect(),
        }
    }

    fn key(mut self, k: &str) -> Self {
        self.path.push(PathSeg::Key(k.to_string()));
        self
    }

    fn idx(mut self, i: usize) -> Self {
        self.path.push(PathSeg::Index(i));
        self
    }

    /// Position of the value, or of the nearest ancestor that exists.
    fn span(&self) -> Span {
        for n in (0..=self.path.len()).rev() {
            if let Some(node) = self.doc.at(&self.path[..n]) {
                return node.span.clone();
            }
        }
        self.doc.span.clone()
    }

    /// Position of the key naming the value (falls back to the value).
    fn key_span(&self) -> Span {
        if let Some((PathSeg::Key(k), parent)) = self.path.split_last()
            && let Some(entry) = self.doc.at(parent).and_then(|p| p.entry(k))
        {
            return entry.key_span.clone();
        }
        self.span()
    }
}

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn dns_label_error(span: Span, what: &str, value: &str) -> Diagnostic {
    let suggestion: String = ascii_fold(value)
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(63)
        .collect();
    let hint = if !suggestion.is_empty() && suggestion != value {
        format!(
            "use lowercase letters, digits and '-', at most 63 characters, e.g. \"{suggestion}\""
        )
    } else {
        "use lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit".to_string()
    };
    value_error(
        span,
        value,
        format!("{what} {} is not a valid DNS-1123 label", q(value)),
        &hint,
    )
}

/// A Kubernetes label key: optional DNS-1123 subdomain prefix + '/' + name of at most 63 chars.
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix
        .is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns1123_label));
    prefix_ok && is_label_value(name) && !name.is_empty()
}

/// A Kubernetes label value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends, or empty.
pub fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// A Kubernetes version as definitions write it: `1.30` or `1.30.2` (decimal numbers without
/// leading zeros).
pub fn parse_version(v: &str) -> Option<(u32, u32, Option<u32>)> {
    fn number(part: &str) -> Option<u32> {
        let plain = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'));
        if plain { part.parse().ok() } else { None }
    }
    let mut parts = v.split('.');
    let major = number(parts.next()?)?;
    let minor = number(parts.next()?)?;
    let patch = match parts.next() {
        Some(p) => Some(number(p)?),
        None => None,
    };
    if parts.next().is_some() || major != 1 {
        return None;
    }
    Some((major, minor, patch))
}

/// The longest duration gitfleet reads: one year (8760h). Longer ones are surely mistakes, and
/// timers would overflow on them.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// Why a duration could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// Not a duration at all.
    Invalid,
    /// Longer than [`MAX_DURATION`] (or too long to count).
    TooLong,
}

/// A duration such as `30s`, `5m`, `1h30m`, `500ms`, at most [`MAX_DURATION`].
pub fn read_duration(s: &str) -> Result<std::time::Duration, DurationError> {
    use DurationError::{Invalid, TooLong};
    let mut total_ms: u128 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(Invalid);
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or(Invalid)?;
        if digits == 0 {
            return Err(Invalid);
        }
        let number = &rest[..digits];
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms_per_unit: u128 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(Invalid),
        };
        // More digits than any u64 has: too long however it is spelt.
        let n: u128 = number.parse().map_err(|_| TooLong)?;
        total_ms = n
            .checked_mul(ms_per_unit)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or(TooLong)?;
        if total_ms > MAX_DURATION.as_millis() {
            return Err(TooLong);
        }
    }
    // At most MAX_DURATION, so it fits in a u64 of milliseconds.
    Ok(std::time::Duration::from_millis(total_ms as u64))
}

/// A duration such as `30s`, `5m`, `1h30m`, `500ms`; `None` when invalid or longer than
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    read_duration(s).ok()
}

fn check_header(
    doc: &Node,
    api_version: &str,
    kind: &str,
    want_kind: &str,
    out: &mut Vec<Diagnostic>,
) {
    if api_version != API_VERSION {
        out.push(
            Diagnostic::error(
                At::new(doc, &["apiVersion"]).span(),
                format!("unsupported apiVersion \"{api_version}\""),
            )
            .with_hint(format!("this gitfleet reads apiVersion: {API_VERSION}")),
        );
    }
    if kind != want_kind {
        out.push(
            Diagnostic::error(
                At::new(doc, &["kind"]).span(),
                format!("expected kind `{want_kind}`, found `{kind}`"),
            )
            .with_hint(if want_kind == "Fleet" {
                "fleet.yaml holds the `Fleet`; clusters go in clusters/<name>/cluster.yaml"
            } else {
                "cluster files hold one `Cluster`; the `Fleet` goes in fleet.yaml"
            }),
        );
    }
}

const LABEL_KEY_HINT: &str =
    "a label key is an optional DNS subdomain prefix and '/', then up to 63 of [A-Za-z0-9-_.]";
const LABEL_VALUE_HINT: &str =
    "a label value is at most 63 of [A-Za-z0-9-_.], starting and ending with a letter or digit";

fn check_labels(
    doc: &Node,
    labels: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    for (k, v) in labels {
        let at = At::new(doc, &["metadata", "labels"]).key(k);
        if !is_label_key(k) {
            out.push(value_error(
                at.key_span(),
                k,
                format!("invalid label key {}", q(k)),
                LABEL_KEY_HINT,
            ));
        }
        if !is_label_value(v) {
            out.push(value_error(
                at.span(),
                v,
                format!("invalid value {} for label {}", q(v), q(k)),
                LABEL_VALUE_HINT,
            ));
        }
    }
}

pub fn check_fleet(doc: &Node, fleet: &Fleet, out: &mut Vec<Diagnostic>) {
    check_header(doc, &fleet.api_version, &fleet.kind, "Fleet", out);
    if !is_dns1123_label(&fleet.metadata.name) {
        out.push(dns_label_error(
            At::new(doc, &["metadata", "name"]).span(),
            "fleet name",
            &fleet.metadata.name,
        ));
    }
    check_labels(doc, &fleet.metadata.labels, out);
    let spec = &fleet.spec;
    check_repository_url(
        At::new(doc, &["spec", "repository", "url"]).span(),
        &spec.repository.url,
        out,
    );
    let branch = &spec.repository.branch;
    if let Some(why) = branch_name_problem(branch) {
        let span = At::new(doc, &["spec", "repository", "branch"]).span();
        out.push(value_error(
            span,
            branch,
            format!("{} is not a valid branch name", q(branch)),
            &format!("{why} (the rules of `git check-ref-format --branch`)"),
        ));
    }
    if spec.clusters.include.is_empty() {
        out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "clusters", "include"]).span(),
                "`spec.clusters.include` is empty: no cluster would belong to the fleet",
            )
            .with_hint("remove it to use the default, clusters/*/cluster.yaml"),
        );
    }
    for (i, pattern) in spec.clusters.include.iter().enumerate() {
        let at = At::new(doc, &["spec", "clusters", "include"]).idx(i);
        if pattern.starts_with('/') || pattern.split('/').any(|s| s == "..") {
            out.push(
                Diagnostic::error(
                    at.span(),
                    format!("include pattern \"{pattern}\" leaves the fleet directory"),
                )
                .with_hint("patterns are relative to the directory holding fleet.yaml"),
            );
        } else if let Err(e) = glob::Pattern::new(pattern) {
            out.push(Diagnostic::error(
                at.span(),
                format!("invalid include pattern \"{pattern}\": {}", e.msg),
            ));
        }
    }
    if let Some(sel) = &spec.clusters.selector
        && let Err(e) = Selector::parse(sel)
    {
        out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "clusters", "selector"]).span(),
                e.to_string(),
            )
            .with_hint("selectors look like env=prod,region in (eu,us),!legacy"),
        );
    }
    let r = &spec.reconciler;
    if !is_dns1123_label(&r.namespace) {
        out.push(dns_label_error(
            At::new(doc, &["spec", "reconciler", "namespace"]).span(),
            "reconciler namespace",
            &r.namespace,
        ));
    }
    let interval_at = || At::new(doc, &["spec", "reconciler", "interval"]).span();
    match read_duration(&r.interval) {
        Ok(d) if d < MIN_INTERVAL => out.push(
            Diagnostic::error(
                interval_at(),
                format!("reconciler interval \"{}\" is too short", r.interval),
            )
            .with_hint(
                "use at least 5s; pushes can trigger a reconcile through the webhook receiver",
            ),
        ),
        Ok(d) if d <= MAX_INTERVAL => {}
        Ok(_) | Err(DurationError::TooLong) => out.push(
            Diagnostic::error(
                interval_at(),
                format!("reconciler interval \"{}\" is too long", r.interval),
            )
            .with_hint("use at most 24h: the reconciler corrects drift once per interval"),
        ),
        Err(DurationError::Invalid) => out.push(value_error(
            interval_at(),
            &r.interval,
            format!("invalid duration {}", q(&r.interval)),
            "write a duration such as 30s, 5m or 1h30m",
        )),
    }
    if r.image.trim().is_empty() || r.image.contains(char::is_whitespace) {
        out.push(Diagnostic::error(
            At::new(doc, &["spec", "reconciler", "image"]).span(),
            format!("invalid container image \"{}\"", r.image),
        ));
    }
    if let Some(v) = &spec.defaults.version {
        check_version(
            At::new(doc, &["spec", "defaults", "version"]).span(),
            v,
            None,
            out,
        );
    }
}

/// Bounds of `spec.reconciler.interval`.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
const MAX_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn is_scp_like(url: &str) -> bool {
    // git@github.com:org/repo.git
    match url.split_once(':') {
        Some((host, path)) => {
            !host.is_empty() && !host.contains('/') && host.contains('@') && !path.is_empty()
        }
        None => false,
    }
}

/// What `ssh` would be handed as its destination (`user@host` or `host`), for URLs reached over
/// SSH, and the host alone, for every URL with an authority.
fn url_authority(url: &str) -> Option<(&str, &str)> {
    let authority = match url.split_once("://") {
        Some((scheme, rest)) if !scheme.eq_ignore_ascii_case("file") => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            &rest[..end]
        }
        Some(_) => return None,
        None => url.split_once(':')?.0,
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or(host_port)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    Some((authority, host))
}

fn check_repository_url(span: Span, url: &str, out: &mut Vec<Diagnostic>) {
    let url_ok = ["https://", "http://", "ssh://", "file://"]
        .iter()
        .any(|p| url.starts_with(p) && url.len() > p.len())
        || is_scp_like(url);
    let shown = q(&mask_userinfo(url));
    if !url_ok {
        out.push(value_error(
            span,
            url,
            format!("repository URL {shown} is not a Git URL"),
            "use https://host/org/repo.git, ssh://git@host/org/repo.git, git@host:org/repo.git or file:///path",
        ));
        return;
    }
    if url_credentials(url) {
        out.push(
            Diagnostic::error(span.clone(), format!("repository URL {shown} holds credentials"))
                .with_hint("the URL is stored in the cluster and shown in status and logs; keep credentials in a Secret: `gitfleet up --https-token-env VAR` (HTTPS) or `--ssh-key-file FILE` (SSH)"),
        );
    }
    if let Some((authority, host)) = url_authority(url) {
        // ssh reads a destination (`user@host`) starting with '-' as an option
        // (`-oProxyCommand=...`).
        let over_ssh = !url.contains("://") || url.starts_with("ssh://");
        if host.starts_with('-') || (over_ssh && authority.starts_with('-')) {
            let what = if host.starts_with('-') {
                "host"
            } else {
                "user"
            };
            out.push(
                Diagnostic::error(
                    span,
                    format!("repository URL {shown}: the {what} starts with '-'"),
                )
                .with_hint("ssh would read it as a command-line option; a host name starts with a letter or digit"),
            );
        } else if host.is_empty() {
            out.push(
                Diagnostic::error(span, format!("repository URL {shown} names no host"))
                    .with_hint("e.g. https://github.com/org/repo.git"),
            );
        }
    }
}

/// Why `git check-ref-format --branch` refuses `name`, if it does.
pub fn branch_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("a branch name is not empty");
    }
    if name == "@" || name == "HEAD" {
        return Some("`@` and `HEAD` are not branch names");
    }
    if name.starts_with('-') {
        return Some("a branch name does not start with '-'");
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_ascii_control() || " ~^:?*[\\".contains(*c))
    {
        return Some(match c {
            ' ' => "a branch name holds no spaces",
            c if c.is_ascii_control() => "a branch name holds no control characters",
            _ => "a branch name holds none of ~ ^ : ? * [ \\",
        });
    }
    if name.contains("..") {
        return Some("a branch name does not contain `..`");
    }
    if name.contains("@{") {
        return Some("a branch name does not contain `@{`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Some("a branch name has no empty `/`-separated parts");
    }
    if name.ends_with('.') {
        return Some("a branch name does not end with '.'");
    }
    for part in name.split('/') {
        if part.starts_with('.') {
            return Some("no `/`-separated part of a branch name starts with '.'");
        }
        if part.ends_with(".lock") {
            return Some("no `/`-separated part of a branch name ends with `.lock`");
        }
    }
    None
}

/// `v` with leading zeros dropped from each number, when that makes it a version (`01.031` →
/// `1.31`).
fn without_leading_zeros(v: &str) -> Option<String> {
    let fixed: Vec<&str> = v
        .split('.')
        .map(|p| {
            let t = p.trim_start_matches('0');
            if t.is_empty() && !p.is_empty() {
                "0"
            } else {
                t
            }
        })
        .collect();
    let fixed = fixed.join(".");
    (fixed != v && parse_version(&fixed).is_some()).then_some(fixed)
}

fn check_version(span: Span, v: &str, provider: Option<ProviderKind>, out: &mut Vec<Diagnostic>) {
    match parse_version(v) {
        None => {
            let hint = match v.strip_prefix('v') {
                Some(rest) if parse_version(rest).is_some() => {
                    format!("drop the leading 'v': \"{rest}\"")
                }
                _ if without_leading_zeros(v).is_some() => format!(
                    "write the numbers without leading zeros: \"{}\"",
                    without_leading_zeros(v).unwrap_or_default()
                ),
                _ => "write the Kubernetes minor version in quotes, e.g. \"1.30\" (or a patch version, \"1.30.2\")".to_string(),
            };
            out.push(
                Diagnostic::error(span, format!("invalid Kubernetes version {}", q(v)))
                    .with_hint(hint),
            );
        }
        Some((_, minor, patch)) => {
            if minor < 20 {
                out.push(
                    Diagnostic::error(
                        span.clone(),
                        format!("Kubernetes version \"{v}\" is too old"),
                    )
                    .with_hint("gitfleet supports Kubernetes 1.20 and later"),
                );
            }
            if provider == Some(ProviderKind::Eks) && patch.is_some() {
                out.push(
                    Diagnostic::error(span, format!("EKS takes a minor version, not \"{v}\""))
                        .with_hint(format!(
                            "write \"1.{minor}\"; EKS applies patch releases itself"
                        )),
                );
            }
        }
    }
}

/// Checks one resolved cluster. `doc` is the merged document (cluster over defaults);
/// `cluster_file` tells values written in the cluster's own file from inherited defaults.
pub fn check_cluster(
    doc: &Node,
    cluster: &Cluster,
    cluster_file: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<ProviderKind> {
    check_header(doc, &cluster.api_version, &cluster.kind, "Cluster", out);
    let name = &cluster.metadata.name;
    if !is_dns1123_label(name) {
        out.push(dns_label_error(
            At::new(doc, &["metadata", "name"]).span(),
            "cluster name",
            name,
        ));
    }
    check_labels(doc, &cluster.metadata.labels, out);
    let spec = &cluster.spec;

    let present: Vec<ProviderKind> = ProviderKind::ALL
        .into_iter()
        .filter(|p| match p {
            ProviderKind::Eks => spec.eks.is_some(),
            ProviderKind::Aks => spec.aks.is_some(),
            ProviderKind::Kind => spec.kind.is_some(),
            ProviderKind::Existing => spec.existing.is_some(),
        })
        .collect();
    let provider = match present.as_slice() {
        [one] => Some(*one),
        [] => {
            out.push(
                Diagnostic::error(
                    At::new(doc, &["spec"]).key_span(),
                    format!("cluster \"{name}\" names no provider"),
                )
                .with_hint("add exactly one provider block to spec: eks, aks, kind or existing"),
            );
            None
        }
        [first, rest @ ..] => {
            for p in rest {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", p.as_str()]).key_span(),
                        format!("cluster \"{name}\" names two providers, `{first}` and `{p}`"),
                    )
                    .with_hint("a cluster has exactly one provider block; keep one"),
                );
            }
            None
        }
    };

    let provisioned = matches!(
        provider,
        Some(ProviderKind::Eks | ProviderKind::Aks | ProviderKind::Kind)
    );
    match &spec.version {
        Some(v) => check_version(At::new(doc, &["spec", "version"]).span(), v, provider, out),
        None if provisioned => out.push(
            Diagnostic::error(
                At::new(doc, &["spec"]).key_span(),
                format!("missing required field `version` in `spec` (required for {} clusters)", provider.map_or("", ProviderKind::as_str)),
            )
            .with_hint("set the Kubernetes minor version, e.g. version: \"1.30\" (here or in fleet.yaml spec.defaults)"),
        ),
        None => {}
    }

    if let Some(path) = &spec.path
        && (path.starts_with('/') || path.split('/').any(|s| s == "..") || path.is_empty())
    {
        out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "path"]).span(),
                format!("sync path \"{path}\" must be a relative path inside the repository"),
            )
            .with_hint(format!("e.g. clusters/{name}")),
        );
    }

    let mut seen: Vec<&str> = Vec::new();
    for (i, pool) in spec.node_pools.iter().enumerate() {
        let at = || At::new(doc, &["spec", "nodePools"]).idx(i);
        if !is_dns1123_label(&pool.name) {
            out.push(dns_label_error(
                at().key("name").span(),
                "node pool name",
                &pool.name,
            ));
        } else if provider == Some(ProviderKind::Aks)
            && (pool.name.len() > 12
                || pool.name.contains('-')
                || pool.name.starts_with(|c: char| c.is_ascii_digit()))
        {
            out.push(
                Diagnostic::error(
                    at().key("name").span(),
                    if pool.name.len() > 12 {
                        format!(
                            "AKS agent pool name \"{}\" is {} characters; AKS allows at most 12",
                            pool.name,
                            pool.name.len()
                        )
                    } else {
                        format!("AKS agent pool name \"{}\" is invalid", pool.name)
                    },
                )
                .with_hint(
                    "AKS pool names are 1-12 lowercase letters and digits, starting with a letter",
                ),
            );
        }
        if seen.contains(&pool.name.as_str()) {
            out.push(
                Diagnostic::error(
                    at().key("name").span(),
                    format!("duplicate node pool name \"{}\"", pool.name),
                )
                .with_hint("node pool names must be unique within a cluster"),
            );
        }
        seen.push(&pool.name);
        if pool.min > pool.max {
            out.push(
                Diagnostic::error(
                    at().key("min").span(),
                    format!(
                        "node pool \"{}\": min ({}) is greater than max ({})",
                        pool.name, pool.min, pool.max
                    ),
                )
                .with_hint("min must be less than or equal to max"),
            );
        } else if let Some(d) = pool.desired
            && (d < pool.min || d > pool.max)
        {
            out.push(
                Diagnostic::error(
                    at().key("desired").span(),
                    format!(
                        "node pool \"{}\": desired ({d}) is outside min..max ({}..{})",
                        pool.name, pool.min, pool.max
                    ),
                )
                .with_hint("desired must lie between min and max"),
            );
        }
        if pool.max == 0 {
            out.push(
                Diagnostic::error(
                    at().key("max").span(),
                    format!("node pool \"{}\": max is 0", pool.name),
                )
                .with_hint("a pool needs room for at least one node; remove the pool instead"),
            );
        }
        let instance_type = &pool.instance_type;
        match provider {
            Some(ProviderKind::Eks) if !is_ec2_instance_type(instance_type) => {
                out.push(value_error(
                    at().key("instanceType").span(),
                    instance_type,
                    format!("{} is not an EC2 instance type", q(instance_type)),
                    "EC2 instance types are <family>.<size>, e.g. m6i.large, t3.micro, c7g.2xlarge",
                ));
            }
            Some(ProviderKind::Aks) if !is_azure_vm_size(instance_type) => {
                out.push(value_error(
                    at().key("instanceType").span(),
                    instance_type,
                    format!("{} is not an Azure VM size", q(instance_type)),
                    "Azure VM sizes are letters, digits, '_' and '-', e.g. Standard_D4s_v5",
                ));
            }
            _ => {}
        }
        for (t, taint) in pool.taints.iter().enumerate() {
            if !is_label_key(&taint.key) {
                out.push(value_error(
                    at().key("taints").idx(t).key("key").span(),
                    &taint.key,
                    format!("invalid taint key {}", q(&taint.key)),
                    "a taint key is written like a label key: an optional DNS subdomain prefix and '/', then up to 63 of [A-Za-z0-9-_.]",
                ));
            }
            if let Some(v) = &taint.value
                && !is_label_value(v)
            {
                out.push(value_error(
                    at().key("taints").idx(t).key("value").span(),
                    v,
                    format!("invalid taint value {}", q(v)),
                    "a taint value is written like a label value: at most 63 of [A-Za-z0-9-_.], starting and ending with a letter or digit",
                ));
            }
        }
        for (k, v) in &pool.labels {
            if !is_label_key(k) {
                out.push(value_error(
                    at().key("labels").key(k).key_span(),
                    k,
                    format!("invalid label key {}", q(k)),
                    LABEL_KEY_HINT,
                ));
            }
            if !is_label_value(v) {
                out.push(value_error(
                    at().key("labels").key(k).span(),
                    v,
                    format!("invalid value {} for label {}", q(v), q(k)),
                    LABEL_VALUE_HINT,
                ));
            }
        }
    }

    match provider {
        Some(ProviderKind::Eks) => {
            let eks = spec.eks.as_ref().expect("provider is eks");
            check_eks(doc, eks, !spec.node_pools.is_empty(), out);
        }
        Some(ProviderKind::Aks) => {
            let aks = spec.aks.as_ref().expect("provider is aks");
            if spec.node_pools.is_empty() {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec"]).key_span(),
                        format!("AKS cluster \"{name}\" has no node pools"),
                    )
                    .with_hint("AKS needs a system pool: add one entry to spec.nodePools (the first pool is the system pool)"),
                );
            }
            if aks.dns_prefix.is_none() && is_dns1123_label(name) && name.len() > 54 {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["metadata", "name"]).span(),
                        format!(
                            "AKS cluster name \"{name}\" is {} characters: too long for the default DNS prefix, at most 54",
                            name.len()
                        ),
                    )
                    .with_hint("set spec.aks.dnsPrefix: 1-54 letters, digits and '-'"),
                );
            }
            check_aks(doc, aks, out);
        }
        Some(p @ (ProviderKind::Kind | ProviderKind::Existing)) => {
            let from_cluster = doc
                .at(&[
                    PathSeg::Key("spec".into()),
                    PathSeg::Key("nodePools".into()),
                ])
                .is_some_and(|n| &*n.span.file == cluster_file);
            if !spec.node_pools.is_empty() && from_cluster {
                out.push(
                    Diagnostic::warning(
                        At::new(doc, &["spec", "nodePools"]).key_span(),
                        format!("node pools are ignored for {p} clusters"),
                    )
                    .with_hint(if p == ProviderKind::Kind {
                        "set the worker count with spec.kind.workers"
                    } else {
                        "gitfleet does not manage the nodes of existing clusters"
                    }),
                );
            }
        }
        None => {}
    }
    // A repository can only name a kubeconfig inside itself (read later through the confined
    // source, which also refuses links that leave it).
    if let Some(k) = spec.existing.as_ref().and_then(|e| e.kubeconfig.as_deref())
        && let Err(problem) = crate::source::normalize(k)
    {
        out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "existing", "kubeconfig"]).span(),
                format!("kubeconfig \"{k}\" {problem}"),
            )
            .with_hint(
                "name a file inside the fleet repository, or leave `kubeconfig` out and set KUBECONFIG to use one elsewhere",
            ),
        );
    }
    provider
}

/// gitfleet's own tags on every cloud resource it creates (see `crate::render`).
const OWNER_TAGS: [&str; 3] = [
    crate::render::OWNER_KEY,
    crate::render::FLEET_KEY,
    crate::render::CLUSTER_KEY,
];

/// The most tags AWS and Azure allow on one resource; gitfleet's own count against it.
const MAX_TAGS: usize = 50;

fn reserved_for_gitfleet(key: &str) -> bool {
    key.get(..12)
        .is_some_and(|p| p.eq_ignore_ascii_case("gitfleet.io/"))
}

/// `subnet-` / `sg-` and 8 or 17 lowercase hex digits.
pub fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An AWS region name: `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`.
pub fn is_aws_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Why `arn` is not an IAM role ARN (`arn:<partition>:iam::<account>:role/<path/><name>`), if it
/// is not.
pub fn role_arn_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Some("an IAM role ARN has six ':'-separated parts".into());
    };
    if prefix != "arn" {
        return Some("an ARN starts with `arn:`".into());
    }
    // aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-eusc, ...
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        });
    if !partition_ok {
        return Some(format!(
            "\"{}\" is not an AWS partition (aws, aws-cn, aws-us-gov, ...)",
            visible(partition)
        ));
    }
    if service != "iam" {
        return Some(format!(
            "the service of a role ARN is `iam`, not \"{}\"",
            visible(service)
        ));
    }
    if !region.is_empty() {
        return Some("IAM is global: a role ARN names no region (`iam::`)".into());
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Some("the account id of a role ARN is 12 digits".into());
    }
    let Some(path_name) = resource.strip_prefix("role/") else {
        return Some(format!(
            "the resource of a role ARN is role/<name>, not \"{}\"",
            visible(resource)
        ));
    };
    let (path, name) = path_name.rsplit_once('/').unwrap_or(("", path_name));
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !name_ok {
        return Some("a role name is 1-64 letters, digits and + = , . @ _ -".into());
    }
    if path.len() > 510 || !path.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Some("a role path is printable ASCII without spaces".into());
    }
    None
}

/// An IPv4 CIDR block, `a.b.c.d/n`.
pub fn is_ipv4_cidr(c: &str) -> bool {
    let Some((addr, bits)) = c.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok()
        && !bits.is_empty()
        && bits.len() <= 2
        && bits.bytes().all(|b| b.is_ascii_digit())
        && (bits == "0" || !bits.starts_with('0'))
        && bits.parse::<u8>().is_ok_and(|n| n <= 32)
}

/// An EC2 instance type: `<family>.<size>`, e.g. `m6i.large`, `p4d.24xlarge`, `m7i-flex.large`,
/// `m7i.metal-24xl`.
pub fn is_ec2_instance_type(t: &str) -> bool {
    let Some((family, size)) = t.split_once('.') else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.split('-').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    };
    family.starts_with(|c: char| c.is_ascii_lowercase()) && word(family) && word(size)
}

/// An Azure VM size: `Standard_D4s_v5`, `Standard_E4-2s_v3` (constrained vCPU sizes have a '-').
pub fn is_azure_vm_size(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.starts_with(|c: char| c.is_ascii_alphabetic())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An EKS add-on name: lowercase letters, digits, '-' and '_' (Marketplace add-ons are
/// `vendor_name`), at most 100. It also names files of `render --out`.
pub fn is_addon_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A GUID: 8-4-4-4-12 hex digits.
pub fn is_guid(g: &str) -> bool {
    let parts: Vec<&str> = g.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An Azure resource group name (ARM's rule): 1-90 letters, digits (Unicode ones too) and
/// `_ - . ( )`, not ending in '.'. Nothing that changes the meaning of a URL path (`/`, `%`, `..`).
pub fn is_resource_group(rg: &str) -> bool {
    let n = rg.chars().count();
    (1..=90).contains(&n)
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.()".contains(c))
        && !rg.ends_with('.')
}

/// The user-assigned identity resource id
/// `/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`
/// (segment names in any case).
pub fn is_user_assigned_identity_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    let [
        "",
        subscriptions,
        sub,
        resource_groups,
        rg,
        providers,
        namespace,
        kind,
        name,
    ] = parts[..]
    else {
        return false;
    };
    let name_ok = (3..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    subscriptions.eq_ignore_ascii_case("subscriptions")
        && is_guid(sub)
        && resource_groups.eq_ignore_ascii_case("resourceGroups")
        && is_resource_group(rg)
        && providers.eq_ignore_ascii_case("providers")
        && namespace.eq_ignore_ascii_case("Microsoft.ManagedIdentity")
        && kind.eq_ignore_ascii_case("userAssignedIdentities")
        && name_ok
}

/// Reports duplicates and values that fail `ok` in a list of ids.
fn check_id_list(
    doc: &Node,
    path: &[&str],
    ids: &[String],
    ok: impl Fn(&str) -> bool,
    what: &str,
    hint: &str,
    out: &mut Vec<Diagnostic>,
) {
    for (i, id) in ids.iter().enumerate() {
        let span = At::new(doc, path).idx(i).span();
        if !ok(id) {
            out.push(value_error(
                span,
                id,
                format!("{} is not {what}", q(id)),
                hint,
            ));
        } else if ids[..i].contains(id) {
            out.push(
                Diagnostic::error(span, format!("{} is listed twice", q(id)))
                    .with_hint("list each one once"),
            );
        }
    }
}

/// Count, reserved keys, lengths and characters of a provider's tags.
fn check_tags(
    doc: &Node,
    provider: &str,
    tags: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    let at = || At::new(doc, &["spec", provider, "tags"]);
    let (cloud, key_len, key_ok, key_hint): (&str, usize, fn(char) -> bool, &str) =
        if provider == "eks" {
            (
                "AWS",
                128,
                aws_tag_char,
                "AWS tag keys are letters, digits, spaces and _ . : / = + - @",
            )
        } else {
            (
                "Azure",
                512,
                azure_tag_name_char,
                "Azure tag names cannot hold < > % & \\ ? / or control characters",
            )
        };
    // gitfleet's own tags: ownership, and the record of the keys it manages.
    let records = crate::render::tags::record_len(tags);
    let own = OWNER_TAGS.len() + records;
    let user_max = MAX_TAGS.saturating_sub(own);
    if tags.len() > user_max {
        out.push(
            Diagnostic::error(
                at().key_span(),
                format!(
                    "too many tags: {}, at most {user_max} are allowed",
                    tags.len()
                ),
            )
            .with_hint(format!(
                "{cloud} allows {MAX_TAGS} tags per resource and gitfleet adds {own} of its own ({}, and {records} {}… listing the keys it manages)",
                OWNER_TAGS.join(", "),
                crate::render::tags::MANAGED_TAGS_KEY
            )),
        );
    }
    for (k, v) in tags {
        let key_span = at().key(k).key_span();
        let value_span = at().key(k).span();
        let units = if provider == "eks" {
            k.encode_utf16().count()
        } else {
            k.chars().count()
        };
        if k.is_empty() {
            out.push(Diagnostic::error(key_span, "empty tag key"));
        } else if reserved_for_gitfleet(k) {
            out.push(
                Diagnostic::error(
                    key_span,
                    format!("tag key {} is reserved for gitfleet", q(k)),
                )
                .with_hint(format!(
                    "gitfleet sets {} itself; choose a key outside gitfleet.io/",
                    OWNER_TAGS.join(", ")
                )),
            );
        } else if provider == "eks" && k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            out.push(
                Diagnostic::error(
                    key_span,
                    format!("tag key {} uses the reserved prefix `aws:`", q(k)),
                )
                .with_hint("AWS keeps tag keys starting with aws: for itself; choose another key"),
            );
        } else if units > key_len {
            out.push(
                Diagnostic::error(
                    key_span,
                    format!("tag key {} is {units} characters long", q(k)),
                )
                .with_hint(format!("{cloud} allows at most {key_len}")),
            );
        } else if !k.chars().all(key_ok) {
            out.push(value_error(
                key_span,
                k,
                format!("invalid tag key {}", q(k)),
                key_hint,
            ));
        }
        let value_units = if provider == "eks" {
            v.encode_utf16().count()
        } else {
            v.chars().count()
        };
        if value_units > 256 {
            out.push(
                Diagnostic::error(
                    value_span,
                    format!("the value of tag {} is {value_units} characters long", q(k)),
                )
                .with_hint(format!("{cloud} allows at most 256")),
            );
        } else if provider == "eks" && !v.chars().all(aws_tag_char) {
            out.push(value_error(
                value_span,
                v,
                format!("invalid value {} for tag {}", q(v), q(k)),
                "AWS tag values are letters, digits, spaces and _ . : / = + - @",
            ));
        } else if provider == "aks" && v.chars().any(char::is_control) {
            out.push(value_error(
                value_span,
                v,
                format!("invalid value {} for tag {}", q(v), q(k)),
                "Azure tag values hold no control characters",
            ));
        }
    }
}

/// AWS's tag pattern: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
fn aws_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

fn azure_tag_name_char(c: char) -> bool {
    !c.is_control() && !"<>%&\\?/".contains(c)
}

fn check_eks(doc: &Node, eks: &super::types::EksSpec, has_pools: bool, out: &mut Vec<Diagnostic>) {
    let at = |keys: &[&str]| {
        let mut a = At::new(doc, &["spec", "eks"]);
        for k in keys {
            a = a.key(k);
        }
        a
    };
    // A region left out comes from the AWS environment when a provider connects.
    match eks.region.as_deref() {
        Some("") => out.push(
            Diagnostic::error(at(&["region"]).span(), "empty AWS region").with_hint(
                "e.g. eu-west-1, or leave `region` out to use AWS_REGION or the AWS profile's region",
            ),
        ),
        Some(region) if !is_aws_region(region) => out.push(value_error(
            at(&["region"]).span(),
            region,
            format!("{} is not an AWS region", q(region)),
            "AWS regions look like eu-west-1, us-east-2 or us-gov-west-1",
        )),
        _ => {}
    }
    let arn_error = |span: Span, arn: &str, example: &str| {
        role_arn_problem(arn).map(|why| {
            value_error(
                span,
                arn,
                format!("{} is not an IAM role ARN", q(arn)),
                &format!("{why}; e.g. arn:aws:iam::123456789012:role/{example}"),
            )
        })
    };
    out.extend(arn_error(
        at(&["roleArn"]).span(),
        &eks.role_arn,
        "eks-cluster",
    ));
    match &eks.node_role_arn {
        Some(arn) => out.extend(arn_error(at(&["nodeRoleArn"]).span(), arn, "eks-nodes")),
        None if has_pools => out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "eks"]).key_span(),
                "missing required field `nodeRoleArn` in `spec.eks` (required when there are node pools)",
            )
            .with_hint("the IAM role the EKS worker nodes assume, e.g. arn:aws:iam::123456789012:role/eks-nodes"),
        ),
        None => {}
    }
    if eks.subnet_ids.len() < 2 {
        out.push(
            Diagnostic::error(
                at(&["subnetIds"]).span(),
                format!(
                    "EKS needs at least two subnets, found {}",
                    eks.subnet_ids.len()
                ),
            )
            .with_hint("list subnets in at least two availability zones"),
        );
    }
    check_id_list(
        doc,
        &["spec", "eks", "subnetIds"],
        &eks.subnet_ids,
        |id| is_aws_id(id, "subnet-"),
        "a subnet id",
        "subnet ids are subnet- and 8 or 17 lowercase hex digits, e.g. subnet-0a1b2c3d4e5f67890",
        out,
    );
    check_id_list(
        doc,
        &["spec", "eks", "securityGroupIds"],
        &eks.security_group_ids,
        |id| is_aws_id(id, "sg-"),
        "a security group id",
        "security group ids are sg- and 8 or 17 lowercase hex digits, e.g. sg-0a1b2c3d4e5f67890",
        out,
    );
    check_id_list(
        doc,
        &["spec", "eks", "endpointAccess", "publicCidrs"],
        &eks.endpoint_access.public_cidrs,
        is_ipv4_cidr,
        "an IPv4 CIDR block",
        "write a.b.c.d/n with n from 0 to 32, e.g. 203.0.113.0/24",
        out,
    );
    check_tags(doc, "eks", &eks.tags, out);
    for (i, addon) in eks.addons.iter().enumerate() {
        let addon_at = || At::new(doc, &["spec", "eks", "addons"]).idx(i);
        if !is_addon_name(&addon.name) {
            out.push(value_error(
                addon_at().key("name").span(),
                &addon.name,
                format!("invalid add-on name {}", q(&addon.name)),
                "add-on names are lowercase letters, digits, '-' and '_', at most 100, e.g. vpc-cni",
            ));
        } else if eks.addons[..i].iter().any(|a| a.name == addon.name) {
            out.push(
                Diagnostic::error(
                    addon_at().key("name").span(),
                    format!("duplicate add-on \"{}\"", addon.name),
                )
                .with_hint("list each add-on once"),
            );
        }
        if let Some(arn) = &addon.service_account_role_arn {
            out.extend(arn_error(
                addon_at().key("serviceAccountRoleArn").span(),
                arn,
                "ebs-csi",
            ));
        }
    }
    if !eks.endpoint_access.public && !eks.endpoint_access.private {
        out.push(
            Diagnostic::error(
                at(&["endpointAccess"]).span(),
                "the API endpoint would be reachable neither publicly nor privately",
            )
            .with_hint("set endpointAccess.public or endpointAccess.private to true"),
        );
    }
}

fn check_aks(doc: &Node, aks: &super::types::AksSpec, out: &mut Vec<Diagnostic>) {
    let at = |key: &str| At::new(doc, &["spec", "aks"]).key(key);
    if let Some(sub) = &aks.subscription_id
        && !is_guid(sub)
    {
        out.push(value_error(
            at("subscriptionId").span(),
            sub,
            format!("{} is not an Azure subscription id", q(sub)),
            "a subscription id is a GUID, e.g. 00000000-0000-0000-0000-000000000000",
        ));
    }
    if !is_resource_group(&aks.resource_group) {
        out.push(value_error(
            at("resourceGroup").span(),
            &aks.resource_group,
            format!("invalid resource group name {}", q(&aks.resource_group)),
            "a resource group name is 1-90 letters, digits and _ - . ( ), not ending in '.'",
        ));
    }
    let location = &aks.location;
    if location.is_empty()
        || !location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        out.push(value_error(
            at("location").span(),
            location,
            format!("{} is not an Azure location name", q(location)),
            "write the location's name: lowercase letters and digits, e.g. westeurope, eastus2",
        ));
    }
    if let Some(prefix) = &aks.dns_prefix
        && !(prefix.len() <= 54
            && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
            && prefix.ends_with(|c: char| c.is_ascii_alphanumeric())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        out.push(value_error(
            at("dnsPrefix").span(),
            prefix,
            format!("invalid DNS prefix {}", q(prefix)),
            "1-54 letters, digits and '-', starting and ending with a letter or digit",
        ));
    }
    match &aks.identity.user_assigned_identity_id {
        None if aks.identity.kind == super::types::AksIdentityType::UserAssigned => {
            out.push(Diagnostic::error(
                at("identity").span(),
                "identity type UserAssigned needs `userAssignedIdentityId`",
            ));
        }
        Some(id) if !is_user_assigned_identity_id(id) => {
            out.push(value_error(
                at("identity").key("userAssignedIdentityId").span(),
                id,
                format!("{} is not a user-assigned identity resource id", q(id)),
                "write /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>",
            ));
        }
        _ => {}
    }
    check_tags(doc, "aks", &aks.tags, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(is_dns1123_label("prod-eu-1"));
        assert!(!is_dns1123_label("Prod"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_label_key("gitfleet.io/env"));
        assert!(!is_label_key("bad key"));
        assert_eq!(parse_version("1.30"), Some((1, 30, None)));
        assert_eq!(parse_version("1.30.2"), Some((1, 30, Some(2))));
        assert_eq!(parse_version("v1.30"), None);
        assert_eq!(parse_version("1.3x"), None);
        assert_eq!(
            parse_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_version("01.31"), None);
        assert_eq!(parse_version("1.031"), None);
        assert_eq!(parse_version("1.30.02"), None);
        assert_eq!(parse_version("1.+30"), None);
        assert_eq!(parse_version("1.30.0"), Some((1, 30, Some(0))));
        assert_eq!(without_leading_zeros("01.031").as_deref(), Some("1.31"));
    }

    #[test]
    fn durations_refuse_overflow_instead_of_wrapping() {
        use std::time::Duration;
        assert_eq!(read_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(read_duration("8760h"), Ok(MAX_DURATION));
        assert_eq!(read_duration("8760h1ms"), Err(DurationError::TooLong));
        // 307445734561825861 minutes overflow u64 seconds; u64::MAX hours overflow anything.
        assert_eq!(
            read_duration("307445734561825861m"),
            Err(DurationError::TooLong)
        );
        assert_eq!(
            read_duration("18446744073709551615h"),
            Err(DurationError::TooLong)
        );
        assert_eq!(
            read_duration(&format!("{}s", "9".repeat(60))),
            Err(DurationError::TooLong)
        );
        assert_eq!(read_duration("1h1h1h"), Ok(Duration::from_secs(3 * 3600)));
        assert_eq!(read_duration(""), Err(DurationError::Invalid));
        assert_eq!(read_duration("m"), Err(DurationError::Invalid));
        assert_eq!(read_duration("1y"), Err(DurationError::Invalid));
        assert_eq!(parse_duration("307445734561825861m"), None);
    }

    #[test]
    fn branch_names_follow_git_check_ref_format() {
        for ok in [
            "main",
            "release/1.30",
            "feature/a-b_c",
            "v1.2",
            "ünïcode",
            "a@b",
        ] {
            assert_eq!(branch_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "", "@", "HEAD", "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b",
            "a\u{7f}", "a\tb", "a@{1}", "/a", "a/", "a//b", "a.", ".a", "a/.b", "a.lock",
            "a.lock/b",
        ] {
            assert!(branch_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn aws_shapes() {
        assert!(is_aws_id("subnet-0a1b2c3d", "subnet-"));
        assert!(is_aws_id("subnet-0a1b2c3d4e5f67890", "subnet-"));
        assert!(!is_aws_id("subnet-a", "subnet-"));
        assert!(!is_aws_id("subnet-0A1B2C3D", "subnet-"));
        assert!(!is_aws_id("subnet-0a1b2c3d4", "subnet-"));
        assert!(is_aws_id("sg-0123456789abcdef0", "sg-"));
        assert!(!is_aws_id("sg-0123456789abcdef0", "subnet-"));
        for ok in [
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
            "us-isob-east-1",
        ] {
            assert!(is_aws_region(ok), "{ok}");
        }
        for bad in [
            "",
            "eu",
            "eu-west",
            "euw-west-1",
            "EU-WEST-1",
            "eu-west-1a",
            "eu--1",
        ] {
            assert!(!is_aws_region(bad), "{bad}");
        }
        for ok in [
            "arn:aws:iam::123456789012:role/eks",
            "arn:aws-cn:iam::123456789012:role/path/to/eks+x=y,z.@_-",
            "arn:aws-us-gov:iam::123456789012:role/a",
            "arn:aws-iso-b:iam::123456789012:role/a",
        ] {
            assert_eq!(role_arn_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "eks",
            "arn:aws:iam::123456789012:user/eks",
            "arn:aws:iam::12345678901:role/eks",
            "arn:aws:iam:eu-west-1:123456789012:role/eks",
            "arn:azure:iam::123456789012:role/eks",
            "arn:aws:sts::123456789012:role/eks",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            &format!("arn:aws:iam::123456789012:role/{}", "a".repeat(65)),
        ] {
            assert!(role_arn_problem(bad).is_some(), "{bad}");
        }
        for ok in ["0.0.0.0/0", "203.0.113.0/24", "10.1.2.3/32"] {
            assert!(is_ipv4_cidr(ok), "{ok}");
        }
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "256.0.0.0/8",
            "10.0.0.0/08",
            "::/0",
            "10.0.0.0/ 8",
        ] {
            assert!(!is_ipv4_cidr(bad), "{bad}");
        }
        for ok in [
            "m6i.large",
            "t3.micro",
            "p4d.24xlarge",
            "m7i-flex.large",
            "m7i.metal-24xl",
            "u-6tb1.112xlarge",
        ] {
            assert!(is_ec2_instance_type(ok), "{ok}");
        }
        for bad in [
            "",
            "m6i",
            "M6i.large",
            "m6i.large.x",
            "m6i-.large",
            ".large",
            "6i.large",
            "Standard_D4s_v5",
        ] {
            assert!(!is_ec2_instance_type(bad), "{bad}");
        }
        for ok in ["vpc-cni", "aws-ebs-csi-driver", "kubecost_kubecost"] {
            assert!(is_addon_name(ok), "{ok}");
        }
        for bad in ["", "../x", "a/b", "Vpc-cni", "-x", &"a".repeat(101)] {
            assert!(!is_addon_name(bad), "{bad}");
        }
    }

    #[test]
    fn azure_shapes() {
        assert!(is_guid("00000000-0000-0000-0000-00000000000a"));
        assert!(is_guid("ABCDEF00-0000-0000-0000-000000000000"));
        assert!(!is_guid("00000000-0000-0000-0000-00000000000"));
        assert!(!is_guid("0000000000000000000000000000000000"));
        for ok in ["rg", "rg-aks_prod.(x)", "グループ", &"a".repeat(90)] {
            assert!(is_resource_group(ok), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "..",
            ".",
            "a.",
            "a%2Fb",
            "a b",
            "a?b",
            &"a".repeat(91),
        ] {
            assert!(!is_resource_group(bad), "{bad}");
        }
        let id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks-prod";
        assert!(is_user_assigned_identity_id(id));
        assert!(is_user_assigned_identity_id(&id.to_ascii_lowercase()));
        assert!(!is_user_assigned_identity_id(&id.replace("rg-id", "..")));
        assert!(!is_user_assigned_identity_id(
            &id.replace("aks-prod", "a/b")
        ));
        assert!(!is_user_assigned_identity_id(
            &id.replace("Microsoft.ManagedIdentity", "Microsoft.Compute")
        ));
        assert!(!is_user_assigned_identity_id(&format!("{id}/")));
        assert!(is_azure_vm_size("Standard_D4s_v5"));
        assert!(is_azure_vm_size("Standard_E4-2s_v3"));
        assert!(!is_azure_vm_size("m6i.large"));
        assert!(!is_azure_vm_size(""));
    }
}
