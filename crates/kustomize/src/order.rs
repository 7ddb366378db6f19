//! Output order: kustomize's `legacy` order (the default) and `fifo`.
//!
//! The legacy order, as kustomize v5.8 sorts (verified against `kubectl kustomize`):
//!
//! 1. by kind: the kinds of `orderFirst` in their order, then every kind in neither list, then
//!    the kinds of `orderLast` in their order (by kind alone: `apps/v1 Deployment` and
//!    `extensions/v1beta1 Deployment` share the rank of `Deployment`);
//! 2. objects of the same rank but different group/version/kind by the string
//!    `group_version_kind`, with `~G` for the core group (so core kinds come after every named
//!    group: `zeta.io/v1 Alpha` before `v1 Event`). One quirk: between two kinds both named
//!    `Namespace` of which one is in the core group, the comparison is reversed, so `v1
//!    Namespace` comes before `a.io/v1 Namespace`;
//! 3. objects of the same group/version/kind by the string `namespace|name`, with `~X` for no
//!    namespace: objects without a namespace come last, and since `|` sorts after letters and
//!    digits, namespace `a-b` comes before `a`, which comes before `ab`.
//!
//! With custom `legacySortOptions` that leave `Namespace` out of both lists, the quirk in (2)
//! makes kustomize's comparison intransitive, and its order then depends on Go's sort
//! algorithm; here the sort is a stable sort with the same comparison, which agrees wherever
//! the comparison is a total order (always with the default lists).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::Resource;
use crate::kustomization::SortOptions;

/// kustomize's default `orderFirst`.
pub const DEFAULT_ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// kustomize's default `orderLast`.
pub const DEFAULT_ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Ranks of kinds: `orderFirst` negative (first entry lowest), unlisted kinds 0, `orderLast`
/// positive. A kind listed twice takes its last place (`orderLast` after `orderFirst`).
fn type_orders<S: AsRef<str>>(first: &[S], last: &[S]) -> HashMap<String, i64> {
    let mut m = HashMap::new();
    let n = first.len() as i64;
    for (i, k) in first.iter().enumerate() {
        m.insert(k.as_ref().to_string(), i as i64 - n);
    }
    for (i, k) in last.iter().enumerate() {
        m.insert(k.as_ref().to_string(), 1 + i as i64);
    }
    m
}

