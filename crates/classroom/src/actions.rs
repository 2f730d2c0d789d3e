//! What a page may ask, checked before anything acts on it.
//!
//! Requests are untrusted: each names the seat it acts for, and is refused unless the
//! session holds that seat; every string is size-limited; assurance ids are checked
//! like a party's own; nothing from the page reaches a node unchecked.

use std::time::Duration;

use backchannel_lab::desk::{Choice, Desk, DeskError, MAX_WORDS};
use backchannel_lab::scenario::{Alteration, Said};
use backchannel_proto::ChannelMode;
use serde::Deserialize;

use super::Class;
use super::view::Role;

/// Longest validity the page can give an assurance.
const MAX_VALID_FOR_S: u64 = 7 * 86_400;

/// A message as composed on the page.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Composed {
    /// `text`, `assurance` or `revocation`.
    pub kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    commitment: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    reason: String,
    /// An assurance's validity, in seconds.
    #[serde(default)]
    valid_for_s: u64,
}

/// Words changed at the desk; empty fields are left as they were.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFields {
    #[serde(default)]
    text: String,
    #[serde(default)]
    commitment: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    reason: String,
}

/// One request from the page.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// A player sends a message.
    Send {
        /// The recipient.
        to: String,
        /// What it says.
        message: Composed,
    },
    /// A player says its line `line` of the script.
    Script {
        /// The line's index in the scenario.
        line: usize,
    },
    /// The broker decides about a card.
    Decide {
        /// The card.
        card: u64,
        /// forward, hold, drop, edit, redirect, copy, replay.
        choice: String,
        /// For edit.
        #[serde(default)]
        edit: EditFields,
        /// For redirect and copy.
        #[serde(default)]
        to: String,
    },
    /// The broker writes a message in a party's name.
    Write {
        /// The party it pretends to be.
        from: String,
        /// The recipient.
        to: String,
        /// What it says.
        message: Composed,
    },
    /// The broker withholds (or releases) one direction's acknowledgements.
    Withhold {
        /// Whose acknowledgements.
        from: String,
        /// To whom.
        to: String,
        /// On or off.
        on: bool,
    },
    /// A student seat predicts the answer to step `step`'s question (from 1).
    Predict {
        /// The step.
        step: usize,
        /// The answer's key (`accept`, `refuse`, `delivered`, ...).
        answer: String,
    },
    /// The instructor turns step mode on or off.
    StepMode {
        /// On or off.
        on: bool,
    },
    /// The instructor shows the next step (and the predictions are scored).
    NextStep,
    /// The instructor ends the round.
    End,
    /// The instructor starts a new round in `mode`.
    NewRound {
        /// signed, deniable or off-record.
        mode: String,
    },
}

/// A request: the seat it acts for, and what.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The session's token.
    pub token: String,
    /// The seat.
    pub role: String,
    /// What.
    pub action: Action,
}

fn words(field: &str, s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n > MAX_WORDS {
        return Err(format!(
            "{field} is {n} characters long; at most {MAX_WORDS}"
        ));
    }
    Ok(())
}

fn required(field: &str, s: &str) -> Result<String, String> {
    words(field, s)?;
    if s.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    Ok(s.to_owned())
}

fn optional(field: &str, s: &str) -> Result<Option<String>, String> {
    words(field, s)?;
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

impl Composed {
    /// The message, checked.
    pub fn said(&self) -> Result<Said, String> {
        match self.kind.as_str() {
            "text" => Ok(Said::Text(required("the text", &self.text)?)),
            "assurance" => {
                let id = required("the assurance id", &self.id)?;
                if id.len() > 32
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(
                        "an assurance id is 1-32 letters, digits, '-' or '_' (e.g. A-1)".into(),
                    );
                }
                if !(1..=MAX_VALID_FOR_S).contains(&self.valid_for_s) {
                    return Err(format!(
                        "an assurance holds for 1 to {MAX_VALID_FOR_S} seconds"
                    ));
                }
                Ok(Said::Assurance {
                    id,
                    commitment: required("the commitment", &self.commitment)?,
                    condition: required("the condition", &self.condition)?,
                    holds_for: Duration::from_secs(self.valid_for_s),
                })
            }
            "revocation" => Ok(Said::Revoke {
                id: required("the assurance id", &self.id)?,
                reason: required("the reason", &self.reason)?,
            }),
            other => Err(format!(
                "unknown kind {:?}: text, assurance or revocation",
                backchannel_proto::text::plain(other)
            )),
        }
    }
}

