//! Scenarios without Rust: a cast, a script of messages with timing, and per message
//! what the intermediary does with it (`demo --scenario FILE.toml`, the files in
//! `scenarios/`; format in `docs/scenarios.md`).
//!
//! A scenario is data: [`Scenario::parse`] checks it completely (names, one body per
//! message, durations, moves) before anything runs, and [`ScriptedMove`] plays the
//! intermediary's part as a [`Move`], so in deniable mode the same adaptive rewriter
//! as the attack lab makes its changes fit.

use std::collections::HashMap;
use std::time::Duration;

use backchannel_proto::{Body, Timestamp};
use serde::Deserialize;

use crate::adversary::{Move, Out};
use crate::observed::Observed;

/// The most messages a script may hold.
pub const MAX_STEPS: usize = 64;
/// The longest pause or delay a script may ask for: a class waits for no more.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScenarioError {
    /// Not valid TOML, or a field of the wrong type or unknown.
    #[error("not a scenario: {0}")]
    Syntax(String),
    /// Valid TOML that breaks a rule.
    #[error("{0}")]
    Invalid(String),
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
    /// The two parties, each a party name (`a-z 0-9 - _`).
    pub parties: [String; 2],
    /// The intermediary's name, shown in the account (any text).
    #[serde(default = "default_broker")]
    pub broker: String,
    /// The messages, in order.
    pub message: Vec<MessageFile>,
}

fn default_broker() -> String {
    "broker".to_owned()
}

/// One message as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFile {
    /// Who sends it (one of `parties`); it goes to the other.
    pub from: String,
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

/// A scenario, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its title.
    pub title: String,
    /// What it shows.
    pub about: String,
    /// The two parties.
    pub parties: [String; 2],
    /// The intermediary's name.
    pub broker: String,
    /// The messages.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Parses and checks a scenario file's text.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let file: ScenarioFile =
            toml::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        let invalid = |m: String| Err(ScenarioError::Invalid(m));
        for p in &file.parties {
            if backchannel_proto::PartyName::new(p).is_err() {
                return invalid(format!(
                    "party name {:?}: use 1 to 32 of a-z, 0-9, '-' and '_'",
                    backchannel_proto::text::plain(p)
                ));
            }
        }
        let [a, b] = &file.parties;
        if a == b {
            return invalid("the two parties must have different names".into());
        }
        if file.message.is_empty() || file.message.len() > MAX_STEPS {
            return invalid(format!("a script holds 1 to {MAX_STEPS} messages"));
        }
        let mut steps = Vec::with_capacity(file.message.len());
        for (i, m) in file.message.iter().enumerate() {
            let n = i + 1;
            let to = if &m.from == a {
                b.clone()
            } else if &m.from == b {
                a.clone()
            } else {
                return invalid(format!(
                    "message {n}: from {:?} is not one of the parties",
                    backchannel_proto::text::plain(&m.from)
                ));
            };
            let said = match (&m.text, &m.assurance, &m.revoke) {
                (Some(t), None, None) => Said::Text(t.clone()),
                (None, Some(a), None) => Said::Assurance {
                    id: checked_id(&a.id, n)?,
                    commitment: a.commitment.clone(),
                    condition: a.condition.clone(),
                    holds_for: duration(&a.holds_for, n, "holds_for", Duration::MAX)?,
                },
                (None, None, Some(r)) => Said::Revoke {
                    id: checked_id(&r.id, n)?,
                    reason: r.reason.clone(),
                },
                _ => {
                    return invalid(format!(
                        "message {n}: give exactly one of text, assurance or revoke"
                    ));
                }
            };
            let valid_for = match &m.valid_for {
                Some(v) => duration(v, n, "valid_for", Duration::MAX)?,
                None => Duration::from_secs(86_400),
            };
            let after = m
                .after
                .as_deref()
                .map(|v| duration(v, n, "after", MAX_WAIT))
                .transpose()?;
            let broker = match &m.broker {
                MoveFile::Forward => BrokerMove::Forward,
                MoveFile::Word(w) => match w.as_str() {
                    "forward" => BrokerMove::Forward,
                    "drop" => BrokerMove::Drop,
                    "hold" => BrokerMove::HoldPastExpiry,
                    other => {
                        return invalid(format!(
                            "message {n}: broker move {:?}: use forward, drop, hold, {{ alter = {{ ... }} }}, {{ delay = \"3s\" }} or {{ forge = \"words\" }}",
                            backchannel_proto::text::plain(other)
                        ));
                    }
                },
                MoveFile::Table(t) => match (&t.alter, &t.delay, &t.forge) {
                    (Some(a), None, None) if *a != Alteration::default() => {
                        BrokerMove::Alter(a.clone())
                    }
                    (None, Some(d), None) => BrokerMove::Delay(duration(d, n, "delay", MAX_WAIT)?),
                    (None, None, Some(f)) => BrokerMove::Forge(f.clone()),
                    _ => {
                        return invalid(format!(
                            "message {n}: a broker table takes exactly one of alter (with at least one field), delay or forge"
                        ));
                    }
                },
            };
            if matches!(broker, BrokerMove::HoldPastExpiry) && valid_for > MAX_WAIT {
                return invalid(format!(
                    "message {n}: `hold` waits until the message expires: give it valid_for of at most {} s",
                    MAX_WAIT.as_secs()
                ));
            }
            steps.push(Step {
                from: m.from.clone(),
                to,
                said,
                valid_for,
                after,
                broker,
            });
        }
        Ok(Scenario {
            title: file.title,
            about: file.about,
            parties: file.parties,
            broker: file.broker,
            steps,
        })
    }
}

