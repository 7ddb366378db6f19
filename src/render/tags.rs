//! The record of the tag keys gitfleet manages on a cloud resource: tags named
//! `gitfleet.io/managed-tags` (then `…-2`, `…-3` when one value cannot hold them all) listing the
//! definition's keys, separated by spaces. Only keys listed there are ever removed; tags set by
//! anyone else are left alone.
//!
//! Spaces, because AWS tag values allow letters, digits, spaces and `_ . : / = + - @` only (no
//! comma) and Azure's allow anything but control characters. A key that itself holds a space
//! would read back as other keys, so such a key is left out of the record: gitfleet then never
//! removes it, which errs on the safe side.

use std::collections::{BTreeMap, BTreeSet};

use super::{CLUSTER_KEY, FLEET_KEY, OWNER_KEY};

/// The first tag of the record; further ones are `gitfleet.io/managed-tags-2`, `-3`, ….
pub const MANAGED_TAGS_KEY: &str = "gitfleet.io/managed-tags";

/// AWS and Azure both allow 256 characters in a tag value (AWS counts UTF-16 units).
const VALUE_LIMIT: usize = 256;

/// Whether `key` is one of the record's own tags.
pub fn is_record_key(key: &str) -> bool {
    key == MANAGED_TAGS_KEY
        || key
            .strip_prefix(MANAGED_TAGS_KEY)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn own_key(key: &str) -> bool {
    [OWNER_KEY, FLEET_KEY, CLUSTER_KEY].contains(&key) || is_record_key(key)
}

/// The record tags for a resource whose definition sets `tags` (gitfleet's own keys are not
/// listed: they are always desired). Empty when there is nothing to record.
pub fn record(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut values: Vec<String> = Vec::new();
    let mut current = String::new();
    for key in tags.keys().filter(|k| !own_key(k) && !k.contains(' ')) {
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
        .map(|(i, v)| (record_key(i), v))
        .collect()
}

fn record_key(index: usize) -> String {
    match index {
        0 => MANAGED_TAGS_KEY.to_string(),
        n => format!("{MANAGED_TAGS_KEY}-{}", n + 1),
    }
}

/// How many record tags `tags` need (validation counts them against the per-resource limit).
pub fn record_len(tags: &BTreeMap<String, String>) -> usize {
    record(tags).len()
}

/// Adds the record of `tags`' keys to `tags` (replacing any record they carried).
pub fn add_record(tags: &mut BTreeMap<String, String>) {
    tags.retain(|k, _| !is_record_key(k));
    let record = record(tags);
    tags.extend(record);
}

/// The keys an observed resource's record lists as set by gitfleet.
pub fn recorded(tags: &BTreeMap<String, String>) -> BTreeSet<String> {
    tags.iter()
        .filter(|(k, _)| is_record_key(k))
        .flat_map(|(_, v)| v.split(' ').filter(|k| !k.is_empty()).map(str::to_string))
        .collect()
}

/// Whether gitfleet may remove `key` from a resource tagged `observed`: it is listed in the
/// record, or is one of the record's own tags.
pub fn removable(key: &str, observed: &BTreeMap<String, String>) -> bool {
    is_record_key(key) || recorded(observed).contains(key)
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
