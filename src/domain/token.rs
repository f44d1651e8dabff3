//! Opaque bearer secrets (session ids now; authorization codes and refresh tokens use the same
//! type) and the SHA-256 digests that are all the server ever stores of them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng as _;
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// 256 bits: the floor the contract sets for codes and refresh tokens.
const TOKEN_BYTES: usize = 32;

/// The operating system refused to hand out random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomnessUnavailable;

/// A freshly minted secret, shown to its holder once. Its `Debug` never shows it.
pub struct OpaqueToken(SecretString);

impl OpaqueToken {
    /// 256 bits from the OS RNG, base64url without padding (43 characters).
    ///
    /// # Errors
    /// [`RandomnessUnavailable`] if the OS RNG fails.
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; TOKEN_BYTES];
        SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| RandomnessUnavailable)?;
        Ok(Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The value to hand to the client.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The digest to store.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.expose())
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// SHA-256 of an opaque token. A plain (unsalted, fast) hash is enough because the input has
/// 256 bits of entropy: there is nothing to brute-force, and lookups stay one index probe.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Digests whatever a client presented; unknown values simply find nothing.
    #[must_use]
    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).into())
    }

    /// Rebuilds a digest read from storage.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Equality in constant time, for comparing a presented secret's digest with a stored one.
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_carry_256_bits_and_differ() {
        let a = OpaqueToken::generate().unwrap();
        let b = OpaqueToken::generate().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn hash_is_sha256_of_the_presented_text() {
        let token = OpaqueToken::generate().unwrap();
        assert_eq!(token.hash(), TokenHash::of(token.expose()));
        // FIPS 180-2 test vector.
        let abc = TokenHash::of("abc");
        assert_eq!(abc.as_bytes()[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn debug_hides_the_token() {
        let token = OpaqueToken::generate().unwrap();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
