//! Display names.

use super::Invalid;

/// A user's display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

const MAX_CHARS: usize = 100;

impl DisplayName {
    /// Validates `raw`.
    ///
    /// # Errors
    /// [`Invalid`] when the trimmed name is empty, longer than 100 characters, or holds
    /// control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid::new("name", "must not be empty"));
        }
        if name.chars().count() > MAX_CHARS {
            return Err(Invalid::new("name", "must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new("name", "must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The name as shown to people.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_bounds_the_name() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse("Ada\u{7}").is_err());
    }
}
