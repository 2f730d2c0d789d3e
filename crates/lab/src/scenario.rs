//! Scenarios without Rust: a cast, a script of messages with timing, and per message
//! what the intermediary does with it (`demo --scenario FILE.toml`, the files in
//! `scenarios/`; format in `docs/scenarios.md`).
//!
//! A scenario is data: [`Scenario::parse`] checks it completely (names, one body per
//! message, durations, moves) before anything runs, and [`ScriptedMove`](crate::moves::ScriptedMove) plays the
//! intermediary's part as a [`Move`](crate::Move), so in deniable mode the same adaptive rewriter
//! as the attack lab makes its changes fit.

use std::collections::BTreeMap;
use std::time::Duration;

use backchannel_proto::{Body, ChannelMode, Timestamp};
use serde::Deserialize;

/// The most messages a script may hold.
pub const MAX_STEPS: usize = 64;
/// The longest pause or delay a script may ask for: a class waits for no more.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The most parties a scenario may cast: two adversaries and up to two third powers.
pub const MAX_PARTIES: usize = 4;

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScenarioError {
    /// Not valid TOML, or a field of the wrong type or unknown.
    #[error("not a scenario: {0}")]
    Syntax(String),
    /// Valid TOML that breaks rules: every one found, in file order.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// A scenario as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// One line naming it.
    pub title: String,
    /// What it shows, for the class.
    #[serde(default)]
    pub about: String,
    /// The parties, each a party name (`a-z 0-9 - _`): the two adversaries first,
    /// then up to two third powers.
    pub parties: Vec<String>,
    /// The intermediary's name, shown in the account (any text).
    #[serde(default = "default_broker")]
    pub broker: String,
    /// The messages, in order.
    pub message: Vec<MessageFile>,
    /// What the scenario states each party will hold at the end, per mode:
    /// mode -> party -> assurance id -> `in force`, `revoked`, `expired` or `none`.
    #[serde(default)]
    pub expect: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

fn default_broker() -> String {
    "broker".to_owned()
}

/// One message as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFile {
    /// Who sends it (one of `parties`).
    pub from: String,
    /// To whom (one of `parties`, not `from`); with two parties it may be left out:
    /// the other.
    pub to: Option<String>,
    /// A plain text.
    pub text: Option<String>,
    /// An assurance.
    pub assurance: Option<AssuranceFile>,
    /// The withdrawal of an assurance.
    pub revoke: Option<RevokeFile>,
    /// How long the envelope is valid (`90s`, `10m`, `2d`); default one day.
    pub valid_for: Option<String>,
    /// How long to wait before sending it (default: send once the previous one is
    /// acknowledged, or after a short wait).
    pub after: Option<String>,
    /// What the intermediary does with it (default `forward`).
    #[serde(default)]
    pub broker: MoveFile,
}

/// An assurance as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssuranceFile {
    /// Its id.
    pub id: String,
    /// What is promised.
    pub commitment: String,
    /// On what condition.
    #[serde(default)]
    pub condition: String,
    /// How long the promise holds (`30d`).
    pub holds_for: String,
}

/// A withdrawal as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeFile {
    /// The assurance withdrawn.
    pub id: String,
    /// Why, in words.
    #[serde(default)]
    pub reason: String,
}

/// The intermediary's move as written: `"forward"`, `"drop"`, `"hold"`, or a table
/// `{ alter = { ... } }`, `{ delay = "3s" }`, `{ forge = "words" }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum MoveFile {
    /// A bare word.
    Word(String),
    /// A table with one key.
    Table(MoveTable),
    /// Nothing given: forward.
    #[default]
    Forward,
}

/// The table form of a move.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveTable {
    /// Replace some of the words.
    pub alter: Option<Alteration>,
    /// Hold it this long, then pass it on.
    pub delay: Option<String>,
    /// Pass it on, then add a message of the broker's own in the sender's name.
    pub forge: Option<String>,
    /// Pass it on, and show this party (a third power) a copy.
    pub copy: Option<String>,
    /// Deliver it to this party instead of its recipient.
    pub redirect: Option<String>,
}

