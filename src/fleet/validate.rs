//! Semantic validation: the rules a schema cannot say (one provider block, version format,
//! DNS-1123 names, node pool sizes, provider-specific limits). Runs on documents that passed the
//! structural check and reports every problem with its position and a hint.

use super::selector::Selector;
use super::types::{API_VERSION, Cluster, Fleet, ProviderKind};
use super::yaml::{Node, PathSeg};
use crate::diagnostic::{Diagnostic, Span};

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
    let suggestion: String = value
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(63)
        .collect();
    let mut d = Diagnostic::error(
        span,
        format!("{what} \"{value}\" is not a valid DNS-1123 label"),
    );
    d = if !suggestion.is_empty() && suggestion != value {
        d.with_hint(format!(
            "use lowercase letters, digits and '-', at most 63 characters, e.g. \"{suggestion}\""
        ))
    } else {
        d.with_hint("use lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit")
    };
    d
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

/// A Kubernetes version as definitions write it: `1.30` or `1.30.2`.
pub fn parse_version(v: &str) -> Option<(u32, u32, Option<u32>)> {
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() || major != 1 || v.contains('+') {
        return None;
    }
    Some((major, minor, patch))
}

/// A duration such as `30s`, `5m`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = std::time::Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n * 60),
            "h" => std::time::Duration::from_secs(n * 3600),
            _ => return None,
        };
    }
    Some(total)
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

fn check_labels(
    doc: &Node,
    labels: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    for (k, v) in labels {
        let at = At::new(doc, &["metadata", "labels"]).key(k);
        if !is_label_key(k) {
            out.push(
                Diagnostic::error(at.key_span(), format!("invalid label key \"{k}\""))
                    .with_hint("a label key is an optional DNS subdomain prefix and '/', then up to 63 of [A-Za-z0-9-_.]"),
            );
        }
        if !is_label_value(v) {
            out.push(
                Diagnostic::error(at.span(), format!("invalid value \"{v}\" for label \"{k}\""))
                    .with_hint("a label value is at most 63 of [A-Za-z0-9-_.], starting and ending with a letter or digit"),
            );
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
    let url = &spec.repository.url;
    let url_ok = ["https://", "http://", "ssh://", "file://"]
        .iter()
        .any(|p| url.starts_with(p) && url.len() > p.len())
        || is_scp_like(url);
    if !url_ok {
        out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "repository", "url"]).span(),
                format!("repository url \"{url}\" is not a Git URL"),
            )
            .with_hint("use https://host/org/repo.git, ssh://git@host/org/repo.git, git@host:org/repo.git or file:///path"),
        );
    }
    let branch = &spec.repository.branch;
    if branch.is_empty()
        || branch.contains(char::is_whitespace)
        || branch.contains("..")
        || branch.starts_with('-')
    {
        out.push(Diagnostic::error(
            At::new(doc, &["spec", "repository", "branch"]).span(),
            format!("\"{branch}\" is not a valid branch name"),
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
    match parse_duration(&r.interval) {
        Some(d) if d.as_secs() >= 5 => {}
        Some(_) => out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "reconciler", "interval"]).span(),
                format!("reconciler interval \"{}\" is too short", r.interval),
            )
            .with_hint(
                "use at least 5s; pushes can trigger a reconcile through the webhook receiver",
            ),
        ),
        None => out.push(
            Diagnostic::error(
                At::new(doc, &["spec", "reconciler", "interval"]).span(),
                format!("invalid duration \"{}\"", r.interval),
            )
            .with_hint("write a duration such as 30s, 5m or 1h30m"),
        ),
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

fn is_scp_like(url: &str) -> bool {
    // git@github.com:org/repo.git
    match url.split_once(':') {
        Some((host, path)) => {
            !host.is_empty() && !host.contains('/') && host.contains('@') && !path.is_empty()
        }
        None => false,
    }
}

