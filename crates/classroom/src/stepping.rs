//! Step mode: the instructor shows the round one step at a time
//! ([`backchannel_show::steps`]), each student seat predicts the answer to the next
//! step's question before it is shown, and the scoreboard counts right predictions per
//! seat.
//!
//! The round itself runs live (the nodes do not wait for the class); what step mode
//! holds back is what the seats are *shown*: every view is drawn from the events
//! before the first step not yet revealed. A prediction is scored against the step's
//! answer, which is what the nodes did, when the instructor reveals the step.

use std::collections::BTreeMap;

use backchannel_show::steps::{AnswerKey, Step};
use serde_json::{Value, json};

use super::view::Role;

/// Right predictions out of those made, for one seat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Predictions that matched what happened.
    pub right: u32,
    /// Predictions made on revealed steps.
    pub made: u32,
}

/// Why a step-mode request was refused (the words reach the page).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepRefused {
    /// Step mode is off.
    #[error("step mode is off: the instructor turns it on")]
    Off,
    /// The next step has not happened yet.
    #[error("the next step has not happened yet: wait for the parties or the desk")]
    NotYet,
    /// The step asked about has been shown already.
    #[error("step {0} has been shown already: predict the next one")]
    Shown(usize),
    /// Not the step the class is predicting.
    #[error("step {asked} is not the next step (that is step {next})")]
    NotNext {
        /// The step asked about, from 1.
        asked: usize,
        /// The next step, from 1.
        next: usize,
    },
    /// The step asks nothing.
    #[error("step {0} asks no question")]
    NoQuestion(usize),
    /// An answer the question does not offer.
    #[error("that is not one of step {0}'s answers")]
    NotAnAnswer(usize),
}

/// The class's step mode: whether it is on, how far the round has been shown, the
/// predictions on the next step, and the scores so far (kept across rounds).
#[derive(Debug, Default)]
pub struct Stepping {
    on: bool,
    /// Steps of this round shown so far.
    revealed: usize,
    /// The predictions on the next step, by seat.
    predictions: BTreeMap<&'static str, AnswerKey>,
    /// Each seat's score, over every round.
    scores: BTreeMap<&'static str, Score>,
}

/// The seats that predict.
const PREDICTING: [Role; 4] = [Role::Alpha, Role::Bravo, Role::Third, Role::Broker];

impl Stepping {
    /// Turns step mode on or off. Off, every step is shown as it happens; turned on
    /// mid-round, what the class has already seen stays shown and stepping starts at
    /// the next step; a new round then starts with nothing shown.
    pub fn set(&mut self, on: bool, steps: &[Step]) {
        if on && !self.on {
            // Turned on mid-round: what the class has seen stays seen.
            self.revealed = steps.len();
        }
        self.on = on;
        self.predictions.clear();
    }

    /// A new round: nothing of it shown yet.
    pub fn new_round(&mut self) {
        self.revealed = 0;
        self.predictions.clear();
    }

    /// How many of `steps` the seats are shown.
    pub fn shown(&self, steps: &[Step]) -> usize {
        if self.on {
            self.revealed.min(steps.len())
        } else {
            steps.len()
        }
    }

    /// How many of `events` the seats are shown: those before the first step not
    /// shown yet.
    pub fn events_shown(&self, steps: &[Step], events: usize) -> usize {
        match steps.get(self.shown(steps)) {
            Some(next) => next.at.min(events),
            None => events,
        }
    }

    /// Whether the seats are shown the whole round so far.
    pub fn caught_up(&self, steps: &[Step]) -> bool {
        self.shown(steps) >= steps.len()
    }

    /// `role` predicts `answer` for step `step` (from 1).
    pub fn predict(
        &mut self,
        role: Role,
        step: usize,
        answer: &str,
        steps: &[Step],
    ) -> Result<(), StepRefused> {
        if !self.on {
            return Err(StepRefused::Off);
        }
        let next = self.revealed.saturating_add(1);
        if step < next {
            return Err(StepRefused::Shown(step));
        }
        if step > next {
            return Err(StepRefused::NotNext { asked: step, next });
        }
        let s = steps.get(self.revealed).ok_or(StepRefused::NotYet)?;
        let q = s.question.as_ref().ok_or(StepRefused::NoQuestion(step))?;
        let key = AnswerKey::parse(answer)
            .filter(|k| q.offers(*k))
            .ok_or(StepRefused::NotAnAnswer(step))?;
        self.predictions.insert(role.as_str(), key);
        Ok(())
    }

    /// Shows the next step and scores the predictions on it; the step shown.
    pub fn next(&mut self, steps: &[Step]) -> Result<usize, StepRefused> {
        if !self.on {
            return Err(StepRefused::Off);
        }
        let step = steps.get(self.revealed).ok_or(StepRefused::NotYet)?;
        if let Some(q) = &step.question {
            for (seat, key) in std::mem::take(&mut self.predictions) {
                let score = self.scores.entry(seat).or_default();
                score.made = score.made.saturating_add(1);
                if key == q.answer {
                    score.right = score.right.saturating_add(1);
                }
            }
        }
        self.predictions.clear();
        self.revealed = self.revealed.saturating_add(1);
        Ok(self.revealed)
    }

    fn score_json(&self, role: Role) -> Value {
        let s = self.scores.get(role.as_str()).copied().unwrap_or_default();
        json!({"seat": role.as_str(), "right": s.right, "made": s.made})
    }

    /// The next step's question as a seat sees it (never its answer), if it has
    /// happened and asks one.
    fn pending(&self, steps: &[Step]) -> Value {
        if !self.on {
            return Value::Null;
        }
        match steps.get(self.revealed) {
            Some(s) => json!({
                "step": self.revealed.saturating_add(1),
                "kind": s.kind,
                "asks": s.question.as_ref().map(|q| q.asks.as_str()),
                "choices": s.question.as_ref().map(|q| q.choices.iter().map(|c| json!({"key": c.key, "words": c.words})).collect::<Vec<_>>()),
            }),
            None => Value::Null,
        }
    }

