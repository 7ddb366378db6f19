//! The EKS bearer token (what `aws eks get-token` prints), built locally with `aws-sigv4`.
//!
//! The Rust SDK has no helper for it (aws-sdk-rust#980). The token is a SigV4 *presigned* URL
//! for STS `GET /?Action=GetCallerIdentity&Version=2011-06-15` on the regional STS endpoint
//! (`sts.{region}.amazonaws.com`, `.amazonaws.com.cn` for `cn-*` regions), valid for 60 seconds
//! (`X-Amz-Expires=60`), with the cluster name bound in by the extra signed header
//! `x-k8s-aws-id`. The token is `k8s-aws-v1.` followed by the URL in unpadded base64url.
//! The API server hands it to STS, so nothing here contacts AWS: given a fixed clock the
//! token is deterministic.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningError, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_sigv4::sign::v4::signing_params::BuildError;
use aws_smithy_runtime_api::client::identity::Identity;

/// Prefix of every EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header that binds the token to one cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long the presigned URL itself is valid (the `X-Amz-Expires` STS checks).
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);
/// The expiry reported to kubectl (`expirationTimestamp`), as the aws CLI reports it: the API
/// server caches a validated token for up to 15 minutes, so clients refresh one minute earlier.
pub const REPORTED_LIFETIME: Duration = Duration::from_secs(14 * 60);

const STS_QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// An EKS bearer token and when clients should stop using it.
#[derive(Clone, PartialEq, Eq)]
pub struct EksToken {
    /// `k8s-aws-v1.` + base64url(presigned URL). A credential: never log it.
    pub token: String,
    /// `now` + 14 minutes, for ExecCredential `status.expirationTimestamp`.
    pub expiration: SystemTime,
}

