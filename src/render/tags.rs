//! The records of what gitfleet manages on a cloud resource, kept in its tags: tags named
//! `gitfleet.io/managed-tags` (then `…-2`, `…-3` when one value cannot hold them all) listing the
//! definition's tag keys, separated by spaces; on node groups and agent pools also
//! `gitfleet.io/managed-labels` and `gitfleet.io/managed-taints` listing the node label and taint
//! keys the definition sets. Only keys listed there are ever removed; tags, labels and taints set
//! by anyone else are left alone.
//!
//! Spaces, because AWS tag values allow letters, digits, spaces and `_ . : / = + - @` only (no
//! comma) and Azure's allow anything but control characters. A key that itself holds a space
//! would read back as other keys, so such a key is left out of the record: gitfleet then never
//! removes it, which errs on the safe side.

use std::collections::{BTreeMap, BTreeSet};

use super::{CLUSTER_KEY, FLEET_KEY, OWNER_KEY};

/// The first tag of the record of tag keys; further ones are `gitfleet.io/managed-tags-2`, `-3`, ….
pub const MANAGED_TAGS_KEY: &str = "gitfleet.io/managed-tags";
/// The record of a node pool's label keys.
pub const MANAGED_LABELS_KEY: &str = "gitfleet.io/managed-labels";
/// The record of a node pool's taint keys.
pub const MANAGED_TAINTS_KEY: &str = "gitfleet.io/managed-taints";

const RECORDS: [&str; 3] = [MANAGED_TAGS_KEY, MANAGED_LABELS_KEY, MANAGED_TAINTS_KEY];

/// AWS and Azure both allow 256 characters in a tag value (AWS counts UTF-16 units).
const VALUE_LIMIT: usize = 256;

/// Whether `key` is a tag of the record named `name`.
fn in_record(name: &str, key: &str) -> bool {
    key == name
        || key
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `key` is one of the records' own tags.
pub fn is_record_key(key: &str) -> bool {
    RECORDS.iter().any(|r| in_record(r, key))
}

fn own_key(key: &str) -> bool {
    [OWNER_KEY, FLEET_KEY, CLUSTER_KEY].contains(&key) || is_record_key(key)
}

/// The tags of the record `name` listing `keys`. Empty when there is nothing to record.
fn record_of<'a>(name: &str, keys: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut values: Vec<String> = Vec::new();
    let mut current = String::new();
    for key in keys.filter(|k| !k.contains(' ') && !k.is_empty()) {
        let units = |s: &str| s.encode_utf16().count();
        if !current.is_empty() && units(&current) + 1 + units(key) > VALUE_LIMIT {
            values.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(key);
    }
    if !current.is_empty() {
        values.push(current);
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let key = match i {
                0 => name.to_string(),
                n => format!("{name}-{}", n + 1),
            };
            (key, v)
        })
        .collect()
}

/// The record tags for a resource whose definition sets `tags` (gitfleet's own keys are not
/// listed: they are always desired). Empty when there is nothing to record.
pub fn record(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    record_of(
        MANAGED_TAGS_KEY,
        tags.keys().map(String::as_str).filter(|k| !own_key(k)),
    )
}

/// How many record tags `tags` need (validation counts them against the per-resource limit).
pub fn record_len(tags: &BTreeMap<String, String>) -> usize {
    record(tags).len()
}

/// Adds the record of `tags`' keys to `tags` (replacing any record they carried).
pub fn add_record(tags: &mut BTreeMap<String, String>) {
    tags.retain(|k, _| !in_record(MANAGED_TAGS_KEY, k));
    let record = record(tags);
    tags.extend(record);
}

/// A taint's key, from its `key=value:Effect` or `key:Effect` form.
pub fn taint_key(taint: &str) -> &str {
    let end = taint.find(['=', ':']).unwrap_or(taint.len());
    &taint[..end]
}

/// Adds to a node pool's `tags` the records of the label keys and taint keys its definition
/// sets (replacing any it carried).
pub fn add_pool_records(
    tags: &mut BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    taints: &[String],
) {
    tags.retain(|k, _| !in_record(MANAGED_LABELS_KEY, k) && !in_record(MANAGED_TAINTS_KEY, k));
    tags.extend(record_of(
        MANAGED_LABELS_KEY,
        labels.keys().map(String::as_str),
    ));
    let keys: BTreeSet<&str> = taints.iter().map(|t| taint_key(t)).collect();
    tags.extend(record_of(MANAGED_TAINTS_KEY, keys.into_iter()));
}

/// The keys the record `name` of an observed resource (tagged `tags`) lists.
pub fn recorded_in(name: &str, tags: &BTreeMap<String, String>) -> BTreeSet<String> {
    tags.iter()
        .filter(|(k, _)| in_record(name, k))
        .flat_map(|(_, v)| v.split(' ').filter(|k| !k.is_empty()).map(str::to_string))
        .collect()
}

