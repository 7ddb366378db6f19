//! The crate against the real `sops` 3.11 binary: files encrypted by sops decrypt here to the
//! bytes `sops -d` prints; files encrypted here decrypt with `sops -d`; tampering is caught.

use std::path::{Path, PathBuf};
use std::process::Command;

use sops::{Error, Format, Keys, Rule};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(env: &str, venv: &str, name: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    let v = repo().join(venv);
    if v.exists() {
        return v;
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join(name).exists() {
            return dir.join(name);
        }
    }
    panic!("`{name}` not found (set {env}, or run scripts/test.sh to install the test tools)");
}

struct Env {
    dir: tempfile::TempDir,
    sops: PathBuf,
    recipients: [String; 2],
    keys: [String; 2],
}

fn env() -> Env {
    let sops = tool("GITFLEET_SOPS", ".venv/bin/sops", "sops");
    let keygen = tool("GITFLEET_AGE_KEYGEN", ".venv/bin/age-keygen", "age-keygen");
    let dir = tempfile::tempdir().unwrap();
    let mut keys = [String::new(), String::new()];
    let mut recipients = [String::new(), String::new()];
    for i in 0..2 {
        let p = dir.path().join(format!("key{i}.txt"));
        let out = Command::new(&keygen).arg("-o").arg(&p).output().unwrap();
        assert!(out.status.success(), "age-keygen failed");
        keys[i] = std::fs::read_to_string(&p).unwrap();
        recipients[i] = keys[i]
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_string();
    }
    Env {
        dir,
        sops,
        recipients,
        keys,
    }
}

