//! Properties of the sprig functions whose output is random or depends on
//! the clock, which the Helm oracle cannot record (tests/oracle_cases.json
//! holds the deterministic ones).

use gotemplate::{TemplateSet, Value};

fn render(t: &str) -> Result<String, String> {
    let mut set = TemplateSet::new();
    set.parse("t", t).map_err(|e| e.message)?;
    let data = Value::from_json_helm(&serde_json::json!({"Values": {}}));
    set.execute_helm("t", &data).map_err(|e| e.message)
}

fn ok(t: &str) -> String {
    render(t).unwrap_or_else(|e| panic!("{t}: {e}"))
}

#[test]
fn random_strings_have_length_and_alphabet() {
    for _ in 0..20 {
        let a = ok("{{ randAlpha 40 }}");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| c.is_ascii_alphabetic()), "{a}");
        let a = ok("{{ randAlphaNum 40 }}");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        let a = ok("{{ randNumeric 40 }}");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| c.is_ascii_digit()), "{a}");
        let a = ok("{{ randAscii 40 }}");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|c| (32..127).contains(&c)), "{a}");
    }
    assert_eq!(ok("[{{ randAlpha 0 }}{{ randNumeric -3 }}]"), "[]");
    // not constant
    assert_ne!(ok("{{ randAlphaNum 32 }}"), ok("{{ randAlphaNum 32 }}"));
}

#[test]
fn uuidv4_is_a_version_4_uuid() {
    let u = ok("{{ uuidv4 }}");
    let parts: Vec<&str> = u.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(
        u.bytes()
            .all(|c| c == b'-' || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert!(parts[2].starts_with('4'));
    assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    assert_ne!(u, ok("{{ uuidv4 }}"));
}

#[test]
fn shuffle_permutes_and_randint_stays_in_range() {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let s = ok("{{ shuffle \"abcdéf\" }}");
        let mut c: Vec<char> = s.chars().collect();
        c.sort();
        assert_eq!(c.into_iter().collect::<String>(), "abcdfé");
        seen.insert(s);
        let n: i64 = ok("{{ randInt -3 4 }}").parse().unwrap();
        assert!((-3..4).contains(&n));
    }
    assert!(seen.len() > 1);
    // 12 random bytes, base64-encoded
    let b = ok("{{ randBytes 12 }}");
    assert_eq!(b.len(), 16);
    assert!(!b.contains('='));
}
