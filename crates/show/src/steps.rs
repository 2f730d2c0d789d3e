//! A run cut into steps a class can predict: a message said, a message reaching its
//! recipient (will it accept it?), a sender learning its message's fate (what will its
//! receipt say?) and, once the run has ended, a judge reading each transcript (what
//! can it prove?).
//!
//! The steps are drawn from the run's typed events and the judge's reports alone, so
//! the classroom's step mode and `demo --scenario --handout` ask the same questions of
//! the same run and give the answers the nodes gave. Each answer is what happened,
//! never what the mode is expected to do. Drawing is prefix-stable: events appended to
//! a run only append steps, so a class can be shown the first `n` of them while the
//! run goes on.

use backchannel_proto::BodyKind;
use backchannel_proto::judge::{Finding, JudgeReport};
use backchannel_proto::transcript::{Direction, RecordedVerdict};
use backchannel_stage::{Event, EventName, Proof, Verdict};
use serde::Serialize;

/// What a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// A party said something (no question: the class sees what was said).
    Said,
    /// A message reached a party's node, which accepted or refused it.
    Delivery,
    /// A sender learned what became of one of its messages.
    Fate,
    /// A judge read a player's transcript.
    Judged,
}

/// One answer a question offers, by key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKey {
    /// The recipient's node accepts the message as its sender's.
    Accept,
    /// The recipient's node refuses it.
    Refuse,
    /// A receipt says the recipient has it.
    Delivered,
    /// A receipt says the recipient refused it.
    RefusedByRecipient,
    /// No receipt in time.
    NoReceipt,
    /// A judge can prove who wrote the messages the owner accepted.
    Provable,
    /// Nothing in the transcript proves who wrote them.
    NotProvable,
}

impl AnswerKey {
    /// Every key, for parsing.
    const ALL: [AnswerKey; 7] = [
        AnswerKey::Accept,
        AnswerKey::Refuse,
        AnswerKey::Delivered,
        AnswerKey::RefusedByRecipient,
        AnswerKey::NoReceipt,
        AnswerKey::Provable,
        AnswerKey::NotProvable,
    ];

    /// The key as requests and JSON write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            AnswerKey::Accept => "accept",
            AnswerKey::Refuse => "refuse",
            AnswerKey::Delivered => "delivered",
            AnswerKey::RefusedByRecipient => "refused-by-recipient",
            AnswerKey::NoReceipt => "no-receipt",
            AnswerKey::Provable => "provable",
            AnswerKey::NotProvable => "not-provable",
        }
    }

    /// The key named `name`.
    pub fn parse(name: &str) -> Option<AnswerKey> {
        AnswerKey::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One answer a question offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// Its key.
    pub key: AnswerKey,
    /// In words.
    pub words: String,
}

/// What a step asks before it is shown, and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Question {
    /// The question, naming the parties and the message.
    pub asks: String,
    /// The answers offered.
    pub choices: Vec<Choice>,
    /// The one that happened.
    pub answer: AnswerKey,
}

impl Question {
    /// What a delivery step asks: will `me`'s node accept what reaches it as `from`'s
    /// `#seq`; the answer, whether it did.
    pub fn will_accept(me: &str, from: &str, seq: u64, accepted: bool) -> Question {
        Question {
            asks: format!("A message reaches {me} as {from}'s #{seq}. Will {me}'s node accept it?"),
            choices: vec![
                choice(
                    AnswerKey::Accept,
                    format!("yes: {me} accepts it as {from}'s words"),
                ),
                choice(AnswerKey::Refuse, format!("no: {me} refuses it")),
            ],
            answer: if accepted {
                AnswerKey::Accept
            } else {
                AnswerKey::Refuse
            },
        }
    }

    /// Whether `key` is one of the answers offered.
    pub fn offers(&self, key: AnswerKey) -> bool {
        self.choices.iter().any(|c| c.key == key)
    }

