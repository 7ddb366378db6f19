//! Values as Helm composes them: user values merged file after file, chart
//! defaults coalesced under them (a `null` deletes a key, maps merge, each
//! sub-chart sees its own key, `global` flows down), dependencies enabled by
//! `condition`/`tags`, and `import-values` lifted from sub-charts.
//!
//! A port of Helm's `chartutil` coalescing (`coalesce.go`, `dependencies.go`).

use serde_json::Value as Json;

use crate::chart::Chart;

pub type Vals = serde_json::Map<String, Json>;

/// Helm's `mergeMaps`: how `-f a.yaml -f b.yaml` combine (later wins, maps merge).
pub fn merge_maps(a: &Vals, b: &Vals) -> Vals {
    let mut out = a.clone();
    for (k, v) in b {
        if let Json::Object(bv) = v
            && let Some(Json::Object(av)) = out.get(k)
        {
            let merged = merge_maps(av, bv);
            out.insert(k.clone(), Json::Object(merged));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

fn concat_prefix(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// `CoalesceValues`: the chart's defaults (and its sub-charts') under `vals`.
pub fn coalesce_values(chart: &Chart, vals: &Vals) -> Result<Vals, String> {
    let mut dest = vals.clone();
    coalesce(chart, &mut dest, "", false)?;
    Ok(dest)
}

/// `MergeValues`: as `coalesce_values`, keeping `null`s.
pub fn merge_values(chart: &Chart, vals: &Vals) -> Result<Vals, String> {
    let mut dest = vals.clone();
    coalesce(chart, &mut dest, "", true)?;
    Ok(dest)
}

fn coalesce(ch: &Chart, dest: &mut Vals, prefix: &str, merge: bool) -> Result<(), String> {
    coalesce_chart_values(ch, dest, prefix, merge);
    coalesce_deps(ch, dest, prefix, merge)
}

fn coalesce_deps(ch: &Chart, dest: &mut Vals, prefix: &str, merge: bool) -> Result<(), String> {
    for sub in &ch.dependencies {
        let name = sub.name().to_string();
        let mut dv = match dest.remove(&name) {
            None => Vals::new(),
            Some(Json::Object(m)) => m,
            Some(other) => {
                return Err(format!(
                    "type mismatch on {name}: {}",
                    crate::go_print_json(&other)
                ));
            }
        };
        let sub_prefix = concat_prefix(prefix, ch.name());
        coalesce_globals(&mut dv, dest, &sub_prefix);
        coalesce(sub, &mut dv, &sub_prefix, merge)?;
        dest.insert(name, Json::Object(dv));
    }
    Ok(())
}

fn coalesce_globals(dest: &mut Vals, src: &Vals, prefix: &str) {
    let mut dg = match dest.get("global") {
        None => Vals::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => Vals::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
    };
    for (key, val) in sg {
        if let Json::Object(vv) = &val {
            let mut vv = vv.clone();
            match dg.get(&key) {
                None => {
                    dg.insert(key, Json::Object(vv));
                }
                Some(Json::Object(destv)) => {
                    coalesce_tables(&mut vv, destv.clone(), &concat_prefix(prefix, &key), true);
                    dg.insert(key, Json::Object(vv));
                }
                Some(_) => {}
            }
        } else if matches!(dg.get(&key), Some(Json::Object(_))) {
            // a table in the sub-chart's globals is not replaced by a scalar
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert("global".into(), Json::Object(dg));
}

fn coalesce_chart_values(c: &Chart, v: &mut Vals, _prefix: &str, merge: bool) {
    for (key, val) in &c.values {
        match v.get_mut(key) {
            Some(value) => {
                if value.is_null() && !merge {
                    v.remove(key);
                } else if let Json::Object(dest) = value
                    && let Json::Object(src) = val
                {
                    let merge = merge || c.dependencies.iter().any(|d| d.name() == key);
                    coalesce_tables(dest, src.clone(), key, merge);
                }
            }
            None => {
                // a chart default's nulls are not copied when coalescing: they
                // delete nothing and do not appear in .Values (Helm 4)
                if merge {
                    v.insert(key.clone(), val.clone());
                } else if let Some(t) = without_nulls(val) {
                    v.insert(key.clone(), t);
                }
            }
        }
    }
}

fn without_nulls(v: &Json) -> Option<Json> {
    match v {
        Json::Null => None,
        Json::Object(m) => Some(Json::Object(
            m.iter()
                .filter_map(|(k, x)| Some((k.clone(), without_nulls(x)?)))
                .collect(),
        )),
        v => Some(v.clone()),
    }
}

/// `coalesceTablesFullKey`: `src` under `dst` (`dst` wins).
pub fn coalesce_tables(dst: &mut Vals, mut src: Vals, prefix: &str, merge: bool) {
    for (key, val) in dst.iter() {
        if val.is_null() {
            src.insert(key.clone(), Json::Null);
        }
    }
    for (key, val) in src {
        match dst.get_mut(&key) {
            Some(dv) if !merge && dv.is_null() => {
                dst.remove(&key);
            }
            None => {
                if merge {
                    dst.insert(key, val);
                } else if let Some(t) = without_nulls(&val) {
                    dst.insert(key, t);
                }
            }
            Some(dv) => {
                if let Json::Object(sv) = val
                    && let Json::Object(dvm) = dv
                {
                    coalesce_tables(dvm, sv, &concat_prefix(prefix, &key), merge);
                }
            }
        }
    }
}

/// `Values.Table`: the map at a dotted path.
fn table<'a>(v: &'a Vals, path: &str) -> Option<&'a Vals> {
    let mut cur = v;
    for part in path.split('.') {
        match cur.get(part) {
            Some(Json::Object(m)) => cur = m,
            _ => return None,
        }
    }
    Some(cur)
}

/// `Values.PathValue`: a non-table value at a dotted path.
fn path_value<'a>(v: &'a Vals, path: &str) -> Option<&'a Json> {
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (table(v, p)?, k),
        None => (v, path),
    };
    match parent.get(key) {
        Some(Json::Object(_)) | None => None,
        Some(x) => Some(x),
    }
}

/// `ProcessDependenciesWithMerge`: drops the sub-charts that `condition`s
/// and `tags` disable (aliases become copies named by the alias), then
/// applies `import-values`.
pub fn process_dependencies(chart: &mut Chart, vals: &Vals) -> Result<(), String> {
    process_enabled(chart, vals, "")?;
    process_imports(chart)
}

fn process_enabled(c: &mut Chart, v: &Vals, path: &str) -> Result<(), String> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let compatible = |constraint: &str, version: &str| {
        gotemplate::semver_matches(constraint, version).unwrap_or(false)
    };
    let mut deps: Vec<Chart> = Vec::new();
    for existing in &c.dependencies {
        let listed = c.metadata.dependencies.iter().any(|req| {
            existing.name() == req.name && compatible(&req.version, &existing.metadata.version)
        });
        if !listed {
            deps.push(existing.clone());
        }
    }
    for req in c.metadata.dependencies.iter_mut() {
        if let Some(found) = c
            .dependencies
            .iter()
            .find(|ch| ch.name() == req.name && compatible(&req.version, &ch.metadata.version))
        {
            let mut copy = found.clone();
            if !req.alias.is_empty() {
                copy.metadata.name = req.alias.clone();
            }
            deps.push(copy);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    c.dependencies = deps;
    for req in c.metadata.dependencies.iter_mut() {
        req.enabled = true;
    }
    let cvals = coalesce_values(c, v)?;
    // tags, then conditions (a condition that resolves wins)
    if let Some(Json::Object(tags)) = cvals.get("tags") {
        for r in c.metadata.dependencies.iter_mut() {
            let (mut has_true, mut has_false) = (false, false);
            for k in &r.tags {
                if let Some(Json::Bool(b)) = tags.get(k) {
                    if *b {
                        has_true = true;
                    } else {
                        has_false = true;
                    }
                }
            }
            if !has_true && has_false {
                r.enabled = false;
            } else if has_true || !has_false {
                r.enabled = true;
            }
        }
    }
    for r in c.metadata.dependencies.iter_mut() {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Some(Json::Bool(b)) = path_value(&cvals, &format!("{path}{cond}")) {
                r.enabled = *b;
                break;
            }
        }
    }
    let removed: Vec<String> = c
        .metadata
        .dependencies
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    c.dependencies
        .retain(|d| !removed.iter().any(|n| n == d.name()));
    c.metadata
        .dependencies
        .retain(|r| !removed.contains(&r.name));
    for sub in c.dependencies.iter_mut() {
        let subpath = format!("{path}{}.", sub.name());
        process_enabled(sub, &cvals, &subpath)?;
    }
    Ok(())
}

fn path_to_map(path: &str, data: Vals) -> Vals {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for part in path.split('.').filter(|p| !p.is_empty()).rev() {
        let mut m = Vals::new();
        m.insert(part.to_string(), Json::Object(cur));
        cur = m;
    }
    cur
}

fn process_imports(c: &mut Chart) -> Result<(), String> {
    for d in c.dependencies.iter_mut() {
        process_imports(d)?;
    }
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = merge_values(c, &Vals::new())?;
    let mut b = Vals::new();
    for r in c.metadata.dependencies.iter_mut() {
        let mut out = Vec::new();
        for iv in &r.import_values {
            let (child, parent) = match iv {
                Json::Object(m) => (
                    m.get("child")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    m.get("parent")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                ),
                Json::String(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            let mut entry = serde_json::Map::new();
            entry.insert("child".into(), Json::String(child.clone()));
            entry.insert("parent".into(), Json::String(parent.clone()));
            out.push(Json::Object(entry));
            let Some(vv) = table(&cvals, &format!("{}.{child}", r.name)) else {
                continue;
            };
            coalesce_tables(&mut b, path_to_map(&parent, vv.clone()), "", true);
        }
        r.import_values = out;
    }
    let mut merged = cvals;
    coalesce_tables(&mut merged, b, "", true);
    c.values = merged;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Json) -> Vals {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn later_files_win_and_maps_merge() {
        let a = m(json!({"a": {"x": 1, "y": 2}, "l": [1]}));
        let b = m(json!({"a": {"y": 3}, "l": [2]}));
        assert_eq!(
            Json::Object(merge_maps(&a, &b)),
            json!({"a": {"x": 1, "y": 3}, "l": [2]})
        );
    }

    #[test]
    fn a_null_deletes_a_default() {
        let mut dst = m(json!({"a": null, "b": {"c": null}}));
        coalesce_tables(
            &mut dst,
            m(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4})),
            "",
            false,
        );
        assert_eq!(Json::Object(dst), json!({"b": {"d": 3}, "e": 4}));
    }
}
