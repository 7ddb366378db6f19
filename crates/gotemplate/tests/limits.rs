//! Bounds and robustness: hostile templates end in errors, never hangs,
//! stack overflows or panics.

use std::rc::Rc;

use gotemplate::{Budget, ErrorKind, Limits, TemplateSet, Value};
use proptest::prelude::*;

fn render(files: &[(&str, &str)], limits: Limits) -> Result<String, gotemplate::Error> {
    let mut set = TemplateSet::with_limits(limits);
    for (n, t) in files {
        set.parse(n, t)?;
    }
    let data = Value::from_json_helm(&serde_json::json!({"Values": {"a": 1}}));
    set.execute_helm(files[files.len() - 1].0, &data)
}

#[test]
fn recursive_template_hits_depth_limit() {
    let e = render(
        &[(
            "t",
            r#"{{ define "r" }}x{{ template "r" . }}{{ end }}{{ template "r" . }}"#,
        )],
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Exec);
    assert!(
        e.message.contains("exceeded maximum template depth (100)"),
        "{}",
        e.message
    );
}

#[test]
fn recursive_include_hits_depth_limit() {
    let e = render(
        &[(
            "t",
            r#"{{ define "r" }}{{ include "r" . }}{{ end }}{{ include "r" . }}"#,
        )],
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.message
            .contains("rendering template has a nested reference name: r"),
        "{}",
        e.message
    );
}

#[test]
fn recursive_tpl_hits_depth_limit() {
    let t = r#"{{ tpl .Values.t . }}"#;
    let mut set = TemplateSet::new();
    set.parse("t", t).unwrap();
    let data =
        Value::from_json_helm(&serde_json::json!({"Values": {"t": "{{ tpl .Values.t . }}"}}));
    let e = set.execute("t", &data).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{}", e.message);
}

#[test]
fn huge_range_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 100_000,
        ..Limits::default()
    };
    let e = render(&[("t", "{{ range 1000000000000 }}{{ end }}")], limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("step limit"), "{}", e.message);
    let e = render(&[("t", "{{ range until 1000000000000 }}{{ end }}")], limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
}