    /// The words of the answer that happened.
    pub fn answer_words(&self) -> &str {
        self.choices
            .iter()
            .find(|c| c.key == self.answer)
            .map_or("", |c| c.words.as_str())
    }
}

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it is.
    pub kind: StepKind,
    /// The index of the event that makes it happen (the event count for a judge's
    /// step): a view that shows steps up to this one shows the events before it.
    pub at: usize,
    /// What happened, in one sentence (words raw: escape before showing as markup).
    pub happened: String,
    /// What the class is asked before it is shown, if anything.
    pub question: Option<Question>,
}

/// What a judge concluded from one player's transcript, as a step needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgedTranscript {
    /// Whose transcript.
    pub owner: String,
    /// The judge's one-line finding ([`crate::judge::judge_summary`]).
    pub summary: String,
    /// Whether every message the owner accepted is provably written by its sender
    /// (`None`: it accepted none, so there is nothing to ask).
    pub provable: Option<bool>,
}

impl JudgedTranscript {
    /// The judge's conclusions from `report`.
    pub fn of(report: &JudgeReport) -> JudgedTranscript {
        let accepted: Vec<&Finding> = report
            .entries
            .iter()
            .filter(|e| {
                e.direction == Direction::Received
                    && e.recorded == RecordedVerdict::Accepted
                    && e.summary
                        .as_ref()
                        .is_some_and(|s| !matches!(s.kind, BodyKind::Receipt | BodyKind::Heartbeat))
            })
            .map(|e| &e.finding)
            .collect();
        let provable = (!accepted.is_empty()).then(|| {
            accepted
                .iter()
                .all(|f| matches!(f, Finding::ProvablyWrittenBy { .. }))
        });
        JudgedTranscript {
            owner: report.owner.clone(),
            summary: crate::judge::judge_summary(report),
            provable,
        }
    }
}

/// A message's words as a sentence shows them: `assurance N-1 "..." (if "...")`.
pub fn said_words(e: &Event) -> String {
    let id = e.id.as_deref().unwrap_or("");
    match e.kind {
        Some(BodyKind::Assurance) => format!(
            "assurance {id} \"{}\" (condition: \"{}\")",
            e.words(),
            e.condition.as_deref().unwrap_or("")
        ),
        Some(BodyKind::Revocation) => format!("withdrawal of {id} (\"{}\")", e.words()),
        _ => format!("\"{}\"", e.words()),
    }
}

fn choice(key: AnswerKey, words: String) -> Choice {
    Choice { key, words }
}

/// What a sender knows of one message, as the steps go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Missing,
    Known,
}

struct Tracked<'a> {
    sent: &'a Event,
    fate: Fate,
}

