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

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn now_is_the_current_time() {
    // printed as Go prints a time.Time (without the monotonic reading)
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+$").unwrap();
    let t = ok("{{ now }}");
    assert!(re.is_match(&t), "{t}");
    let epoch: i64 = ok("{{ now | unixEpoch }}").parse().unwrap();
    assert!((epoch - unix_now()).abs() <= 2);
    // formatting a time and an int that is the same instant agree
    let both = ok(&format!(
        "{{{{ $t := now }}}}{{{{ date \"2006-01-02T15\" $t }}}}|{{{{ dateInZone \"2006-01-02T15\" {} \"UTC\" }}}}|{{{{ dateInZone \"2006-01-02T15\" $t \"UTC\" }}}}",
        unix_now()
    ));
    let parts: Vec<&str> = both.split('|').collect();
    assert_eq!(parts[1], parts[2], "{both}");
    // a later time is later
    assert_eq!(
        ok(
            "{{ $t := now }}{{ gt (now | dateModify \"1h\" | unixEpoch | atoi) ($t | unixEpoch | atoi) }}"
        ),
        "true"
    );
    // values are float64 in Helm, and sprig's date treats those as now
    assert_eq!(
        ok("{{ date \"2006\" 1.5 }}"),
        ok("{{ now | date \"2006\" }}")
    );
}

#[test]
fn ago_and_duration_round_count_from_now() {
    assert_eq!(ok("{{ now | ago }}"), "0s");
    // rounded to the second, and the clock moves on
    let a = ok(&format!("{{{{ ago {} }}}}", unix_now() - 3600));
    assert!(a == "1h0m0s" || a == "1h0m1s", "{a}");
    let y = ok("{{ toDate \"2006-01-02\" \"2000-01-01\" | durationRound }}");
    assert!(
        y.ends_with('y') && y.trim_end_matches('y').parse::<u32>().unwrap() >= 25,
        "{y}"
    );
    let a = ok("{{ toDate \"2006-01-02\" \"2000-01-01\" | ago }}");
    let hours: u64 = a.split('h').next().unwrap().parse().unwrap();
    assert!(hours >= 25 * 365 * 24 && a.ends_with('s'), "{a}");
}

#[test]
fn bcrypt_and_htpasswd_hash_verifiably() {
    let h = ok("{{ bcrypt \"s3cret\" }}");
    assert!(h.starts_with("$2a$10$") && h.len() == 60, "{h}");
    assert!(bcrypt::verify("s3cret", &h).unwrap());
    assert!(!bcrypt::verify("other", &h).unwrap());
    assert_ne!(h, ok("{{ bcrypt \"s3cret\" }}"), "salted");
    let line = ok("{{ htpasswd \"admin\" \"pw\" }}");
    let (user, hash) = line.split_once(':').unwrap();
    assert_eq!(user, "admin");
    assert!(bcrypt::verify("pw", hash).unwrap());
    // Go's bcrypt refuses what it would truncate
    assert_eq!(
        ok(&format!("{{{{ bcrypt \"{}\" }}}}", "x".repeat(73))),
        "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
    );
}

#[test]
fn encrypt_aes_uses_a_fresh_iv() {
    let a = ok("{{ encryptAES \"key\" \"some text\" }}");
    let b = ok("{{ encryptAES \"key\" \"some text\" }}");
    assert_ne!(a, b);
    for c in [a, b] {
        assert_eq!(
            ok(&format!("{{{{ decryptAES \"key\" \"{c}\" }}}}")),
            "some text"
        );
    }
}

/// The DER of a PEM block with the given label.
fn pem_der(text: &str, label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----\n");
    let end = format!("-----END {label}-----");
    let body = text
        .strip_prefix(&begin)
        .and_then(|r| r.split_once(&end))
        .map(|(b, rest)| {
            assert_eq!(rest, "\n", "one block, newline-terminated");
            b
        })
        .unwrap_or_else(|| panic!("not a {label} block: {text}"));
    assert!(
        body.lines().all(|l| l.len() <= 64),
        "64-column lines as Go's pem"
    );
    base64::engine::general_purpose::STANDARD
        .decode(body.replace('\n', ""))
        .unwrap()
}

