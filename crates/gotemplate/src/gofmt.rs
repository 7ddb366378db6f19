//! Go's `fmt` printing of values: `%v`, `Sprint`, `Sprintln`, `Sprintf`.

use crate::value::{MAX_DEPTH, Value};

/// strconv.FormatFloat(f, 'g', -1, 64), as `%v` prints a float64.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f);
    // strconv: shortest => %e when exp < -4 || exp >= 6
    let body = if !(-4..6).contains(&exp) {
        sci(&digits, exp)
    } else {
        fixed(&digits, exp)
    };
    if neg { format!("-{body}") } else { body }
}

/// Shortest round-trip decimal digits of |f| and the exponent of the first digit.
pub fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (f.is_sign_negative(), digits, exp)
}

fn sci(digits: &str, exp: i32) -> String {
    let mut out = String::new();
    let mut chars = digits.chars();
    if let Some(c) = chars.next() {
        out.push(c);
    }
    let rest: String = chars.collect();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(&rest);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

fn fixed(digits: &str, exp: i32) -> String {
    let nd = digits.len() as i32;
    if exp < 0 {
        let mut s = String::from("0.");
        for _ in 0..(-exp - 1) {
            s.push('0');
        }
        s.push_str(digits);
        s
    } else if exp + 1 >= nd {
        let mut s = digits.to_string();
        for _ in 0..(exp + 1 - nd) {
            s.push('0');
        }
        s
    } else {
        let (a, b) = digits.split_at((exp + 1) as usize);
        format!("{a}.{b}")
    }
}

/// `%v` of a value (nil prints `<nil>`).
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    if out.len() > crate::value::output_cap() {
        return;
    }
    if depth > MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::I64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::Str(s) => out.push_str(s),
        Value::Object(o) => match o.display() {
            Some(s) => out.push_str(&s),
            None => write_value(out, &o.to_value(), depth + 1),
        },
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, x, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, x, depth + 1);
            }
            out.push(']');
        }
    }
}

/// fmt.Sprint: spaces between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&sprint_value(a));
    }
    out
}

/// fmt.Sprintln: spaces always, newline at the end.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint_value).collect();
    let mut s = parts.join(" ");
    s.push('\n');
    s
}

/// strconv.Quote.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if spec.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, rest) = if s.starts_with('-') || s.starts_with('+') {
            s.split_at(1)
        } else {
            ("", s.as_str())
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else if spec.zero {
        format!("{}{s}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), sprint_value(v)),
    }
}

fn fmt_int(i: i64, verb: char, spec: &Spec) -> String {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut body = match verb {
        'd' | 'v' => u.to_string(),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'o' => format!("{u:o}"),
        'O' => format!("0o{u:o}"),
        'b' => format!("{u:b}"),
        _ => u.to_string(),
    };
    if let Some(p) = spec.prec
        && body.len() < p
    {
        body = format!("{}{body}", "0".repeat(p - body.len()));
    }
    if spec.sharp {
        match verb {
            'x' => body = format!("0x{body}"),
            'X' => body = format!("0X{body}"),
            'o' if !body.starts_with('0') => body = format!("0{body}"),
            _ => {}
        }
    }
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    pad(format!("{sign}{body}"), spec, spec.prec.is_none())
}

fn fmt_float(f: f64, verb: char, spec: &Spec) -> String {
    let body = if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Inf".into() } else { "-Inf".into() }
    } else {
        match verb {
            'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f),
            'e' | 'E' => {
                let s = exp_format(f, spec.prec.unwrap_or(6));
                if verb == 'E' { s.to_uppercase() } else { s }
            }
            'g' | 'G' | 'v' => {
                let s = match spec.prec {
                    None => format_float_g(f),
                    Some(p) => g_prec(f, p),
                };
                if verb == 'G' { s.to_uppercase() } else { s }
            }
            _ => format_float_g(f),
        }
    };
    let body = if spec.plus && !body.starts_with('-') {
        format!("+{body}")
    } else if spec.space && !body.starts_with('-') {
        format!(" {body}")
    } else {
        body
    };
    pad(body, spec, true)
}

