//! The outcomes the spec expects: `proto-spec/attacks.toml`, compiled in.

use std::fmt::Write as _;

use serde::Deserialize;

/// The table as written in `proto-spec/attacks.toml`.
pub const ATTACKS_TOML: &str = include_str!("../../../proto-spec/attacks.toml");

/// Who detected an attack, if anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The party the hostile envelope reached refused it.
    CaughtByRecipient,
    /// The broker refused the outsider's connection or login: nothing reached a party.
    RefusedByBroker,
    /// Nothing was refused, but the sender got no valid receipt.
    CaughtBySender,
    /// Nobody noticed.
    Undetected,
    /// A judge row: the judge proved who wrote the words.
    ProvedToJudge,
    /// A judge row: the judge could prove nothing about who wrote the words.
    NothingProved,
    /// A judge row: the judge told the doctored entry from the genuine ones.
    ForgeryDetected,
    /// A judge row: the doctored entry looks to the judge exactly like the genuine ones.
    Indistinguishable,
}

impl Outcome {
    /// The kebab-case name used in the table and in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::CaughtByRecipient => "caught-by-recipient",
            Outcome::RefusedByBroker => "refused-by-broker",
            Outcome::CaughtBySender => "caught-by-sender",
            Outcome::Undetected => "undetected",
            Outcome::ProvedToJudge => "proved-to-judge",
            Outcome::NothingProved => "nothing-proved",
            Outcome::ForgeryDetected => "forgery-detected",
            Outcome::Indistinguishable => "indistinguishable",
        }
    }
}

/// Who carries out an attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    /// The broker, through a relay strategy.
    Broker,
    /// A network client that is not the broker.
    Outsider,
    /// After an honest run, someone hands the judge more than a transcript (a party's
    /// key, a doctored copy): what can the judge prove?
    Judge,
}

/// What one mode is expected to show.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Who catches it.
    pub outcome: Outcome,
    /// The first rejection code, `no-receipt`, or empty.
    pub reason: String,
}

/// One attack.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    /// Its name, as given to `--adversary` and `--only`.
    pub name: String,
    /// Who carries it out.
    pub actor: Actor,
    /// What it does, in a phrase.
    #[serde(rename = "move")]
    pub what: String,
    /// The diplomatic analogy.
    pub analogy: String,
    /// What catches it, or why nothing can.
    pub mechanism: String,
    /// Expected in signed mode.
    pub signed: Expectation,
    /// Expected in deniable mode.
    pub deniable: Expectation,
    /// Expected in off-record mode.
    #[serde(rename = "off-record")]
    pub off_record: Expectation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    attack: Vec<Attack>,
}

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
#[error("proto-spec/attacks.toml: {0}")]
pub struct TableError(String);

/// Every attack, in the table's order.
pub fn attacks() -> Result<Vec<Attack>, TableError> {
    toml::from_str::<Table>(ATTACKS_TOML)
        .map(|t| t.attack)
        .map_err(|e| TableError(e.to_string()))
}

/// The expected-outcome table and one section per attack, as `threat-model.md` shows
/// them (generated, so the document cannot drift from the table).
pub fn markdown(attacks: &[Attack]) -> String {
    let mut out = markdown_table(attacks);
    for a in attacks {
        let _ = write!(
            out,
            "\n### `{}`\n\n**The move.** The {} {}.\n\n**The analogy.** {}\n\n**What catches it.** {}\n\n**Expected.** Signed: {}. Deniable: {}. Off-record: {}.\n",
            a.name,
            match a.actor {
                Actor::Broker => "broker",
                Actor::Outsider => "outsider:",
                Actor::Judge => "judge's test:",
            },
            a.what,
            a.analogy,
            a.mechanism,
            cell(&a.signed),
            cell(&a.deniable),
            cell(&a.off_record)
        );
    }
    out
}

fn cell(e: &Expectation) -> String {
    if e.reason.is_empty() {
        e.outcome.as_str().to_owned()
    } else {
        format!("{} ({})", e.outcome.as_str(), e.reason)
    }
}

/// The markdown table of expected outcomes alone.
pub fn markdown_table(attacks: &[Attack]) -> String {
    let mut out = String::from(
        "| attack | by | what it does | signed | deniable | off-record |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for a in attacks {
        let by = match a.actor {
            Actor::Broker => "broker",
            Actor::Outsider => "outsider",
            Actor::Judge => "judge",
        };
        let _ = writeln!(
            out,
            "| `{}` | {by} | {} | {} | {} | {} |",
            a.name,
            a.what,
            cell(&a.signed),
            cell(&a.deniable),
            cell(&a.off_record)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moves;

    #[test]
    fn every_broker_attack_has_a_move_and_every_move_a_row() {
        let table = attacks().unwrap();
        for a in table.iter().filter(|a| a.actor == Actor::Broker) {
            assert!(moves::by_name(&a.name).is_some(), "no move for {}", a.name);
        }
        for name in moves::ALL {
            assert!(table.iter().any(|a| a.name == *name), "{name} has no row");
        }
    }

    #[test]
    fn the_threat_model_shows_exactly_this_table() {
        let doc = include_str!("../../../proto-spec/threat-model.md");
        let table = markdown(&attacks().unwrap());
        let start = doc
            .find("<!-- BEGIN attacks.toml -->\n")
            .expect("threat-model.md has the generated-table markers");
        let end = doc.find("<!-- END attacks.toml -->").unwrap();
        let shown = &doc[start + "<!-- BEGIN attacks.toml -->\n".len()..end];
        assert_eq!(
            shown, table,
            "proto-spec/threat-model.md is out of date with attacks.toml: paste the output of \
             `backchannel attacks --table` between the markers"
        );
    }
}
