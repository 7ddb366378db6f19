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
//! makes kustomize's comparison intransitive (`v1 Namespace` < `a.io/v1 Namespace` <
//! `apps/v1 Deployment` < `v1 Namespace`), and its order then depends on the steps of Go's
//! `sort.Sort`. So the sort here is Go's (pattern-defeating quicksort with Go's pseudo-random
//! pattern breaking), step for step: it gave kubectl kustomize's order on each of 190 random
//! and nearly sorted inputs of up to 136 objects with such lists.

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
    go_sort(&mut keyed, &|a, b| less(&a.0, &b.0));
    resources.extend(keyed.into_iter().map(|(_, r)| r));
}

// Go's `sort.Sort` (pattern-defeating quicksort, as in Go 1.19 and later), step for step:
// kustomize sorts with it, and where its comparison is not a total order (see the module
// notes) the output depends on exactly which comparisons and swaps the algorithm makes.

type Less<'a, T> = &'a dyn Fn(&T, &T) -> bool;

/// Sorts like Go's `sort.Sort(data)` with `less` as `data.Less`.
pub fn go_sort<T>(v: &mut [T], less: Less<'_, T>) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let limit = usize::BITS - n.leading_zeros();
    pdqsort(v, less, 0, n, limit);
}

fn insertion_sort<T>(v: &mut [T], less: Less<'_, T>, a: usize, b: usize) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sift_down<T>(v: &mut [T], less: Less<'_, T>, lo: usize, hi: usize, first: usize) {
    let mut root = lo;
    loop {
        let mut child = 2 * root + 1;
        if child >= hi {
            return;
        }
        if child + 1 < hi && less(&v[first + child], &v[first + child + 1]) {
            child += 1;
        }
        if !less(&v[first + root], &v[first + child]) {
            return;
        }
        v.swap(first + root, first + child);
        root = child;
    }
}

fn heap_sort<T>(v: &mut [T], less: Less<'_, T>, a: usize, b: usize) {
    let first = a;
    let hi = b - a;
    for i in (0..=(hi - 1) / 2).rev() {
        sift_down(v, less, i, hi, first);
    }
    for i in (0..hi).rev() {
        v.swap(first, first + i);
        sift_down(v, less, 0, i, first);
    }
}

#[derive(PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

fn pdqsort<T>(v: &mut [T], less: Less<'_, T>, mut a: usize, mut b: usize, mut limit: u32) {
    const MAX_INSERTION: usize = 12;
    let mut was_balanced = true;
    let mut was_partitioned = true;
    loop {
        let length = b - a;
        if length <= MAX_INSERTION {
            insertion_sort(v, less, a, b);
            return;
        }
        if limit == 0 {
            heap_sort(v, less, a, b);
            return;
        }
        if !was_balanced {
            break_patterns(v, a, b);
            limit -= 1;
        }
        let (mut pivot, mut hint) = choose_pivot(v, less, a, b);
        if hint == Hint::Decreasing {
            reverse_range(v, a, b);
            pivot = (b - 1) - (pivot - a);
            hint = Hint::Increasing;
        }
        if was_balanced
            && was_partitioned
            && hint == Hint::Increasing
            && partial_insertion_sort(v, less, a, b)
        {
            return;
        }
        if a > 0 && !less(&v[a - 1], &v[pivot]) {
            a = partition_equal(v, less, a, b, pivot);
            continue;
        }
        let (mid, already) = partition(v, less, a, b, pivot);
        was_partitioned = already;
        let (left, right) = (mid - a, b - mid);
        let threshold = length / 8;
        if left < right {
            was_balanced = left >= threshold;
            pdqsort(v, less, a, mid, limit);
            a = mid + 1;
        } else {
            was_balanced = right >= threshold;
            pdqsort(v, less, mid + 1, b, limit);
            b = mid;
        }
    }
}

fn partition<T>(v: &mut [T], less: Less<'_, T>, a: usize, b: usize, pivot: usize) -> (usize, bool) {
    v.swap(a, pivot);
    // Inclusive bounds of what remains; `j` may step below `a + 1` (to `a`), never below.
    let (mut i, mut j) = (a + 1, b - 1);
    while i <= j && less(&v[i], &v[a]) {
        i += 1;
    }
    while i <= j && !less(&v[j], &v[a]) {
        j -= 1;
    }
    if i > j {
        v.swap(j, a);
        return (j, true);
    }
    v.swap(i, j);
    i += 1;
    j -= 1;
    loop {
        while i <= j && less(&v[i], &v[a]) {
            i += 1;
        }
        while i <= j && !less(&v[j], &v[a]) {
            j -= 1;
        }
        if i > j {
            break;
        }
        v.swap(i, j);
        i += 1;
        j -= 1;
    }
    v.swap(j, a);
    (j, false)
}