/// The tag keys an observed resource's record lists as set by gitfleet.
pub fn recorded(tags: &BTreeMap<String, String>) -> BTreeSet<String> {
    recorded_in(MANAGED_TAGS_KEY, tags)
}

/// Whether gitfleet may remove `key` from a resource tagged `observed`: it is listed in the
/// record, or is one of the records' own tags.
pub fn removable(key: &str, observed: &BTreeMap<String, String>) -> bool {
    is_record_key(key) || recorded(observed).contains(key)
}

/// The node labels a pool labelled `have` (tagged `tags`) should carry: the definition's
/// `want`, and every label it has that gitfleet did not set (not in the labels record).
pub fn labels_to_keep(
    have: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let managed = recorded_in(MANAGED_LABELS_KEY, tags);
    let mut out: BTreeMap<String, String> = have
        .iter()
        .filter(|(k, _)| !managed.contains(*k) && !want.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.extend(want.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The taints a pool tainted `have` (tagged `tags`) should carry, sorted: the definition's
/// `want`, and every taint whose key gitfleet did not set (not in the taints record) and the
/// definition does not name.
pub fn taints_to_keep(
    have: &[String],
    tags: &BTreeMap<String, String>,
    want: &[String],
) -> Vec<String> {
    let managed = recorded_in(MANAGED_TAINTS_KEY, tags);
    let wanted: BTreeSet<&str> = want.iter().map(|t| taint_key(t)).collect();
    let mut out: Vec<String> = have
        .iter()
        .filter(|t| !managed.contains(taint_key(t)) && !wanted.contains(taint_key(t)))
        .cloned()
        .collect();
    out.extend(want.iter().cloned());
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_record_lists_the_definitions_keys_but_not_gitfleets_own() {
        let mut tags = map(&[
            ("team", "a"),
            ("env", "b"),
            (OWNER_KEY, "gitfleet"),
            ("has space", "x"),
        ]);
        add_record(&mut tags);
        assert_eq!(tags[MANAGED_TAGS_KEY], "env team");
        assert_eq!(
            recorded(&tags),
            ["env", "team"].map(String::from).into_iter().collect()
        );
        assert!(removable("team", &tags));
        assert!(!removable("owner", &tags));
        assert!(removable("gitfleet.io/managed-tags-2", &tags));
        assert!(!is_record_key("gitfleet.io/managed-tags-x"));
        assert!(is_record_key("gitfleet.io/managed-labels"));
        assert!(is_record_key("gitfleet.io/managed-taints-2"));
    }

    #[test]
    fn labels_and_taints_set_by_others_are_kept() {
        let mut tags = map(&[("team", "a")]);
        add_record(&mut tags);
        add_pool_records(
            &mut tags,
            &map(&[("role", "web"), ("old", "x")]),
            &["dedicated=web:NoSchedule".to_string()],
        );
        assert_eq!(tags[MANAGED_LABELS_KEY], "old role");
        assert_eq!(tags[MANAGED_TAINTS_KEY], "dedicated");
        assert_eq!(
            tags[MANAGED_TAGS_KEY], "team",
            "the records are not tags of the definition"
        );
        // the definition drops `old`; someone else added `cost-center` and a GPU taint
        let have = map(&[("role", "web"), ("old", "x"), ("cost-center", "42")]);
        let want = map(&[("role", "api")]);
        assert_eq!(
            labels_to_keep(&have, &tags, &want),
            map(&[("role", "api"), ("cost-center", "42")])
        );
        let have_taints = [
            "dedicated=web:NoSchedule".to_string(),
            "nvidia.com/gpu:NoSchedule".to_string(),
        ];
        assert_eq!(
            taints_to_keep(&have_taints, &tags, &[]),
            vec!["nvidia.com/gpu:NoSchedule".to_string()]
        );
        // a pool without records (made before them): nothing is removed
        let bare = BTreeMap::new();
        assert_eq!(labels_to_keep(&have, &bare, &want).len(), 3);
        assert_eq!(taint_key("k=v:NoExecute"), "k");
        assert_eq!(taint_key("k:NoExecute"), "k");
    }

    #[test]
    fn a_long_record_is_split_into_values_of_at_most_256_characters() {
        let tags: BTreeMap<String, String> = (0..40)
            .map(|i| (format!("cost-allocation-key-{i:02}"), "v".to_string()))
            .collect();
        let record = record(&tags);
        assert!(record.len() > 1);
        assert!(record.values().all(|v| v.encode_utf16().count() <= 256));
        assert!(record.contains_key("gitfleet.io/managed-tags-2"));
        let mut all = tags.clone();
        all.extend(record);
        assert_eq!(recorded(&all), tags.keys().cloned().collect());
    }
}