fn exp_format(f: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn g_prec(f: f64, p: usize) -> String {
    let p = p.max(1);
    if f == 0.0 {
        return "0".into();
    }
    let s = format!("{:.*e}", p - 1, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let neg = m.starts_with('-');
    let mut digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let body = if exp < -4 || exp >= p as i32 {
        sci(&digits, exp)
    } else {
        fixed(&digits, exp)
    };
    if neg { format!("-{body}") } else { body }
}

fn fmt_str(s: &str, verb: char, spec: &Spec) -> String {
    let s = match spec.prec {
        Some(p) if verb != 'x' && verb != 'X' => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    let body = match verb {
        'q' => go_quote(&s),
        'x' => s.bytes().map(|b| format!("{b:02x}")).collect(),
        'X' => s.bytes().map(|b| format!("{b:02X}")).collect(),
        _ => s,
    };
    pad(body, spec, false)
}

fn fmt_one(v: &Value, verb: char, spec: &Spec) -> String {
    match (verb, v) {
        ('v', Value::Nil) => pad("<nil>".into(), spec, false),
        ('v', Value::List(_) | Value::Map(_)) => pad(sprint_value(v), spec, false),
        ('v' | 't', Value::Bool(b)) => pad(b.to_string(), spec, false),
        ('v' | 'd' | 'x' | 'X' | 'o' | 'O' | 'b', Value::Int(i) | Value::I64(i)) => {
            fmt_int(*i, verb, spec)
        }
        ('U', Value::Int(i) | Value::I64(i)) => pad(format!("U+{:04X}", i), spec, false),
        ('c', Value::Int(i) | Value::I64(i)) => pad(
            char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(),
            spec,
            false,
        ),
        ('q', Value::Int(i) | Value::I64(i)) => {
            let c = char::from_u32(*i as u32).unwrap_or('\u{fffd}');
            let q = go_quote(&c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if inner == "\\\"" {
                "\""
            } else if c == '\'' {
                "\\'"
            } else {
                inner
            };
            pad(format!("'{inner}'"), spec, false)
        }
        ('v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(f)) => fmt_float(*f, verb, spec),
        ('v' | 's' | 'q' | 'x' | 'X', Value::Str(s)) => fmt_str(s, verb, spec),
        ('s' | 'q' | 'x' | 'X' | 'd', Value::List(l)) => {
            let parts: Vec<String> = l
                .iter()
                .map(|x| fmt_one(x, verb, &Spec::default()))
                .collect();
            pad(format!("[{}]", parts.join(" ")), spec, false)
        }
        ('s' | 'd', Value::Map(m)) => {
            let parts: Vec<String> = m
                .borrow()
                .iter()
                .map(|(k, x)| {
                    format!(
                        "{}:{}",
                        fmt_str(k, verb, &Spec::default()),
                        fmt_one(x, verb, &Spec::default())
                    )
                })
                .collect();
            pad(format!("map[{}]", parts.join(" ")), spec, false)
        }
        _ => bad_verb(verb, v),
    }
}

/// fmt.Sprintf with Go's verbs, flags, width and precision.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>, argi: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let w = match args.get(*argi) {
                    Some(Value::Int(i) | Value::I64(i)) => Some((*i).clamp(0, 1_000_000) as usize),
                    _ => None,
                };
                *argi += 1;
                return w;
            }
            let mut n: Option<usize> = None;
            while let Some(&d) = chars.peek() {
                if let Some(v) = d.to_digit(10) {
                    n = Some((n.unwrap_or(0) * 10 + v as usize).min(1_000_000));
                    chars.next();
                } else {
                    break;
                }
            }
            n
        };
        spec.width = num(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(v) if verb == 'T' => {
                let t = match v {
                    Value::Nil => "<nil>",
                    v => v.type_name(),
                };
                out.push_str(&pad(t.to_string(), &spec, false));
            }
            Some(Value::Object(o)) => {
                let plain = match o.display() {
                    Some(s) => Value::str(s),
                    None => o.to_value(),
                };
                out.push_str(&fmt_one(&plain, verb, &spec))
            }
            Some(v) => out.push_str(&fmt_one(v, verb, &spec)),
        }
        argi += 1;
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|v| match v {
                Value::Nil => "<nil>".to_string(),
                _ => format!("{}={}", v.type_name(), sprint_value(v)),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
