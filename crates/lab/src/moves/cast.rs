//! The roles a move is written for, and which registered party plays each.

/// The role of the party whose messages are attacked.
pub const ALPHA: &str = "alpha";
/// The role of their intended recipient.
pub const BRAVO: &str = "bravo";
/// The role of a third party who was never meant to receive them.
pub const CHARLIE: &str = "charlie";

/// Which party plays each role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cast {
    roles: [(&'static str, String); 3],
}

impl Cast {
    /// The lab's cast: each role played by the party of its name.
    pub fn lab() -> Self {
        Cast {
            roles: [ALPHA, BRAVO, CHARLIE].map(|r| (r, r.to_owned())),
        }
    }

    /// The first three of `names` play alpha, bravo and charlie, in that order; a role
    /// nobody plays keeps its own name (and its moves never fire).
    pub fn from_names(names: &[&str]) -> Self {
        let mut cast = Self::lab();
        for ((_, who), name) in cast.roles.iter_mut().zip(names) {
            *who = (*name).to_owned();
        }
        cast
    }

    /// The party playing `role` (a role not in the cast names itself).
    pub fn name<'a>(&'a self, role: &'a str) -> &'a str {
        self.roles
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(role, |(_, who)| who.as_str())
    }
}
