//! YAML output as `kustomize build` prints it: keys sorted, two-space indent, sequences flush
//! with their key, multi-line strings as literal blocks, and every string that a YAML 1.1
//! reader (Go's yaml.v2, PyYAML, `kubectl apply -f -`) or a YAML 1.2 reader could take for
//! something else quoted, so `gitfleet build | kubectl apply -f -` sends exactly the strings
//! that were built (`"yes"` stays a string, `"0755"` is not a number).

use std::fmt::Write as _;

use serde_json::Value;

/// One object as a YAML document (no leading `---`, ends with a newline).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (i, (k, v)) in sorted(map).into_iter().enumerate() {
        if i > 0 {
            indent(out, level);
        }
        out.push_str(&string(k, level, true));
        out.push(':');
        write_value(out, v, level, false);
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            indent(out, level);
        }
        out.push('-');
        write_value(out, v, level, true);
    }
}

/// After `key:` or `-`: the value, on the same line when it is a scalar or an empty
/// collection, else on the next lines.
fn write_value(out: &mut String, v: &Value, level: usize, in_seq: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            if in_seq {
                // `- key: value` with the rest of the map aligned under the first key.
                out.push(' ');
                write_map(out, m, level + 2);
            } else {
                out.push('\n');
                indent(out, level + 2);
                write_map(out, m, level + 2);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            if in_seq {
                out.push(' ');
                write_seq(out, items, level + 2);
            } else {
                // Sequences sit flush with their key, as kustomize prints them.
                out.push('\n');
                indent(out, level);
                write_seq(out, items, level);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, level + 2));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, block_indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, block_indent, false),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string as YAML: plain when nothing could misread it, a literal block when it spans
/// lines, else double-quoted.
fn string(s: &str, block_indent: usize, key: bool) -> String {
    if !key && s.contains('\n') && literal_ok(s) {
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        let lead = if s.starts_with(' ') { "2" } else { "" };
        let mut out = format!("|{lead}{chomp}");
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(&mut out, block_indent);
                out.push_str(line);
            }
        }
        return out;
    }
    if plain_ok(s) {
        return s.to_string();
    }
    quoted(s)
}

/// Literal blocks cannot hold control characters or carriage returns, and lines that end in
/// spaces would read back the same but are clearer quoted.
fn literal_ok(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        && !s.split('\n').any(|l| l.ends_with(' '))
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a plain scalar reads back as this same string under YAML 1.1 and 1.2.
fn plain_ok(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    let dash_word =
        first == '-' && s.len() > 1 && !s[1..].starts_with(' ') && !s.starts_with("---");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) && !dash_word {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{85}'))
    {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | "="
    ) {
        return false;
    }
    !looks_numeric(s) && !looks_like_date(s)
}

/// Integers, floats (any base, underscores, sexagesimal `1:20`), infinities and NaN.
fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(
        t.to_ascii_lowercase().as_str(),
        ".inf" | ".nan" | "inf" | "nan" | "infinity"
    ) {
        return true;
    }
    let first = t.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || first == '.') {
        return false;
    }
    t.chars().all(|c| {
        c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | 'x' | 'X' | 'o' | 'O' | '+' | '-')
    })
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = to_yaml(v);
        let back: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(&back, v, "{text}");
    }

    #[test]
    fn prints_like_kustomize() {
        let v = json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "x", "labels": {"a": "yes"}},
            "data": {"script": "echo hi\nexit 0\n", "n": "0755", "e": "", "list": []},
            "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}], "args": ["--x", "y: z"]}
        });
        let text = to_yaml(&v);
        assert_eq!(
            text,
            "apiVersion: v1\ndata:\n  e: \"\"\n  list: []\n  \"n\": \"0755\"\n  script: |\n    echo hi\n    exit 0\nkind: ConfigMap\nmetadata:\n  labels:\n    a: \"yes\"\n  name: x\nspec:\n  args:\n  - --x\n  - \"y: z\"\n  containers:\n  - name: a\n    ports:\n    - containerPort: 80\n"
        );
        round_trip(&v);
    }

    #[test]
    fn awkward_strings_survive() {
        for s in [
            "",
            " lead",
            "trail ",
            "a\tb",
            "no\nnewline at end",
            "two\n\n",
            " x\ny\n",
            "1e3",
            "0x1F",
            "1:20",
            ".5",
            "~",
            "Null",
            "off",
            "2024-01-02",
            "@x",
            "`x",
            "a #b",
            "x:",
            "é",
            "\u{1}",
            "{}",
            "[a]",
            "- x",
            "\"q\"",
            "---",
            "--- x",
            "-",
            "back\\slash",
            "line \nspace",
            "\r\n",
        ] {
            round_trip(&json!({"k": s}));
            round_trip(&json!([s]));
            round_trip(&json!({s: 1}));
        }
        round_trip(&json!({"a": [[1, 2], [], {}, [{"b": null}]], "n": 1.5, "t": true}));
    }
}