    /// The steps shown so far, newest first, with each question's answer.
    fn shown_json(&self, steps: &[Step]) -> Vec<Value> {
        steps
            .iter()
            .take(self.shown(steps))
            .enumerate()
            .rev()
            .map(|(k, s)| {
                json!({
                    "step": k.saturating_add(1),
                    "kind": s.kind,
                    "happened": s.happened,
                    "asks": s.question.as_ref().map(|q| q.asks.as_str()),
                    "answer": s.question.as_ref().map(|q| q.answer_words()),
                })
            })
            .collect()
    }

    /// What a student seat sees of step mode: the question to answer now, its own
    /// prediction, the steps shown and its score.
    pub fn seat_view(&self, role: Role, steps: &[Step]) -> Value {
        json!({
            "on": self.on,
            "shown": self.shown(steps),
            "pending": self.pending(steps),
            "mine": self.predictions.get(role.as_str()).map(|k| k.as_str()),
            "steps": self.shown_json(steps),
            "score": self.score_json(role),
        })
    }

    /// What the instructor sees: the same, how many seats have predicted (not what),
    /// whether the next step can be shown, and every seat's score.
    pub fn instructor_view(&self, steps: &[Step]) -> Value {
        json!({
            "on": self.on,
            "shown": self.shown(steps),
            "ready": self.on && self.revealed < steps.len(),
            "pending": self.pending(steps),
            "predicted": self.predictions.keys().collect::<Vec<_>>(),
            "steps": self.shown_json(steps),
            "scores": PREDICTING.iter().map(|r| self.score_json(*r)).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use backchannel_show::steps::{Question, StepKind};

    fn asked(at: usize, answer: AnswerKey) -> Step {
        Step {
            kind: StepKind::Delivery,
            at,
            happened: format!("step at {at}"),
            question: Some(Question::will_accept(
                "south",
                "north",
                1,
                answer == AnswerKey::Accept,
            )),
        }
    }

    fn said(at: usize) -> Step {
        Step {
            kind: StepKind::Said,
            at,
            happened: "north says".into(),
            question: None,
        }
    }

    #[test]
    fn predictions_are_scored_when_the_step_is_shown() {
        let steps = vec![
            said(0),
            asked(2, AnswerKey::Refuse),
            asked(5, AnswerKey::Accept),
        ];
        let mut s = Stepping::default();
        assert_eq!(
            s.predict(Role::Bravo, 1, "accept", &steps),
            Err(StepRefused::Off)
        );
        s.set(true, &[]);
        // Nothing shown: the seats see the events before the first step only.
        assert_eq!(s.events_shown(&steps, 9), 0);
        assert_eq!(
            s.predict(Role::Bravo, 1, "accept", &steps),
            Err(StepRefused::NoQuestion(1))
        );
        assert_eq!(
            s.predict(Role::Bravo, 2, "refuse", &steps),
            Err(StepRefused::NotNext { asked: 2, next: 1 })
        );
        assert_eq!(s.next(&steps), Ok(1));
        assert_eq!(s.events_shown(&steps, 9), 2);
        assert_eq!(
            s.predict(Role::Alpha, 2, "delivered", &steps),
            Err(StepRefused::NotAnAnswer(2))
        );
        s.predict(Role::Bravo, 2, "refuse", &steps).unwrap();
        s.predict(Role::Alpha, 2, "accept", &steps).unwrap();
        // A seat may change its mind until the step is shown.
        s.predict(Role::Broker, 2, "accept", &steps).unwrap();
        s.predict(Role::Broker, 2, "refuse", &steps).unwrap();
        let before = s.instructor_view(&steps);
        assert_eq!(before["predicted"], json!(["alpha", "bravo", "broker"]));
        assert_eq!(before["pending"].get("answer"), None, "{before}");
        assert_eq!(s.next(&steps), Ok(2));
        assert_eq!(
            s.predict(Role::Bravo, 2, "refuse", &steps),
            Err(StepRefused::Shown(2))
        );
        let v = s.instructor_view(&steps);
        assert_eq!(
            v["scores"][0],
            json!({"seat": "alpha", "right": 0, "made": 1})
        );
        assert_eq!(
            v["scores"][1],
            json!({"seat": "bravo", "right": 1, "made": 1})
        );
        assert_eq!(
            v["scores"][3],
            json!({"seat": "broker", "right": 1, "made": 1})
        );
        assert_eq!(v["steps"][0]["answer"], "no: south refuses it");
        // The third step is shown; no fourth has happened.
        s.next(&steps).unwrap();
        assert!(s.caught_up(&steps));
        assert_eq!(s.next(&steps), Err(StepRefused::NotYet));
        assert_eq!(s.events_shown(&steps, 9), 9);
        // A new round starts unshown; the scores stay.
        s.new_round();
        assert_eq!(s.shown(&steps), 0);
        assert_eq!(s.seat_view(Role::Bravo, &steps)["score"]["right"], 1);
    }

    #[test]
    fn turned_on_mid_round_it_takes_back_nothing_and_off_it_shows_everything() {
        let steps = vec![said(0), asked(2, AnswerKey::Refuse)];
        let mut s = Stepping::default();
        assert_eq!(s.shown(&steps), 2);
        s.set(true, &steps);
        assert_eq!(s.shown(&steps), 2);
        s.set(false, &steps);
        s.new_round();
        assert_eq!(s.shown(&steps), 2, "off: every step is shown");
    }
}