fn spki_of_rsa(key_pem: &str) -> Vec<u8> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePublicKey as _;
    let k = rsa::RsaPrivateKey::from_pkcs1_der(&pem_der(key_pem, "RSA PRIVATE KEY")).unwrap();
    k.to_public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[test]
fn certificates_are_real_and_chain() {
    use x509_parser::prelude::*;
    let out = ok(
        "{{ $ca := genCA \"my-ca\" 365 }}{{ $c := genSignedCert \"svc\" (list \"10.0.0.1\" \"::1\") (list \"svc.ns\" \"svc\") 30 $ca }}{{ $s := genSelfSignedCert \"self\" nil (list \"x.y\") 2 }}{{ $ca.Cert }}|{{ $ca.Key }}|{{ $c.Cert }}|{{ $c.Key }}|{{ $s.Cert }}|{{ $s.Key }}",
    );
    let p: Vec<&str> = out.split('|').collect();
    let ca_der = pem_der(p[0], "CERTIFICATE");
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    assert_eq!(ca.subject().to_string(), "CN=my-ca");
    assert_eq!(ca.issuer().to_string(), "CN=my-ca");
    assert!(ca.is_ca());
    let ku = ca.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.digital_signature() && ku.key_encipherment());
    ca.verify_signature(None).expect("self-signed");
    let days = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86400;
    assert_eq!(days, 365);
    assert_eq!(
        ca.public_key().raw,
        spki_of_rsa(p[1]).as_slice(),
        "Key is the CA's key"
    );
    assert_eq!(
        ca.public_key().parsed().map(|k| k.key_size()).unwrap(),
        2048
    );

    let leaf_der = pem_der(p[2], "CERTIFICATE");
    let (_, leaf) = parse_x509_certificate(&leaf_der).unwrap();
    assert_eq!(leaf.subject().to_string(), "CN=svc");
    assert_eq!(leaf.issuer().to_string(), "CN=my-ca");
    assert!(!leaf.is_ca());
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the CA");
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        names,
        [
            "DNSName(svc.ns)",
            "DNSName(svc)",
            "IPAddress(0a:00:00:01)",
            "IPAddress(00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01)"
        ]
    );
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(leaf.public_key().raw, spki_of_rsa(p[3]).as_slice());

    let s_der = pem_der(p[4], "CERTIFICATE");
    let (_, s) = parse_x509_certificate(&s_der).unwrap();
    s.verify_signature(None).expect("self-signed");
    assert_eq!(s.subject().to_string(), "CN=self");
    assert_eq!(s.public_key().raw, spki_of_rsa(p[5]).as_slice());
}

#[test]
fn private_keys_parse_and_sign() {
    use x509_parser::prelude::*;
    let ec = ok("{{ genPrivateKey \"ecdsa\" }}");
    let k = p256::SecretKey::from_sec1_der(&pem_der(&ec, "EC PRIVATE KEY")).unwrap();
    let ed = ok("{{ genPrivateKey \"ed25519\" }}");
    let ed_der = pem_der(&ed, "PRIVATE KEY");
    assert_eq!(ed_der.len(), 48, "PKCS#8 v1 as Go writes Ed25519 keys");
    // certificates made with the given keys carry those keys
    let t = format!(
        "{{{{ $ca := genCAWithKey \"ec-ca\" 10 `{ec}` }}}}{{{{ $c := genSignedCertWithKey \"ed\" nil nil 5 $ca `{ed}` }}}}{{{{ $ca.Cert }}}}|{{{{ $c.Cert }}}}"
    );
    let out = ok(&t);
    let (ca_pem, leaf_pem) = out.split_once('|').unwrap();
    let ca_der = pem_der(ca_pem, "CERTIFICATE");
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    ca.verify_signature(None).unwrap();
    let point = k.public_key().to_sec1_bytes();
    assert_eq!(
        ca.public_key().subject_public_key.data.as_ref(),
        point.as_ref()
    );
    let leaf_der = pem_der(leaf_pem, "CERTIFICATE");
    let (_, leaf) = parse_x509_certificate(&leaf_der).unwrap();
    leaf.verify_signature(Some(ca.public_key())).unwrap();
    assert_eq!(
        leaf.public_key().algorithm.algorithm.to_id_string(),
        "1.3.101.112"
    );
    // RSA keys are 4096 bits, PKCS#1
    let rsa = ok("{{ genPrivateKey \"rsa\" }}");
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let k = rsa::RsaPrivateKey::from_pkcs1_der(&pem_der(&rsa, "RSA PRIVATE KEY")).unwrap();
    assert_eq!(k.size() * 8, 4096);
}

