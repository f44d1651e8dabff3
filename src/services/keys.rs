//! ES256 signing and verification keys, their RFC 7638 thumbprints (`kid`) and the JWKS.
//!
//! Rotation: start with the new key as `JWT_SIGNING_KEY_FILE` and the old one listed in
//! `JWT_VERIFY_KEY_FILES`. Tokens signed by the old key keep verifying (their `kid` is still
//! known) and the JWKS publishes both, until the old key is removed after the longest access
//! token lifetime has passed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A key file or PEM text that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a P-256 key in a PEM form this server reads.
    #[error("{0}: not a P-256 (ES256) key in PKCS#8, SEC1 or SubjectPublicKeyInfo PEM form")]
    Unusable(String),
    /// The crypto library failed to generate a key.
    #[error("key generation failed")]
    Generation,
}

/// DER prefix of a P-256 `SubjectPublicKeyInfo`; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A P-256 public key: what verification and the JWKS need.
struct PublicKey {
    kid: String,
    /// The uncompressed SEC1 point.
    point: Vec<u8>,
    x: String,
    y: String,
}

impl PublicKey {
    /// From an uncompressed SEC1 point (`0x04 || x || y`).
    fn from_point(point: &[u8], origin: &str) -> Result<Self, KeyError> {
        let (Some(0x04), Some(x), Some(y)) = (point.first(), point.get(1..33), point.get(33..65))
        else {
            return Err(KeyError::Unusable(origin.to_owned()));
        };
        if point.len() != 65 {
            return Err(KeyError::Unusable(origin.to_owned()));
        }
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638 §3.2: required members only, in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(Self {
            kid,
            point: point.to_vec(),
            x,
            y,
        })
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }
}

/// The signing key, every key that verifies, and the JWKS document.
pub struct KeySet {
    signing_kid: String,
    /// Parsed once: parsing per token (what `jsonwebtoken::encode` does) costs about as much
    /// as the signature itself.
    signing: EcdsaKeyPair,
    /// The base64url JWS header of every token this key signs.
    signing_header: String,
    rng: SystemRandom,
    /// Parsed once, like the signing key: parsing the point per token would cost a large
    /// share of each verification.
    verifying: HashMap<String, ParsedPublicKey>,
    jwks: Value,
}

/// The protected header of the tokens this server signs. Anything else in a header (`crit`,
/// `jku`, `jwk`, `x5u`, …) is refused rather than ignored: no token of ours carries it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwsHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// The `typ` of access tokens (RFC 9068 §2.1), also accepted in its media-type form.
const TOKEN_TYPE: &str = "at+jwt";

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("signing_kid", &self.signing_kid)
            .field("verifying", &self.verifying.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Loads the signing key and older verification keys from PEM files.
    ///
    /// # Errors
    /// [`KeyError`] naming the file that cannot be read or used.
    pub fn from_files(signing: &Path, verify: &[PathBuf]) -> Result<Self, KeyError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let signing_pem = read(signing)?;
        let verify_pems = verify
            .iter()
            .map(|path| Ok((read(path)?, path.display().to_string())))
            .collect::<Result<Vec<_>, KeyError>>()?;
        Self::from_pems((&signing_pem, &signing.display().to_string()), &verify_pems)
    }

    /// A fresh random signing key (dev and test, where no key file is configured).
    ///
    /// # Errors
    /// [`KeyError::Generation`] if the crypto library fails.
    pub fn generate() -> Result<Self, KeyError> {
        let pem = generate_private_key_pem()?;
        Self::from_pems((&pem, "generated key"), &[])
    }

    /// Builds the set from PEM texts, each paired with a name for error messages.
    ///
    /// # Errors
    /// [`KeyError::Unusable`] for a PEM that is not a P-256 key (the signing one must be private).
    pub fn from_pems(signing: (&str, &str), verify: &[(String, String)]) -> Result<Self, KeyError> {
        let (pem, origin) = signing;
        let (label, der) = pem_decode(pem).ok_or_else(|| KeyError::Unusable(origin.to_owned()))?;
        if label == "PUBLIC KEY" {
            return Err(KeyError::Unusable(format!(
                "{origin} (a signing key must be private)"
            )));
        }
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| KeyError::Unusable(origin.to_owned()))?;
        let signing_public = PublicKey::from_point(pair.public_key().as_ref(), origin)?;

        let mut publics = vec![signing_public];
        for (pem, origin) in verify {
            publics.push(public_key_of(pem, origin)?);
        }
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for public in &publics {
            if verifying.contains_key(&public.kid) {
                continue;
            }
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public.point)
                .map_err(|_| KeyError::Unusable(public.kid.clone()))?;
            verifying.insert(public.kid.clone(), key);
            jwks.push(public.jwk());
        }
        Ok(Self {
            signing_header: URL_SAFE_NO_PAD.encode(
                json!({"alg": "ES256", "typ": TOKEN_TYPE, "kid": publics[0].kid}).to_string(),
            ),
            signing_kid: publics[0].kid.clone(),
            signing: pair,
            rng: SystemRandom::new(),
            verifying,
            jwks: json!({ "keys": jwks }),
        })
    }

    /// The `kid` new tokens are signed with.
    #[must_use]
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// A compact JWS (RFC 7515 §7.1) of `payload`, ES256 with the signing key and the
    /// `typ: at+jwt` header: `header.payload.signature`, each base64url.
    ///
    /// # Errors
    /// [`KeyError::Generation`] if the crypto library fails to sign.
    pub fn sign_jws(&self, payload: &[u8]) -> Result<String, KeyError> {
        let mut token = String::with_capacity(self.signing_header.len() + payload.len() * 2 + 90);
        token.push_str(&self.signing_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        // ECDSA_P256_SHA256_FIXED_SIGNING: the 64-byte r‖s form JWS requires (RFC 7518 §3.4).
        let signature = self
            .signing
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| KeyError::Generation)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    /// The payload of a compact JWS that one of our keys signed: header `alg` exactly
    /// `ES256` (no other algorithm is ever tried, so `none` and HMAC confusion cannot
    /// apply), `typ` `at+jwt`, a known `kid`, and nothing else in the header. `None` for
    /// anything else, malformed input included.
    #[must_use]
    pub fn verify_jws(&self, token: &str) -> Option<Vec<u8>> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let header: JwsHeader =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if header.alg != "ES256" || !typ_ok {
            return None;
        }
        let key = self.verifying.get(header.kid.as_deref()?)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        key.verify_sig(signing_input.as_bytes(), &signature).ok()?;
        URL_SAFE_NO_PAD.decode(payload).ok()
    }

    /// The `/.well-known/jwks.json` document.
    #[must_use]
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}

