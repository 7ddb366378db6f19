//! `configMapGenerator` and `secretGenerator`: one entry into a ConfigMap or Secret exactly as
//! kustomize v5.8.1 makes it, and how a generated object joins what a kustomization has
//! accumulated (`behavior: create | merge | replace`).
//!
//! What kustomize does, checked against `kubectl kustomize`:
//!
//! * `literals`: `key=value`, split at the first `=`; a value wrapped in a matching pair of `"`
//!   or `'` loses that pair (and only that); no `=`, or nothing before it, is an error.
//! * `files`: `path` (the key is the file name) or `key=path`; a directory is an error, as is
//!   more than one `=`, or an empty key or path.
//! * `envs` (and the deprecated `env`, read after them): one `KEY=value` per line; leading
//!   whitespace is dropped, blank lines and lines starting with `#` are skipped, a trailing `\r`
//!   is dropped, nothing else is touched (quotes and `export ` stay part of the key or value).
//!   A line without `=` is the key with an empty value: kustomize v5.8.1 no longer reads the
//!   process environment there, and neither does this. A line with nothing before `=` is
//!   skipped.
//! * Keys are not validated (kustomize accepts `a b`, `a/b` or `.`; the API server refuses
//!   them later). A key given twice is an error.
//! * Secrets: every value base64-encoded into `data`, `type` defaulting to `Opaque`, `data: {}`
//!   when empty. ConfigMaps: text into `data`, non-UTF-8 file contents base64-encoded into
//!   `binaryData` ([`config_map_value`]; the [`crate::Loader`] reads text only, so until it
//!   can hand over bytes every file lands in `data`), no `data` when empty. Base64 longer than 70 characters is broken into lines
//!   of 70, each ending with a newline, as kustomize does (and hashes).
//! * Options: the kustomization's `generatorOptions` and the entry's own `options` combine:
//!   labels and annotations are both applied (the entry's win on a conflict),
//!   `disableNameSuffixHash` and `immutable` hold if either says so.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::dir::Dir;
use crate::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::resource::{Behavior, ResId};
use crate::{Diag, Resource, Span};

/// bufio.Scanner's limit: kustomize silently stops reading an env file at a line this long.
const MAX_ENV_LINE: usize = 64 * 1024;

