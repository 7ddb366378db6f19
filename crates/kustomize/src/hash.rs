//! kustomize's content-hash name suffix for ConfigMaps and Secrets (`name-<10 characters>`),
//! byte for byte.
//!
//! What kustomize hashes (checked against kustomize v5.8.1):
//!
//! * a JSON object, encoded as Go's `encoding/json` encodes a map: keys sorted, no spaces,
//!   `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c`…, control characters as `\n`, `\t`,
//!   `\r`, `\b`, `\f` or `\u00XX`, everything else (non-ASCII included) as it is;
//! * for a ConfigMap: `kind: "ConfigMap"`, `name: ""`, `data`, and `binaryData` when that is a
//!   map;
//! * for a Secret: `kind: "Secret"`, `name: ""`, `type`, `data`, and `stringData` when that is a
//!   map.
//!
//! The name is always empty: kustomize looks it up with the single path segment
//! `metadata/name`, which names no field, so neither the name nor any prefix changes the hash.
//! Labels, annotations, the namespace and `immutable` do not count either. A missing `data` or
//! `type` is the empty string; a scalar there is its text (`null` for null); a list is `null`.
//! Numbers go through Go's float64, as kustomize reads them back from JSON.
//!
//! The SHA-256 of that text, in hex, cut to 10 characters, with `0 1 3 a e` replaced by
//! `g h k m t` so that no vowels (and no words) appear.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The suffix kustomize appends (after a `-`) to a generated ConfigMap's or Secret's name.
pub fn name_suffix(obj: &Value) -> Result<String, String> {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let mut fields: Vec<(&str, String)> = Vec::new();
    match kind {
        "ConfigMap" => {
            fields.push(("data", field_value(obj.get("data"))));
            if let Some(binary) = map_field(obj.get("binaryData")) {
                fields.push(("binaryData", binary));
            }
        }
        "Secret" => {
            fields.push(("data", field_value(obj.get("data"))));
            fields.push(("type", field_value(obj.get("type"))));
            if let Some(string_data) = map_field(obj.get("stringData")) {
                fields.push(("stringData", string_data));
            }
        }
        other => {
            return Err(format!(
                "kustomize computes name hashes only for ConfigMaps and Secrets, not for {}",
                if other.is_empty() {
                    "an object without kind"
                } else {
                    other
                }
            ));
        }
    }
    fields.push(("kind", go_json(&Value::String(kind.to_string()))));
    fields.push(("name", go_json(&Value::String(String::new()))));
    fields.sort_by(|a, b| a.0.cmp(b.0));

    let mut text = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        push_go_string(&mut text, key);
        text.push(':');
        text.push_str(value);
    }
    text.push('}');
    Ok(encode(&Sha256::digest(text.as_bytes())))
}

/// A top-level field as kustomize puts it in the hashed map: a map as itself (lists become
/// `null`, as a failed decode into a map leaves it), a scalar as its text, a missing field as
/// the empty string.
fn field_value(value: Option<&Value>) -> String {
    match value {
        None => go_json(&Value::String(String::new())),
        Some(Value::Object(_)) => go_json(value.unwrap_or(&Value::Null)),
        Some(Value::Array(_)) => "null".into(),
        Some(Value::String(s)) => go_json(&Value::String(s.clone())),
        Some(Value::Null) => go_json(&Value::String("null".into())),
        Some(Value::Bool(b)) => go_json(&Value::String(b.to_string())),
        Some(Value::Number(n)) => go_json(&Value::String(n.to_string())),
    }
}

/// `binaryData` / `stringData`: included only when a map (or a list, which decodes to a nil
/// map and is written as `null`).
fn map_field(value: Option<&Value>) -> Option<String> {
    match value {
        Some(v @ Value::Object(_)) => Some(go_json(v)),
        Some(Value::Array(_)) => Some("null".into()),
        _ => None,
    }
}

/// The first 10 hex digits of the digest, with kustomize's substitutions.
fn encode(digest: &[u8]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// A value as Go's `json.Marshal` writes an `interface{}` decoded from JSON.
fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, value);
    out
}

fn write_go_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or_default())),
        Value::String(s) => push_go_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_go_string(out, key);
                out.push(':');
                write_go_json(out, item);
            }
            out.push('}');
        }
    }
}

/// A float64 as Go's encoder writes it: the shortest text that reads back the same, in plain
/// notation unless it is below 1e-6 or at least 1e21 (then `1e+21`, `1.5e-7`).
fn go_float(f: f64) -> String {
    if !f.is_finite() {
        // Cannot come from JSON; Go would refuse to encode it.
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                let digits = if sign == '+' && digits.len() < 2 {
                    format!("0{digits}")
                } else {
                    digits.to_string()
                };
                format!("{mantissa}e{sign}{digits}")
            }
            None => text,
        }
    } else {
        format!("{f}")
    }
}

