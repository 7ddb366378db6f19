//! SOPS' value encryption: AES-256-GCM with 32-byte nonces, the value's tree path as additional
//! data, written as `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{AesGcm, aes::Aes256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::tree::Node;

type Gcm = AesGcm<Aes256, U32>;

const TAG_LEN: usize = 16;

/// A parsed `ENC[…]` value.
pub(crate) struct Enc {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    pub(crate) kind: String,
}

/// Why an `ENC[…]` value is not well-formed (never carries the value itself).
pub(crate) fn parse_enc(s: &str) -> Result<Enc, String> {
    let inner = s
        .strip_prefix("ENC[")
        .and_then(|r| r.strip_suffix(']'))
        .ok_or("not an ENC[...] value")?;
    let mut parts = inner.split(',');
    if parts.next() != Some("AES256_GCM") {
        return Err("the cipher is not AES256_GCM".into());
    }
    let (mut data, mut iv, mut tag, mut kind) = (None, None, None, None);
    for part in parts {
        let (name, value) = part.split_once(':').ok_or("a field without ':'")?;
        let slot = match name {
            "data" => &mut data,
            "iv" => &mut iv,
            "tag" => &mut tag,
            "type" => &mut kind,
            _ => return Err("an unknown field".into()),
        };
        if slot.replace(value).is_some() {
            return Err(format!("the field {name} appears twice"));
        }
    }
    let b64 = |field: &str, v: Option<&str>| -> Result<Vec<u8>, String> {
        let v = v.ok_or_else(|| format!("no {field} field"))?;
        STANDARD
            .decode(v)
            .map_err(|_| format!("the {field} field is not base64"))
    };
    let enc = Enc {
        data: b64("data", data)?,
        iv: b64("iv", iv)?,
        tag: b64("tag", tag)?,
        kind: kind.ok_or("no type field")?.to_string(),
    };
    if enc.iv.len() != 32 {
        return Err(format!("the iv is {} bytes, not 32", enc.iv.len()));
    }
    if enc.tag.len() != TAG_LEN {
        return Err(format!("the tag is {} bytes, not {TAG_LEN}", enc.tag.len()));
    }
    Ok(enc)
}

/// Opens an `ENC` value; `None` when authentication fails.
pub(crate) fn open(enc: &Enc, key: &[u8; 32], aad: &str) -> Option<Vec<u8>> {
    let cipher = Gcm::new_from_slice(key).ok()?;
    let mut msg = Vec::with_capacity(enc.data.len() + TAG_LEN);
    msg.extend_from_slice(&enc.data);
    msg.extend_from_slice(&enc.tag);
    cipher
        .decrypt(
            GenericArray::from_slice(&enc.iv),
            Payload {
                msg: &msg,
                aad: aad.as_bytes(),
            },
        )
        .ok()
}

/// Seals `plain` as an `ENC` value of the given type.
pub(crate) fn seal(plain: &[u8], kind: &str, key: &[u8; 32], aad: &str) -> String {
    let mut iv = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let cipher = Gcm::new_from_slice(key).expect("a 32-byte key");
    let out = cipher
        .encrypt(
            GenericArray::from_slice(&iv),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM sealing of an in-memory buffer");
    let (data, tag) = out.split_at(out.len() - TAG_LEN);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(data),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}

/// A decrypted plaintext read back as the type sops recorded.
pub(crate) fn typed(plain: Vec<u8>, kind: &str) -> Result<Node, String> {
    let text = String::from_utf8(plain).map_err(|_| "the plaintext is not UTF-8".to_string())?;
    Ok(match kind {
        "str" | "bytes" => Node::Str(text),
        "int" => Node::Int(
            text.parse()
                .map_err(|_| "a type:int value is not an integer")?,
        ),
        "float" => Node::Float(
            text.parse()
                .map_err(|_| "a type:float value is not a number")?,
        ),
        "bool" => Node::Bool(match text.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err("a type:bool value is not a boolean".into()),
        }),
        "time" => Node::Time(text),
        "comment" => Node::Comment(text),
        _ => return Err("an unknown type".into()),
    })
}

/// The plaintext and type name sops encrypts a leaf as; `None` for leaves it leaves alone.
pub(crate) fn plain_of(node: &Node) -> Option<(Vec<u8>, &'static str)> {
    Some(match node {
        Node::Str(s) => (s.as_bytes().to_vec(), "str"),
        Node::Int(i) => (i.to_string().into_bytes(), "int"),
        Node::Float(f) => (crate::num::go_f(*f).into_bytes(), "float"),
        Node::Bool(b) => (b.to_string().into_bytes(), "bool"),
        Node::Time(t) => (t.as_bytes().to_vec(), "time"),
        Node::Comment(c) => (c.as_bytes().to_vec(), "comment"),
        _ => return None,
    })
}

/// The bytes a leaf contributes to the MAC (sops' `ToBytes`).
pub(crate) fn mac_bytes(node: &Node) -> Vec<u8> {
    match node {
        Node::Bool(true) => b"True".to_vec(),
        Node::Bool(false) => b"False".to_vec(),
        Node::Null | Node::Map(_) | Node::Seq(_) => Vec::new(),
        other => plain_of(other).map(|(b, _)| b).unwrap_or_default(),
    }
}

pub(crate) fn random_key() -> zeroize::Zeroizing<[u8; 32]> {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}
