//! Field specs: kustomize's way of naming where in which kinds a transformer acts
//! (`{group, version, kind, path: spec/template/metadata/labels, create: true}`), and the walk
//! that visits those fields. Lists on the way are entered implicitly (a path through
//! `spec/template/spec/containers/image` visits every container), `[]` after a segment is
//! accepted and means the same, and `\/` escapes a slash inside a key.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ResId;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            path: path.into(),
            create,
        }
    }

    /// Whether the spec applies to an object of this id (empty parts match anything).
    pub fn applies_to(&self, id: &ResId) -> bool {
        (self.group.is_empty() || self.group == id.group)
            && (self.version.is_empty() || self.version == id.version)
            && (self.kind.is_empty() || self.kind == id.kind)
    }

    /// The path as its segments.
    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits `a/b\/c/d[]` into `["a", "b/c", "d"]`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => segs.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    segs.push(cur);
    segs.into_iter()
        .map(|s| s.strip_suffix("[]").map(str::to_string).unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Visits every field the path names in `value`, entering lists on the way. With `create`,
/// missing maps on the way (and the final field, as `null`) are made; a created field the
/// visitor leaves `null` is removed again. The visitor's first error stops the walk.
pub fn visit<E>(
    value: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        Value::Array(items) => {
            for item in items {
                visit(item, path, create, f)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let Some((first, rest)) = path.split_first() else {
                return f(value);
            };
            visit_key(map, first, rest, create, f)
        }
        _ if path.is_empty() => f(value),
        _ => Ok(()),
    }
}

fn visit_key<E>(
    map: &mut Map<String, Value>,
    key: &str,
    rest: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(child) = map.get_mut(key) {
        if rest.is_empty() {
            // The field itself, whatever it holds (a list at the end of a path, such as
            // `args`, is the field, not a list to enter).
            return f(child);
        }
        if child.is_null() && create {
            *child = Value::Object(Map::new());
        }
        return visit(child, rest, create, f);
    }
    if !create {
        return Ok(());
    }
    let mut fresh = if rest.is_empty() {
        Value::Null
    } else {
        Value::Object(Map::new())
    };
    let result = if rest.is_empty() {
        f(&mut fresh)
    } else {
        visit(&mut fresh, rest, create, f)
    };
    let keep = match &fresh {
        Value::Null => false,
        Value::Object(m) => !m.is_empty() || rest.is_empty(),
        _ => true,
    };
    if keep {
        map.insert(key.to_string(), fresh);
    }
    result
}

/// A name reference rule: fields (`field_specs`) in other objects that hold the name of an
/// object of this group/version/kind (kustomize's `nameReference` entries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NameBackRef {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

/// The field specs every builtin transformer uses: kustomize's defaults, plus what a
/// kustomization's `configurations:` files (and `crds:`) add. The YAML form is kustomize's
/// transformer configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default, rename = "namespace")]
    pub name_space: Vec<FieldSpec>,
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameBackRef>,
}

fn merge_specs(into: &mut Vec<FieldSpec>, from: Vec<FieldSpec>) {
    for spec in from {
        if !into.contains(&spec) {
            into.push(spec);
        }
    }
}

impl Config {
    /// Adds another configuration's specs (duplicates dropped; name references for the same
    /// kind combine their field specs).
    pub fn merge(&mut self, other: Config) {
        merge_specs(&mut self.name_prefix, other.name_prefix);
        merge_specs(&mut self.name_suffix, other.name_suffix);
        merge_specs(&mut self.name_space, other.name_space);
        merge_specs(&mut self.common_labels, other.common_labels);
        merge_specs(&mut self.template_labels, other.template_labels);
        merge_specs(&mut self.common_annotations, other.common_annotations);
        merge_specs(&mut self.images, other.images);
        merge_specs(&mut self.replicas, other.replicas);
        merge_specs(&mut self.var_reference, other.var_reference);
        for rule in other.name_reference {
            match self
                .name_reference
                .iter_mut()
                .find(|r| r.group == rule.group && r.version == rule.version && r.kind == rule.kind)
            {
                Some(existing) => merge_specs(&mut existing.field_specs, rule.field_specs),
                None => self.name_reference.push(rule),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_on_unescaped_slashes_and_drop_list_marks() {
        assert_eq!(
            split_path(r"metadata/annotations/a.io\/b"),
            vec!["metadata", "annotations", "a.io/b"]
        );
        assert_eq!(
            split_path("spec/containers[]/image"),
            vec!["spec", "containers", "image"]
        );
    }

    #[test]
    fn lists_on_the_way_are_entered_and_create_makes_maps() {
        let mut v =
            json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}, {"name": "c"}]}});
        let path = split_path("spec/containers/image");
        let mut seen = Vec::new();
        visit::<()>(&mut v, &path, false, &mut |f| {
            seen.push(f.clone());
            *f = json!("x");
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![json!("a"), json!("b")]);
        assert_eq!(v["spec"]["containers"][2], json!({"name": "c"}));

        let mut v = json!({"spec": {}});
        visit::<()>(
            &mut v,
            &split_path("spec/template/metadata/labels"),
            true,
            &mut |f| {
                *f = json!({"a": "b"});
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}})
        );

        let mut v = json!({"spec": {}});
        visit::<()>(&mut v, &split_path("spec/x/y"), true, &mut |_| Ok(())).unwrap();
        assert_eq!(v, json!({"spec": {}}));
    }
}