/// The steps of a run, in the order they happened: from `events` (every event of the
/// run so far, in order) and, once it has ended, the judge's view of each player's
/// transcript.
pub fn steps(events: &[Event], judged: &[JudgedTranscript]) -> Vec<Step> {
    let mut out = Vec::new();
    let mut tracked: Vec<Tracked<'_>> = Vec::new();
    let mut heard: Vec<&Event> = Vec::new();
    for (at, e) in events.iter().enumerate() {
        if e.is_control() {
            continue;
        }
        match e.event {
            EventName::Sent => {
                out.push(Step {
                    kind: StepKind::Said,
                    at,
                    happened: format!(
                        "{} says to {} (#{}): {}",
                        e.from_name(),
                        e.to_name(),
                        e.seq.unwrap_or(0),
                        said_words(e)
                    ),
                    question: None,
                });
                tracked.push(Tracked {
                    sent: e,
                    fate: Fate::Waiting,
                });
            }
            EventName::Received => {
                // A copy resent (no receipt yet) that meets the same verdict is the
                // same step.
                let again = heard.iter().any(|h| h.same_arrival(e));
                if !again {
                    heard.push(e);
                    out.push(delivery(events, at, e));
                }
            }
            EventName::NoReceipt => {
                for t in tracked.iter_mut().filter(|t| {
                    t.fate == Fate::Waiting
                        && t.sent.node == e.node
                        && t.sent.to == e.to
                        && t.sent.seq == e.seq
                }) {
                    t.fate = Fate::Missing;
                    out.push(fate(at, t.sent, None, true));
                }
            }
            EventName::Acknowledged => {
                let up_to = e.seq.unwrap_or(0);
                for t in tracked.iter_mut().filter(|t| {
                    t.fate != Fate::Known
                        && t.sent.node == e.node
                        && t.sent.to_name() == e.from_name()
                        && t.sent.seq.unwrap_or(0) <= up_to
                }) {
                    let asked_before = t.fate == Fate::Missing;
                    t.fate = Fate::Known;
                    let mut s = fate(at, t.sent, Some(e), !asked_before);
                    if asked_before && let Some(q) = s.question.as_mut() {
                        q.asks = format!(
                            "{} had no receipt for its #{} in time. Will it learn more?",
                            t.sent.node,
                            t.sent.seq.unwrap_or(0)
                        );
                    }
                    out.push(s);
                }
            }
            _ => {}
        }
    }
    for j in judged {
        let Some(provable) = j.provable else {
            continue;
        };
        out.push(Step {
            kind: StepKind::Judged,
            at: events.len(),
            happened: j.summary.clone(),
            question: Some(Question {
                asks: format!(
                    "A judge is handed {}'s transcript. Can it prove who wrote the messages {} accepted?",
                    j.owner, j.owner
                ),
                choices: vec![
                    choice(
                        AnswerKey::Provable,
                        "yes: it proves who wrote each of them".to_owned(),
                    ),
                    choice(
                        AnswerKey::NotProvable,
                        "no: nothing in it proves who wrote them".to_owned(),
                    ),
                ],
                answer: if provable {
                    AnswerKey::Provable
                } else {
                    AnswerKey::NotProvable
                },
            }),
        });
    }
    out
}

/// The step of `e` (a message reaching `e.node`), with how its words compare to what
/// the named sender had sent under that number.
fn delivery(events: &[Event], at: usize, e: &Event) -> Step {
    let (me, from, seq) = (e.node.as_str(), e.from_name(), e.seq.unwrap_or(0));
    let accepted = e.verdict == Some(Verdict::Accepted);
    let happened = if accepted {
        let how = match e.attestation {
            Some(Proof::Signature) => format!("signed by {from}"),
            Some(Proof::Mac) => format!("its MAC checked: it convinces {me} only"),
            _ => format!("unsigned: on the broker's word that it is from {from}"),
        };
        let original = events.get(..at).unwrap_or(events).iter().find(|s| {
            s.event == EventName::Sent
                && s.node == from
                && s.to_name() == me
                && s.seq == e.seq
                && !s.is_control()
        });
        let compared = match original {
            Some(s)
                if s.kind == e.kind
                    && s.body == e.body
                    && s.id == e.id
                    && s.condition == e.condition =>
            {
                String::new()
            }
            Some(s) => format!(
                ", but not what {from} said as #{seq}: {from} said {}",
                said_words(s)
            ),
            None => format!(", but {from} had sent {me} no #{seq}"),
        };
        format!(
            "{me} accepted {from}'s #{seq}, {} ({how}){compared}",
            said_words(e)
        )
    } else {
        format!(
            "{me} refused what came as {from}'s #{seq}, {}: {} [{}]",
            said_words(e),
            e.detail.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or("")
        )
    };
    Step {
        kind: StepKind::Delivery,
        at,
        happened,
        question: Some(Question::will_accept(me, from, seq, accepted)),
    }
}