fn push_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn suffix(v: Value) -> String {
        name_suffix(&v).unwrap()
    }

    // Every expected suffix below is what `kubectl kustomize` (kustomize v5.8.1) printed for
    // the same object.

    #[test]
    fn config_maps_hash_kind_and_data_only() {
        let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": data});
        assert_eq!(suffix(cm(json!({"x": "1"}))), "hmg6f82fh6");
        // The name does not count: `b` with the same data has the same suffix.
        let mut b = cm(json!({"x": "1"}));
        b["metadata"]["name"] = json!("b");
        b["metadata"]["labels"] = json!({"l": "v"});
        b["immutable"] = json!(true);
        assert_eq!(suffix(b), "hmg6f82fh6");
        // No data at all (an empty generator) is the empty string; an empty map is `{}`.
        assert_eq!(
            suffix(json!({"kind": "ConfigMap", "metadata": {"name": "e"}})),
            "6ct58987ht"
        );
        assert_eq!(suffix(cm(json!({}))), "42745tchd9");
        assert_eq!(suffix(cm(Value::Null)), "g886t7dd28");
        assert_eq!(suffix(cm(json!({"HOMEX": "1"}))), "2m4275mhgg");
    }

    #[test]
    fn generated_config_maps_match_kustomize() {
        // literals l1..l8, files f.txt / k2, and an env file, as in the oracle run.
        let data = json!({
            " l9": "x", "a": "1", "b ": " 2 ", "c": "\"q\"", "d": "'q'", "e": "x=y", "f": "tab",
            "f.txt": "hello\nworld\n", "k2": "x", "l1": "v", "l2": "quoted", "l3": "single",
            "l4": "\"mis'", "l5": "a=b", "l6": "", "l7": " spaced ", "l8": "\""
        });
        assert_eq!(
            suffix(json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})),
            "b8tghd54tb"
        );
        assert_eq!(
            suffix(json!({"kind": "ConfigMap", "data": {"HOMEX": "", "a": "1", "export B": "2"}})),
            "48hfb97d8g"
        );
    }

    #[test]
    fn binary_data_counts_when_a_map() {
        assert_eq!(
            suffix(json!({"kind": "ConfigMap", "binaryData": {}})),
            "cmb55htc2k"
        );
        assert_eq!(
            suffix(json!({"kind": "ConfigMap", "binaryData": null})),
            "6ct58987ht"
        );
        let long = "x".repeat(100);
        let bin2 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMz\n\
                    Q1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdo\n\
                    aWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ\n\
                    2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR\n\
                    0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==\n";
        assert_eq!(
            suffix(json!({
                "kind": "ConfigMap",
                "data": {"long.txt": long},
                "binaryData": {"bin.dat": "//4AYWJj", "bin2.dat": bin2}
            })),
            "ctm7cht5f7"
        );
    }

    #[test]
    fn secrets_hash_type_and_string_data() {
        let s = |t: Value| json!({"kind": "Secret", "metadata": {"name": "s"}, "type": t, "data": {"x": "MQ=="}});
        assert_eq!(suffix(s(json!("Opaque"))), "bf2648c599");
        assert_eq!(suffix(s(json!("kubernetes.io/tls"))), "79cg2k2tfk");
        assert_eq!(
            suffix(json!({"kind": "Secret", "type": "Opaque", "data": {}})),
            "46f8b28mk5"
        );
        // No type at all, and stringData.
        assert_eq!(
            suffix(json!({"kind": "Secret", "data": {"x": "MQ=="}, "stringData": {"y": "2"}})),
            "dcgbhd5kh8"
        );
        assert_eq!(
            suffix(
                json!({"kind": "Secret", "type": "Opaque", "data": {"x": "MQ=="}, "stringData": null})
            ),
            "bf2648c599"
        );
        assert_eq!(
            suffix(json!({"kind": "Secret", "type": "Opaque",
                "data": {"bin.dat": "//4AYWJj", "long.txt": format!("{}\n{}\n",
                    "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH",
                    "h4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==")}})),
            "bg6mfc6hhb"
        );
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        let cm = |data: Value| json!({"kind": "ConfigMap", "data": data});
        assert_eq!(suffix(cm(json!({"a": "<>&"}))), "fkg7g6b7g5");
        assert_eq!(suffix(cm(json!({"c": "\u{8}\u{c}"}))), "k872kckgh2");
        assert_eq!(suffix(cm(json!({"b": "\u{2028}\u{2029}"}))), "4k2kc88976");
        assert_eq!(
            suffix(cm(json!({
                "a": "<>&", "b": "\u{2028}\u{2029}", "c": "\u{8}\u{c}\u{1}\u{7f}\t\n\r",
                "d": "é😀\"\\", "e": "/"
            }))),
            "85bt287b5d"
        );
    }

    #[test]
    fn numbers_and_nesting_go_through_float64() {
        let cm = |data: Value| json!({"kind": "ConfigMap", "data": data});
        assert_eq!(suffix(cm(json!({"x": 1}))), "tmkdmb9c9g");
        assert_eq!(suffix(cm(json!({"x": 1.0}))), "tmkdmb9c9g");
        assert_eq!(
            suffix(cm(json!({
                "x": 1.5, "y": 1e21, "z": 12345678901234567890u64, "w": 0.0000001,
                "t": true, "n": null
            }))),
            "5d7m956tm5"
        );
        assert_eq!(
            suffix(cm(json!({"a": {"z": 1, "b": [1, "x", {"q": 2}]}}))),
            "hck7742k29"
        );
        assert_eq!(go_float(1e-7), "1e-7");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e300), "1.5e+300");
        assert_eq!(go_float(0.000001), "0.000001");
        assert_eq!(go_float(-0.0), "-0");
    }

    #[test]
    fn other_kinds_are_refused() {
        assert!(name_suffix(&json!({"kind": "Deployment"})).is_err());
    }
}