/// Which words an alteration replaces; only those that fit the message apply.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Alteration {
    /// A text's words.
    pub text: Option<String>,
    /// An assurance's commitment.
    pub commitment: Option<String>,
    /// An assurance's condition.
    pub condition: Option<String>,
    /// A withdrawal's reason.
    pub reason: Option<String>,
}

/// What the intermediary does with one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerMove {
    /// Pass it on as it came.
    Forward,
    /// Never pass it on (nor its retransmissions).
    Drop,
    /// Sit on it until it has expired, then pass it on.
    HoldPastExpiry,
    /// Hold it this long, then pass it on.
    Delay(Duration),
    /// Pass it on with these words changed.
    Alter(Alteration),
    /// Pass it on, then add this text in the sender's name.
    Forge(String),
    /// Pass it on, and deliver a copy to this party.
    Copy(String),
    /// Deliver it to this party instead.
    Redirect(String),
}

impl BrokerMove {
    /// The move in a few words, for the account.
    pub fn describe(&self) -> String {
        match self {
            BrokerMove::Forward => "passes it on".to_owned(),
            BrokerMove::Drop => "drops it".to_owned(),
            BrokerMove::HoldPastExpiry => "sits on it until it has expired".to_owned(),
            BrokerMove::Delay(d) => format!("holds it for {} ms", d.as_millis()),
            BrokerMove::Alter(_) => "changes its words".to_owned(),
            BrokerMove::Forge(_) => "adds words of its own in the sender's name".to_owned(),
            BrokerMove::Copy(to) => format!("passes it on and shows {to} a copy"),
            BrokerMove::Redirect(to) => format!("delivers it to {to} instead"),
        }
    }
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Said {
    /// A text.
    Text(String),
    /// An assurance, valid for `holds_for` from when it is sent.
    Assurance {
        /// Its id.
        id: String,
        /// The promise.
        commitment: String,
        /// Its condition.
        condition: String,
        /// How long it holds.
        holds_for: Duration,
    },
    /// A withdrawal.
    Revoke {
        /// The assurance withdrawn.
        id: String,
        /// Why.
        reason: String,
    },
}

impl Said {
    /// The body, for an assurance valid until `now + holds_for`.
    pub fn body(&self, now: Timestamp) -> Body<'static> {
        match self {
            Said::Text(t) => Body::Text(t.clone().into()),
            Said::Assurance {
                id,
                commitment,
                condition,
                holds_for,
            } => Body::Assurance(backchannel_proto::Assurance {
                id: id.clone().into(),
                commitment: commitment.clone().into(),
                condition: condition.clone().into(),
                valid_until: now.saturating_add(*holds_for),
            }),
            Said::Revoke { id, reason } => Body::Revocation(backchannel_proto::Revocation {
                assurance_id: id.clone().into(),
                reason: reason.clone().into(),
            }),
        }
    }
}

/// One message, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// What it says.
    pub said: Said,
    /// Envelope validity.
    pub valid_for: Duration,
    /// Pause before sending.
    pub after: Option<Duration>,
    /// The intermediary's move.
    pub broker: BrokerMove,
}

/// Where a scenario states an assurance will stand in a party's ledger at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Held and in force.
    InForce,
    /// Held and withdrawn.
    Revoked,
    /// Held and lapsed.
    Expired,
    /// Not held at all (never accepted, or refused).
    None,
}

impl Standing {
    const ALL: [Standing; 4] = [
        Standing::InForce,
        Standing::Revoked,
        Standing::Expired,
        Standing::None,
    ];