/// One generator entry into a ConfigMap (or, with `secret`, a Secret). `defaults` is the
/// kustomization's `generatorOptions`. Every problem is located at `span` (the entry).
pub fn generate(
    dir: Dir<'_>,
    args: &GeneratorArgs,
    secret: bool,
    defaults: Option<&GeneratorOptions>,
    span: &Span,
) -> Result<Resource, Vec<Diag>> {
    let what = if secret { "secret" } else { "configmap" };
    let field = if secret {
        "secretGenerator"
    } else {
        "configMapGenerator"
    };
    let mut diags = Vec::new();
    let err = |message: String| Diag::error(span.clone(), message);

    if args.name.is_empty() {
        diags.push(
            err(format!("a {what} must have a name"))
                .with_hint(format!("give the {field} entry a `name`")),
        );
    }
    if !secret && !args.kind.is_empty() {
        diags.push(err(
            "configMapGenerator entries have no `type` field (only secretGenerator's do)".into(),
        ));
    }
    let behavior = match args.behavior.as_str() {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => {
            diags.push(
                err(format!("unknown behavior `{other}`"))
                    .with_hint("behavior is one of create (the default), merge or replace"),
            );
            Behavior::Create
        }
    };

    // Key/value pairs in kustomize's order: env files, literals, files.
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let env_files = args
        .envs
        .iter()
        .chain(std::iter::once(&args.env).filter(|e| !e.is_empty()));
    for env_file in env_files {
        match dir.read_file(env_file, span) {
            Ok((_, text)) => match parse_env(&text) {
                Ok(found) => pairs.extend(found.into_iter().map(|(k, v)| (k, v.into_bytes()))),
                Err(line) => diags.push(
                    err(format!(
                        "line {line} of env file {env_file} is longer than {} bytes",
                        MAX_ENV_LINE - 1
                    ))
                    .with_hint(
                        "kustomize silently ignores such a line and every line after it; put \
                         a value this long in a file named under `files`",
                    ),
                ),
            },
            Err(d) => diags.push(d),
        }
    }
    for (index, literal) in args.literals.iter().enumerate() {
        match parse_literal(literal) {
            Some((k, v)) => pairs.push((k, v.into_bytes())),
            None => {
                let shown = if secret {
                    // The text may be a secret value; never repeat it.
                    format!("literal {} of the secret", index + 1)
                } else {
                    format!("literal `{literal}`")
                };
                diags.push(err(format!("invalid {shown}: expected key=value")));
            }
        }
    }
    for source in &args.files {
        match parse_file_source(source) {
            Ok((key, path)) => match dir.read_file_bytes(&path, span) {
                Ok((_, bytes)) => pairs.push((key, bytes)),
                Err(d) => diags.push(d),
            },
            Err(message) => diags.push(err(message)),
        }
    }

    let mut seen = BTreeMap::new();
    for (key, value) in pairs {
        if seen.contains_key(&key) {
            diags.push(err(format!(
                "{what} {} illegally repeats the key `{key}`",
                args.name
            )));
            continue;
        }
        seen.insert(key, value);
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let local = args.options.clone().unwrap_or_default();
    let global = defaults.cloned().unwrap_or_default();
    let mut labels = global.labels;
    labels.extend(local.labels);
    let mut annotations = global.annotations;
    annotations.extend(local.annotations);
    let disable_hash = local.disable_name_suffix_hash.unwrap_or(false)
        || global.disable_name_suffix_hash.unwrap_or(false);
    let immutable = local.immutable.unwrap_or(false) || global.immutable.unwrap_or(false);

    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(args.name));
    if !args.namespace.is_empty() {
        metadata.insert("namespace".into(), json!(args.namespace));
    }
    if !labels.is_empty() {
        metadata.insert("labels".into(), json!(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), json!(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert(
        "kind".into(),
        json!(if secret { "Secret" } else { "ConfigMap" }),
    );
    obj.insert("metadata".into(), Value::Object(metadata));

    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, value) in seen {
        if secret {
            data.insert(key, Value::String(base64_lines(&value)));
        } else {
            match config_map_value(value) {
                ConfigMapValue::Text(text) => data.insert(key, Value::String(text)),
                ConfigMapValue::Binary(b64) => binary.insert(key, Value::String(b64)),
            };
        }
    }
    if secret || !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if secret {
        let kind = if args.kind.is_empty() {
            "Opaque"
        } else {
            &args.kind
        };
        obj.insert("type".into(), json!(kind));
    }
    if immutable {
        obj.insert("immutable".into(), json!(true));
    }

    let mut res = Resource::new(Value::Object(obj), span.clone());
    res.needs_hash = !disable_hash;
    res.behavior = Some(behavior);
    Ok(res)
}

/// Where a ConfigMap keeps a value: text in `data`, anything that is not UTF-8 in
/// `binaryData` (base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigMapValue {
    Text(String),
    Binary(String),
}

/// A file's (or literal's) bytes as a ConfigMap holds them.
pub fn config_map_value(bytes: Vec<u8>) -> ConfigMapValue {
    match String::from_utf8(bytes) {
        Ok(text) => ConfigMapValue::Text(text),
        Err(e) => ConfigMapValue::Binary(base64_lines(e.as_bytes())),
    }
}

/// `key=value`, kustomize's way: split at the first `=`, a matching pair of quotes around the
/// value removed. `None` when there is no `=` or nothing before it.
fn parse_literal(source: &str) -> Option<(String, String)> {
    let (key, value) = source.split_once('=')?;
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), remove_quotes(value).to_string()))
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `path` or `key=path`: the key and the path.
fn parse_file_source(source: &str) -> Result<(String, String), String> {
    match source.matches('=').count() {
        0 => Ok((base_name(source), source.to_string())),
        1 => {
            let (key, path) = source.split_once('=').unwrap_or_default();
            if key.is_empty() {
                Err(format!(
                    "missing key name for file path {path:?} in source {source:?}"
                ))
            } else if path.is_empty() {
                Err(format!(
                    "missing file path for key name {key:?} in source {source:?}"
                ))
            } else {
                Ok((key.to_string(), path.to_string()))
            }
        }
        _ => Err(format!(
            "source {source:?} key name or file path contains '='"
        )),
    }
}