/// A new P-256 private key as PKCS#8 PEM (`auth-service keys generate`).
///
/// # Errors
/// [`KeyError::Generation`] if the crypto library fails.
pub fn generate_private_key_pem() -> Result<String, KeyError> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| KeyError::Generation)?;
    let der = pair.to_pkcs8v1().map_err(|_| KeyError::Generation)?;
    Ok(pem_encode("PRIVATE KEY", der.as_ref()))
}

fn public_key_of(pem: &str, origin: &str) -> Result<PublicKey, KeyError> {
    let (label, der) = pem_decode(pem).ok_or_else(|| KeyError::Unusable(origin.to_owned()))?;
    if label == "PUBLIC KEY" {
        return match der.strip_prefix(P256_SPKI_PREFIX.as_slice()) {
            Some(point) => PublicKey::from_point(point, origin),
            None => Err(KeyError::Unusable(origin.to_owned())),
        };
    }
    let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| KeyError::Unusable(origin.to_owned()))?;
    PublicKey::from_point(pair.public_key().as_ref(), origin)
}

/// The label and DER body of the first PEM block in `text`.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let begin = text.find("-----BEGIN ")?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let body_start = label_end + "-----".len();
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    let body: String = rest
        .get(body_start..body_end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body).ok()?;
    Some((label.to_owned(), der))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_pem() {
        let pem = generate_private_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let a = KeySet::from_pems((&pem, "a"), &[]).unwrap();
        let b = KeySet::from_pems((&pem, "b"), &[]).unwrap();
        assert_eq!(a.signing_kid(), b.signing_kid());
    }

    #[test]
    fn kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 has no EC example; this recomputes §3.2's recipe independently with the
        // point from RFC 7515 Appendix A.3.
        let x = URL_SAFE_NO_PAD
            .decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")
            .unwrap();
        let mut point = vec![0x04];
        point.extend(x);
        point.extend(y);
        let public = PublicKey::from_point(&point, "test").unwrap();
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(
            br#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        ));
        assert_eq!(public.kid, expected);
    }

    #[test]
    fn a_signed_jws_verifies_and_any_change_to_it_does_not() {
        let set = KeySet::generate().unwrap();
        let other = KeySet::generate().unwrap();
        let token = set.sign_jws(br#"{"sub":"x"}"#).unwrap();
        assert_eq!(set.verify_jws(&token).unwrap(), br#"{"sub":"x"}"#);
        assert!(
            other.verify_jws(&token).is_none(),
            "verified by a foreign key"
        );
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let tampered = format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(r#"{"sub":"y"}"#)
        );
        assert!(set.verify_jws(&tampered).is_none());
    }

    #[test]
    fn jwks_lists_the_signing_key_and_every_verify_key_once() {
        let new = generate_private_key_pem().unwrap();
        let old = generate_private_key_pem().unwrap();
        let set = KeySet::from_pems(
            (&new, "new"),
            &[(old.clone(), "old".into()), (new.clone(), "dup".into())],
        )
        .unwrap();
        let keys = set.jwks()["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for key in keys {
            assert_eq!(key["alg"], "ES256");
            assert_eq!(key["use"], "sig");
            assert_eq!(key["kty"], "EC");
            assert!(set.verifying.contains_key(key["kid"].as_str().unwrap()));
            assert!(key.get("d").is_none(), "private part published");
        }
        assert_eq!(keys[0]["kid"], set.signing_kid());
    }

    #[test]
    fn unusable_pems_are_rejected_with_their_origin() {
        let err = KeySet::from_pems(("not a pem", "keys/x.pem"), &[]).unwrap_err();
        assert!(err.to_string().contains("keys/x.pem"), "{err}");
        let garbage = pem_encode("PRIVATE KEY", b"garbage");
        assert!(KeySet::from_pems((&garbage, "g"), &[]).is_err());
    }
}
