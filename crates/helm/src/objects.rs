//! The Go values of Helm's render context that have methods: `.Files`,
//! `.Capabilities.KubeVersion`, `.Capabilities.APIVersions`,
//! `.Capabilities.HelmVersion`.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;
use gotemplate::value::want_args;
use gotemplate::{Map, Object, Value};

fn str_arg(name: &str, args: &[Value], n: usize) -> Result<String, String> {
    want_args(name, args, n)?;
    match &args[0] {
        Value::Str(s) => Ok(s.to_string()),
        v => Err(format!(
            "wrong type for value; expected string; got {}",
            v.type_name()
        )),
    }
}

/// `.Files`: the chart's non-template files by name.
#[derive(Debug, Clone)]
pub struct Files(pub Rc<BTreeMap<String, Rc<[u8]>>>);

impl Files {
    fn text(&self, path: &str) -> String {
        self.0
            .get(path)
            .map(|d| gotemplate::value::from_go_bytes(d))
            .unwrap_or_default()
    }

    fn as_yaml(&self, encode: bool) -> Result<Value, String> {
        let mut m = Map::new();
        for (k, v) in self.0.iter() {
            let base = k.rsplit('/').next().unwrap_or(k).to_string();
            let s = if encode {
                base64::engine::general_purpose::STANDARD.encode(v)
            } else {
                String::from_utf8_lossy(v).into_owned()
            };
            m.insert(base, Value::str(s));
        }
        let y = gotemplate::to_yaml(&Value::map(m))?;
        Ok(Value::str(y.strip_suffix('\n').unwrap_or(&y)))
    }
}

impl Object for Files {
    fn type_name(&self) -> &'static str {
        "engine.files"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        Some(match name {
            "Get" => str_arg(name, args, 1).map(|p| Value::str(self.text(&p))),
            "GetBytes" => str_arg(name, args, 1).map(|p| Value::str(self.text(&p))),
            "Lines" => str_arg(name, args, 1).map(|p| {
                let Some(d) = self.0.get(&p) else {
                    return Value::list(Vec::new());
                };
                let s = String::from_utf8_lossy(d);
                let s = s.strip_suffix('\n').unwrap_or(&s);
                Value::list(s.split('\n').map(Value::str).collect())
            }),
            "Glob" => str_arg(name, args, 1).and_then(|p| {
                let mut pats = Vec::new();
                for alt in expand_braces(&p, 0) {
                    pats.push(glob::Pattern::new(&alt).map_err(|e| e.to_string())?);
                }
                let opts = glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                };
                let sel: BTreeMap<String, Rc<[u8]>> = self
                    .0
                    .iter()
                    .filter(|(k, _)| pats.iter().any(|pat| pat.matches_with(k, opts)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(Value::Object(Rc::new(Files(Rc::new(sel)))))
            }),
            "AsConfig" => want_args(name, args, 0).and_then(|_| self.as_yaml(false)),
            "AsSecrets" => want_args(name, args, 0).and_then(|_| self.as_yaml(true)),
            _ => return None,
        })
    }

    fn to_value(&self) -> Value {
        Value::map(
            self.0
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::str(String::from_utf8_lossy(v).into_owned()),
                    )
                })
                .collect(),
        )
    }
}

/// gobwas/glob's `{a,b}` alternatives, expanded into plain patterns
/// (bounded: at most 64 alternatives, 8 levels).
fn expand_braces(p: &str, depth: usize) -> Vec<String> {
    let Some(open) = p.find('{') else {
        return vec![p.to_string()];
    };
    let mut level = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in p[open..].char_indices() {
        match c {
            '{' => level += 1,
            '}' => {
                level -= 1;
                if level == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if level == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![p.to_string()];
    };
    if depth > 8 {
        return vec![p.to_string()];
    }
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &p[w[0] + 1..w[1]];
        let joined = format!("{}{alt}{}", &p[..open], &p[close + 1..]);
        out.extend(expand_braces(&joined, depth + 1));
        if out.len() > 64 {
            out.truncate(64);
            break;
        }
    }
    out
}

/// `.Capabilities.KubeVersion`.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// From `v1.30.2` / `1.30` (a leading `v` is added as Helm does).
    pub fn parse(s: &str) -> Option<KubeVersion> {
        let s = s.trim();
        let bare = s.strip_prefix('v').unwrap_or(s);
        gotemplate::semver_order(bare, bare)?;
        let mut parts = bare.split(['.', '-', '+']);
        let major = parts.next()?.to_string();
        let minor = parts.next().unwrap_or("0").to_string();
        let version = if bare.matches('.').count() >= 2 {
            format!("v{bare}")
        } else if bare.contains('.') {
            format!("v{bare}.0")
        } else {
            format!("v{bare}.0.0")
        };
        Some(KubeVersion {
            version,
            major,
            minor,
        })
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &'static str {
        "*common.KubeVersion"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = match name {
            "Version" | "GitVersion" | "String" => &self.version,
            "Major" => &self.major,
            "Minor" => &self.minor,
            _ => return None,
        };
        Some(want_args(name, args, 0).map(|_| Value::str(v.as_str())))
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("Version".into(), Value::str(self.version.as_str()));
        m.insert("Major".into(), Value::str(self.major.as_str()));
        m.insert("Minor".into(), Value::str(self.minor.as_str()));
        Value::map(m)
    }

    fn template_text(&self) -> Option<String> {
        Some(self.version.clone())
    }

    fn display(&self) -> Option<String> {
        // String() is on the pointer: fmt prints the struct's fields
        Some(format!(
            "{{{} {} {} {}}}",
            self.version, self.version, self.major, self.minor
        ))
    }
}

/// `.Capabilities.APIVersions`.
#[derive(Debug, Clone)]
pub struct VersionSet(pub Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> &'static str {
        "common.VersionSet"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => Some(str_arg(name, args, 1).map(|v| Value::Bool(self.0.contains(&v)))),
            _ => None,
        }
    }

    fn to_value(&self) -> Value {
        Value::list(self.0.iter().map(|s| Value::str(s.as_str())).collect())
    }
}

/// `.Capabilities.HelmVersion`: the Helm release gitfleet renders as.
#[derive(Debug, Clone)]
pub struct HelmVersion;

pub const HELM_VERSION: &str = "v4.2";
const GO_VERSION: &str = "go1.26.6";
const KUBE_CLIENT_VERSION: &str = "v1.36";

impl Object for HelmVersion {
    fn type_name(&self) -> &'static str {
        "version.BuildInfo"
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = match name {
            "Version" => HELM_VERSION,
            "GitCommit" | "GitTreeState" => "",
            "GoVersion" => GO_VERSION,
            "KubeClientVersion" => KUBE_CLIENT_VERSION,
            _ => return None,
        };
        Some(want_args(name, args, 0).map(|_| Value::str(v)))
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("version".into(), Value::str(HELM_VERSION));
        m.insert("go_version".into(), Value::str(GO_VERSION));
        Value::map(m)
    }

    fn display(&self) -> Option<String> {
        Some(format!(
            "{{{HELM_VERSION}   {GO_VERSION} {KUBE_CLIENT_VERSION}}}"
        ))
    }
}

/// The Kubernetes version Helm 4.2 assumes without a cluster.
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// The API versions Helm 4.2 assumes without a cluster (`DefaultVersionSet`).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];