/// Group, version and kind as kustomize parses `apiVersion` (split at the first `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Gvk {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    pub fn of(resource: &Resource) -> Self {
        let api_version = resource.api_version();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        Gvk::new(group, version, resource.kind())
    }

    /// The string kustomize's legacy order compares: `group_version_kind`, `~G`/`~V`/`~K` for
    /// empty parts.
    pub fn legacy_sort_string(&self) -> String {
        let or = |s: &str, empty: &str| {
            if s.is_empty() {
                empty.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }

    /// kustomize's `Kind.version.group` form (`[noGrp]`, `[noVer]`, `[noKind]` for empty parts),
    /// as its messages print a GVK.
    pub fn kustomize_string(&self) -> String {
        let or = |s: &str, empty: &str| {
            if s.is_empty() {
                empty.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

/// kustomize's `Gvk.IsLessThan` with the default lists (without the `Namespace` quirk of the
/// sort transformer): how it orders field specs, for example in messages.
pub fn gvk_is_less_than(a: &Gvk, b: &Gvk) -> bool {
    let orders = type_orders(&DEFAULT_ORDER_FIRST, &DEFAULT_ORDER_LAST);
    let ia = orders.get(&a.kind).copied().unwrap_or(0);
    let ib = orders.get(&b.kind).copied().unwrap_or(0);
    if ia != ib {
        return ia < ib;
    }
    a.legacy_sort_string() < b.legacy_sort_string()
}

struct Key {
    rank: i64,
    gvk: Gvk,
    gvk_string: String,
    id_string: String,
}

fn key(resource: &Resource, orders: &HashMap<String, i64>) -> Key {
    let gvk = Gvk::of(resource);
    let rank = orders.get(&gvk.kind).copied().unwrap_or(0);
    let ns = match resource.namespace() {
        "" => "~X",
        ns => ns,
    };
    let name = match resource.name() {
        "" => "~N",
        n => n,
    };
    Key {
        rank,
        gvk_string: gvk.legacy_sort_string(),
        id_string: format!("{ns}|{name}"),
        gvk,
    }
}

fn less(a: &Key, b: &Key) -> bool {
    if a.gvk != b.gvk {
        if a.rank != b.rank {
            return a.rank < b.rank;
        }
        if a.gvk.kind == "Namespace"
            && b.gvk.kind == "Namespace"
            && (a.gvk.group.is_empty() || b.gvk.group.is_empty())
        {
            return a.gvk_string > b.gvk_string;
        }
        return a.gvk_string < b.gvk_string;
    }
    a.id_string < b.id_string
}

fn legacy<S: AsRef<str>>(resources: &mut Vec<Resource>, first: &[S], last: &[S]) {
    let orders = type_orders(first, last);
    let mut keyed: Vec<(Key, Resource)> =
        resources.drain(..).map(|r| (key(&r, &orders), r)).collect();
    keyed.sort_by(|(a, _), (b, _)| {
        if less(a, b) {
            Ordering::Less
        } else if less(b, a) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    resources.extend(keyed.into_iter().map(|(_, r)| r));
}

/// Sorts a build's output as kustomize does. Without options (no `sortOptions` in the
/// kustomization) the legacy order with the default lists; `order: fifo` keeps the input
/// order; `order: legacy` uses `legacySortOptions` when given (empty lists then mean no kind
/// is ranked), the default lists otherwise. Errors with kustomize's messages: an `order` other
/// than exactly `fifo` or `legacy` (an empty or missing one included), and `legacySortOptions`
/// with `fifo`.
pub fn sort(resources: &mut Vec<Resource>, options: Option<&SortOptions>) -> Result<(), String> {
    let Some(options) = options else {
        legacy(resources, &DEFAULT_ORDER_FIRST, &DEFAULT_ORDER_LAST);
        return Ok(());
    };
    match options.order.as_str() {
        "fifo" => match options.legacy_sort_options {
            Some(_) => Err(
                "the field 'sortOptions.legacySortOptions' is set but the selected \
                            sort order is 'fifo', not 'legacy'"
                    .into(),
            ),
            None => Ok(()),
        },
        "legacy" => {
            match &options.legacy_sort_options {
                Some(o) => legacy(resources, &o.order_first, &o.order_last),
                None => legacy(resources, &DEFAULT_ORDER_FIRST, &DEFAULT_ORDER_LAST),
            }
            Ok(())
        }
        _ => Err("the field 'sortOptions.order' must be one of [fifo, legacy]".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;
    use crate::kustomization::LegacySortOptions;
    use serde_json::json;

    fn res(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Resource {
        let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = namespace {
            v["metadata"]["namespace"] = json!(ns);
        }
        Resource::new(v, Span::file("r.yaml"))
    }

    fn line(r: &Resource) -> String {
        let ns = match r.namespace() {
            "" => "-",
            ns => ns,
        };
        format!("{} {} {} {}", r.api_version(), r.kind(), ns, r.name())
    }

    fn sorted(input: &[Resource], options: Option<&SortOptions>) -> Result<Vec<String>, String> {
        let mut rs = input.to_vec();
        sort(&mut rs, options)?;
        Ok(rs.iter().map(line).collect())
    }

    fn parse(lines: &str) -> Vec<Resource> {
        lines
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let p: Vec<&str> = l.split_whitespace().collect();
                let ns = (p[2] != "-").then_some(p[2]);
                res(p[0], p[1], ns, p[3])
            })
            .collect()
    }

    /// A shuffled mix of 38 group/version/kinds (custom resources, kinds in both default
    /// lists, a core and two custom `Namespace` kinds, an apiVersion without group) with
    /// several objects per kind across namespaces; `expected` is `kubectl kustomize` v5.8.1's
    /// order, one kind per line (first and last objects of each kind shown in full below).
    const SHUFFLED: &str = "
alpha.io/v1 Zeta x a
scheduling.k8s.io/v1 PriorityClass - b
v1 PersistentVolumeClaim a-b b
example.com/v1 Foo ab ab
foo.io/v1 Namespace a a
batch/v1 CronJob - a-b
extensions/v1beta1 Deployment x a
v1 ServiceAccount x a.b
v1 Namespace - b
apps/v1 Deployment - a.b
admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration - a
v1 ConfigMap a b
Foo Bare - a
v1 Event ab a
apps/v1 Deployment a-b a-b
a.io/v1 Namespace - a
v1 ConfigMap - b
rbac.authorization.k8s.io/v1 RoleBinding x b
v1 Namespace - a-b
v1 ConfigMap a-b a
zeta.io/v1 Alpha a a
apps/v1 Deployment a a
admissionregistration.k8s.io/v1 MutatingWebhookConfiguration - b
v1 Pod x b
rbac.authorization.k8s.io/v1 ClusterRoleBinding - a
policy/v1beta1 PodSecurityPolicy - ab
apiextensions.k8s.io/v1 CustomResourceDefinition - a.b
v1 ResourceQuota a a
storage.k8s.io/v1 StorageClass - a
rbac.authorization.k8s.io/v1 Role ab a
rbac.authorization.k8s.io/v1 ClusterRole - a
v1 Secret - a
v1 Endpoints x b
v1 Service a b
v1 LimitRange ab a
v1 PersistentVolume - a
apps/v1 StatefulSet x a
policy/v1 PodDisruptionBudget a a
apps/v1 DaemonSet a a
autoscaling/v2 HorizontalPodAutoscaler x a
batch/v1 Job - b
example.com/v1alpha1 Foo a b
networking.k8s.io/v1 Ingress a-b a
v1 ConfigMap x a.b
v1 Namespace - a
apps/v1 Deployment x ab
v1 ConfigMap a a
apps/v1 Deployment - a-b
";

    #[test]
    fn default_legacy_order_matches_kustomize() {
        let input = parse(SHUFFLED);
        let expected = "
v1 Namespace - a
v1 Namespace - a-b
v1 Namespace - b
a.io/v1 Namespace - a
foo.io/v1 Namespace a a
v1 ResourceQuota a a
storage.k8s.io/v1 StorageClass - a
apiextensions.k8s.io/v1 CustomResourceDefinition - a.b
v1 ServiceAccount x a.b
policy/v1beta1 PodSecurityPolicy - ab
rbac.authorization.k8s.io/v1 Role ab a
rbac.authorization.k8s.io/v1 ClusterRole - a
rbac.authorization.k8s.io/v1 RoleBinding x b
rbac.authorization.k8s.io/v1 ClusterRoleBinding - a
v1 ConfigMap a-b a
v1 ConfigMap a a
v1 ConfigMap a b
v1 ConfigMap x a.b
v1 ConfigMap - b
v1 Secret - a
v1 Endpoints x b
v1 Service a b
v1 LimitRange ab a
scheduling.k8s.io/v1 PriorityClass - b
v1 PersistentVolume - a
v1 PersistentVolumeClaim a-b b
apps/v1 Deployment a-b a-b
apps/v1 Deployment a a
apps/v1 Deployment x ab
apps/v1 Deployment - a-b
apps/v1 Deployment - a.b
extensions/v1beta1 Deployment x a
apps/v1 StatefulSet x a
batch/v1 CronJob - a-b
policy/v1 PodDisruptionBudget a a
alpha.io/v1 Zeta x a
apps/v1 DaemonSet a a
autoscaling/v2 HorizontalPodAutoscaler x a
batch/v1 Job - b
example.com/v1 Foo ab ab
example.com/v1alpha1 Foo a b
networking.k8s.io/v1 Ingress a-b a
zeta.io/v1 Alpha a a
Foo Bare - a
v1 Event ab a
v1 Pod x b
admissionregistration.k8s.io/v1 MutatingWebhookConfiguration - b
admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration - a
";
        let want: Vec<String> = expected
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(sorted(&input, None).unwrap(), want);
        let legacy = SortOptions {
            order: "legacy".into(),
            legacy_sort_options: None,
        };
        assert_eq!(sorted(&input, Some(&legacy)).unwrap(), want);
    }

    #[test]
    fn fifo_keeps_input_order() {
        let input = parse(SHUFFLED);
        let fifo = SortOptions {
            order: "fifo".into(),
            legacy_sort_options: None,
        };
        let want: Vec<String> = input.iter().map(line).collect();
        assert_eq!(sorted(&input, Some(&fifo)).unwrap(), want);
    }

    #[test]
    fn custom_legacy_lists_rank_kinds() {
        let input = parse(SHUFFLED);
        let options = SortOptions {
            order: "legacy".into(),
            legacy_sort_options: Some(LegacySortOptions {
                order_first: vec!["Pod".into(), "ConfigMap".into(), "Foo".into()],
                order_last: vec!["Namespace".into(), "Service".into()],
            }),
        };
        // kubectl kustomize v5.8.1 with the same options.
        let expected = "
v1 Pod x b
v1 ConfigMap a-b a
v1 ConfigMap a a
v1 ConfigMap a b
v1 ConfigMap x a.b
v1 ConfigMap - b
example.com/v1 Foo ab ab
example.com/v1alpha1 Foo a b
admissionregistration.k8s.io/v1 MutatingWebhookConfiguration - b
admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration - a
alpha.io/v1 Zeta x a
apiextensions.k8s.io/v1 CustomResourceDefinition - a.b
apps/v1 DaemonSet a a
apps/v1 Deployment a-b a-b
apps/v1 Deployment a a
apps/v1 Deployment x ab
apps/v1 Deployment - a-b
apps/v1 Deployment - a.b
apps/v1 StatefulSet x a
autoscaling/v2 HorizontalPodAutoscaler x a
batch/v1 CronJob - a-b
batch/v1 Job - b
extensions/v1beta1 Deployment x a
networking.k8s.io/v1 Ingress a-b a
policy/v1 PodDisruptionBudget a a
policy/v1beta1 PodSecurityPolicy - ab
rbac.authorization.k8s.io/v1 ClusterRole - a
rbac.authorization.k8s.io/v1 ClusterRoleBinding - a
rbac.authorization.k8s.io/v1 Role ab a
rbac.authorization.k8s.io/v1 RoleBinding x b
scheduling.k8s.io/v1 PriorityClass - b
storage.k8s.io/v1 StorageClass - a
zeta.io/v1 Alpha a a
Foo Bare - a
v1 Endpoints x b
v1 Event ab a
v1 LimitRange ab a
v1 PersistentVolume - a
v1 PersistentVolumeClaim a-b b
v1 ResourceQuota a a
v1 Secret - a
v1 ServiceAccount x a.b
v1 Namespace - a
v1 Namespace - a-b
v1 Namespace - b
a.io/v1 Namespace - a
foo.io/v1 Namespace a a
v1 Service a b
";
        let want: Vec<String> = expected
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(sorted(&input, Some(&options)).unwrap(), want);
    }

    #[test]
    fn bad_options_are_kustomizes_errors() {
        let input = parse(SHUFFLED);
        for order in ["", "bogus", "Legacy", "FIFO"] {
            let o = SortOptions {
                order: order.into(),
                legacy_sort_options: None,
            };
            assert_eq!(
                sorted(&input, Some(&o)).unwrap_err(),
                "the field 'sortOptions.order' must be one of [fifo, legacy]"
            );
        }
        let o = SortOptions {
            order: "fifo".into(),
            legacy_sort_options: Some(LegacySortOptions::default()),
        };
        assert!(
            sorted(&input, Some(&o))
                .unwrap_err()
                .contains("'sortOptions.legacySortOptions' is set")
        );
    }

    #[test]
    fn kinds_listed_twice_take_their_last_place() {
        let o = type_orders(&["A", "B", "A"], &["B"]);
        assert_eq!(o["A"], -1);
        assert_eq!(o["B"], 1);
    }

    #[test]
    fn gvk_strings() {
        let g = Gvk::new("", "v1", "Service");
        assert_eq!(g.legacy_sort_string(), "~G_v1_Service");
        assert_eq!(g.kustomize_string(), "Service.v1.[noGrp]");
        assert_eq!(
            Gvk::new("", "", "Deployment").kustomize_string(),
            "Deployment.[noVer].[noGrp]"
        );
        assert!(gvk_is_less_than(
            &Gvk::new("", "", "Deployment"),
            &Gvk::new("", "", "ReplicaSet")
        ));
        assert!(gvk_is_less_than(
            &Gvk::new("", "", "ReplicaSet"),
            &Gvk::new("", "", "ReplicationController")
        ));
    }
}