#[test]
fn expensive_functions_draw_on_the_step_budget() {
    let mut set = TemplateSet::with_limits(gotemplate::Limits {
        fuel: 2_000_000,
        ..Default::default()
    });
    set.parse(
        "t",
        "{{ range until 100 }}{{ bcrypt \"x\" | len }}{{ end }}",
    )
    .unwrap();
    let data = Value::from_json_helm(&serde_json::json!({"Values": {}}));
    let e = set.execute_helm("t", &data).unwrap_err();
    assert_eq!(e.kind, gotemplate::ErrorKind::Limit, "{}", e.message);
}

#[test]
fn extreme_date_inputs_do_not_panic() {
    for t in [
        "{{ date \"2006-01-02 15:04:05 MST\" 9223372036854775807 }}",
        "{{ date \"2006\" -9223372036854775808 }}",
        "{{ ago -9223372036854775808 }}",
        "{{ ago 9223372036854775807 }}",
        "{{ toDate \"2006-01-02\" \"99999999999-01-01\" }}",
        "{{ toDate \"MST\" \"ABé\" }}",
        "{{ toDate \"Jan _2 15:04:05.000 -07:00 Z07 MST\" \"Feb  3 04:05:06.789 +01:00 Z CET\" }}",
        "{{ \"99999999-01-01 00:00:00 +0000 UTC\" | dateModify \"2562047h\" }}",
        "{{ durationRound \"9223372036s\" }} {{ duration \"9223372036854775807\" }}",
        "{{ mustDateModify \"-9223372036854775808ns\" (toDate \"2006\" \"2000\") }}",
    ] {
        let _ = render(t);
    }
}

#[test]
fn odd_strings_do_not_panic() {
    let odd = [
        "",
        " ",
        "é",
        "ÉÀ__x--",
        "a\u{0}b",
        "日本語テキスト",
        "ABCdEF9gh",
        "%",
        "%zz",
        "//",
        "http://[",
        "a:b@c",
        "\u{1F600}\u{1F600}",
        "-07:00",
        "Z",
        "2006-01-02T15:04:05.999999999Z07:00",
    ];
    let funcs = [
        "camelcase",
        "snakecase",
        "kebabcase",
        "swapcase",
        "untitle",
        "initials",
        "shuffle",
        "b32dec",
        "b32enc",
        "regexQuoteMeta",
        "dir",
        "clean",
        "urlParse",
        "fromToml",
        "fromJsonArray",
        "sha1sum",
        "adler32sum",
        "toYamlPretty",
        "toToml",
    ];
    for s in odd {
        let q = serde_json::to_string(s).unwrap();
        for f in funcs {
            let _ = render(&format!("{{{{ {f} {q} }}}}"));
        }
        for n in [-5, 0, 1, 3, 4, 7, 100] {
            let _ = render(&format!(
                "{{{{ abbrev {n} {q} }}}}{{{{ abbrevboth {n} 7 {q} }}}}{{{{ wrap {n} {q} }}}}{{{{ wrapWith {n} \"|\" {q} }}}}"
            ));
        }
        let _ = render(&format!(
            "{{{{ toDate {q} {q} }}}}{{{{ date {q} 0 }}}}{{{{ mustToDate \"2006\" {q} }}}}"
        ));
        let _ = render(&format!(
            "{{{{ decryptAES \"k\" {q} }}}}{{{{ durationRound {q} }}}}"
        ));
    }
}
