//! Twilio SID kinds: a two-letter prefix and 32 hexadecimal digits, 34 characters in all.

use std::fmt;

/// The SID kinds the User resource and its neighbours use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SidKind {
    /// A User (`US…`).
    User,
    /// An Account (`AC…`).
    Account,
    /// A Conversation Service (`IS…`).
    Service,
    /// A Role (`RL…`).
    Role,
    /// An API Key (`SK…`).
    ApiKey,
    /// A Conversation (`CH…`).
    Conversation,
    /// A Participant (`MB…`).
    Participant,
}

/// The number of hexadecimal digits after the prefix.
pub const SID_DIGITS: usize = 32;
/// The full length of a SID.
pub const SID_LEN: usize = 34;

impl SidKind {
    /// Every kind, in a fixed order.
    pub const ALL: [SidKind; 7] = [
        SidKind::User,
        SidKind::Account,
        SidKind::Service,
        SidKind::Role,
        SidKind::ApiKey,
        SidKind::Conversation,
        SidKind::Participant,
    ];

    /// The two-letter prefix, upper case as Twilio writes it.
    pub fn prefix(self) -> &'static str {
        match self {
            SidKind::User => "US",
            SidKind::Account => "AC",
            SidKind::Service => "IS",
            SidKind::Role => "RL",
            SidKind::ApiKey => "SK",
            SidKind::Conversation => "CH",
            SidKind::Participant => "MB",
        }
    }

    /// The documented pattern, for messages and schemas.
    pub fn pattern(self) -> String {
        format!("^{}[0-9a-fA-F]{{32}}$", self.prefix())
    }

    /// Whether `value` is a SID of this kind: the exact prefix, then 32 hex digits.
    pub fn matches(self, value: &str) -> bool {
        value.len() == SID_LEN
            && value.starts_with(self.prefix())
            && value.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
    }

    /// The kind whose prefix starts `value`, if any (the rest is not checked).
    pub fn of(value: &str) -> Option<SidKind> {
        SidKind::ALL
            .into_iter()
            .find(|k| value.starts_with(k.prefix()))
    }

    /// Builds a SID of this kind from a 128-bit number, as lower-case hex.
    pub fn from_u128(self, n: u128) -> String {
        format!("{}{:032x}", self.prefix(), n)
    }
}

impl fmt::Display for SidKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exact_shape_only() {
        let good = "US0123456789abcdefABCDEF0123456789";
        assert!(SidKind::User.matches(good));
        assert!(!SidKind::Account.matches(good));
        assert!(!SidKind::User.matches(&good[..33]));
        assert!(!SidKind::User.matches(&format!("{good}0")));
        assert!(!SidKind::User.matches("us0123456789abcdefABCDEF0123456789"));
        assert!(!SidKind::User.matches("US0123456789abcdefABCDEF012345678g"));
        assert!(!SidKind::User.matches("USéé23456789abcdefABCDEF012345678"));
    }

    #[test]
    fn from_u128_round_trips() {
        for kind in SidKind::ALL {
            let sid = kind.from_u128(u128::MAX - 7);
            assert!(kind.matches(&sid), "{sid}");
            assert_eq!(SidKind::of(&sid), Some(kind));
        }
    }
}