fn choice(name: &str, edit: &EditFields, to: &str) -> Result<Choice, String> {
    Ok(match name {
        "forward" => Choice::Forward,
        "hold" => Choice::Hold,
        "drop" => Choice::Drop,
        "replay" => Choice::Replay,
        "redirect" => Choice::Redirect(required("the party to redirect to", to)?),
        "copy" => Choice::Copy(required("the party to show a copy to", to)?),
        "edit" => Choice::Edit(Alteration {
            text: optional("the text", &edit.text)?,
            commitment: optional("the commitment", &edit.commitment)?,
            condition: optional("the condition", &edit.condition)?,
            reason: optional("the reason", &edit.reason)?,
        }),
        other => {
            return Err(format!(
                "unknown choice {:?}",
                backchannel_proto::text::plain(other)
            ));
        }
    })
}

/// Which seat may ask for `action`.
fn seat_for(action: &Action) -> &'static [Role] {
    match action {
        Action::Send { .. } | Action::Script { .. } => &[Role::Alpha, Role::Bravo, Role::Third],
        Action::Decide { .. } | Action::Write { .. } | Action::Withhold { .. } => &[Role::Broker],
        Action::Predict { .. } => &[Role::Alpha, Role::Bravo, Role::Third, Role::Broker],
        Action::End | Action::NewRound { .. } | Action::StepMode { .. } | Action::NextStep => {
            &[Role::Instructor]
        }
    }
}

/// Why a request was refused: the HTTP status to answer with, and the words.
pub type Refused = (u16, String);

