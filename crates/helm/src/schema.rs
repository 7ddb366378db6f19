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
                out.push(format!("at '{}': {}", e.instance_location, e.kind));
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
            e.kind
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