    /// As the file and the ledger write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Standing::InForce => "in force",
            Standing::Revoked => "revoked",
            Standing::Expired => "expired",
            Standing::None => "none",
        }
    }

    /// The standing named `s`.
    pub fn parse(s: &str) -> Option<Standing> {
        Standing::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing a scenario states about its run: in `mode`, `party`'s ledger holds
/// assurance `id` as `standing` at the end. `demo --scenario` checks each against the
/// run, so a scenario's narrative cannot drift from what the nodes do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The mode it is about.
    pub mode: ChannelMode,
    /// Whose ledger.
    pub party: String,
    /// The assurance id.
    pub id: String,
    /// Where it stands.
    pub standing: Standing,
}

/// A scenario, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its title.
    pub title: String,
    /// What it shows.
    pub about: String,
    /// The parties: the two adversaries first, then any third powers.
    pub parties: Vec<String>,
    /// The intermediary's name.
    pub broker: String,
    /// The messages.
    pub steps: Vec<Step>,
    /// What it states about its runs, in file order by mode, party and id.
    pub expect: Vec<Expectation>,
}

impl Scenario {
    /// Parses and checks a scenario file's text. A file that breaks rules is refused
    /// with every rule it breaks, each naming its message.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let file: ScenarioFile =
            toml::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        let mut problems = Vec::new();
        let parties = checked_parties(&file.parties, &mut problems);
        if file.message.is_empty() || file.message.len() > MAX_STEPS {
            problems.push(format!("a script holds 1 to {MAX_STEPS} messages"));
        }
        let mut steps = Vec::with_capacity(file.message.len());
        for (i, m) in file.message.iter().take(MAX_STEPS).enumerate() {
            if let Some(step) = checked_step(m, i + 1, parties.as_ref(), &mut problems) {
                steps.push(step);
            }
        }
        let expect = checked_expectations(&file.expect, parties.as_deref(), &mut problems);
        match parties {
            Some(parties) if problems.is_empty() => Ok(Scenario {
                title: file.title,
                about: file.about,
                parties,
                broker: file.broker,
                steps,
                expect,
            }),
            _ => Err(ScenarioError::Invalid(problems)),
        }
    }
}