/// Go's `filepath.Base` for `/`-separated paths.
fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" }.to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// An env file's pairs, in order. `Err(line)` names a line too long for kustomize's scanner.
fn parse_env(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut pairs = Vec::new();
    let mut rest = text;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let (raw, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = next;
        if raw.len() >= MAX_ENV_LINE {
            return Err(number);
        }
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if number == 1 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if key.is_empty() {
            continue;
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Base64 as kustomize writes it into Secrets and `binaryData`: one line when shorter than 70
/// characters, otherwise lines of 70, each ending with a newline.
pub fn base64_lines(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Whether two ids name the same object for a generator's merge: same group, version, kind
/// and name, and the same namespace (no namespace being `default`).
fn same_object(a: &ResId, b: &ResId) -> bool {
    let ns = |n: &str| if n.is_empty() { "default" } else { n }.to_string();
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.name == b.name
        && ns(&a.namespace) == ns(&b.namespace)
}

/// Adds a generated object to what a kustomization has accumulated. `create` (the default)
/// refuses an object that is already there; `merge` and `replace` need exactly one object that
/// has (or had, before a prefix, suffix or namespace changed it) the generated object's id.
///
/// Both keep the existing object's name, namespace and name history, and combine labels and
/// annotations (the generated ones win); `merge` also combines `data` and `binaryData` (again
/// the generated values win). Everything else is the generated object's: its `type`, its
/// `immutable`, nothing else of the old object. The result gets a name hash only when both had
/// one coming.
pub fn absorb(resources: &mut Vec<Resource>, generated: Resource, diags: &mut Vec<Diag>) {
    let id = generated.id();
    let behavior = generated.behavior.unwrap_or_default();
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ids().any(|other| same_object(&other, &id)))
        .map(|(i, _)| i)
        .collect();
    let at = generated.origin.clone();
    match (matches.as_slice(), behavior) {
        ([], Behavior::Create) => resources.push(generated),
        ([], _) => diags.push(
            Diag::error(at, format!("{id} does not exist; cannot merge or replace")).with_hint(
                "behavior merge and replace change an object from a base (resources:) or an \
                 earlier generator; check the name, the namespace and that the base is listed",
            ),
        ),
        ([index], Behavior::Create) => {
            let existing = &resources[*index];
            diags.push(
                Diag::error(
                    at,
                    format!(
                        "{id} exists (from {}); behavior must be merge or replace",
                        existing.origin
                    ),
                )
                .with_hint(format!(
                    "set `behavior: merge` or `behavior: replace` to change the existing {}",
                    id.kind
                )),
            );
        }
        ([index], _) => {
            let old = &resources[*index];
            let mut new = generated;
            let mut labels = old.labels();
            labels.extend(new.labels());
            let mut annotations = old.annotations();
            annotations.extend(new.annotations());
            set_meta_map(&mut new, "labels", labels);
            set_meta_map(&mut new, "annotations", annotations);
            let meta = new.metadata_mut();
            meta.insert("name".into(), json!(old.name()));
            if old.namespace().is_empty() {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), json!(old.namespace()));
            }
            if behavior == Behavior::Merge {
                for field in ["data", "binaryData"] {
                    let Some(Value::Object(old_map)) = old.value.get(field) else {
                        continue;
                    };
                    let mut merged = old_map.clone();
                    if let Some(Value::Object(new_map)) = new.value.get(field) {
                        merged.extend(new_map.clone());
                    }
                    new.value[field] = Value::Object(merged);
                }
                new.origin = old.origin.clone();
            }
            new.previous = old.previous.clone();
            new.needs_hash = old.needs_hash && new.needs_hash;
            resources[*index] = new;
        }
        (several, _) => {
            let ids: Vec<String> = several
                .iter()
                .map(|i| resources[*i].id().to_string())
                .collect();
            diags.push(Diag::error(
                at,
                format!(
                    "found multiple objects ({}) that could accept merge of {id}",
                    ids.join(", ")
                ),
            ));
        }
    }
}

fn set_meta_map(res: &mut Resource, key: &str, map: Map<String, Value>) {
    if map.is_empty() {
        res.metadata_mut().remove(key);
    } else {
        res.metadata_mut().insert(key.into(), Value::Object(map));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemLoader;
    use crate::hash::name_suffix;

    fn span() -> Span {
        Span::new("kustomization.yaml", 3, 3)
    }

    fn args(yaml: &str) -> GeneratorArgs {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn gen_in(
        files: &[(&str, &str)],
        dir: &str,
        yaml: &str,
        secret: bool,
        defaults: Option<&GeneratorOptions>,
    ) -> Result<Resource, Vec<Diag>> {
        let loader = MemLoader::new(files.iter().copied());
        generate(
            Dir::new(&loader, dir),
            &args(yaml),
            secret,
            defaults,
            &span(),
        )
    }

    fn gen_ok(files: &[(&str, &str)], yaml: &str, secret: bool) -> Resource {
        gen_in(files, "", yaml, secret, None).unwrap()
    }

    fn messages(r: Result<Resource, Vec<Diag>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|d| d.message).collect()
    }

    fn hashed_name(r: &Resource) -> String {
        format!("{}-{}", r.name(), name_suffix(&r.value).unwrap())
    }

    // Expected objects and names below are kubectl kustomize v5.8.1's output for the same
    // kustomization.

    #[test]
    fn literals_files_and_env_files() {
        let files = [
            (
                "e.env",
                "a=1\n# comment\n\n  b = 2 \nc=\"q\"\nd='q'\ne=x=y\n\tf=tab\n",
            ),
            ("f.txt", "hello\nworld\n"),
            ("g.txt", "x"),
        ];
        let r = gen_ok(
            &files,
            r#"
name: c
literals: [l1=v, l2="quoted", l3='single', "l4=\"mis'", l5=a=b, l6=, 'l7=" spaced "', 'l8="', ' l9=x']
files: [f.txt, k2=g.txt]
envs: [e.env]
"#,
            false,
        );
        assert_eq!(
            r.value,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {
                    " l9": "x", "a": "1", "b ": " 2 ", "c": "\"q\"", "d": "'q'", "e": "x=y",
                    "f": "tab", "f.txt": "hello\nworld\n", "k2": "x", "l1": "v", "l2": "quoted",
                    "l3": "single", "l4": "\"mis'", "l5": "a=b", "l6": "", "l7": " spaced ",
                    "l8": "\""
                }
            })
        );
        assert!(r.needs_hash);
        assert_eq!(r.behavior, Some(Behavior::Create));
        assert_eq!(hashed_name(&r), "c-b8tghd54tb");

        let s = gen_ok(&files, "name: s\nliterals: [l1=v]\nfiles: [f.txt]\n", true);
        assert_eq!(
            s.value,
            json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
                "data": {"f.txt": "aGVsbG8Kd29ybGQK", "l1": "dg=="}
            })
        );
        assert_eq!(hashed_name(&s), "s-d66bckft4t");
    }

    #[test]
    fn env_lines_without_value_bom_crlf_and_export() {
        let r = gen_ok(
            &[("e2.env", "\u{feff}a=1\r\nexport B=2\nHOMEX\n=foo\n  \t \n")],
            "name: c\nenvs: [e2.env]\n",
            false,
        );
        assert_eq!(
            r.value["data"],
            json!({"HOMEX": "", "a": "1", "export B": "2"})
        );
        assert_eq!(hashed_name(&r), "c-48hfb97d8g");
    }

    #[test]
    fn env_is_read_after_envs_and_duplicates_are_refused() {
        let files = [("e2.env", "a=1\n"), ("e3.env", "a=2")];
        let r = gen_ok(&files, "name: c\nenv: e3.env\n", false);
        assert_eq!(r.value["data"], json!({"a": "2"}));
        assert_eq!(hashed_name(&r), "c-6gtghh96k8");
        for yaml in [
            "name: c\nenvs: [e2.env]\nenv: e3.env\n",
            "name: c\nenvs: [e2.env]\nliterals: [a=3]\n",
            "name: c\nliterals: [a=3]\nfiles: [a=e3.env]\n",
        ] {
            assert_eq!(
                messages(gen_in(&files, "", yaml, false, None)),
                ["configmap c illegally repeats the key `a`"]
            );
        }
        assert_eq!(
            messages(gen_in(
                &files,
                "",
                "name: s\nliterals: [a=1, a=2]\n",
                true,
                None
            )),
            ["secret s illegally repeats the key `a`"]
        );
    }

    #[test]
    fn over_long_env_lines_are_refused_not_dropped() {
        let ok = format!("a=1\nb={}\nc=3\n", "x".repeat(65533));
        let r = gen_ok(&[("big.env", &ok)], "name: c\nenvs: [big.env]\n", false);
        assert_eq!(hashed_name(&r), "c-df86ttt79t");
        let long = format!("a=1\nb={}\nc=3\n", "x".repeat(65534));
        let e = messages(gen_in(
            &[("big.env", &long)],
            "",
            "name: c\nenvs: [big.env]\n",
            true,
            None,
        ));
        assert_eq!(e, ["line 2 of env file big.env is longer than 65535 bytes"]);
    }

    #[test]
    fn keys_are_not_validated() {
        for (literal, key) in [
            ("a/b=1", "a/b"),
            ("..x=1", "..x"),
            (".=1", "."),
            ("é=1", "é"),
            ("a b=1", "a b"),
            ("a:b=1", "a:b"),
        ] {
            let r = gen_ok(&[], &format!("name: c\nliterals: ['{literal}']\n"), false);
            assert_eq!(r.value["data"][key], json!("1"), "{literal}");
        }
    }

    #[test]
    fn bad_sources_are_errors() {
        let files = [("sub/dd/x", "hi\n"), ("sub/s.txt", "sf\n")];
        let e = |yaml: &str, secret: bool| messages(gen_in(&files, "", yaml, secret, None));
        assert_eq!(
            e("name: c\nliterals: ['=v', novalue]\n", false),
            [
                "invalid literal `=v`: expected key=value",
                "invalid literal `novalue`: expected key=value"
            ]
        );
        // A Secret's literal is never repeated back.
        assert_eq!(
            e("name: s\nliterals: [a=1, hunter2]\n", true),
            ["invalid literal 2 of the secret: expected key=value"]
        );
        assert_eq!(
            e("name: c\nfiles: [sub/dd]\n", false),
            ["sub/dd is a directory, not a file"]
        );
        assert_eq!(
            e("name: c\nfiles: [nope.txt]\n", false),
            ["nope.txt does not exist"]
        );
        assert_eq!(
            e("name: c\nfiles: [=sub/s.txt, k=, a=b=c]\n", false),
            [
                r#"missing key name for file path "sub/s.txt" in source "=sub/s.txt""#,
                r#"missing file path for key name "k" in source "k=""#,
                r#"source "a=b=c" key name or file path contains '='"#
            ]
        );
        assert_eq!(
            e("literals: [a=1]\n", false),
            ["a configmap must have a name"]
        );
        assert_eq!(e("literals: [a=1]\n", true), ["a secret must have a name"]);
        assert_eq!(
            e("name: c\nbehavior: bogus\n", false),
            ["unknown behavior `bogus`"]
        );
        assert_eq!(
            e("name: c\ntype: foo\n", false),
            ["configMapGenerator entries have no `type` field (only secretGenerator's do)"]
        );
        let r = gen_ok(&files, "name: c\nfiles: [sub/s.txt]\n", false);
        assert_eq!(r.value["data"], json!({"s.txt": "sf\n"}));
        assert_eq!(hashed_name(&r), "c-7595tfgfb9");
    }

    #[test]
    fn files_only_in_or_below_the_kustomization() {
        let files = [("x", "1"), ("app/y", "2")];
        let e = messages(gen_in(
            &files,
            "app",
            "name: c\nfiles: [../x]\n",
            false,
            None,
        ));
        assert_eq!(
            e,
            ["`../x` is not in or below the kustomization's directory app"]
        );
        let r = gen_in(&files, "app", "name: c\nfiles: [y]\n", false, None).unwrap();
        assert_eq!(r.value["data"], json!({"y": "2"}));
    }

    #[test]
    fn empty_generators() {
        let c = gen_ok(&[], "name: e\n", false);
        assert_eq!(
            c.value,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e"}})
        );
        assert_eq!(hashed_name(&c), "e-6ct58987ht");
        let s = gen_ok(&[], "name: s3\n", true);
        assert_eq!(s.value["data"], json!({}));
        assert_eq!(hashed_name(&s), "s3-46f8b28mk5");
    }

    #[test]
    fn secret_type_and_long_values() {
        let s = gen_ok(
            &[],
            "name: s2\ntype: kubernetes.io/tls\nliterals: [x=1]\n",
            true,
        );
        assert_eq!(s.value["type"], json!("kubernetes.io/tls"));
        assert_eq!(hashed_name(&s), "s2-79cg2k2tfk");
        let long = "x".repeat(100);
        let s = gen_ok(&[("long.txt", &long)], "name: s\nfiles: [long.txt]\n", true);
        assert_eq!(
            s.value["data"]["long.txt"],
            json!(
                "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH\n\
                 h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==\n"
            )
        );
    }

    #[test]
    fn binary_values() {
        assert_eq!(
            config_map_value(vec![0xff, 0xfe, 0, b'a', b'b', b'c']),
            ConfigMapValue::Binary("//4AYWJj".into())
        );
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            config_map_value(all),
            ConfigMapValue::Binary(
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMz\n\
                 Q1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdo\n\
                 aWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ\n\
                 2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR\n\
                 0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\n"
                    .into()
            )
        );
        assert_eq!(
            config_map_value("é".into()),
            ConfigMapValue::Text("é".into())
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn options_merge_with_generator_options() {
        let defaults: GeneratorOptions = serde_yaml::from_str(
            "labels: {g: global, both: fromglobal}\nannotations: {ga: '1', both: fromglobal}\n\
             disableNameSuffixHash: true\n",
        )
        .unwrap();
        let c = gen_in(
            &[],
            "",
            "name: c\nnamespace: ns1\nliterals: [a=1]\noptions:\n  labels: {l: local, both: fromlocal}\n  \
             annotations: {la: '2', both: fromlocal}\n  disableNameSuffixHash: false\n  immutable: true\n",
            false,
            Some(&defaults),
        )
        .unwrap();
        assert_eq!(
            c.value,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap", "immutable": true, "data": {"a": "1"},
                "metadata": {
                    "name": "c", "namespace": "ns1",
                    "labels": {"both": "fromlocal", "g": "global", "l": "local"},
                    "annotations": {"both": "fromlocal", "ga": "1", "la": "2"}
                }
            })
        );
        assert!(!c.needs_hash);
        let s = gen_in(
            &[],
            "",
            "name: s\ntype: kubernetes.io/basic-auth\nliterals: [username=u]\n",
            true,
            Some(&defaults),
        )
        .unwrap();
        assert_eq!(
            s.value["metadata"],
            json!({"name": "s", "labels": {"both": "fromglobal", "g": "global"},
                   "annotations": {"both": "fromglobal", "ga": "1"}})
        );
        assert_eq!(s.value["data"], json!({"username": "dQ=="}));

        let defaults: GeneratorOptions =
            serde_yaml::from_str("immutable: false\ndisableNameSuffixHash: false\n").unwrap();
        let c = gen_in(
            &[],
            "",
            "name: c\nliterals: [a=1]\noptions:\n  disableNameSuffixHash: true\n  immutable: true\n",
            false,
            Some(&defaults),
        )
        .unwrap();
        assert!(!c.needs_hash);
        assert_eq!(c.value["immutable"], json!(true));
        let d = gen_in(
            &[],
            "",
            "name: d\nliterals: [a=1]\noptions: {}\n",
            false,
            Some(&defaults),
        )
        .unwrap();
        assert!(d.needs_hash);
        assert_eq!(d.value.get("immutable"), None);
        assert_eq!(hashed_name(&d), "d-h29d89cmmt");
    }

    fn renamed(mut r: Resource, name: &str, namespace: &str) -> Resource {
        r.set_name(name);
        if !namespace.is_empty() {
            r.set_namespace(namespace);
        }
        r
    }

    #[test]
    fn merge_into_a_prefixed_base_object() {
        // base: namePrefix p-, namespace bns; overlay: merge naming the unprefixed name.
        let base = gen_ok(
            &[],
            "name: c\nliterals: [a=1, b=1]\noptions:\n  labels: {bl: '1', shared: base}\n  \
             annotations: {ba: '1'}\n  immutable: true\n",
            false,
        );
        let mut resources = vec![renamed(base, "p-c", "bns")];
        let overlay = gen_ok(
            &[],
            "name: c\nbehavior: merge\nliterals: [b=2, c=2]\noptions:\n  labels: {ol: '1', shared: ov}\n  \
             annotations: {oa: '1'}\n",
            false,
        );
        let mut diags = Vec::new();
        absorb(&mut resources, overlay, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(resources.len(), 1);
        let r = &resources[0];
        assert_eq!(
            r.value,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "data": {"a": "1", "b": "2", "c": "2"},
                "metadata": {
                    "name": "p-c", "namespace": "bns",
                    "labels": {"bl": "1", "ol": "1", "shared": "ov"},
                    "annotations": {"ba": "1", "oa": "1"}
                }
            })
        );
        assert!(r.needs_hash);
        assert_eq!(r.original_id().name, "c");
        assert_eq!(hashed_name(r), "p-c-gmcbm69h57");
    }

    #[test]
    fn replace_keeps_metadata_and_takes_the_new_content() {
        let base = gen_ok(
            &[],
            "name: s\nliterals: [a=1]\ntype: kubernetes.io/tls\noptions:\n  labels: {sl: '1'}\n  immutable: true\n",
            true,
        );
        let mut resources = vec![renamed(base, "p-s", "")];
        let overlay = gen_ok(&[], "name: s\nbehavior: replace\nliterals: [z=1]\n", true);
        let mut diags = Vec::new();
        absorb(&mut resources, overlay, &mut diags);
        assert!(diags.is_empty());
        assert_eq!(
            resources[0].value,
            json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"z": "MQ=="},
                "metadata": {"name": "p-s", "labels": {"sl": "1"}}
            })
        );
        assert_eq!(hashed_name(&resources[0]), "p-s-bh8k696m2k");
    }

    #[test]
    fn a_name_hash_only_when_both_have_one() {
        for (behavior, base_off, over_off, hashed) in [
            ("merge", true, true, false),
            ("merge", true, false, false),
            ("merge", false, true, false),
            ("merge", false, false, true),
            ("replace", true, true, false),
            ("replace", true, false, false),
            ("replace", false, true, false),
            ("replace", false, false, true),
        ] {
            let base = gen_ok(
                &[],
                &format!(
                    "name: c\nliterals: [a=1]\noptions: {{disableNameSuffixHash: {base_off}}}\n"
                ),
                false,
            );
            let over = gen_ok(
                &[],
                &format!(
                    "name: c\nbehavior: {behavior}\nliterals: [b=2]\noptions: {{disableNameSuffixHash: {over_off}}}\n"
                ),
                false,
            );
            let mut resources = vec![base];
            let mut diags = Vec::new();
            absorb(&mut resources, over, &mut diags);
            assert!(diags.is_empty());
            assert_eq!(
                resources[0].needs_hash, hashed,
                "{behavior} {base_off} {over_off}"
            );
            if hashed {
                let expected = if behavior == "merge" {
                    "c-7gdc49gk6d"
                } else {
                    "c-fmbk44khfc"
                };
                assert_eq!(hashed_name(&resources[0]), expected);
            }
        }
    }

    fn plain(yaml: &str) -> Resource {
        Resource::new(serde_yaml::from_str(yaml).unwrap(), Span::file("cm.yaml"))
    }

    #[test]
    fn merge_into_a_plain_resource_drops_its_other_fields() {
        let mut resources = vec![plain(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: x\n  finalizers: [f]\n  \
             labels: {a: b}\nimmutable: true\ndata: {a: '1'}\nbinaryData: {q: AAAA}\nextra: field\n",
        )];
        let over = gen_ok(
            &[],
            "name: c\nnamespace: x\nbehavior: merge\nliterals: [b=2]\noptions:\n  labels: {a: c}\n",
            false,
        );
        let mut diags = Vec::new();
        absorb(&mut resources, over, &mut diags);
        assert!(diags.is_empty());
        assert_eq!(
            resources[0].value,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "binaryData": {"q": "AAAA"}, "data": {"a": "1", "b": "2"},
                "metadata": {"name": "c", "namespace": "x", "labels": {"a": "c"}}
            })
        );
        assert!(!resources[0].needs_hash);
    }

    #[test]
    fn the_default_namespace_is_no_namespace() {
        for (base_ns, gen_ns, ok) in [
            ("x", "", false),
            ("x", "default", false),
            ("default", "default", true),
            ("", "default", true),
            ("default", "", true),
        ] {
            let ns_line = |ns: &str| {
                if ns.is_empty() {
                    String::new()
                } else {
                    format!("  namespace: {ns}\n")
                }
            };
            let mut resources = vec![plain(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n{}data: {{a: '1'}}\n",
                ns_line(base_ns)
            ))];
            let gen_ns_line = if gen_ns.is_empty() {
                String::new()
            } else {
                format!("namespace: {gen_ns}\n")
            };
            let over = gen_ok(
                &[],
                &format!("name: c\n{gen_ns_line}behavior: merge\nliterals: [b=2]\n"),
                false,
            );
            let mut diags = Vec::new();
            absorb(&mut resources, over, &mut diags);
            assert_eq!(diags.is_empty(), ok, "{base_ns} {gen_ns}: {diags:?}");
            if ok {
                assert_eq!(resources[0].namespace(), base_ns);
                assert_eq!(resources[0].value["data"], json!({"a": "1", "b": "2"}));
            } else {
                assert_eq!(
                    diags[0].message,
                    format!(
                        "ConfigMap {}c does not exist; cannot merge or replace",
                        if gen_ns.is_empty() {
                            String::new()
                        } else {
                            format!("{gen_ns}/")
                        }
                    )
                );
            }
        }
    }

    #[test]
    fn create_conflicts_and_ambiguous_merges() {
        let mut resources = vec![gen_ok(&[], "name: c\nliterals: [b=2]\n", false)];
        let mut diags = Vec::new();
        absorb(
            &mut resources,
            gen_ok(&[], "name: c\nliterals: [c=2]\n", false),
            &mut diags,
        );
        assert_eq!(
            diags[0].message,
            "ConfigMap c exists (from kustomization.yaml:3:3); behavior must be merge or replace"
        );
        // Two in one kustomization: the later merges into the earlier.
        let mut diags = Vec::new();
        absorb(
            &mut resources,
            gen_ok(&[], "name: c\nbehavior: merge\nliterals: [c=2]\n", false),
            &mut diags,
        );
        assert!(diags.is_empty());
        assert_eq!(resources[0].value["data"], json!({"b": "2", "c": "2"}));
        assert_eq!(hashed_name(&resources[0]), "c-4269dk2f7d");

        // One object was called c before a prefix, another is called c now.
        let mut resources = vec![
            renamed(gen_ok(&[], "name: c\nliterals: [a=1]\n", false), "p-c", ""),
            gen_ok(&[], "name: c\nliterals: [a=2]\n", false),
        ];
        let mut diags = Vec::new();
        absorb(
            &mut resources,
            gen_ok(&[], "name: c\nbehavior: merge\nliterals: [b=2]\n", false),
            &mut diags,
        );
        assert_eq!(
            diags[0].message,
            "found multiple objects (ConfigMap p-c, ConfigMap c) that could accept merge of ConfigMap c"
        );
        // Naming the prefixed name works too.
        let mut resources = vec![renamed(
            gen_ok(&[], "name: c\nliterals: [a=1]\n", false),
            "p-c",
            "",
        )];
        let mut diags = Vec::new();
        absorb(
            &mut resources,
            gen_ok(&[], "name: p-c\nbehavior: merge\nliterals: [b=2]\n", false),
            &mut diags,
        );
        assert!(diags.is_empty());
        assert_eq!(hashed_name(&resources[0]), "p-c-7gdc49gk6d");
        let mut diags = Vec::new();
        absorb(
            &mut resources,
            gen_ok(&[], "name: other\nbehavior: replace\n", false),
            &mut diags,
        );
        assert_eq!(
            diags[0].message,
            "ConfigMap other does not exist; cannot merge or replace"
        );
    }
}
