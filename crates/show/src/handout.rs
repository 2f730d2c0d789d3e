//! The handout of `demo --scenario FILE --handout FILE.html`: per mode, a questions
//! sheet (each step of the run, with the question the classroom's step mode asks
//! before it and boxes to tick) and an answers sheet (what happened, and which answer
//! was right). The steps are [`crate::steps`]'s, drawn from the run the command just
//! played, so a class that predicts on paper meets the same questions, in the same
//! order, as a class predicting in the classroom.
//!
//! One self-contained page; on paper each sheet starts a new page.

use std::fmt::Write as _;

use crate::html::esc;
use crate::steps::{Step, StepKind};

/// One mode's part of the handout.
pub struct Sheet<'a> {
    /// The mode, as people read it (`signed`, `deniable`, `off-record`).
    pub mode: String,
    /// The run's steps.
    pub steps: &'a [Step],
}

const STYLE: &str = "body{font-family:sans-serif;font-size:18px;max-width:50em;margin:1em auto;padding:0 1em;line-height:1.4}\
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:2px solid #444}\
ol.steps>li{margin:.6em 0}.said{color:#333}.asks{font-weight:bold}\
ul.choices{list-style:none;padding-left:1em;margin:.2em 0}ul.choices li::before{content:'\\2610  '}\
ul.choices li.right::before{content:'\\2611  '}ul.choices li.right{font-weight:bold}\
.happened{margin:.2em 0 0 1em}.name{margin-top:1em}\
section.sheet{margin-bottom:3em}\
@media print{body{max-width:none;margin:0;font-size:12pt}section.sheet{break-after:page;margin:0}section.sheet:last-child{break-after:auto}a{color:inherit}}";

/// The handout page for the scenario `title` (`about`: its one-line summary).
pub fn page(title: &str, about: &str, sheets: &[Sheet<'_>]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}: handout</title><style>{STYLE}</style></head><body>",
        t = esc(title)
    );
    for sheet in sheets {
        for answers in [false, true] {
            out.push_str(&one_sheet(title, about, sheet, answers));
        }
    }
    out.push_str("</body></html>\n");
    out
}

fn one_sheet(title: &str, about: &str, sheet: &Sheet<'_>, answers: bool) -> String {
    let which = if answers { "answers" } else { "questions" };
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"sheet {which}\" data-mode=\"{m}\"><h1>{t}</h1><h2>{m} mode: {which}</h2>",
        t = esc(title),
        m = esc(&sheet.mode)
    );
    if !about.is_empty() {
        let _ = write!(out, "<p>{}</p>", esc(about));
    }
    if answers {
        out.push_str("<p>Each step as it happened; the right answer is ticked.</p>");
    } else {
        out.push_str("<p>Read each step in turn. Before you read on, tick the answer you expect.</p><p class=\"name\">Name: ____________________</p>");
    }
    out.push_str("<ol class=\"steps\">");
    for step in sheet.steps {
        let _ = write!(out, "<li class=\"{}\">", kind_class(step.kind));
        match &step.question {
            None => {
                let _ = write!(out, "<span class=\"said\">{}</span>", esc(&step.happened));
            }
            Some(q) => {
                let _ = write!(
                    out,
                    "<div class=\"asks\">{}</div><ul class=\"choices\">",
                    esc(&q.asks)
                );
                for c in &q.choices {
                    let right = answers && c.key == q.answer;
                    let _ = write!(
                        out,
                        "<li data-key=\"{}\"{}>{}</li>",
                        c.key.as_str(),
                        if right { " class=\"right\"" } else { "" },
                        esc(&c.words)
                    );
                }
                out.push_str("</ul>");
                if answers {
                    let _ = write!(out, "<div class=\"happened\">{}</div>", esc(&step.happened));
                }
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ol></section>");
    out
}

fn kind_class(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Said => "said",
        StepKind::Delivery => "delivery",
        StepKind::Fate => "fate",
        StepKind::Judged => "judged",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use crate::steps::Question;

    fn steps() -> Vec<Step> {
        vec![
            Step {
                kind: StepKind::Said,
                at: 0,
                happened: "north says to south (#1): \"<b>hi</b>\"".into(),
                question: None,
            },
            Step {
                kind: StepKind::Delivery,
                at: 1,
                happened: "south refused it: WHAT-HAPPENED".into(),
                question: Some(Question::will_accept("south", "north", 1, false)),
            },
        ]
    }

    #[test]
    fn the_questions_sheet_asks_and_only_the_answers_sheet_tells() {
        let steps = steps();
        let page = page(
            "sat-on",
            "about",
            &[Sheet {
                mode: "signed".into(),
                steps: &steps,
            }],
        );
        let (questions, answers) = page.split_once("<section class=\"sheet answers\"").unwrap();
        assert!(questions.contains("<section class=\"sheet questions\" data-mode=\"signed\">"));
        for sheet in [questions, answers] {
            assert!(sheet.contains("Will south&#39;s node accept it?"));
            assert!(sheet.contains("&lt;b&gt;hi&lt;/b&gt;"), "escaped: {sheet}");
        }
        assert!(!questions.contains("WHAT-HAPPENED") && !questions.contains("class=\"right\""));
        assert!(answers.contains("WHAT-HAPPENED"));
        assert!(
            answers.contains("<li data-key=\"refuse\" class=\"right\">no: south refuses it</li>")
        );
        assert!(page.contains("@media print") && page.contains("break-after:page"));
    }
}
