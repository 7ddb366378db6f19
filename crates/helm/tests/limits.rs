//! The render's bounds are the whole chart's: every template of a chart and of its sub-charts
//! (and what they `include` and `tpl`) draws on one budget of steps and output, so templates
//! that each stay in bounds cannot add up to an unbounded render.

use std::time::{Duration, Instant};

use helm::{File, Options};

fn file(name: &str, text: &str) -> File {
    File {
        name: name.into(),
        data: text.as_bytes().to_vec(),
    }
}

/// The chart `big` with `templates` (name, text) and the sub-chart `sub` with `sub_templates`.
fn chart(templates: &[(&str, &str)], sub_templates: &[(&str, &str)]) -> helm::Chart {
    let mut files = vec![
        file(
            "Chart.yaml",
            "apiVersion: v2\nname: big\nversion: 0.1.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n",
        ),
        file("values.yaml", "n: 1\n"),
        file(
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        ),
    ];
    for (n, t) in templates {
        files.push(file(&format!("templates/{n}"), t));
    }
    for (n, t) in sub_templates {
        files.push(file(&format!("charts/sub/templates/{n}"), t));
    }
    helm::load_files(files).unwrap()
}

fn opts(limits: gotemplate::Limits) -> Options {
    Options {
        limits,
        ..Default::default()
    }
}

/// A template that takes about `n` thousand steps.
fn spender(n: usize) -> String {
    format!("{{{{ range {} }}}}{{{{ end }}}}x: 1\n", n * 1000)
}

#[test]
fn templates_in_bounds_each_exceed_the_chart_wide_fuel_together() {
    let limits = gotemplate::Limits {
        fuel: 10_000,
        ..helm::DEFAULT_LIMITS
    };
    let t = spender(3);
    // each template alone renders within the limit
    let one = chart(&[("a.yaml", &t)], &[]);
    let r = helm::render(&one, &Default::default(), &opts(limits)).unwrap();
    assert!(
        r.usage.fuel > 2_900 && r.usage.fuel < 3_500,
        "{:?}",
        r.usage
    );

    // two in the parent and two in the sub-chart: four times as much
    let four = chart(
        &[("a.yaml", &t), ("b.yaml", &t)],
        &[("c.yaml", &t), ("d.yaml", &t)],
    );
    let e = helm::render(&four, &Default::default(), &opts(limits)).unwrap_err();
    // the render stops at the template that ran out, reported once
    assert_eq!(e.len(), 1, "{e:?}");
    let msg = e[0].to_string();
    // Helm renders the deeper paths first: the sub-chart's d, c, the parent's b, and a runs out
    assert_eq!(e[0].file.as_deref(), Some("templates/a.yaml"), "{msg}");
    assert!(
        msg.contains(
            "executing \"big/templates/a.yaml\": evaluation step limit (10000, shared by every \
             template of chart \"big\" and its sub-charts) exceeded"
        ),
        "{msg}"
    );

    // the same with a larger limit renders, and reports what it took
    let limits = gotemplate::Limits {
        fuel: 20_000,
        ..limits
    };
    let r = helm::render(&four, &Default::default(), &opts(limits)).unwrap();
    assert!(r.usage.fuel > 4 * 2_900, "{:?}", r.usage);
}

#[test]
fn include_and_tpl_draw_on_the_chart_wide_fuel() {
    let limits = gotemplate::Limits {
        fuel: 10_000,
        ..helm::DEFAULT_LIMITS
    };
    let helpers = r#"{{ define "spend" }}{{ range 2500 }}{{ end }}{{ end }}"#;
    let t = r#"{{ include "spend" . }}{{ tpl "{{ range 2500 }}{{ end }}" . }}x: 1"#;
    let e = helm::render(
        &chart(
            &[("_helpers.tpl", helpers), ("a.yaml", t), ("b.yaml", t)],
            &[],
        ),
        &Default::default(),
        &opts(limits),
    )
    .unwrap_err();
    assert_eq!(e[0].file.as_deref(), Some("templates/a.yaml"), "{e:?}");
    assert!(
        e[0].message
            .contains("evaluation step limit (10000, shared by every template of chart \"big\""),
        "{e:?}"
    );
}

#[test]
fn templates_in_bounds_each_exceed_the_chart_wide_output_together() {
    let limits = gotemplate::Limits {
        output_bytes: 100_000,
        ..helm::DEFAULT_LIMITS
    };
    let t = r#"x: {{ repeat 30000 "x" }}"#;
    let one = chart(&[("a.yaml", t)], &[]);
    let r = helm::render(&one, &Default::default(), &opts(limits)).unwrap();
    assert!(r.usage.output_bytes >= 30_000, "{:?}", r.usage);
    let four = chart(
        &[("a.yaml", t), ("b.yaml", t)],
        &[("c.yaml", t), ("d.yaml", t)],
    );
    let e = helm::render(&four, &Default::default(), &opts(limits)).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message.contains(
            "output size limit (100000 bytes, shared by every template of chart \"big\" and its \
             sub-charts) exceeded"
        ),
        "{e:?}"
    );
}

/// The audit's charts, under the default limits: eight templates of 15 MB each (120 MB in all)
/// and ten templates that loop for ever.
#[test]
fn hostile_charts_stop_under_the_default_limits() {
    let t = r#"x: {{ repeat 15000000 "x" }}"#;
    let names: Vec<String> = (0..8).map(|i| format!("t{i}.yaml")).collect();
    let tpls: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), t)).collect();
    let e = helm::render(&chart(&tpls, &[]), &Default::default(), &Options::default()).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("output size limit (67108864 bytes, shared by every template of chart"),
        "{e:?}"
    );

    let t = "{{ range 1000000000 }}{{ end }}";
    let names: Vec<String> = (0..10).map(|i| format!("t{i}.yaml")).collect();
    let tpls: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), t)).collect();
    let start = Instant::now();
    let e = helm::render(&chart(&tpls, &[]), &Default::default(), &Options::default()).unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.len(), 1, "{e:?}");
    // the last template in Helm's order (reverse lexical) is the first to run
    assert_eq!(e[0].file.as_deref(), Some("templates/t9.yaml"), "{e:?}");
    assert!(
        e[0].message.contains(
            "evaluation step limit (50000000, shared by every template of chart \"big\" and its \
             sub-charts) exceeded"
        ),
        "{e:?}"
    );
    // one budget's worth of steps, not ten (a few seconds optimised; unoptimised builds are
    // several times slower)
    let bound = if cfg!(debug_assertions) { 120 } else { 10 };
    assert!(took < Duration::from_secs(bound), "took {took:?}");
    eprintln!("ten looping templates stopped after {took:?}");
}
