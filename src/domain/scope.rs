//! OAuth scopes.

use std::fmt;

/// Every scope this server knows (published as `scopes_supported`).
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// What a client registered without `scope` may use (the contract's default).
pub const DEFAULT_CLIENT_SCOPE: &str = "openid profile email";

/// A set of known scopes: bit `i` stands for `SUPPORTED_SCOPES[i]`. A bit set rather than a
/// collection of names because every stored code and refresh token carries one (a heap-allocated
/// set was most of an in-memory record) and every bearer check parses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scope(u8);

const _: () = assert!(SUPPORTED_SCOPES.len() <= u8::BITS as usize);

/// A scope string that names an unknown scope or is not space-separated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scope names an unknown scope or is malformed")]
pub struct UnknownScope;

impl Scope {
    /// Parses a space-delimited scope string (RFC 6749 §3.3).
    ///
    /// # Errors
    /// [`UnknownScope`] for a scope this server does not support, or for empty tokens
    /// (double or leading spaces).
    pub fn parse(raw: &str) -> Result<Self, UnknownScope> {
        if raw.is_empty() {
            return Ok(Self::default());
        }
        raw.split(' ').try_fold(Self::default(), |scope, token| {
            let index = SUPPORTED_SCOPES
                .iter()
                .position(|known| *known == token)
                .ok_or(UnknownScope)?;
            Ok(Self(scope.0 | 1 << index))
        })
    }

    /// Whether every scope in `self` is also in `other`.
    #[must_use]
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether no scope is present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// Names in alphabetical order, the canonical form stored and put in tokens.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = [""; SUPPORTED_SCOPES.len()];
        let mut count = 0;
        for (index, name) in SUPPORTED_SCOPES.iter().enumerate() {
            if self.0 & 1 << index != 0 {
                names[count] = name;
                count += 1;
            }
        }
        let present = &mut names[..count];
        present.sort_unstable();
        for (position, name) in present.iter().enumerate() {
            if position > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_known_scopes_in_any_order_and_prints_them_sorted() {
        let scope = Scope::parse("profile openid").unwrap();
        assert_eq!(scope.to_string(), "openid profile");
        assert!(Scope::parse("").unwrap().is_empty());
        let every = Scope::parse("profile offline_access openid email").unwrap();
        assert_eq!(every.to_string(), "email offline_access openid profile");
        assert_eq!(Scope::parse("openid openid").unwrap().to_string(), "openid");
    }

    #[test]
    fn parse_rejects_unknown_and_malformed_scopes() {
        for bad in [
            "admin",
            "openid  profile",
            " openid",
            "openid\tprofile",
            "OPENID",
        ] {
            assert_eq!(Scope::parse(bad), Err(UnknownScope), "{bad:?}");
        }
    }

    #[test]
    fn subset() {
        let all = Scope::parse(DEFAULT_CLIENT_SCOPE).unwrap();
        assert!(Scope::parse("openid").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("offline_access").unwrap().is_subset_of(&all));
        assert!(Scope::default().is_subset_of(&all));
        assert!(!all.is_subset_of(&Scope::parse("openid email").unwrap()));
    }

    /// Every subset of the supported scopes, as the names it holds.
    fn every_subset() -> Vec<Vec<&'static str>> {
        (0..1u32 << SUPPORTED_SCOPES.len())
            .map(|bits| {
                SUPPORTED_SCOPES
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| bits & 1 << index != 0)
                    .map(|(_, name)| *name)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_subset_prints_sorted_and_compares_as_sets_of_names() {
        for names in every_subset() {
            let mut reversed = names.clone();
            reversed.reverse();
            let scope = Scope::parse(&reversed.join(" ")).unwrap();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(scope.to_string(), sorted.join(" "));
            assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
            for other in every_subset() {
                let other_scope = Scope::parse(&other.join(" ")).unwrap();
                let contained = names.iter().all(|name| other.contains(name));
                assert_eq!(
                    scope.is_subset_of(&other_scope),
                    contained,
                    "{names:?} in {other:?}"
                );
            }
        }
    }
}
