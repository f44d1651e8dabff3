//! PKCE (RFC 7636), S256 only: `plain` does not exist as a type, so it cannot be accepted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// `BASE64URL(SHA256(verifier))`: always 43 base64url characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

/// A challenge that is not 43 base64url characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("code_challenge must be 43 base64url characters (S256)")]
pub struct MalformedChallenge;

/// A verifier that is not 43–128 characters of the RFC 7636 alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")]
pub struct MalformedVerifier;

impl CodeChallenge {
    /// Validates an S256 challenge from an authorization request.
    ///
    /// # Errors
    /// [`MalformedChallenge`] unless it is exactly 43 base64url characters.
    pub fn parse(raw: &str) -> Result<Self, MalformedChallenge> {
        let well_formed = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MalformedChallenge)
        }
    }

    /// Wraps a value read from storage.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The challenge text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two challenges are the same, in time that does not depend on where they
    /// differ (the contract asks for it, although a challenge is no secret).
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }

    /// The S256 challenge of a verifier (RFC 7636 §4.2), to compare with the stored one
    /// ([`Self::ct_eq`]).
    ///
    /// # Errors
    /// [`MalformedVerifier`] when the verifier breaks RFC 7636 §4.1.
    pub fn of_verifier(verifier: &str) -> Result<Self, MalformedVerifier> {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !well_formed {
            return Err(MalformedVerifier);
        }
        Ok(Self(
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies() {
        let challenge = CodeChallenge::parse(CHALLENGE).unwrap();
        assert_eq!(CodeChallenge::of_verifier(VERIFIER), Ok(challenge));
    }

    #[test]
    fn challenges_compare_equal_only_when_every_character_is() {
        let stored = CodeChallenge::parse(CHALLENGE).unwrap();
        assert!(CodeChallenge::of_verifier(VERIFIER).unwrap().ct_eq(&stored));
        let last_differs = format!("{}A", &CHALLENGE[..42]);
        let first_differs = format!("A{}", &CHALLENGE[1..]);
        for other in [last_differs, first_differs] {
            assert!(
                !CodeChallenge::parse(&other).unwrap().ct_eq(&stored),
                "{other}"
            );
        }
        let other_verifier = CodeChallenge::of_verifier(&"x".repeat(43)).unwrap();
        assert!(!other_verifier.ct_eq(&stored));
    }

    #[test]
    fn another_verifier_does_not() {
        let challenge = CodeChallenge::parse(CHALLENGE).unwrap();
        let other = format!("{}A", &VERIFIER[..42]);
        assert_ne!(CodeChallenge::of_verifier(&other), Ok(challenge.clone()));
        // `plain` would compare the verifier itself with the challenge: never accepted.
        assert_ne!(CodeChallenge::of_verifier(CHALLENGE), Ok(challenge));
    }

    #[test]
    fn malformed_verifiers_are_rejected() {
        for bad in ["short", &"a".repeat(129), &format!("{}+", &VERIFIER[..42])] {
            assert_eq!(
                CodeChallenge::of_verifier(bad),
                Err(MalformedVerifier),
                "{bad}"
            );
        }
        assert!(CodeChallenge::of_verifier(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn malformed_challenges_are_rejected() {
        for bad in [
            "",
            "abc",
            &format!("{CHALLENGE}x"),
            &CHALLENGE.replace('-', "+"),
        ] {
            assert_eq!(CodeChallenge::parse(bad), Err(MalformedChallenge), "{bad}");
        }
    }
}