#[test]
fn calls_on_huge_values_run_out_of_fuel() {
    // each call scans 10 MB: a step each would let this loop for hours
    let start = std::time::Instant::now();
    let e = render(
        &[(
            "t",
            r#"{{ $s := repeat 10000000 "a" }}{{ range 100000000 }}{{ if contains "b" $s }}{{ end }}{{ end }}"#,
        )],
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.message
            .contains("evaluation step limit (50000000) exceeded"),
        "{}",
        e.message
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let e = render(
        &[(
            "t",
            r#"{{ $l := until 1000000 }}{{ range 100000000 }}{{ if has -1 $l }}{{ end }}{{ end }}"#,
        )],
        Limits::default(),
    )
    .unwrap_err();
    assert!(e.message.contains("evaluation step limit"), "{}", e.message);
}

#[test]
fn output_is_bounded() {
    let limits = Limits {
        output_bytes: 1000,
        ..Limits::default()
    };
    let e = render(&[("t", "{{ range 2000 }}x{{ end }}")], limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.message.contains("output size limit (1000 bytes)"),
        "{}",
        e.message
    );
    let e = render(&[("t", r#"{{ repeat 100000000000 "abc" }}"#)], limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    // doubling a string through variables
    let e = render(
        &[(
            "t",
            r#"{{ $s := "xxxxxxxxxx" }}{{ range 100 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ $s }}"#,
        )],
        Limits {
            output_bytes: 1 << 20,
            ..Limits::default()
        },
    );
    assert!(e.is_err());
}

/// Three templates of about 3,000 steps and 12,000 bytes each (the 4,000 bytes `repeat` builds
/// are counted as built, as returned and as written).
fn three_templates(limits: Limits) -> TemplateSet {
    let mut set = TemplateSet::with_limits(limits);
    set.parse(
        "h",
        r#"{{ define "spend" }}{{ range 1000 }}{{ end }}{{ end }}"#,
    )
    .unwrap();
    for n in ["a", "b", "c"] {
        let t = r#"{{ range 1000 }}{{ end }}{{ include "spend" . }}{{ tpl "{{ range 1000 }}{{ end }}" . }}{{ repeat 4000 "x" }}"#;
        set.parse(n, t).unwrap();
    }
    set
}

#[test]
fn a_shared_budget_bounds_executions_together() {
    let limits = Limits {
        fuel: 8_000,
        output_bytes: 100_000,
        ..Limits::default()
    };
    // without one, every execution has the whole limit
    let set = three_templates(limits);
    for n in ["a", "b", "c", "a", "b", "c"] {
        set.execute(n, &Value::Nil).unwrap();
    }
    // with one, the executions (their include and tpl too) draw on it together
    let mut set = three_templates(limits);
    let budget = Rc::new(Budget::shared_by(limits, "every template of chart \"x\""));
    set.set_budget(Some(budget.clone()));
    set.execute("a", &Value::Nil).unwrap();
    let after_one = budget.fuel_used();
    assert!((3_000..4_000).contains(&after_one), "{after_one}");
    assert_eq!(budget.output_used(), 12_000);
    set.execute("b", &Value::Nil).unwrap();
    assert!(!budget.is_exhausted());
    let e = set.execute("c", &Value::Nil).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(budget.is_exhausted());
    // named where it ran out: in the template "spend" that c includes
    assert_eq!(
        e.message,
        "template: h:1:29: executing \"spend\": evaluation step limit (8000, shared by every template of chart \"x\") exceeded"
    );
    // a clone of the set shares it, and fails at once now
    let e = set.clone().execute("a", &Value::Nil).unwrap_err();
    assert!(
        e.message.contains("step limit (8000, shared by"),
        "{}",
        e.message
    );

    // output likewise
    let limits = Limits {
        output_bytes: 30_000,
        ..Limits::default()
    };
    let mut set = three_templates(limits);
    set.set_budget(Some(Rc::new(Budget::shared_by(limits, "the test"))));
    set.execute("a", &Value::Nil).unwrap();
    set.execute("b", &Value::Nil).unwrap();
    let e = set.execute("c", &Value::Nil).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(
        e.message.contains(
            "executing \"c\": output size limit (30000 bytes, shared by the test) exceeded"
        ),
        "{}",
        e.message
    );
    // and without a shared budget again, each execution has its own
    set.set_budget(None);
    set.execute("c", &Value::Nil).unwrap();
}

#[test]
fn depth_stays_per_execution_under_a_shared_budget() {
    let mut set = TemplateSet::with_limits(Limits {
        depth: 5,
        ..Limits::default()
    });
    set.set_budget(Some(Rc::new(Budget::new(Limits::default()))));
    set.parse(
        "t",
        r#"{{ define "r" }}{{ if lt . 4 }}{{ template "r" (add . 1) }}{{ end }}{{ end }}{{ template "r" 0 }}"#,
    )
    .unwrap();
    for _ in 0..3 {
        set.execute("t", &Value::Nil).unwrap();
    }
    set.parse("u", r#"{{ template "r" -3 }}"#).unwrap();
    let e = set.execute("u", &Value::Nil).unwrap_err();
    assert!(
        e.message.contains("exceeded maximum template depth (5)"),
        "{}",
        e.message
    );
}

#[test]
fn self_containing_dict_does_not_hang() {
    let out = render(
        &[(
            "t",
            r#"{{ $d := dict }}{{ $_ := set $d "me" $d }}{{ toJson $d }}|{{ len (toYaml $d) | lt 0 }}"#,
        )],
        Limits::default(),
    );
    assert!(out.is_ok() || out.is_err());
    let e = render(
        &[("t", r#"{{ $d := dict }}{{ $_ := set $d "me" $d }}{{ $d }}"#)],
        Limits::default(),
    );
    assert!(e.is_ok() || e.is_err());
}

#[test]
fn deep_nesting_is_a_parse_error() {
    let t = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(render(&[("t", &t)], Limits::default()).is_err());
    let t = "{{ if 1 }}".repeat(10_000);
    assert!(render(&[("t", &t)], Limits::default()).is_err());
}

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    ".",
    ".Values",
    ".a",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    "\"s\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "3.5",
    "0x1f",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "nil",
    "true",
    "printf",
    "\"%d %s %v %q\"",
    "include",
    "tpl",
    "toYaml",
    "index",
    "slice",
    "len",
    "eq",
    "and",
    "or",
    "not",
    "dict",
    "list",
    "default",
    "required",
    ",",
    "/*",
    "*/",
    "\\",
    "\"",
    "{",
    "}",
    "é",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_templates_never_panic(idx in proptest::collection::vec(0..PIECES.len(), 0..40)) {
        let text: String = idx.iter().map(|i| PIECES[*i]).collect();
        let limits = Limits { fuel: 10_000, output_bytes: 10_000, depth: 20 };
        let _ = render(&[("t", &text)], limits);
    }

    #[test]
    fn random_bytes_never_panic(text in "\\PC{0,60}") {
        let limits = Limits { fuel: 10_000, output_bytes: 10_000, depth: 20 };
        let _ = render(&[("t", &text)], limits);
        let wrapped = format!("{{{{ {text} }}}}");
        let _ = render(&[("t", &wrapped)], limits);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_yaml_never_panics(text in "[-a-z0-9:&*!|>'\"\\[\\]{},#<~ \n]{0,80}") {
        let _ = gotemplate::parse_yaml(&text);
    }
}

#[test]
fn yaml_alias_bombs_are_bounded() {
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    // counted as if expanded (what converting the values to JSON would build), so the bomb is
    // refused while reading, before anything copies it
    let e = gotemplate::parse_yaml(&doc).unwrap_err();
    assert!(e.contains("expands to more than"), "{e}");
    // a document that uses aliases within the bound reads
    let small = "a: &a [1, 2]\nb: [*a, *a]\n";
    assert!(gotemplate::parse_yaml(small).is_ok());
}