fn partition_equal<T>(v: &mut [T], less: Less<'_, T>, a: usize, b: usize, pivot: usize) -> usize {
    v.swap(a, pivot);
    let (mut i, mut j) = (a + 1, b - 1);
    loop {
        while i <= j && !less(&v[a], &v[i]) {
            i += 1;
        }
        while i <= j && less(&v[a], &v[j]) {
            j -= 1;
        }
        if i > j {
            break;
        }
        v.swap(i, j);
        i += 1;
        j -= 1;
    }
    i
}

fn partial_insertion_sort<T>(v: &mut [T], less: Less<'_, T>, a: usize, b: usize) -> bool {
    const MAX_STEPS: usize = 5;
    const SHORTEST_SHIFTING: usize = 50;
    let mut i = a + 1;
    for _ in 0..MAX_STEPS {
        while i < b && !less(&v[i], &v[i - 1]) {
            i += 1;
        }
        if i == b {
            return true;
        }
        if b - a < SHORTEST_SHIFTING {
            return false;
        }
        v.swap(i, i - 1);
        if i - a >= 2 {
            let mut j = i - 1;
            while j >= 1 {
                if !less(&v[j], &v[j - 1]) {
                    break;
                }
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        if b - i >= 2 {
            for j in i + 1..b {
                if !less(&v[j], &v[j - 1]) {
                    break;
                }
                v.swap(j, j - 1);
            }
        }
    }
    false
}

fn break_patterns<T>(v: &mut [T], a: usize, b: usize) {
    let length = b - a;
    if length >= 8 {
        let mut random = length as u64;
        let modulus = 1usize << (usize::BITS - length.leading_zeros());
        let idx = a + (length / 4) * 2 - 1;
        for i in 0..3 {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let mut other = (random as usize) & (modulus - 1);
            if other >= length {
                other -= length;
            }
            v.swap(idx + i, a + other);
        }
    }
}

fn choose_pivot<T>(v: &mut [T], less: Less<'_, T>, a: usize, b: usize) -> (usize, Hint) {
    const SHORTEST_NINTHER: usize = 50;
    const MAX_SWAPS: usize = 4 * 3;
    let l = b - a;
    let mut swaps = 0;
    let mut i = a + l / 4;
    let mut j = a + l / 4 * 2;
    let mut k = a + l / 4 * 3;
    if l >= 8 {
        if l >= SHORTEST_NINTHER {
            i = median(v, less, i - 1, i, i + 1, &mut swaps);
            j = median(v, less, j - 1, j, j + 1, &mut swaps);
            k = median(v, less, k - 1, k, k + 1, &mut swaps);
        }
        j = median(v, less, i, j, k, &mut swaps);
    }
    match swaps {
        0 => (j, Hint::Increasing),
        MAX_SWAPS => (j, Hint::Decreasing),
        _ => (j, Hint::Unknown),
    }
}

fn order2<T>(v: &[T], less: Less<'_, T>, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
    if less(&v[b], &v[a]) {
        *swaps += 1;
        (b, a)
    } else {
        (a, b)
    }
}

fn median<T>(v: &[T], less: Less<'_, T>, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
    let (a, b) = order2(v, less, a, b, swaps);
    let (b, c) = order2(v, less, b, c, swaps);
    let _ = c;
    let (_, b) = order2(v, less, a, b, swaps);
    b
}

fn reverse_range<T>(v: &mut [T], a: usize, b: usize) {
    let (mut i, mut j) = (a, b - 1);
    while i < j {
        v.swap(i, j);
        i += 1;
        j -= 1;
    }
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

    fn kinds(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .fold(Vec::new(), |mut acc, k| {
                if acc.last() != Some(&k) {
                    acc.push(k);
                }
                acc
            })
    }

    #[test]
    fn kinds_listed_twice_take_their_last_place() {
        let o = type_orders(&["A", "B", "A"], &["B"]);
        assert_eq!(o["A"], -1);
        assert_eq!(o["B"], 1);
        // kubectl kustomize v5.8.1, orderFirst [Secret, Pod, ConfigMap, Pod], orderLast [Secret].
        let options = SortOptions {
            order: "legacy".into(),
            legacy_sort_options: Some(LegacySortOptions {
                order_first: ["Secret", "Pod", "ConfigMap", "Pod"]
                    .map(String::from)
                    .to_vec(),
                order_last: vec!["Secret".into()],
            }),
        };
        let got = kinds(&sorted(&parse(SHUFFLED), Some(&options)).unwrap());
        let want = "v1 ConfigMap|v1 Pod|a.io/v1 Namespace|admissionregistration.k8s.io/v1 MutatingWebhookConfiguration|admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration|alpha.io/v1 Zeta|apiextensions.k8s.io/v1 CustomResourceDefinition|apps/v1 DaemonSet|apps/v1 Deployment|apps/v1 StatefulSet|autoscaling/v2 HorizontalPodAutoscaler|batch/v1 CronJob|batch/v1 Job|example.com/v1 Foo|example.com/v1alpha1 Foo|extensions/v1beta1 Deployment|foo.io/v1 Namespace|networking.k8s.io/v1 Ingress|policy/v1 PodDisruptionBudget|policy/v1beta1 PodSecurityPolicy|rbac.authorization.k8s.io/v1 ClusterRole|rbac.authorization.k8s.io/v1 ClusterRoleBinding|rbac.authorization.k8s.io/v1 Role|rbac.authorization.k8s.io/v1 RoleBinding|scheduling.k8s.io/v1 PriorityClass|storage.k8s.io/v1 StorageClass|zeta.io/v1 Alpha|Foo Bare|v1 Endpoints|v1 Event|v1 LimitRange|v1 Namespace|v1 PersistentVolume|v1 PersistentVolumeClaim|v1 ResourceQuota|v1 Service|v1 ServiceAccount|v1 Secret";
        assert_eq!(got.join("|"), want);
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

    /// With `Namespace` in neither list the comparison is intransitive (see the module notes)
    /// and the order is whatever Go's sort makes of it: kubectl kustomize v5.8.1's output for
    /// orderFirst [Pod, Secret], orderLast [Service], on 38 objects (a partition that is
    /// unbalanced, so patterns are broken with Go's xorshift) and on 117 nearly reverse-sorted
    /// ones (the reversal and the partial insertion sort).
    #[test]
    fn intransitive_orders_follow_gos_sort() {
        let options = SortOptions {
            order: "legacy".into(),
            legacy_sort_options: Some(LegacySortOptions {
                order_first: vec!["Pod".into(), "Secret".into()],
                order_last: vec!["Service".into()],
            }),
        };
        for (input, expected) in [
            (BROKEN_PATTERNS, BROKEN_PATTERNS_OUT),
            (REVERSED, REVERSED_OUT),
        ] {
            let want: Vec<String> = expected
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            assert_eq!(sorted(&parse(input), Some(&options)).unwrap(), want);
        }
    }

    const BROKEN_PATTERNS: &str = "
foo.io/v1 Namespace y c3
a.io/v1 Namespace - d2
v2 Namespace - d4
v1 Secret - c9
foo.io/v1 Namespace x c1
v1 Namespacf - h6
x.io/v1 Namespaces - e5
apps/v1 Deployment x g5
v1 Pod x f1
v1 Namespacf y e7
b.io/v1 Bar y c7
v1 Service - h8
foo.io/v1 Namespace y d2
v1 ConfigMap x e5
foo.io/v1 Namespace - e6
b.io/v1 Bar - h8
b.io/v1 Bar y d3
v1 ConfigMap x c1
v1 Pod - h6
v1 Service - g0
a.io/v1 Namespace y h7
foo.io/v1 Namespace y c6
v1 Namespacf - e5
v1 Service y f8
v1 Pod - c9
v1 Service y h3
v1 Namespace - a5
v1 Service x f2
zz.io/v1 Namespace - c8
m.io/v1 Namespace - d2
v1 Secret x a7
v1 Pod - b8
a.io/v1 Namespace x e1
foo.io/v1 Namespace y e9
v1 Service y b7
v1 ConfigMap x a0
v1 ConfigMap y c7
example.com/v1 Foo y h3
";
    const BROKEN_PATTERNS_OUT: &str = "
v1 Pod x f1
v1 Pod - b8
v1 Pod - c9
v1 Pod - h6
v1 Secret x a7
v1 Secret - c9
a.io/v1 Namespace x e1
a.io/v1 Namespace y h7
a.io/v1 Namespace - d2
apps/v1 Deployment x g5
b.io/v1 Bar y c7
b.io/v1 Bar y d3
b.io/v1 Bar - h8
example.com/v1 Foo y h3
v1 Namespace - a5
foo.io/v1 Namespace x c1
foo.io/v1 Namespace y c3
foo.io/v1 Namespace y c6
foo.io/v1 Namespace y d2
foo.io/v1 Namespace y e9
foo.io/v1 Namespace - e6
m.io/v1 Namespace - d2
x.io/v1 Namespaces - e5
zz.io/v1 Namespace - c8
v1 ConfigMap x a0
v1 ConfigMap x c1
v1 ConfigMap x e5
v1 ConfigMap y c7
v1 Namespacf y e7
v1 Namespacf - e5
v1 Namespacf - h6
v2 Namespace - d4
v1 Service x f2
v1 Service y b7
v1 Service y f8
v1 Service y h3
v1 Service - g0
v1 Service - h8
";
    const REVERSED: &str = "
v1 Service y c2
v1 Service y b9
v1 Service x h2
v1 Service x e4
v1 Service - c0
v1 Secret y g3
v1 Secret y d8
v1 Secret y d6
v1 Secret y b6
v1 Secret x e5
v1 Secret - g9
v1 Secret - f6
v1 Secret - d6
v1 Secret - c3
v1 Secret - b0
v1 Pod y d6
v1 Pod y a3
v1 Pod x f9
v1 Pod x e7
v1 Pod - g7
v1 Pod - e1
v1 Pod - c4
v1 Pod - c2
v1 Namespacf y e4
v1 Namespacf x g7
v1 Namespacf x g4
v1 Namespacf x f3
v1 Namespacf x d3
v1 Namespacf - h8
v1 Namespacf - d4
x.io/v1 Namespaces y h1
x.io/v1 Namespaces y g9
x.io/v1 Namespaces y g0
x.io/v1 Namespaces x h7
zz.io/v1 Namespace y d9
zz.io/v1 Namespace y a0
zz.io/v1 Namespace x e4
zz.io/v1 Namespace x c7
zz.io/v1 Namespace - f7
zz.io/v1 Namespace - h5
zz.io/v1 Namespace - d4
zz.io/v1 Namespace - b6
v2 Namespace y g7
v2 Namespace y c0
v2 Namespace y b4
v2 Namespace y b3
v2 Namespace x e1
v2 Namespace x b6
v2 Namespace x b5
v2 Namespace - g8
v2 Namespace - e4
v2 Namespace - b8
v2 Namespace - a0
v1 Namespace - f3
v1 Namespace - e9
v1 Namespace - d7
v1 Namespace - d1
v1 Namespace - c4
v1 Namespace - a7
v1 Namespace - a3
m.io/v1 Namespace y d9
m.io/v1 Namespace y a3
m.io/v1 Namespace x g8
m.io/v1 Namespace x b0
m.io/v1 Namespace x a0
m.io/v1 Namespace - d1
m.io/v1 Namespace - c1
foo.io/v1 Namespace y h8
foo.io/v1 Namespace y h0
foo.io/v1 Namespace y g5
foo.io/v1 Namespace y c1
foo.io/v1 Namespace y a9
foo.io/v1 Namespace x f2
foo.io/v1 Namespace x d1
foo.io/v1 Namespace - e7
foo.io/v1 Namespace - c4
foo.io/v1 Namespace - a4
a.io/v1 Namespace y g8
a.io/v1 Namespace y e9
a.io/v1 Namespace x a6
a.io/v1 Namespace - g9
a.io/v1 Namespace - e6
example.com/v1 Foo y a3
example.com/v1 Foo x f4
example.com/v1 Foo x b0
example.com/v1 Foo x a6
example.com/v1 Foo - e8
example.com/v1 Foo - e5
apps/v1 Deployment y h8
apps/v1 Deployment y a5
apps/v1 Deployment x h7
apps/v1 Deployment x g2
apps/v1 Deployment x b9
apps/v1 Deployment x b2
apps/v1 Deployment x a7
apps/v1 Deployment - g9
apps/v1 Deployment - g3
apps/v1 Deployment - e9
apps/v1 Deployment - e3
apps/v1 Deployment - e1
apps/v1 Deployment - d5
v1 ConfigMap y e9
v1 ConfigMap y e6
v1 ConfigMap x d9
v1 ConfigMap - a2
b.io/v1 Bar y h0
b.io/v1 Bar y e9
b.io/v1 Bar y e6
b.io/v1 Bar y e1
b.io/v1 Bar y b7
b.io/v1 Bar y b3
b.io/v1 Bar x f9
b.io/v1 Bar x e9
b.io/v1 Bar x a0
b.io/v1 Bar - h8
b.io/v1 Bar - d2
b.io/v1 Bar - b9
";
    const REVERSED_OUT: &str = "
v1 Pod x e7
v1 Pod x f9
v1 Pod y a3
v1 Pod y d6
v1 Pod - c2
v1 Pod - c4
v1 Pod - e1
v1 Pod - g7
v1 Secret x e5
v1 Secret y b6
v1 Secret y d6
v1 Secret y d8
v1 Secret y g3
v1 Secret - b0
v1 Secret - c3
v1 Secret - d6
v1 Secret - f6
v1 Secret - g9
apps/v1 Deployment x a7
apps/v1 Deployment x b2
apps/v1 Deployment x b9
apps/v1 Deployment x g2
apps/v1 Deployment x h7
apps/v1 Deployment y a5
apps/v1 Deployment y h8
apps/v1 Deployment - d5
apps/v1 Deployment - e1
apps/v1 Deployment - e3
apps/v1 Deployment - e9
apps/v1 Deployment - g3
apps/v1 Deployment - g9
b.io/v1 Bar x a0
b.io/v1 Bar x e9
b.io/v1 Bar x f9
b.io/v1 Bar y b3
b.io/v1 Bar y b7
b.io/v1 Bar y e1
b.io/v1 Bar y e6
b.io/v1 Bar y e9
b.io/v1 Bar y h0
b.io/v1 Bar - b9
b.io/v1 Bar - d2
b.io/v1 Bar - h8
example.com/v1 Foo x a6
example.com/v1 Foo x b0
example.com/v1 Foo x f4
example.com/v1 Foo y a3
example.com/v1 Foo - e5
example.com/v1 Foo - e8
x.io/v1 Namespaces x h7
x.io/v1 Namespaces y g0
x.io/v1 Namespaces y g9
x.io/v1 Namespaces y h1
v1 ConfigMap x d9
v1 ConfigMap y e6
v1 ConfigMap y e9
v1 ConfigMap - a2
v2 Namespace x b5
v2 Namespace x b6
v2 Namespace x e1
v2 Namespace y b3
v2 Namespace y b4
v2 Namespace y c0
v2 Namespace y g7
v2 Namespace - a0
v2 Namespace - b8
v2 Namespace - e4
v2 Namespace - g8
v1 Namespace - a3
v1 Namespace - a7
v1 Namespace - c4
v1 Namespace - d1
v1 Namespace - d7
v1 Namespace - e9
v1 Namespace - f3
a.io/v1 Namespace x a6
a.io/v1 Namespace y e9
a.io/v1 Namespace y g8
a.io/v1 Namespace - e6
a.io/v1 Namespace - g9
foo.io/v1 Namespace x d1
foo.io/v1 Namespace x f2
foo.io/v1 Namespace y a9
foo.io/v1 Namespace y c1
foo.io/v1 Namespace y g5
foo.io/v1 Namespace y h0
foo.io/v1 Namespace y h8
foo.io/v1 Namespace - a4
foo.io/v1 Namespace - c4
foo.io/v1 Namespace - e7
m.io/v1 Namespace x a0
m.io/v1 Namespace x b0
m.io/v1 Namespace x g8
m.io/v1 Namespace y a3
m.io/v1 Namespace y d9
m.io/v1 Namespace - c1
m.io/v1 Namespace - d1
zz.io/v1 Namespace x c7
zz.io/v1 Namespace x e4
zz.io/v1 Namespace y a0
zz.io/v1 Namespace y d9
zz.io/v1 Namespace - b6
zz.io/v1 Namespace - d4
zz.io/v1 Namespace - f7
zz.io/v1 Namespace - h5
v1 Namespacf x d3
v1 Namespacf x f3
v1 Namespacf x g4
v1 Namespacf x g7
v1 Namespacf y e4
v1 Namespacf - d4
v1 Namespacf - h8
v1 Service x e4
v1 Service x h2
v1 Service y b9
v1 Service y c2
v1 Service - c0
";
}
