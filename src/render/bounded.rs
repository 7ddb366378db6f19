//! Template work is bounded: every minijinja environment gitfleet builds (its own provider and
//! reconciler templates, a fleet's overrides, `*.j2` manifests) runs with fuel, a recursion limit
//! and a cap on the output, so a template loop ends and a template cannot print gigabytes.
//! Errors name what went wrong: an undefined value by the expression that produced it, a limit by
//! the limit.

use std::io;

use minijinja::{Environment, ErrorKind, Template, Value};

use crate::source::LIMITS;

/// How deep macros, includes and recursive loops may nest.
pub const RECURSION_LIMIT: usize = 100;

/// Applies the limits to an environment.
pub fn limit(env: &mut Environment<'_>) {
    env.set_fuel(Some(LIMITS.template_fuel));
    env.set_recursion_limit(RECURSION_LIMIT);
}

/// A writer that refuses to grow past `cap` bytes.
struct Capped {
    out: Vec<u8>,
    cap: usize,
    exceeded: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() + buf.len() > self.cap {
            self.exceeded = true;
            return Err(io::Error::other("template output limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a bounded render failed.
#[derive(Debug)]
pub enum RenderError {
    /// The template failed (syntax, undefined value, a filter's error, fuel or recursion).
    Template(Box<minijinja::Error>),
    /// The output grew past the cap.
    OutputTooLarge { limit: usize },
}

/// Renders with the output capped at [`LIMITS`]`.max_template_output`.
pub fn render(tmpl: &Template<'_, '_>, ctx: Value) -> Result<String, RenderError> {
    let mut w = Capped {
        out: Vec::new(),
        cap: LIMITS.max_template_output,
        exceeded: false,
    };
    let result = tmpl.render_captured_to(ctx, &mut w).map(|_| ());
    if w.exceeded {
        return Err(RenderError::OutputTooLarge {
            limit: LIMITS.max_template_output,
        });
    }
    result.map_err(|e| RenderError::Template(Box::new(e)))?;
    // Templates are UTF-8 text and every value is written as text.
    String::from_utf8(w.out).map_err(|_| {
        RenderError::Template(Box::new(minijinja::Error::new(
            ErrorKind::BadSerialization,
            "the template output is not UTF-8",
        )))
    })
}

/// The message for a template error: its kind and detail, the undefined expression named, and
/// the limit named when one was reached. Never quotes values.
pub fn message(e: &minijinja::Error) -> String {
    let mut message = match e.kind() {
        ErrorKind::OutOfFuel => format!(
            "template error: the template does too much work (more than {} steps); \
             a loop that never ends?",
            LIMITS.template_fuel
        ),
        _ => format!("template error: {}", e.kind()),
    };
    match e.detail() {
        Some(detail) => message.push_str(&format!(": {detail}")),
        // minijinja names the undefined value in its detail when it can; else the expression.
        None if e.kind() == ErrorKind::UndefinedError => {
            if let Some(expr) = expression(e) {
                message.push_str(&format!(": `{expr}`"));
            }
        }
        None => {}
    }
    message
}

/// The source text of the expression an error points at (one line, trimmed), when short.
pub fn expression(e: &minijinja::Error) -> Option<String> {
    let src = e.template_source()?;
    let range = e.range()?;
    let text = src.get(range)?;
    let text = text.lines().next()?.trim();
    (!text.is_empty() && text.chars().count() <= 80).then(|| text.to_string())
}

/// The 1-based column of an error's position in its template source.
pub fn column(e: &minijinja::Error) -> u32 {
    match (e.range(), e.template_source()) {
        (Some(r), Some(src)) => {
            let before = &src[..r.start.min(src.len())];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            before[line_start..].chars().count() as u32 + 1
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        limit(&mut env);
        env
    }

    #[test]
    fn an_endless_loop_runs_out_of_fuel() {
        let env = env();
        let t = env
            .template_from_str(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            )
            .unwrap();
        let Err(RenderError::Template(e)) = render(&t, Value::UNDEFINED) else {
            panic!("expected an error");
        };
        assert_eq!(e.kind(), ErrorKind::OutOfFuel);
        assert!(
            message(&e).contains("does too much work"),
            "{}",
            message(&e)
        );
    }

    #[test]
    fn output_is_capped() {
        let env = env();
        let t = env
            .template_from_str("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")
            .unwrap();
        assert!(matches!(
            render(&t, Value::UNDEFINED),
            Err(RenderError::OutputTooLarge { .. })
        ));
    }

    #[test]
    fn undefined_values_are_named() {
        let env = env();
        let t = env
            .template_from_str("a\nb: {{ values.missing.x }}\n")
            .unwrap();
        let ctx = minijinja::context! { values => minijinja::context! {} };
        let Err(RenderError::Template(e)) = render(&t, ctx) else {
            panic!("expected an error");
        };
        assert_eq!(e.line(), Some(2));
        assert!(message(&e).contains("values.missing"), "{}", message(&e));
    }
}
