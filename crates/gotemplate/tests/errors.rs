//! Exact error messages, in Go's text/template format (Helm prints the ones
//! it does not reformat verbatim; see oracle_cases.json for Helm's forms).

use gotemplate::{ErrorKind, TemplateSet, Value};
use serde_json::json;

fn err(files: &[(&str, &str)], values: serde_json::Value) -> gotemplate::Error {
    let mut set = TemplateSet::new();
    for (n, t) in files {
        if let Err(e) = set.parse(n, t) {
            return e;
        }
    }
    let data = Value::from_json_helm(&json!({ "Values": values }));
    set.execute_helm(files[files.len() - 1].0, &data)
        .unwrap_err()
}

const T: &str = "c/templates/t.yaml";

#[test]
fn exec_errors_are_formatted_as_go_formats_them() {
    let cases: &[(&str, serde_json::Value, &str)] = &[
        (
            "{{ .Values.a.b }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:10: executing "c/templates/t.yaml" at <.Values.a.b>: nil pointer evaluating interface {}.b"#,
        ),
        (
            "{{ if gt .Values.n 1 }}x{{end}}",
            json!({"n": 3}),
            r#"template: c/templates/t.yaml:1:6: executing "c/templates/t.yaml" at <gt .Values.n 1>: error calling gt: incompatible types for comparison: float64 and int"#,
        ),
        (
            "a\n{{ required \"need y\" .Values.y }}",
            json!({}),
            r#"template: c/templates/t.yaml:2:3: executing "c/templates/t.yaml" at <required "need y" .Values.y>: error calling required: need y"#,
        ),
        (
            "{{ fail \"boom\" }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <fail "boom">: error calling fail: boom"#,
        ),
        (
            "{{ tpl \"{{ .a.b }}\" . }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <tpl "{{ .a.b }}" .>: error calling tpl: error during tpl function execution for "{{ .a.b }}": template: gotpl:1:5: executing "gotpl" at <.a.b>: nil pointer evaluating interface {}.b"#,
        ),
        (
            "{{ indent .Values.n \"x\" }}",
            json!({"n": 2}),
            r#"template: c/templates/t.yaml:1:17: executing "c/templates/t.yaml" at <.Values.n>: wrong type for value; expected int; got float64"#,
        ),
        (
            "{{ .Values.n | upper }}",
            json!({"n": 2}),
            r#"template: c/templates/t.yaml:1:15: executing "c/templates/t.yaml" at <upper>: wrong type for value; expected string; got float64"#,
        ),
        (
            "{{ template \"nope\" . }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:12: executing "c/templates/t.yaml" at <{{template "nope" .}}>: template "nope" not defined"#,
        ),
        (
            "{{ range .Values.n }}{{ end }}",
            json!({"n": 3}),
            r#"template: c/templates/t.yaml:1:16: executing "c/templates/t.yaml" at <.Values.n>: range can't iterate over 3"#,
        ),
        (
            "{{ eq (list 1) (list 1) }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <eq (list 1) (list 1)>: error calling eq: non-comparable type [%!s(int=1)]: []interface {}"#,
        ),
        (
            "{{ .Values.s.x }}",
            json!({"s": "str"}),
            r#"template: c/templates/t.yaml:1:10: executing "c/templates/t.yaml" at <.Values.s.x>: can't evaluate field x in type interface {}"#,
        ),
        (
            "{{ $y = 1 }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:8: executing "c/templates/t.yaml" at <1>: undefined variable: $y"#,
        ),
        (
            "{{ set .Values.missing \"a\" 1 }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:14: executing "c/templates/t.yaml" at <.Values.missing>: wrong type for value; expected map[string]interface {}; got interface {}"#,
        ),
        (
            "{{ nil }}",
            json!({}),
            r#"template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <nil>: nil is not a command"#,
        ),
    ];
    for (t, v, want) in cases {
        let e = err(&[(T, t)], v.clone());
        assert_eq!(e.kind, ErrorKind::Exec, "{t}");
        assert_eq!(&e.message, want, "{t}");
    }
}

#[test]
fn nested_errors_name_each_template() {
    let e = err(
        &[
            (
                "c/templates/_h.tpl",
                "{{define \"x\"}}\n {{ .Values.a.b }}{{end}}",
            ),
            (T, "{{ include \"x\" . }}"),
        ],
        json!({}),
    );
    assert_eq!(
        e.message,
        r#"template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <include "x" .>: error calling include: template: c/templates/_h.tpl:2:11: executing "x" at <.Values.a.b>: nil pointer evaluating interface {}.b"#
    );
}

#[test]
fn parse_errors_are_formatted_as_go_formats_them() {
    let cases = [
        (
            "{{ nosuchfunc 1 }}",
            r#"template: c/templates/t.yaml:1: function "nosuchfunc" not defined"#,
        ),
        (
            "line1\n{{ $nope }}",
            r#"template: c/templates/t.yaml:2: undefined variable "$nope""#,
        ),
        (
            "{{ if true }}x",
            "template: c/templates/t.yaml:1: unexpected EOF",
        ),
        (
            "x{{ end }}",
            "template: c/templates/t.yaml:1: unexpected {{end}}",
        ),
        (
            "{{ .Values.a ",
            "template: c/templates/t.yaml:1: unclosed action",
        ),
        (
            "{{ break }}",
            "template: c/templates/t.yaml:1: {{break}} outside {{range}}",
        ),
        (
            "{{ .Values.a & }}",
            r#"template: c/templates/t.yaml:1: unexpected "&" in operand"#,
        ),
        ("{{ 1x }}", r#"template: c/templates/t.yaml:1: "1x""#),
    ];
    for (t, want) in cases {
        let e = err(&[(T, t)], json!({}));
        assert_eq!(e.kind, ErrorKind::Parse, "{t}");
        assert_eq!(e.message, want, "{t}");
    }
}

#[test]
fn later_definitions_replace_earlier_ones_but_empty_ones_do_not() {
    let mut set = TemplateSet::new();
    set.parse("a", r#"{{ define "x" }}first{{ end }}"#).unwrap();
    set.parse("b", r#"{{ define "x" }}second{{ end }}"#)
        .unwrap();
    set.parse("c", r#"{{ define "x" }}  {{ end }}{{ template "x" }}"#)
        .unwrap();
    assert_eq!(set.execute("c", &Value::Nil).unwrap(), "second");
    assert!(set.contains("x"));
    assert_eq!(set.names(), vec!["a", "b", "c", "x"]);
}

#[test]
fn missing_values_print_no_value_in_go_and_nothing_in_helm() {
    let mut set = TemplateSet::new();
    set.parse("t", "[{{ .x }}]").unwrap();
    let d = Value::from_json(&json!({}));
    assert_eq!(set.execute("t", &d).unwrap(), "[<no value>]");
    assert_eq!(set.execute_helm("t", &d).unwrap(), "[]");
    let e = set.execute("nope", &d).unwrap_err();
    assert_eq!(
        e.message,
        r#"template: no template "nope" associated with template "nope""#
    );
}
