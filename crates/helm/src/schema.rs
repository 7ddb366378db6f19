//! `values.schema.json`: each chart's schema checked against the values it
//! sees (sub-charts against their own key), every failing path reported.

use serde_json::Value as Json;

use crate::chart::Chart;
use crate::values::Vals;

pub fn validate(chart: &Chart, values: &Vals, report: &mut String) {
    if let Some(schema) = &chart.schema {
        let errs = check(schema, &Json::Object(values.clone()));
        if !errs.is_empty() {
            report.push_str(&format!("{}:\n", chart.name()));
            for e in errs {
                report.push_str(&format!("- {e}\n"));
            }
        }
    }
    for sub in &chart.dependencies {
        let sv = match values.get(sub.name()) {
            Some(Json::Object(m)) => m.clone(),
            _ => Vals::new(),
        };
        validate(sub, &sv, report);
    }
}

fn check(schema: &Json, value: &Json) -> Vec<String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    // a chart's schema is self-contained: no remote or file references are followed
    compiler.use_loader(Box::new(NoLoader));
    let url = "file:///values.schema.json";
    if let Err(e) = compiler.add_resource(url, schema.clone()) {
        return vec![format!("values.schema.json: {e}")];
    }
    let idx = match compiler.compile(url, &mut schemas) {
        Ok(i) => i,
        Err(e) => return vec![format!("values.schema.json: {e}")],
    };
    match schemas.validate(value, idx) {
        Ok(()) => Vec::new(),
        Err(e) => {
            let mut out = Vec::new();
            leaves(&e, &mut out);
            if out.is_empty() {
                out.push(format!(
                    "at '{}': {}",
                    e.instance_location,
                    message(&e.kind)
                ));
            }
            out
        }
    }
}

fn leaves(e: &boon::ValidationError, out: &mut Vec<String>) {
    if e.causes.is_empty() {
        let loc = e.instance_location.to_string();
        out.push(format!(
            "at '{}': {}",
            if loc.is_empty() { "/".to_string() } else { loc },
            message(&e.kind)
        ));
    }
    for c in &e.causes {
        leaves(c, out);
    }
}

struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Json, Box<dyn std::error::Error>> {
        Err(format!("{url}: schemas referenced by URL are not loaded").into())
    }
}

/// The wording of santhosh-tekuri/jsonschema v6, the validator Helm 4 uses (boon, its Rust
/// sibling, words a few kinds differently); numbers as its English printer writes them.
fn message(k: &boon::ErrorKind) -> String {
    use boon::ErrorKind as K;
    let quoted = |v: &[&str]| {
        v.iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match k {
        K::Type { got, want } => {
            let want: Vec<String> = want.iter().map(|t| t.to_string()).collect();
            format!("got {got}, want {}", want.join(" or "))
        }
        K::Required { want } if want.len() == 1 => format!("missing property {}", quoted(want)),
        K::Required { want } => format!("missing properties {}", quoted(want)),
        K::AdditionalProperties { got } => {
            let got: Vec<&str> = got.iter().map(|s| s.as_ref()).collect();
            format!("additional properties {} not allowed", quoted(&got))
        }
        K::Minimum { got, want } => format!("minimum: got {}, want {}", num(got), num(want)),
        K::Maximum { got, want } => format!("maximum: got {}, want {}", num(got), num(want)),
        K::ExclusiveMinimum { got, want } => {
            format!("exclusiveMinimum: got {}, want {}", num(got), num(want))
        }
        K::ExclusiveMaximum { got, want } => {
            format!("exclusiveMaximum: got {}, want {}", num(got), num(want))
        }
        K::MultipleOf { got, want } => format!("{} not multipleOf {}", num(got), num(want)),
        K::MinLength { got, want } => format!(
            "minLength: got {}, want {}",
            group(*got as f64),
            group(*want as f64)
        ),
        K::MaxLength { got, want } => format!(
            "maxLength: got {}, want {}",
            group(*got as f64),
            group(*want as f64)
        ),
        K::MinItems { got, want } => format!(
            "minItems: got {}, want {}",
            group(*got as f64),
            group(*want as f64)
        ),
        K::MaxItems { got, want } => format!(
            "maxItems: got {}, want {}",
            group(*got as f64),
            group(*want as f64)
        ),
        K::MinProperties { got, want } => {
            format!(
                "minProperties: got {}, want {}",
                group(*got as f64),
                group(*want as f64)
            )
        }
        K::MaxProperties { got, want } => {
            format!(
                "maxProperties: got {}, want {}",
                group(*got as f64),
                group(*want as f64)
            )
        }
        K::UniqueItems { got } => format!("items at {} and {} are equal", got[0], got[1]),
        K::Not => "not failed".into(),
        K::AllOf => "allOf failed".into(),
        K::AnyOf => "anyOf failed".into(),
        K::OneOf(None) => "oneOf failed, none matched".into(),
        K::OneOf(Some((a, b))) => format!("oneOf failed, subschemas {a}, {b} matched"),
        other => other.to_string(),
    }
}

fn num(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) => group(f),
        None => n.to_string(),
    }
}

/// `70,000`; fractions as Go prints them.
fn group(f: f64) -> String {
    if f.fract() != 0.0 || f.abs() >= 1e15 {
        return gotemplate::gofmt::format_float_g(f);
    }
    let digits = format!("{}", f.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if f < 0.0 { format!("-{out}") } else { out }
}