impl fmt::Debug for EksToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EksToken")
            .field("token", &"** redacted **")
            .field("expiration", &self.expiration)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid AWS region {0:?}: expected lowercase letters, digits and '-'")]
    InvalidRegion(String),
    #[error(
        "invalid EKS cluster name {0:?}: expected 1-100 letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidCluster(String),
    #[error("the clock is out of range for an EKS token")]
    ClockOutOfRange,
    #[error("cannot set up SigV4 signing for the EKS token: {0}")]
    SigningParams(#[source] BuildError),
    #[error("cannot sign the EKS token: {0}")]
    Signing(#[source] SigningError),
}

/// Builds the EKS bearer token for `cluster` in `region` with `credentials`, signed at `now`.
///
/// A session token in `credentials` is sent (and signed) as `X-Amz-Security-Token`.
pub fn eks_token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<EksToken, TokenError> {
    let url = presigned_url(credentials, region, cluster, now)?;
    let expiration = now
        .checked_add(REPORTED_LIFETIME)
        .ok_or(TokenError::ClockOutOfRange)?;
    Ok(EksToken {
        token: format!("{TOKEN_PREFIX}{}", base64url_nopad(url.as_bytes())),
        expiration,
    })
}

/// The STS host for `region`.
pub fn sts_host(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("sts.{region}.{suffix}")
}

fn presigned_url(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, TokenError> {
    if !valid_region(region) {
        return Err(TokenError::InvalidRegion(region.to_owned()));
    }
    if !valid_cluster(cluster) {
        return Err(TokenError::InvalidCluster(cluster.to_owned()));
    }
    let mut url = format!("https://{}/?{STS_QUERY}", sts_host(region));

    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(TokenError::SigningParams)?
        .into();

    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once((CLUSTER_ID_HEADER, cluster)),
        SignableBody::Bytes(&[]),
    )
    .map_err(TokenError::Signing)?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(TokenError::Signing)?
        .into_parts();

    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(&percent_encode(name));
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    Ok(url)
}

fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// EKS cluster names: 1-100 characters, `[0-9A-Za-z][A-Za-z0-9_-]*`.
fn valid_cluster(cluster: &str) -> bool {
    let bytes = cluster.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 100
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (SigV4's rule).
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Base64url (RFC 4648 §5) without padding.
fn base64url_nopad(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b0 = u32::from(chunk[0]);
        let b1 = chunk.get(1).copied().map_or(0, u32::from);
        let b2 = chunk.get(2).copied().map_or(0, u32::from);
        let n = (b0 << 16) | (b1 << 8) | b2;
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2024-01-01T00:00:00Z
    const T2024: u64 = 1_704_067_200;

    /// Regression vector: eu-west-1, cluster "prod", AKIDEXAMPLE, 2024-01-01T00:00:00Z.
    const KNOWN_TOKEN: &str = concat!(
        "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZ",
        "XJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyN",
        "TYmWC1BbXotQ3JlZGVudGlhbD1BS0lERVhBTVBMRSUyRjIwMjQwMTAxJTJGZXUtd2VzdC0xJTJGc3RzJ",
        "TJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNDAxMDFUMDAwMDAwWiZYLUFtei1FeHBpcmVzPTYwJ",
        "lgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9MWEwO",
        "Dc2OGEwNWQ0YmMyODI3NWZlODc1N2NjMjlmYjA1MThhMzNiMjAxN2YyZjI3YzE1NThlMWU3MTEwNTIyO",
        "A",
    );

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn creds(session: Option<&str>) -> Credentials {
        Credentials::new(AKID, SECRET, session.map(str::to_owned), None, "test")
    }

    fn decode_b64url(s: &str) -> Vec<u8> {
        let value = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'-' => 62,
                b'_' => 63,
                other => panic!("not base64url: {:?}", char::from(other)),
            }
        };
        let mut out = Vec::new();
        for chunk in s.as_bytes().chunks(4) {
            assert!(chunk.len() >= 2, "dangling base64url character");
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                n |= value(*c) << (18 - 6 * i);
            }
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    struct Url {
        host: String,
        path: String,
        /// Decoded, in URL order.
        query: Vec<(String, String)>,
    }

    impl Url {
        fn get(&self, key: &str) -> Option<&str> {
            self.query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    fn decode_token(token: &str) -> Url {
        let b64 = token.strip_prefix(TOKEN_PREFIX).expect("token prefix");
        assert!(!b64.contains('='), "no padding");
        let url = String::from_utf8(decode_b64url(b64)).unwrap();
        let rest = url.strip_prefix("https://").expect("https URL");
        let (authority, rest) = rest.split_once('/').unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        let query = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Url {
            host: authority.to_owned(),
            path: format!("/{path}"),
            query,
        }
    }

    // --- A hand-written SHA-256 and HMAC, to check the signature independently of aws-sigv4.

    fn sha256(data: &[u8]) -> [u8; 32] {
        const K: [u32; 64] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2,
        ];
        let mut h: [u32; 8] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut msg = data.to_vec();
        let bit_len = (data.len() as u64) * 8;
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bit_len.to_be_bytes());
        for block in msg.chunks(64) {
            let mut w = [0u32; 64];
            for (i, word) in block.chunks(4).enumerate() {
                w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            }
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[i - 7])
                    .wrapping_add(s1);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
            for i in 0..64 {
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[i])
                    .wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                hh = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(t2);
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 32];
        for (i, word) in h.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&sha256(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        inner.extend_from_slice(data);
        let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        outer.extend_from_slice(&sha256(&inner));
        sha256(&outer)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hand_written_sha256_and_hmac_match_published_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Recomputes SigV4 for the decoded URL from first principles.
    fn expected_signature(url: &Url, cluster: &str, region: &str) -> String {
        let mut canonical_query: Vec<(String, String)> = url
            .query
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .map(|(k, v)| (percent_encode(k), percent_encode(v)))
            .collect();
        canonical_query.sort();
        let canonical_query = canonical_query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let canonical_request = format!(
            "GET\n/\n{canonical_query}\nhost:{}\nx-k8s-aws-id:{cluster}\n\nhost;x-k8s-aws-id\n{}",
            url.host,
            hex(&sha256(b"")),
        );
        let date_time = url.get("X-Amz-Date").unwrap();
        let date = &date_time[..8];
        let scope = format!("{date}/{region}/sts/aws4_request");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
            hex(&sha256(canonical_request.as_bytes()))
        );
        let k_date = hmac_sha256(format!("AWS4{SECRET}").as_bytes(), date.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, b"sts");
        let k_signing = hmac_sha256(&k_service, b"aws4_request");
        hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()))
    }

    #[test]
    fn known_answer_token() {
        let t = eks_token(&creds(None), "eu-west-1", "prod", at(T2024)).unwrap();
        let url = decode_token(&t.token);
        assert_eq!(url.host, "sts.eu-west-1.amazonaws.com");
        assert_eq!(url.path, "/");
        assert_eq!(url.get("Action"), Some("GetCallerIdentity"));
        assert_eq!(url.get("Version"), Some("2011-06-15"));
        assert_eq!(url.get("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(
            url.get("X-Amz-Credential"),
            Some("AKIDEXAMPLE/20240101/eu-west-1/sts/aws4_request")
        );
        assert_eq!(url.get("X-Amz-Date"), Some("20240101T000000Z"));
        assert_eq!(url.get("X-Amz-Expires"), Some("60"));
        assert_eq!(url.get("X-Amz-SignedHeaders"), Some("host;x-k8s-aws-id"));
        assert_eq!(url.get("X-Amz-Security-Token"), None);
        let signature = url.get("X-Amz-Signature").unwrap();
        assert_eq!(signature.len(), 64);
        assert_eq!(signature, expected_signature(&url, "prod", "eu-west-1"));
        assert_eq!(t.expiration, at(T2024 + 14 * 60));
        assert_eq!(t.token, KNOWN_TOKEN);
    }

    #[test]
    fn session_token_is_sent_and_signed() {
        let session = "FwoGZXIvYXdzE+abc/def==";
        let t = eks_token(&creds(Some(session)), "eu-west-1", "prod", at(T2024)).unwrap();
        let url = decode_token(&t.token);
        assert_eq!(url.get("X-Amz-Security-Token"), Some(session));
        assert_eq!(url.get("X-Amz-SignedHeaders"), Some("host;x-k8s-aws-id"));
        assert_eq!(
            url.get("X-Amz-Signature").unwrap(),
            expected_signature(&url, "prod", "eu-west-1")
        );
        let without = eks_token(&creds(None), "eu-west-1", "prod", at(T2024)).unwrap();
        assert_ne!(t.token, without.token);
    }

    #[test]
    fn cluster_name_is_bound_into_the_signature() {
        let a = eks_token(&creds(None), "eu-west-1", "prod", at(T2024)).unwrap();
        let b = eks_token(&creds(None), "eu-west-1", "staging", at(T2024)).unwrap();
        let (a, b) = (decode_token(&a.token), decode_token(&b.token));
        assert_ne!(a.get("X-Amz-Signature"), b.get("X-Amz-Signature"));
        assert_eq!(
            b.get("X-Amz-Signature").unwrap(),
            expected_signature(&b, "staging", "eu-west-1")
        );
    }

    #[test]
    fn regional_hosts() {
        assert_eq!(sts_host("us-east-1"), "sts.us-east-1.amazonaws.com");
        assert_eq!(sts_host("cn-north-1"), "sts.cn-north-1.amazonaws.com.cn");
        let t = eks_token(&creds(None), "us-east-1", "prod", at(T2024)).unwrap();
        let url = decode_token(&t.token);
        assert_eq!(url.host, "sts.us-east-1.amazonaws.com");
        assert_eq!(
            url.get("X-Amz-Credential"),
            Some("AKIDEXAMPLE/20240101/us-east-1/sts/aws4_request")
        );
    }

    #[test]
    fn rejects_bad_region_and_cluster() {
        for region in ["", "EU-WEST-1", "eu west 1", "evil.com/x", "-eu"] {
            assert!(matches!(
                eks_token(&creds(None), region, "prod", at(T2024)),
                Err(TokenError::InvalidRegion(_))
            ));
        }
        let long = "a".repeat(101);
        for cluster in ["", "-prod", "pr od", "prod\n", long.as_str()] {
            assert!(matches!(
                eks_token(&creds(None), "eu-west-1", cluster, at(T2024)),
                Err(TokenError::InvalidCluster(_))
            ));
        }
    }

    #[test]
    fn debug_redacts_the_token() {
        let t = eks_token(&creds(Some("SESSION")), "eu-west-1", "prod", at(T2024)).unwrap();
        let debug = format!("{t:?}");
        assert!(!debug.contains(&t.token), "{debug}");
        assert!(!debug.contains(TOKEN_PREFIX), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }

    #[test]
    fn base64url_round_trips_all_lengths() {
        assert_eq!(base64url_nopad(b""), "");
        assert_eq!(base64url_nopad(b"f"), "Zg");
        assert_eq!(base64url_nopad(b"fo"), "Zm8");
        assert_eq!(base64url_nopad(b"foo"), "Zm9v");
        assert_eq!(base64url_nopad(b"foob"), "Zm9vYg");
        assert_eq!(base64url_nopad(&[0xfb, 0xff]), "-_8");
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            assert_eq!(decode_b64url(&base64url_nopad(&data[..n])), &data[..n]);
        }
    }
}