impl Env {
    fn sops(&self, args: &[&str], file: &Path) -> Vec<u8> {
        let out = Command::new(&self.sops)
            .args(args)
            .arg(file)
            .env("SOPS_AGE_KEY_FILE", self.dir.path().join("key0.txt"))
            .env_remove("SOPS_AGE_KEY")
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sops {args:?} {file:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/sops/plain"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    files
}

fn format_args(f: Format) -> Vec<&'static str> {
    let t = match f {
        Format::Yaml => "yaml",
        Format::Json => "json",
        Format::Dotenv => "dotenv",
        Format::Binary => "binary",
    };
    vec!["--input-type", t, "--output-type", t]
}

fn shapes(e: &Env, f: Format) -> Vec<(&'static str, Vec<String>)> {
    let both = format!("{},{}", e.recipients[0], e.recipients[1]);
    let mut v = vec![
        (
            "one recipient",
            vec!["--age".into(), e.recipients[0].clone()],
        ),
        ("two recipients", vec!["--age".into(), both.clone()]),
        (
            "unencrypted suffix",
            vec![
                "--age".into(),
                both.clone(),
                "--unencrypted-suffix".into(),
                "_unencrypted".into(),
            ],
        ),
        (
            "mac only encrypted",
            vec!["--age".into(), both.clone(), "--mac-only-encrypted".into()],
        ),
    ];
    if f != Format::Binary && f != Format::Dotenv {
        v.push((
            "encrypted regex",
            vec![
                "--age".into(),
                both.clone(),
                "--encrypted-regex".into(),
                "^(data|stringData)$".into(),
            ],
        ));
        v.push((
            "regex + mac only",
            vec![
                "--age".into(),
                both,
                "--encrypted-regex".into(),
                "^(data|stringData)$".into(),
                "--mac-only-encrypted".into(),
            ],
        ));
    }
    v
}

#[test]
fn decrypts_what_sops_encrypts_byte_for_byte() {
    let e = env();
    let k0 = Keys::parse(&e.keys[0]).unwrap();
    let k1 = Keys::parse(&e.keys[1]).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let format = sops::format_for_path(&name);
        let plain = e.write(&name, &std::fs::read(&file).unwrap());
        for (shape, args) in shapes(&e, format) {
            let mut a: Vec<&str> = vec!["-e"];
            a.extend(format_args(format));
            a.extend(args.iter().map(String::as_str));
            let enc = e.sops(&a, &plain);
            assert!(
                sops::is_encrypted(&enc, format),
                "{name} ({shape}) not seen as encrypted"
            );
            let encp = e.write(&format!("enc-{name}"), &enc);
            let mut d = vec!["-d"];
            d.extend(format_args(format));
            let expected = e.sops(&d, &encp);
            let keys: Vec<&Keys> = if shape == "one recipient" {
                vec![&k0]
            } else {
                vec![&k0, &k1]
            };
            for k in keys {
                checked += 1;
                match sops::decrypt(&enc, format, k) {
                    Ok(got) if got == expected => {}
                    Ok(got) => failures.push(format!(
                        "{name} ({shape}): output differs\n--- sops -d\n{}\n--- crate\n{}",
                        String::from_utf8_lossy(&expected),
                        String::from_utf8_lossy(&got)
                    )),
                    Err(err) => failures.push(format!("{name} ({shape}): {err}")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} decryptions failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn sops_decrypts_what_the_crate_encrypts() {
    let e = env();
    let rules = [
        Rule::for_recipients(&[&e.recipients[0]]),
        Rule::for_recipients(&[&e.recipients[0], &e.recipients[1]]),
        Rule {
            encrypted_regex: Some("^(data|stringData)$".into()),
            ..Rule::for_recipients(&[&e.recipients[0]])
        },
        Rule {
            mac_only_encrypted: true,
            unencrypted_suffix: Some("_unencrypted".into()),
            ..Rule::for_recipients(&[&e.recipients[0]])
        },
    ];
    let k1 = Keys::parse(&e.keys[1]).unwrap();
    let mut failures = Vec::new();
    for file in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let format = sops::format_for_path(&name);
        let bytes = std::fs::read(&file).unwrap();
        let mut d = vec!["-d"];
        d.extend(format_args(format));
        for (i, rule) in rules.iter().enumerate() {
            let enc = sops::encrypt(&bytes, format, rule).unwrap();
            let encp = e.write(&format!("c{i}-{name}"), &enc);
            let got = e.sops(&d, &encp);
            let own = sops::decrypt(&enc, format, &Keys::parse(&e.keys[0]).unwrap()).unwrap();
            if got != own {
                failures.push(format!(
                    "{name} rule {i}: sops -d and the crate differ on the crate's file"
                ));
            }
            if i == 1 {
                assert_eq!(sops::decrypt(&enc, format, &k1).unwrap(), got);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn sops_encrypted(e: &Env, name: &str, content: &str) -> Vec<u8> {
    let p = e.write(name, content.as_bytes());
    let format = sops::format_for_path(name);
    let mut a = vec!["-e", "--age", &e.recipients[0]];
    a.extend(format_args(format));
    a.extend(["--unencrypted-regex", "^note$"]);
    e.sops(&a, &p)
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nnote: visible\nstringData:\n  password: hunter2\n";

#[test]
fn negative_cases_are_clear_errors() {
    let e = env();
    let enc = sops_encrypted(&e, "neg.yaml", SECRET);
    let text = String::from_utf8(enc.clone()).unwrap();
    let k0 = Keys::parse(&e.keys[0]).unwrap();
    let k1 = Keys::parse(&e.keys[1]).unwrap();
    let y = Format::Yaml;
    assert!(sops::decrypt(&enc, y, &k0).is_ok());

    let err = sops::decrypt(&enc, y, &k1).unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { keys: 1, .. }), "{err}");
    assert!(err.to_string().contains(&e.recipients[0]), "{err}");

    // one value's ciphertext changed
    let line = text.lines().find(|l| l.contains("password:")).unwrap();
    let at = line.find("data:").unwrap() + 5;
    let mut bad_line = line.to_string();
    let c = if &line[at..at + 1] == "A" { "B" } else { "A" };
    bad_line.replace_range(at..at + 1, c);
    let err = sops::decrypt(text.replace(line, &bad_line).as_bytes(), y, &k0).unwrap_err();
    assert_eq!(
        err,
        Error::ValueAuthentication {
            path: "stringData.password".into()
        },
        "{err}"
    );

    // a value moved to another path
    let moved = text.replace("    password:", "    passwd:");
    let err = sops::decrypt(moved.as_bytes(), y, &k0).unwrap_err();
    assert!(matches!(err, Error::ValueAuthentication { .. }), "{err}");

    // an unencrypted value covered by the MAC
    let err = sops::decrypt(
        text.replace("note: visible", "note: changed").as_bytes(),
        y,
        &k0,
    )
    .unwrap_err();
    assert_eq!(err, Error::MacMismatch);
    assert!(err.to_string().contains("MAC does not match"));

    // the MAC itself
    let mac_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("mac: ENC["))
        .unwrap();
    let at = mac_line.find("data:").unwrap() + 5;
    let mut bad = mac_line.to_string();
    let c = if &mac_line[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    bad.replace_range(at..at + 1, c);
    let err = sops::decrypt(text.replace(mac_line, &bad).as_bytes(), y, &k0).unwrap_err();
    assert_eq!(err, Error::MacMismatch);

    // no metadata
    let err = sops::decrypt(SECRET.as_bytes(), y, &k0).unwrap_err();
    assert_eq!(err, Error::NotEncrypted);
    assert!(err.to_string().contains("not encrypted with sops"));
    assert!(!sops::is_encrypted(SECRET.as_bytes(), y));

    // only a kms entry
    let start = text.find("    age:").unwrap();
    let end = text.find("    lastmodified:").unwrap();
    let kms = format!(
        "{}    kms:\n        - arn: arn:aws:kms:us-east-1:1:key/x\n          enc: AQID\n{}",
        &text[..start],
        &text[end..]
    );
    let err = sops::decrypt(kms.as_bytes(), y, &k0).unwrap_err();
    assert_eq!(err, Error::UnsupportedKeyProvider(vec!["kms".into()]));
    assert!(err.to_string().contains("only age is supported"));

    // no secrets in any error message
    assert!(!err.to_string().contains("hunter2"));

    // truncations and garbage never panic
    for n in 0..enc.len() {
        let r = sops::decrypt(&enc[..n], y, &k0);
        if let Err(err) = r {
            let m = err.to_string();
            assert!(!m.contains("hunter2") && !m.contains("AGE-SECRET"), "{m}");
        }
        let _ = sops::decrypt(&enc[..n], Format::Json, &k0);
        let _ = sops::decrypt(&enc[..n], Format::Dotenv, &k0);
    }
    let deep = "[".repeat(100_000);
    assert!(sops::decrypt(deep.as_bytes(), Format::Json, &k0).is_err());
    assert!(sops::decrypt(deep.as_bytes(), y, &k0).is_err());
    let deep = "a:\n".to_string() + &"- ".repeat(50_000);
    assert!(sops::decrypt(deep.as_bytes(), y, &k0).is_err());
}

#[test]
fn json_truncations_never_panic() {
    let e = env();
    let enc = sops_encrypted(
        &e,
        "neg.json",
        "{\"note\": \"v\", \"password\": \"hunter2\", \"n\": [1, 2.5, true]}",
    );
    let k0 = Keys::parse(&e.keys[0]).unwrap();
    assert!(sops::decrypt(&enc, Format::Json, &k0).is_ok());
    for n in 0..enc.len() {
        if let Err(err) = sops::decrypt(&enc[..n], Format::Json, &k0) {
            assert!(!err.to_string().contains("hunter2"));
        }
    }
}

#[test]
fn keys_and_rules() {
    let (a, ra) = sops::generate_identity();
    let (b, rb) = sops::generate_identity();
    assert!(a.contains(&format!("# public key: {ra}\n")));
    let keys = Keys::parse(&format!("{a}\n{b}")).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.recipients(), vec![ra.clone(), rb.clone()]);
    assert!(Keys::parse("# nothing\n").unwrap().is_empty());
    assert!(Keys::parse("garbage\n").is_err());
    let cfg = format!(
        "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: '{ra}, {rb}'\n    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n  - path_regex: only-kms\n    kms: arn:x\n"
    );
    let r = sops::creation_rule(&cfg, "secrets/a.yaml")
        .unwrap()
        .unwrap();
    assert_eq!(r.age, vec![ra, rb]);
    assert_eq!(r.encrypted_regex.as_deref(), Some("^(data|stringData)$"));
    assert!(r.mac_only_encrypted);
    assert_eq!(sops::creation_rule(&cfg, "other.yaml").unwrap(), None);
    assert!(matches!(
        sops::creation_rule(&cfg, "only-kms").unwrap_err(),
        Error::UnsupportedKeyProvider(_)
    ));
    let enc = sops::encrypt(SECRET.as_bytes(), Format::Yaml, &r).unwrap();
    assert_eq!(
        sops::decrypt(&enc, Format::Yaml, &keys).unwrap(),
        sops::decrypt(&enc, Format::Yaml, &keys).unwrap()
    );
    assert!(String::from_utf8(enc).unwrap().contains("name: db"));
}