fn check_version(span: Span, v: &str, provider: Option<ProviderKind>, out: &mut Vec<Diagnostic>) {
    match parse_version(v) {
        None => {
            let hint = match v.strip_prefix('v') {
                Some(rest) if parse_version(rest).is_some() => {
                    format!("drop the leading 'v': \"{rest}\"")
                }
                _ => "write the Kubernetes minor version in quotes, e.g. \"1.30\" (or a patch version, \"1.30.2\")".to_string(),
            };
            out.push(
                Diagnostic::error(span, format!("invalid Kubernetes version \"{v}\""))
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
        for (t, taint) in pool.taints.iter().enumerate() {
            if !is_label_key(&taint.key) {
                out.push(Diagnostic::error(
                    at().key("taints").idx(t).key("key").span(),
                    format!("invalid taint key \"{}\"", taint.key),
                ));
            }
            if let Some(v) = &taint.value
                && !is_label_value(v)
            {
                out.push(Diagnostic::error(
                    at().key("taints").idx(t).key("value").span(),
                    format!("invalid taint value \"{v}\""),
                ));
            }
        }
        for k in pool.labels.keys() {
            if !is_label_key(k) {
                out.push(Diagnostic::error(
                    at().key("labels").key(k).key_span(),
                    format!("invalid label key \"{k}\""),
                ));
            }
        }
    }

    match provider {
        Some(ProviderKind::Eks) => {
            let eks = spec.eks.as_ref().expect("provider is eks");
            let arn_ok =
                |a: &str| a.starts_with("arn:aws") && a.contains(":iam::") && a.contains(":role/");
            if !arn_ok(&eks.role_arn) {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", "eks", "roleArn"]).span(),
                        format!("\"{}\" is not an IAM role ARN", eks.role_arn),
                    )
                    .with_hint("e.g. arn:aws:iam::123456789012:role/eks-cluster"),
                );
            }
            match &eks.node_role_arn {
                Some(arn) if !arn_ok(arn) => out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", "eks", "nodeRoleArn"]).span(),
                        format!("\"{arn}\" is not an IAM role ARN"),
                    )
                    .with_hint("e.g. arn:aws:iam::123456789012:role/eks-nodes"),
                ),
                None if !spec.node_pools.is_empty() => out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", "eks"]).key_span(),
                        "missing required field `nodeRoleArn` in `spec.eks` (required when there are node pools)",
                    )
                    .with_hint("the IAM role the EKS worker nodes assume, e.g. arn:aws:iam::123456789012:role/eks-nodes"),
                ),
                _ => {}
            }
            if eks.subnet_ids.len() < 2 {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", "eks", "subnetIds"]).span(),
                        format!(
                            "EKS needs at least two subnets, found {}",
                            eks.subnet_ids.len()
                        ),
                    )
                    .with_hint("list subnets in at least two availability zones"),
                );
            }
            for (i, addon) in eks.addons.iter().enumerate() {
                if eks.addons[..i].iter().any(|a| a.name == addon.name) {
                    out.push(
                        Diagnostic::error(
                            At::new(doc, &["spec", "eks", "addons"])
                                .idx(i)
                                .key("name")
                                .span(),
                            format!("duplicate add-on \"{}\"", addon.name),
                        )
                        .with_hint("list each add-on once"),
                    );
                }
            }
            if !eks.endpoint_access.public && !eks.endpoint_access.private {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", "eks", "endpointAccess"]).span(),
                        "the API endpoint would be reachable neither publicly nor privately",
                    )
                    .with_hint("set endpointAccess.public or endpointAccess.private to true"),
                );
            }
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
            if aks.identity.kind == super::types::AksIdentityType::UserAssigned
                && aks.identity.user_assigned_identity_id.is_none()
            {
                out.push(Diagnostic::error(
                    At::new(doc, &["spec", "aks", "identity"]).span(),
                    "identity type UserAssigned needs `userAssignedIdentityId`",
                ));
            }
            if let Some(prefix) = &aks.dns_prefix
                && !(prefix.len() <= 54
                    && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            {
                out.push(
                    Diagnostic::error(
                        At::new(doc, &["spec", "aks", "dnsPrefix"]).span(),
                        format!("invalid DNS prefix \"{prefix}\""),
                    )
                    .with_hint("1-54 letters, digits and '-', starting with a letter or digit"),
                );
            }
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
    provider
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
    }
}