/// The step of a sender learning `sent`'s fate: from a receipt (`ack`), or its absence.
fn fate(at: usize, sent: &Event, ack: Option<&Event>, may_miss: bool) -> Step {
    let (me, to, seq) = (sent.node.as_str(), sent.to_name(), sent.seq.unwrap_or(0));
    let (answer, happened) = match ack {
        None => (
            AnswerKey::NoReceipt,
            format!(
                "{me} had no receipt from {to} for #{seq} in time: the broker or {to} may have dropped it"
            ),
        ),
        Some(a) => match a.refused.as_ref().and_then(|r| r.code_for(seq)) {
            Some(code) => (
                AnswerKey::RefusedByRecipient,
                format!("{to}'s receipt tells {me} it refused #{seq} ({code}): not delivered"),
            ),
            None => {
                let how = match a.attestation {
                    Some(Proof::Signature) => "signed: a proof of delivery",
                    Some(Proof::Mac) => "MAC'd: convincing to the sender only",
                    _ => "unsigned: on the broker's word",
                };
                (
                    AnswerKey::Delivered,
                    format!("{me} has a receipt from {to} covering #{seq} ({how})"),
                )
            }
        },
    };
    let mut choices = vec![
        choice(AnswerKey::Delivered, format!("a receipt: {to} has it")),
        choice(
            AnswerKey::RefusedByRecipient,
            format!("a receipt saying {to} refused it"),
        ),
    ];
    if may_miss {
        choices.push(choice(
            AnswerKey::NoReceipt,
            "no receipt in time".to_owned(),
        ));
    }
    Step {
        kind: StepKind::Fate,
        at,
        happened,
        question: Some(Question {
            asks: format!("What will {me}'s node learn about its #{seq} to {to}?"),
            choices,
            answer,
        }),
    }
}

