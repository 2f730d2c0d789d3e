//! What people and programs are shown of a run, a transcript or a command: each node's
//! account lines, the assurance ledger and what each party knows, what a judge can
//! prove, the timeline page, and how a command ended. Renderers read typed values (the
//! run's [`Event`](backchannel_stage::Event)s, [`Knowledge`], [`JudgeReport`]), never
//! formatted text; every untrusted string goes through
//! [`proto::text`](backchannel_proto::text) (and [`html::esc`] for pages).
//!
//! [`Knowledge`]: backchannel_proto::knowledge::Knowledge
//! [`JudgeReport`]: backchannel_proto::judge::JudgeReport

#![forbid(unsafe_code)]

mod event_words;
pub mod handout;
pub mod html;
pub mod judge;
pub mod knowledge;
mod lanes;
pub mod ledger;
pub mod print;
pub mod steps;
pub mod timeline;

/// How a command ended, when it did not fail outright.
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 3: nothing (or not enough) came back in time.
    TimedOut,
    /// Exit 4: the judge found the transcript not clean.
    NotClean,
    /// Exit 5: the transcript has no entries, so there is nothing to judge.
    NothingToJudge,
    /// The exit code of a command a party node ran for us (its lines are printed).
    Exit(u8),
}

impl Outcome {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::TimedOut => 3,
            Outcome::NotClean => 4,
            Outcome::NothingToJudge => 5,
            Outcome::Exit(code) => *code,
        }
    }
}

/// An error and its causes on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
