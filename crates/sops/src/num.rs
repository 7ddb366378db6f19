//! Number formatting as Go's `strconv.FormatFloat` and `encoding/json` write it.

/// `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn go_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

/// Shortest digits and decimal exponent: (negative, "d.ddd" mantissa digits, exponent).
fn sci(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (
        f.is_sign_negative(),
        mant.to_string(),
        exp.parse().unwrap_or(0),
    )
}

fn e_form(f: f64) -> String {
    let (neg, mant, exp) = sci(f);
    let sign = if exp < 0 { '-' } else { '+' };
    let e = exp.unsigned_abs();
    format!("{}{mant}e{sign}{e:02}", if neg { "-" } else { "" })
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` with yaml.v3's names for the special values.
pub(crate) fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (_, _, exp) = sci(f);
    if !(-4..6).contains(&exp) {
        e_form(f)
    } else {
        format!("{f}")
    }
}

/// A float as Go's `encoding/json` encodes a float64.
pub(crate) fn json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = e_form(f);
        // Go cleans "e-09" to "e-9"
        if let Some(at) = s.find("e-0") {
            return format!("{}e-{}", &s[..at], &s[at + 3..]);
        }
        s
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(yaml_float(1e10), "1e+10");
        assert_eq!(yaml_float(2.5), "2.5");
        assert_eq!(yaml_float(1.0), "1");
        assert_eq!(yaml_float(1234567.0), "1.234567e+06");
        assert_eq!(yaml_float(0.0001), "0.0001");
        assert_eq!(yaml_float(0.00001), "1e-05");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(12345678901234567890.0), "12345678901234567000");
        assert_eq!(json_float(-0.0), "-0");
        assert_eq!(go_f(1000.0), "1000");
        assert_eq!(go_f(f64::INFINITY), "+Inf");
    }
}