/// The steps and the judge's findings as one JSON list (what `--json` prints).
pub fn steps_json(steps: &[Step]) -> serde_json::Value {
    serde_json::to_value(steps).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use backchannel_proto::Timestamp;
    use backchannel_stage::RefusedList;

    fn event(node: &str, name: EventName, from: &str, to: &str, seq: u64) -> Event {
        let mut e = Event::new(Timestamp::from_millis(1), "run", node, name);
        e.from = Some(from.into());
        e.to = Some(to.into());
        e.seq = Some(seq);
        e
    }

    fn text(node: &str, name: EventName, from: &str, to: &str, seq: u64, words: &str) -> Event {
        let mut e = event(node, name, from, to, seq);
        e.kind = Some(BodyKind::Text);
        e.body = Some(words.into());
        e
    }

    fn heard(to: &str, from: &str, seq: u64, words: &str, verdict: Verdict) -> Event {
        let mut e = text(to, EventName::Received, from, to, seq, words);
        e.verdict = Some(verdict);
        if verdict == Verdict::Accepted {
            e.attestation = Some(Proof::Signature);
        } else {
            e.reason = Some("bad-signature".into());
            e.detail = Some("the signature does not verify".into());
        }
        e
    }

    fn receipt(node: &str, from: &str, up_to: u64, refused: Option<(u64, &str)>) -> Event {
        let mut e = event(node, EventName::Acknowledged, from, node, up_to);
        e.attestation = Some(Proof::Signature);
        e.refused = refused.map(|(seq, code)| RefusedList {
            listed: vec![backchannel_stage::RefusedEntry {
                seq,
                code: code.into(),
            }],
            unlisted: 0,
        });
        e
    }

    /// north says two things; the broker changes the second's words; south refuses
    /// it; north learns late that it was refused; a heartbeat and a resent copy
    /// in between change nothing.
    fn a_run() -> Vec<Event> {
        let mut beat = text("south", EventName::Received, "north", "south", 1, "");
        beat.kind = Some(BodyKind::Heartbeat);
        vec![
            text(
                "north",
                EventName::Sent,
                "north",
                "south",
                1,
                "Talks can continue.",
            ),
            heard(
                "south",
                "north",
                1,
                "Talks can continue.",
                Verdict::Accepted,
            ),
            heard(
                "south",
                "north",
                1,
                "Talks can continue.",
                Verdict::Accepted,
            ),
            beat,
            receipt("north", "south", 1, None),
            text("north", EventName::Sent, "north", "south", 2, "No strike."),
            heard("south", "north", 2, "Strike.", Verdict::Rejected),
            event("north", EventName::NoReceipt, "north", "south", 2),
            receipt("north", "south", 2, Some((2, "bad-signature"))),
        ]
    }

    fn kinds_and_answers(steps: &[Step]) -> Vec<(StepKind, Option<AnswerKey>)> {
        steps
            .iter()
            .map(|s| (s.kind, s.question.as_ref().map(|q| q.answer)))
            .collect()
    }

    #[test]
    fn each_step_asks_what_the_nodes_then_answered() {
        let events = a_run();
        let steps = steps(&events, &[]);
        use AnswerKey::*;
        use StepKind::*;
        assert_eq!(
            kinds_and_answers(&steps),
            vec![
                (Said, None),
                (Delivery, Some(Accept)),
                (Fate, Some(Delivered)),
                (Said, None),
                (Delivery, Some(Refuse)),
                (Fate, Some(NoReceipt)),
                (Fate, Some(RefusedByRecipient)),
            ]
        );
        // Each question offers its answer; a sender that already missed its receipt
        // is not offered "no receipt" again.
        for s in &steps {
            if let Some(q) = &s.question {
                assert!(q.offers(q.answer), "{q:?}");
            }
        }
        assert!(!steps[6].question.as_ref().unwrap().offers(NoReceipt));
        assert!(
            steps[4].happened.contains("bad-signature"),
            "{}",
            steps[4].happened
        );
        assert!(steps[2].happened.contains("proof of delivery"));
        // A step shows the events before it.
        assert_eq!(steps[2].at, 4);
    }

    #[test]
    fn words_the_sender_never_said_are_named_as_such() {
        let mut events = a_run();
        events.truncate(6);
        events.push(heard("south", "north", 2, "Strike.", Verdict::Accepted));
        events.push(heard("south", "north", 3, "Invented.", Verdict::Accepted));
        let steps = steps(&events, &[]);
        let last: Vec<&str> = steps
            .iter()
            .rev()
            .take(2)
            .map(|s| s.happened.as_str())
            .collect();
        assert!(last[0].contains("north had sent south no #3"), "{last:?}");
        assert!(
            last[1].contains("not what north said as #2: north said \"No strike.\""),
            "{last:?}"
        );
        assert!(
            steps[1].happened.ends_with("(signed by north)"),
            "{}",
            steps[1].happened
        );
    }

    #[test]
    fn steps_drawn_from_part_of_a_run_are_the_first_steps_of_the_whole() {
        let events = a_run();
        let whole = steps(&events, &[]);
        for cut in 0..=events.len() {
            let part = steps(&events[..cut], &[]);
            assert_eq!(part[..], whole[..part.len()], "cut at {cut}");
            // And the step that follows is drawn from an event at or after the cut.
            if let Some(next) = whole.get(part.len()) {
                assert!(next.at >= cut, "cut at {cut}: {next:?}");
            }
        }
    }

    #[test]
    fn a_judge_step_is_asked_only_of_a_transcript_that_accepted_something() {
        let judged = [
            JudgedTranscript {
                owner: "south".into(),
                summary: "south's transcript: ...".into(),
                provable: Some(false),
            },
            JudgedTranscript {
                owner: "north".into(),
                summary: "north's transcript: ...".into(),
                provable: None,
            },
        ];
        let events = a_run();
        let steps = steps(&events, &judged);
        let last = steps.last().unwrap();
        assert_eq!(last.kind, StepKind::Judged);
        assert_eq!(last.at, events.len());
        assert_eq!(
            last.question.as_ref().unwrap().answer,
            AnswerKey::NotProvable
        );
        assert_eq!(
            steps.iter().filter(|s| s.kind == StepKind::Judged).count(),
            1
        );
    }

    #[test]
    fn answer_keys_read_back() {
        for k in AnswerKey::ALL {
            assert_eq!(AnswerKey::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(AnswerKey::parse("maybe"), None);
    }
}