fn checked_id(id: &str, n: usize) -> Result<String, ScenarioError> {
    if backchannel_proto::text::is_valid_assurance_id(id) {
        Ok(id.to_owned())
    } else {
        Err(ScenarioError::Invalid(format!(
            "message {n}: assurance id {} is not 1 to 64 of A-Z a-z 0-9 . _ : -",
            backchannel_proto::text::plain(id)
        )))
    }
}

/// `90s`, `10m`, `2h`, `30d`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).map(Duration::from_millis)
}

fn duration(text: &str, n: usize, field: &str, max: Duration) -> Result<Duration, ScenarioError> {
    match parse_duration(text) {
        Some(d) if d > Duration::ZERO && d <= max => Ok(d),
        Some(_) => Err(ScenarioError::Invalid(format!(
            "message {n}: {field} {:?} is out of range (more than zero, at most {} s)",
            backchannel_proto::text::plain(text),
            max.as_secs()
        ))),
        None => Err(ScenarioError::Invalid(format!(
            "message {n}: {field} {:?} is not a duration like 500ms, 90s, 10m, 2h or 30d",
            backchannel_proto::text::plain(text)
        ))),
    }
}

/// The intermediary's part of a scenario, played on the real frames.
///
/// Message k from X in the script is the k-th content envelope the broker sees from X
/// (its position, so a retransmission meets the same fate). Receipts and heartbeats pass, except that
/// what is held holds back everything from its sender to that recipient behind it (a
/// broker that let a later envelope through would be caught by it at once).
pub struct ScriptedMove {
    /// (sender, position) -> the move.
    moves: HashMap<(String, u64), BrokerMove>,
    /// (sender, recipient) -> envelopes held and when to release them.
    held: HashMap<(String, String), (Timestamp, Vec<Observed>)>,
    /// Forgeries already made, by (sender, seq).
    forged: Vec<(String, u64)>,
}

impl ScriptedMove {
    /// The intermediary of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        let mut count: HashMap<&str, u64> = HashMap::new();
        let mut moves = HashMap::new();
        for s in &scenario.steps {
            let seq = count.entry(s.from.as_str()).or_insert(0);
            *seq += 1;
            moves.insert((s.from.clone(), *seq), s.broker.clone());
        }
        ScriptedMove {
            moves,
            held: HashMap::new(),
            forged: Vec::new(),
        }
    }

    fn release_due(&mut self, now: Timestamp, out: &mut Vec<Out>) {
        let due: Vec<(String, String)> = self
            .held
            .iter()
            .filter(|(_, (at, _))| now >= *at)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some((_, envs)) = self.held.remove(&k) {
                out.extend(envs.iter().map(Out::forward));
            }
        }
    }
}

impl Move for ScriptedMove {
    fn name(&self) -> &'static str {
        "scenario"
    }

    fn on_envelope(&mut self, now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        self.release_due(now, out);
        let e = &seen.envelope;
        let direction = (e.sender.to_string(), e.recipient.to_string());
        if let Some((_, envs)) = self.held.get_mut(&direction) {
            envs.push(seen.clone());
            return;
        }
        let mv = if e.body.is_control() {
            None
        } else {
            self.moves.get(&(e.sender.to_string(), seen.position))
        };
        match mv.cloned().unwrap_or(BrokerMove::Forward) {
            BrokerMove::Forward => out.push(Out::forward(seen)),
            BrokerMove::Drop => {}
            BrokerMove::HoldPastExpiry => {
                let at = e.expires_at.saturating_add(Duration::from_millis(500));
                self.held.insert(direction, (at, vec![seen.clone()]));
            }
            BrokerMove::Delay(d) => {
                self.held
                    .insert(direction, (now.saturating_add(d), vec![seen.clone()]));
            }
            BrokerMove::Alter(a) => {
                let mut changed = e.clone();
                changed.body = altered(&e.body, &a);
                out.push(Out::altered(seen, changed));
            }
            BrokerMove::Forge(words) => {
                out.push(Out::forward(seen));
                let key = (e.sender.to_string(), e.seq);
                if !self.forged.contains(&key) {
                    self.forged.push(key);
                    // Numbered and linked as the sender's next, under the sender's
                    // authenticator: the best a broker without the key can do.
                    let mut forged = e.clone();
                    forged.seq = e.seq.saturating_add(1);
                    forged.prev = seen.digest;
                    forged.body = Body::Text(words.into());
                    out.push(Out::altered(seen, forged));
                }
            }
        }
    }
}

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
            (
                MINIMAL.replace("\"iran\"]", "\"israel\"]"),
                "different names",
            ),
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
        for name in ["no-first-strike", "withdrawal-sat-on", "for-now"] {
            let path = format!("{}/../../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed = Scenario::parse(&text);
            assert!(parsed.is_ok(), "{path}: {parsed:?}");
        }
    }
}