/// The parties, if they are 2 to [`MAX_PARTIES`] valid, different names; else the
/// problems.
fn checked_parties(names: &[String], problems: &mut Vec<String>) -> Option<Vec<String>> {
    let before = problems.len();
    for p in names {
        if backchannel_proto::PartyName::new(p).is_err() {
            problems.push(format!(
                "party name {:?}: use 1 to 32 of a-z, 0-9, '-' and '_'",
                backchannel_proto::text::plain(p)
            ));
        }
    }
    if !(2..=MAX_PARTIES).contains(&names.len()) {
        problems.push(format!(
            "parties: a scenario has 2 to {MAX_PARTIES} parties (two adversaries, then any third powers), this one names {} ({})",
            names.len(),
            names
                .iter()
                .map(|n| backchannel_proto::text::quoted(n))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut seen: Vec<&String> = Vec::new();
    for n in names {
        if seen.contains(&n) {
            problems.push(format!(
                "parties: {} is named twice; every party needs a name of its own",
                backchannel_proto::text::quoted(n)
            ));
        }
        seen.push(n);
    }
    (problems.len() == before).then(|| names.to_vec())
}

/// `name`, if it is one of `parties` other than `not`; else why not.
fn checked_other(
    parties: &[String],
    name: &str,
    not: &str,
    n: usize,
    what: &str,
) -> Result<String, String> {
    if !parties.iter().any(|p| p == name) {
        Err(format!(
            "message {n}: {what} {} is not one of the parties",
            backchannel_proto::text::quoted(name)
        ))
    } else if name == not {
        Err(format!(
            "message {n}: {what} {} is {} already",
            backchannel_proto::text::quoted(name),
            if what == "to" {
                "the sender"
            } else {
                "its recipient"
            }
        ))
    } else {
        Ok(name.to_owned())
    }
}

/// The `[expect]` tables, checked: known modes, parties of the scenario, valid ids,
/// known standings.
fn checked_expectations(
    expect: &BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    parties: Option<&[String]>,
    problems: &mut Vec<String>,
) -> Vec<Expectation> {
    let mut out = Vec::new();
    for (mode_name, by_party) in expect {
        let Ok(mode) = mode_name.parse::<ChannelMode>() else {
            problems.push(format!(
                "expect.{}: not a mode: signed, deniable or off-record",
                backchannel_proto::text::plain(mode_name)
            ));
            continue;
        };
        for (party, by_id) in by_party {
            if parties.is_some_and(|p| !p.contains(party)) {
                problems.push(format!(
                    "expect.{mode}: {} is not one of the parties",
                    backchannel_proto::text::quoted(party)
                ));
                continue;
            }
            for (id, standing) in by_id {
                if !backchannel_proto::text::is_valid_assurance_id(id) {
                    problems.push(format!(
                        "expect.{mode}.{party}: assurance id {} is not 1 to 64 of A-Z a-z 0-9 . _ : -",
                        backchannel_proto::text::plain(id)
                    ));
                    continue;
                }
                match Standing::parse(standing) {
                    Some(standing) => out.push(Expectation {
                        mode,
                        party: party.clone(),
                        id: id.clone(),
                        standing,
                    }),
                    None => problems.push(format!(
                        "expect.{mode}.{party}.{id}: {} is not a standing: \"in force\", \"revoked\", \"expired\" or \"none\"",
                        backchannel_proto::text::quoted(standing)
                    )),
                }
            }
        }
    }
    out
}

/// Message `n` checked against `parties` (when they are valid); `None` with its
/// problems pushed when it breaks a rule.
fn checked_step(
    m: &MessageFile,
    n: usize,
    parties: Option<&Vec<String>>,
    problems: &mut Vec<String>,
) -> Option<Step> {
    let before = problems.len();
    let to = match parties {
        Some(parties) if !parties.contains(&m.from) => {
            note(
                problems,
                Err(format!(
                    "message {n}: from {:?} is not one of the parties",
                    backchannel_proto::text::plain(&m.from)
                )),
            );
            None
        }
        Some(parties) => {
            let to = match (&m.to, parties.as_slice()) {
                (Some(to), _) => checked_other(parties, to, &m.from, n, "to"),
                (None, [a, b]) => Ok(if m.from == *a { b.clone() } else { a.clone() }),
                (None, _) => Err(format!(
                    "message {n}: with more than two parties, say whom it is to (to = \"...\")"
                )),
            };
            match to {
                Ok(to) => Some(to),
                Err(e) => {
                    note(problems, Err(e));
                    None
                }
            }
        }
        None => None,
    };
    let said = match (&m.text, &m.assurance, &m.revoke) {
        (Some(t), None, None) => Some(Said::Text(t.clone())),
        (None, Some(a), None) => {
            let id = checked_id(&a.id, n);
            let holds_for = duration(&a.holds_for, n, "holds_for", Duration::MAX);
            match (id, holds_for) {
                (Ok(id), Ok(holds_for)) => Some(Said::Assurance {
                    id,
                    commitment: a.commitment.clone(),
                    condition: a.condition.clone(),
                    holds_for,
                }),
                (id, holds_for) => {
                    note(problems, id.map(drop));
                    note(problems, holds_for.map(drop));
                    None
                }
            }
        }
        (None, None, Some(r)) => match checked_id(&r.id, n) {
            Ok(id) => Some(Said::Revoke {
                id,
                reason: r.reason.clone(),
            }),
            Err(e) => {
                note(problems, Err(e));
                None
            }
        },
        _ => {
            note(
                problems,
                Err(format!(
                    "message {n}: give exactly one of text, assurance or revoke"
                )),
            );
            None
        }
    };
    let valid_for = match &m.valid_for {
        Some(v) => duration(v, n, "valid_for", Duration::MAX),
        None => Ok(Duration::from_secs(86_400)),
    };
    let after = m
        .after
        .as_deref()
        .map(|v| duration(v, n, "after", MAX_WAIT))
        .transpose();
    let broker = checked_move(&m.broker, n).and_then(|mv| match (&mv, parties, &to) {
        (BrokerMove::Copy(other) | BrokerMove::Redirect(other), Some(parties), Some(to)) => {
            let what = if matches!(mv, BrokerMove::Copy(_)) {
                "copy"
            } else {
                "redirect"
            };
            checked_other(parties, other, to, n, what).map(|_| mv)
        }
        _ => Ok(mv),
    });
    if let (Ok(BrokerMove::HoldPastExpiry), Ok(v)) = (&broker, &valid_for)
        && *v > MAX_WAIT
    {
        note(
            problems,
            Err(format!(
                "message {n}: `hold` waits until the message expires: give it valid_for of at most {} s",
                MAX_WAIT.as_secs()
            )),
        );
    }
    match (to, said, valid_for, after, broker) {
        (Some(to), Some(said), Ok(valid_for), Ok(after), Ok(broker))
            if problems.len() == before =>
        {
            Some(Step {
                from: m.from.clone(),
                to,
                said,
                valid_for,
                after,
                broker,
            })
        }
        (_, _, valid_for, after, broker) => {
            note(problems, valid_for.map(drop));
            note(problems, after.map(drop));
            note(problems, broker.map(drop));
            None
        }
    }
}

/// Adds `r`'s problem, if any, to `problems`.
fn note(problems: &mut Vec<String>, r: Result<(), String>) {
    if let Err(e) = r {
        problems.push(e);
    }
}

/// Message `n`'s move as written, checked.
fn checked_move(m: &MoveFile, n: usize) -> Result<BrokerMove, String> {
    match m {
        MoveFile::Forward => Ok(BrokerMove::Forward),
        MoveFile::Word(w) => match w.as_str() {
            "forward" => Ok(BrokerMove::Forward),
            "drop" => Ok(BrokerMove::Drop),
            "hold" => Ok(BrokerMove::HoldPastExpiry),
            other => Err(format!(
                "message {n}: broker move {:?}: use forward, drop, hold, {{ alter = {{ ... }} }}, {{ delay = \"3s\" }}, {{ forge = \"words\" }}, {{ copy = \"party\" }} or {{ redirect = \"party\" }}",
                backchannel_proto::text::plain(other)
            )),
        },
        MoveFile::Table(t) => match (&t.alter, &t.delay, &t.forge, &t.copy, &t.redirect) {
            (Some(a), None, None, None, None) if *a != Alteration::default() => {
                Ok(BrokerMove::Alter(a.clone()))
            }
            (None, Some(d), None, None, None) => {
                duration(d, n, "delay", MAX_WAIT).map(BrokerMove::Delay)
            }
            (None, None, Some(f), None, None) => Ok(BrokerMove::Forge(f.clone())),
            (None, None, None, Some(c), None) => Ok(BrokerMove::Copy(c.clone())),
            (None, None, None, None, Some(r)) => Ok(BrokerMove::Redirect(r.clone())),
            _ => Err(format!(
                "message {n}: a broker table takes exactly one of alter (with at least one field), delay, forge, copy or redirect"
            )),
        },
    }
}

fn checked_id(id: &str, n: usize) -> Result<String, String> {
    if backchannel_proto::text::is_valid_assurance_id(id) {
        Ok(id.to_owned())
    } else {
        Err(format!(
            "message {n}: assurance id {} is not 1 to 64 of A-Z a-z 0-9 . _ : -",
            backchannel_proto::text::plain(id)
        ))
    }
}

pub use backchannel_proto::duration::parse_duration;

fn duration(text: &str, n: usize, field: &str, max: Duration) -> Result<Duration, String> {
    match parse_duration(text) {
        Some(d) if d > Duration::ZERO && d <= max => Ok(d),
        Some(_) => Err(format!(
            "message {n}: {field} {:?} is out of range (more than zero, at most {} s)",
            backchannel_proto::text::plain(text),
            max.as_secs()
        )),
        None => Err(format!(
            "message {n}: {field} {:?} is not a duration like 500ms, 90s, 10m, 2h or 30d",
            backchannel_proto::text::plain(text)
        )),
    }
}

/// The intermediary's part of a scenario, played on the real frames.
///
/// `body` with the words `a` names replaced where they fit.
pub(crate) fn altered(body: &Body<'static>, a: &Alteration) -> Body<'static> {
    match body {
        Body::Text(t) => Body::Text(a.text.clone().map_or_else(|| t.clone(), Into::into)),
        Body::Assurance(x) => {
            let mut x = x.clone();
            if let Some(c) = &a.commitment {
                x.commitment = c.clone().into();
            }
            if let Some(c) = &a.condition {
                x.condition = c.clone().into();
            }
            Body::Assurance(x)
        }
        Body::Revocation(r) => {
            let mut r = r.clone();
            if let Some(reason) = &a.reason {
                r.reason = reason.clone().into();
            }
            Body::Revocation(r)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
title = "t"
parties = ["israel", "iran"]
broker = "russia"

[[message]]
from = "israel"
text = "hello"
"#;

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = Scenario::parse(MINIMAL).unwrap();
        assert_eq!(s.steps.len(), 1);
        assert_eq!(s.steps[0].to, "iran");
        assert_eq!(s.steps[0].broker, BrokerMove::Forward);
        assert_eq!(s.steps[0].valid_for, Duration::from_secs(86_400));
    }

    #[test]
    fn every_rule_is_checked_with_a_message() {
        let bad = [
            (MINIMAL.replace("\"iran\"]", "\"Iran!\"]"), "party name"),
            (MINIMAL.replace("\"iran\"]", "\"israel\"]"), "named twice"),
            (
                MINIMAL.replace("from = \"israel\"", "from = \"egypt\""),
                "not one of the parties",
            ),
            (
                MINIMAL.replace("text = \"hello\"", "text = \"a\"\nrevoke = { id = \"A\" }"),
                "exactly one",
            ),
            (
                MINIMAL.replace("text = \"hello\"", "text = \"a\"\nbroker = \"lose\""),
                "broker move",
            ),
            (
                MINIMAL.replace("text = \"hello\"", "text = \"a\"\nvalid_for = \"soon\""),
                "not a duration",
            ),
            (
                MINIMAL.replace("text = \"hello\"", "text = \"a\"\nafter = \"2h\""),
                "out of range",
            ),
            (
                MINIMAL.replace("text = \"hello\"", "text = \"a\"\nbroker = \"hold\""),
                "hold",
            ),
            (
                MINIMAL.replace("text = \"hello\"", "text = \"a\"\nbroker = { alter = {} }"),
                "at least one field",
            ),
            (
                MINIMAL.replace(
                    "text = \"hello\"",
                    "assurance = { id = \"bad id\", commitment = \"x\", holds_for = \"1d\" }",
                ),
                "assurance id",
            ),
            (MINIMAL.replace("title", "tittle"), "not a scenario"),
        ];
        for (text, needle) in bad {
            let err = Scenario::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err:?}");
        }
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let text = MINIMAL.replace(
            "text = \"hello\"",
            "text = \"a\"\nbroker = \"lose\"\nvalid_for = \"soon\"\n\n[[message]]\nfrom = \"egypt\"\nassurance = { id = \"bad id\", commitment = \"x\", holds_for = \"forever\" }",
        );
        let problems = match Scenario::parse(&text) {
            Err(ScenarioError::Invalid(problems)) => problems,
            other => unreachable!("refused with every problem, not {other:?}"),
        };
        let expected = [
            "message 1: valid_for",
            "message 1: broker move",
            "message 2: from",
            "message 2: assurance id",
            "message 2: holds_for",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for (p, start) in problems.iter().zip(expected) {
            assert!(p.starts_with(start), "{p:?} should start with {start:?}");
        }
    }

    const THREE: &str = r#"
title = "t"
parties = ["israel", "iran", "usa"]
broker = "russia"

[[message]]
from = "israel"
to = "iran"
text = "hello"
broker = { copy = "usa" }

[[message]]
from = "iran"
to = "israel"
text = "who else heard?"
broker = { redirect = "usa" }
"#;

    #[test]
    fn third_powers_are_cast_addressed_and_shown_copies() {
        let s = Scenario::parse(THREE).unwrap();
        assert_eq!(s.parties, ["israel", "iran", "usa"]);
        assert_eq!(s.steps[0].to, "iran");
        assert_eq!(s.steps[0].broker, BrokerMove::Copy("usa".into()));
        assert_eq!(s.steps[1].broker, BrokerMove::Redirect("usa".into()));
        assert_eq!(s.steps[1].broker.describe(), "delivers it to usa instead");
        let bad = [
            (
                THREE.replacen("to = \"iran\"\n", "", 1),
                "say whom it is to",
            ),
            (
                THREE.replacen("to = \"iran\"", "to = \"egypt\"", 1),
                "to \"egypt\" is not one of the parties",
            ),
            (
                THREE.replacen("to = \"iran\"", "to = \"israel\"", 1),
                "is the sender already",
            ),
            (
                THREE.replacen("copy = \"usa\"", "copy = \"iran\"", 1),
                "copy \"iran\" is its recipient already",
            ),
            (
                THREE.replacen("redirect = \"usa\"", "redirect = \"uk\"", 1),
                "redirect \"uk\" is not one of the parties",
            ),
            (
                THREE.replacen("copy = \"usa\"", "copy = \"usa\", forge = \"x\"", 1),
                "exactly one of",
            ),
            (
                THREE.replace("\"usa\"]", "\"usa\", \"uk\", \"china\"]"),
                "2 to 4 parties",
            ),
            (THREE.replace("\"usa\"]", "\"iran\"]"), "named twice"),
        ];
        for (text, needle) in bad {
            let err = Scenario::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err:?}");
        }
        let one = MINIMAL.replace("[\"israel\", \"iran\"]", "[\"israel\"]");
        assert!(
            Scenario::parse(&one)
                .unwrap_err()
                .to_string()
                .contains("names 1")
        );
    }

    #[test]
    fn what_a_scenario_states_is_checked_before_it_runs() {
        let stated = format!(
            "{MINIMAL}\n[expect.signed]\niran = {{ A-1 = \"in force\", B-2 = \"none\" }}\n[expect.off-record]\nisrael = {{ A-1 = \"revoked\" }}\n"
        );
        let s = Scenario::parse(&stated).unwrap();
        assert_eq!(
            s.expect,
            vec![
                Expectation {
                    mode: ChannelMode::OffRecord,
                    party: "israel".into(),
                    id: "A-1".into(),
                    standing: Standing::Revoked,
                },
                Expectation {
                    mode: ChannelMode::Signed,
                    party: "iran".into(),
                    id: "A-1".into(),
                    standing: Standing::InForce,
                },
                Expectation {
                    mode: ChannelMode::Signed,
                    party: "iran".into(),
                    id: "B-2".into(),
                    standing: Standing::None,
                },
            ]
        );
        let bad = [
            (
                "[expect.sigend]\niran = { A-1 = \"none\" }",
                "expect.sigend: not a mode",
            ),
            (
                "[expect.signed]\negypt = { A-1 = \"none\" }",
                "\"egypt\" is not one of the parties",
            ),
            (
                "[expect.signed]\niran = { A-1 = \"gone\" }",
                "\"gone\" is not a standing",
            ),
            (
                "[expect.signed]\niran = { \"A 1\" = \"none\" }",
                "assurance id A 1",
            ),
        ];
        for (table, needle) in bad {
            let err = Scenario::parse(&format!("{MINIMAL}\n{table}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{needle:?} not in {err:?}");
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("2 days"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn the_shipped_scenarios_parse() {
        for name in [
            "no-first-strike",
            "withdrawal-sat-on",
            "for-now",
            "overheard",
        ] {
            let path = format!("{}/../../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed = Scenario::parse(&text);
            assert!(parsed.is_ok(), "{path}: {parsed:?}");
        }
    }
}