/// Checks `request` against the session's seats and carries it out; what was done,
/// in words.
pub async fn act(class: &Class, request: Request) -> Result<String, Refused> {
    let held = class
        .roles(&request.token)
        .ok_or((403, "not joined: enter the join code again".to_owned()))?;
    let role = Role::parse(&request.role).ok_or((400, "no such seat".to_owned()))?;
    if !held.contains(&role) {
        return Err((
            403,
            format!("this page does not hold the {} seat", role.as_str()),
        ));
    }
    if !seat_for(&request.action).contains(&role) {
        return Err((403, format!("the {} seat cannot do that", role.as_str())));
    }
    let bad = |why: String| (400, why);
    match request.action {
        Action::Send { to, message } => {
            let said = message.said().map_err(bad)?;
            let round = class.round.read().await;
            let me = player(&round.names, role);
            let seq = round.send(&me, &to, said, None).await.map_err(bad)?;
            Ok(format!("sent as #{seq}"))
        }
        Action::Script { line } => {
            let scenario = class
                .scenario
                .as_ref()
                .ok_or_else(|| bad("this class has no script".into()))?;
            let step = scenario
                .steps
                .get(line)
                .ok_or_else(|| bad(format!("the script has no line {line}")))?;
            let round = class.round.read().await;
            let me = player(&round.names, role);
            if step.from != me {
                return Err(bad(format!("line {line} is {}'s to say", step.from)));
            }
            let seq = round
                .send(&me, &step.to, step.said.clone(), Some(step.valid_for))
                .await
                .map_err(bad)?;
            if let Ok(mut said) = class.said.lock()
                && let Some(s) = said.get_mut(line)
            {
                *s = true;
            }
            class.bump();
            Ok(format!("said line {} as #{seq}", line.saturating_add(1)))
        }
        Action::Decide {
            card,
            choice: name,
            edit,
            to,
        } => {
            let choice = choice(&name, &edit, &to).map_err(bad)?;
            at_desk(class, |desk| desk.decide(card, choice)).await?;
            Ok(format!("card #{card}: {name}"))
        }
        Action::Write { from, to, message } => {
            let said = message.said().map_err(bad)?;
            at_desk(class, |desk| desk.write(&from, &to, said)).await?;
            Ok(format!("written in {from}'s name"))
        }
        Action::Withhold { from, to, on } => {
            at_desk(class, |desk| desk.withhold_acks(&from, &to, on)).await?;
            Ok(if on { "withholding" } else { "letting through" }.to_owned())
        }
        Action::Predict { step, answer } => {
            let steps = class.steps_now().await;
            class
                .stepping()
                .predict(role, step, &answer, &steps)
                .map_err(refused_step)?;
            class.bump();
            Ok(format!("your prediction for step {step} is in"))
        }
        Action::StepMode { on } => {
            let steps = class.steps_now().await;
            class.stepping().set(on, &steps);
            class.bump();
            Ok(if on {
                "step mode: the class sees each step when you show it"
            } else {
                "step mode off: the class sees everything as it happens"
            }
            .to_owned())
        }
        Action::NextStep => {
            let steps = class.steps_now().await;
            let shown = class.stepping().next(&steps).map_err(refused_step)?;
            class.bump();
            Ok(format!("step {shown} shown"))
        }
        Action::End => {
            class.end_round().await;
            Ok("round ended".to_owned())
        }
        Action::NewRound { mode } => {
            let mode: ChannelMode = mode
                .parse()
                .ok()
                .filter(|m| class.modes.contains(m))
                .ok_or_else(|| {
                    bad(format!(
                        "this class plays {}",
                        class
                            .modes
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            class
                .new_round(mode)
                .await
                .map_err(|e| (500, backchannel_show::one_line(&e)))?;
            Ok(format!("new round in {mode} mode"))
        }
    }
}

/// The status and words of a refused step-mode request: 409 for one that may succeed
/// later (the step has not happened yet, or is past), 400 for one that never will.
fn refused_step(e: super::stepping::StepRefused) -> Refused {
    use super::stepping::StepRefused as R;
    let status = match e {
        R::NoQuestion(_) | R::NotAnAnswer(_) => 400,
        R::Off | R::NotYet | R::Shown(_) | R::NotNext { .. } => 409,
    };
    (status, e.to_string())
}

/// Hands a choice to the desk of the round being played (refused once it ended).
async fn at_desk(
    class: &Class,
    choose: impl FnOnce(&Desk) -> Result<(), DeskError>,
) -> Result<(), Refused> {
    let round = class.round.read().await;
    if round.ending.is_some() {
        return Err((409, "the round has ended".to_owned()));
    }
    choose(&round.desk).map_err(|e| (400, e.to_string()))?;
    class.bump();
    Ok(())
}

/// The party a player's seat plays.
fn player(names: &super::round::Names, role: Role) -> String {
    match role {
        Role::Bravo => names.bravo.clone(),
        Role::Third => names.third.clone(),
        _ => names.alpha.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn composed(kind: &str) -> Composed {
        Composed {
            kind: kind.into(),
            text: "Talks can continue.".into(),
            id: "A-1".into(),
            commitment: "No preemptive strike".into(),
            condition: "absent provocation".into(),
            reason: "withdrawn".into(),
            valid_for_s: 600,
        }
    }

    #[test]
    fn composed_messages_are_checked() {
        assert_eq!(
            composed("text").said(),
            Ok(Said::Text("Talks can continue.".into()))
        );
        assert!(matches!(
            composed("assurance").said(),
            Ok(Said::Assurance { .. })
        ));
        assert!(matches!(
            composed("revocation").said(),
            Ok(Said::Revoke { .. })
        ));
        assert!(composed("heartbeat").said().is_err());
        let long = Composed {
            text: "x".repeat(MAX_WORDS + 1),
            ..composed("text")
        };
        assert!(long.said().unwrap_err().contains("characters long"));
        let bad_id = Composed {
            id: "A 1<script>".into(),
            ..composed("assurance")
        };
        assert!(bad_id.said().is_err());
        let forever = Composed {
            valid_for_s: MAX_VALID_FOR_S + 1,
            ..composed("assurance")
        };
        assert!(forever.said().is_err());
        let empty = Composed {
            text: "  ".into(),
            ..composed("text")
        };
        assert!(empty.said().is_err());
    }

    #[test]
    fn choices_are_checked() {
        let none = EditFields::default();
        assert_eq!(choice("forward", &none, ""), Ok(Choice::Forward));
        assert!(choice("redirect", &none, "").is_err());
        assert!(choice("explode", &none, "").is_err());
        let edit = EditFields {
            commitment: "No strike at all".into(),
            ..EditFields::default()
        };
        let Ok(Choice::Edit(a)) = choice("edit", &edit, "") else {
            panic!("an edit")
        };
        assert_eq!(a.commitment.as_deref(), Some("No strike at all"));
        assert_eq!(a.text, None);
    }

    #[test]
    fn each_action_belongs_to_its_seats() {
        assert_eq!(seat_for(&Action::End), &[Role::Instructor]);
        let write = Action::Withhold {
            from: "bravo".into(),
            to: "alpha".into(),
            on: true,
        };
        assert_eq!(seat_for(&write), &[Role::Broker]);
        let send = Action::Script { line: 0 };
        assert!(!seat_for(&send).contains(&Role::Broker));
    }

    #[test]
    fn requests_with_unknown_fields_are_refused() {
        let ok: Result<Request, _> = serde_json::from_str(
            r#"{"token":"t","role":"broker","action":{"type":"decide","card":1,"choice":"drop"}}"#,
        );
        assert!(ok.is_ok());
        let extra: Result<Request, _> = serde_json::from_str(
            r#"{"token":"t","role":"broker","action":{"type":"decide","card":1,"choice":"drop","as":"alpha"}}"#,
        );
        assert!(extra.is_err());
    }
}
