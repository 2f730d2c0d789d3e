//! A picture of a run: one self-contained HTML page (HTML and CSS, nothing fetched)
//! drawn from the run's typed events (docs/events.md).
//!
//! Per run: the swim lanes (`lanes.rs`: one lane per node, an arrow per envelope in
//! time order (sender to broker, broker to recipient) with its verdict in
//! plain words), marks where what arrived differs from what was sent (altered), was
//! never sent (forged), or never arrived (lost); a **said vs heard** table with the
//! differing words highlighted; a **what each side believes** box (the assurances each
//! party accepted or gave, and their status); and what a judge can prove. Every text
//! from a run is escaped for HTML.

use std::fmt::Write as _;

use backchannel_proto::knowledge::Knowledge;
use backchannel_stage::{Event, EventName, Verdict};

use crate::event_words::{reason, same_envelope, words};
use crate::html::esc;

/// `heard` with the words that are not in `said` marked.
fn mark_differences(said: &str, heard: &str) -> String {
    let said_words: Vec<&str> = said.split_whitespace().collect();
    heard
        .split_whitespace()
        .map(|w| {
            if said_words.contains(&w) {
                esc(w)
            } else {
                format!("<mark>{}</mark>", esc(w))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The page's style sheet, less the lanes' (see [`page_style`]).
pub const STYLE: &str = "body{font-family:sans-serif;margin:1em;color:#222;font-size:18px}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0;max-width:100%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
mark{background:#fd6}.flag{color:#c33;font-weight:bold}.box{border:1px solid #999;padding:.5em 1em;margin:.5em 0;background:#f7f7f7;overflow-wrap:anywhere}";

/// The whole page's style: [`STYLE`] and the lanes' (the classroom adds it to its own).
pub fn page_style() -> String {
    format!("{STYLE}{}", crate::lanes::STYLE)
}

/// How one run ended: what a judge can prove, and what each party knows from its own
/// transcript (the "what each side believes" box shows this, never a guess from
/// the events).
pub struct RunEnding {
    /// The run label, as in the events' `run`.
    pub run: String,
    /// What a judge can prove, one line.
    pub judge: String,
    /// Each party's knowledge at the end.
    pub knowledge: Vec<Knowledge>,
}

/// The page for `events` (grouped by run, in the order runs first appear), with how
/// each run ended.
pub fn page(title: &str, events: &[Event], endings: &[RunEnding]) -> String {
    let mut runs: Vec<(String, Vec<&Event>)> = Vec::new();
    for e in events {
        let run = e.run.clone();
        match runs.iter_mut().find(|(r, _)| *r == run) {
            Some((_, list)) => list.push(e),
            None => runs.push((run, vec![e])),
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{style}</style></head><body><h1>{t}</h1>",
        t = esc(title),
        style = page_style()
    );
    for (run, list) in &runs {
        let ending = endings.iter().find(|e| e.run == *run);
        out.push_str(&section(
            run,
            list,
            ending.map(|e| e.judge.as_str()),
            ending.map_or(&[], |e| e.knowledge.as_slice()),
        ));
    }
    out.push_str("</body></html>\n");
    out
}

/// One run's part of the page: the lanes, said vs heard, what each side believes
/// and knows (`knowledge`), and (when given) what a judge can prove.
pub fn section(run: &str, list: &[&Event], judge: Option<&str>, knowledge: &[Knowledge]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"run\" data-run=\"{r}\"><h2>{r}</h2>",
        r = esc(run)
    );
    out.push_str(&crate::lanes::lanes(list));
    out.push_str(&said_vs_heard(list));
    out.push_str(&beliefs(knowledge));
    if let Some(verdict) = judge {
        let _ = write!(
            out,
            "<div class=\"box judge\"><b>What a judge can prove</b> (from the recipient's transcript, with public keys only): {}</div>",
            esc(verdict)
        );
    }
    out.push_str("</section>");
    out
}

/// What each sender said against what its recipient accepted, message by message.
fn said_vs_heard(list: &[&Event]) -> String {
    let mut out = String::from(
        "<table class=\"said-heard\"><caption><b>Said vs heard</b></caption><tr><th>message</th><th>said</th><th>heard</th></tr>",
    );
    // Only content can be what was said: a receipt or heartbeat announcing the same
    // number is not the message.
    let content: Vec<&Event> = list.iter().copied().filter(|e| !e.is_control()).collect();
    for s in content.iter().filter(|e| e.event == EventName::Sent) {
        // Heard by its addressee; a third power shown it (a copy, a redirect) is named
        // apart, never taken for the addressee.
        let (heard, elsewhere): (Vec<&&Event>, Vec<&&Event>) = content
            .iter()
            .filter(|e| e.event == EventName::Received && same_envelope(e, s))
            .partition(|e| e.node == s.to_name());
        let accepted = heard.iter().find(|e| e.verdict == Some(Verdict::Accepted));
        let cell = match (accepted, heard.first()) {
            (Some(h), _) if words(h) == words(s) => esc(&words(h)),
            (Some(h), _) => format!(
                "<span class=\"flag\">ALTERED:</span> {}",
                mark_differences(&words(s), &words(h))
            ),
            (None, Some(h)) => format!("<span class=\"flag\">refused</span> ({})", esc(reason(h))),
            (None, None) => "<span class=\"flag\">never arrived</span>".to_owned(),
        };
        let mut shown_to: Vec<String> = Vec::new();
        for e in elsewhere {
            let what = match e.verdict {
                Some(Verdict::Accepted) => format!("{}: accepted", esc(&e.node)),
                _ => format!("{}: refused ({})", esc(&e.node), esc(reason(e))),
            };
            if !shown_to.contains(&what) {
                shown_to.push(what);
            }
        }
        let cell = if shown_to.is_empty() {
            cell
        } else {
            format!(
                "{cell}<br><span class=\"flag\">also reached</span> {}",
                shown_to.join(", ")
            )
        };
        let _ = write!(
            out,
            "<tr><td>{} &rarr; {} #{}</td><td>{}</td><td>{cell}</td></tr>",
            esc(s.from_name()),
            esc(s.to_name()),
            s.seq.unwrap_or(0),
            esc(&words(s))
        );
    }
    // Heard but never said: words the named sender never sent.
    for h in content
        .iter()
        .filter(|e| e.event == EventName::Received && e.verdict == Some(Verdict::Accepted))
    {
        let said = content
            .iter()
            .any(|s| s.event == EventName::Sent && same_envelope(s, h));
        let sender_speaks = content
            .iter()
            .any(|s| s.event == EventName::Sent && s.from == h.from);
        if !said && sender_speaks {
            let _ = write!(
                out,
                "<tr><td>{} &rarr; {} #{}</td><td><span class=\"flag\">never said</span></td><td>{}</td></tr>",
                esc(h.from_name()),
                esc(h.to_name()),
                h.seq.unwrap_or(0),
                esc(&words(h))
            );
        }
    }
    out.push_str("</table>");
    out
}

/// What each party believes and knows of the other at the end of the run, from its
/// own transcript: one line per assurance (its standing for the owner and for the
/// other side as the owner can know it) and per message not plainly acknowledged.
fn beliefs(knowledge: &[Knowledge]) -> String {
    let mut out = String::from(
        "<div class=\"box beliefs\"><b>What each side believes, and knows of the other</b> (from its own transcript)<ul>",
    );
    if knowledge.is_empty() {
        out.push_str("<li>no transcript was read</li>");
    }
    for k in knowledge {
        for line in crate::knowledge::knowledge_text(k).lines() {
            let _ = write!(
                out,
                "<li data-owner=\"{}\">{}</li>",
                esc(&k.owner),
                esc(line)
            );
        }
    }
    out.push_str("</ul></div>");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use backchannel_proto::{BodyKind, Timestamp};

    use super::*;

    fn event(node: &str, name: EventName) -> Event {
        Event::new(Timestamp::from_millis(0), "r", node, name)
    }

    fn envelope(node: &str, name: EventName, kind: BodyKind, body: &str) -> Event {
        let mut e = event(node, name);
        e.from = Some("north".into());
        e.to = Some("south".into());
        e.seq = Some(2);
        e.kind = Some(kind);
        e.body = Some(body.into());
        e
    }

    #[test]
    fn text_from_a_run_cannot_become_markup() {
        let e = envelope(
            "north",
            EventName::Sent,
            BodyKind::Text,
            "<script>alert(1)</script> \u{1b}[8m \u{202e}evil",
        );
        let html = page("t", &[e], &[]);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains('\u{1b}'));
        assert!(!html.contains('\u{202e}'));
    }

    #[test]
    fn a_heartbeat_at_a_refused_number_is_not_taken_for_the_message() {
        let sent = envelope("north", EventName::Sent, BodyKind::Revocation, "Withdrawn.");
        let mut refused = envelope(
            "south",
            EventName::Received,
            BodyKind::Revocation,
            "Withdrawn.",
        );
        refused.verdict = Some(Verdict::Rejected);
        refused.reason = Some("expired".into());
        let mut heartbeat = envelope("south", EventName::Received, BodyKind::Heartbeat, "");
        heartbeat.verdict = Some(Verdict::Accepted);
        let html = page("t", &[sent, refused, heartbeat], &[]);
        assert!(html.contains("refused</span> (expired)"), "{html}");
        assert!(!html.contains("ALTERED"), "{html}");
    }

    #[test]
    fn a_message_shown_to_a_third_power_is_not_taken_for_its_delivery() {
        let sent = envelope("north", EventName::Sent, BodyKind::Text, "Talks.");
        let mut at_ally = envelope("ally", EventName::Received, BodyKind::Text, "Talks.");
        at_ally.verdict = Some(Verdict::Rejected);
        at_ally.reason = Some("wrong-recipient".into());
        let html = page("t", &[sent.clone(), at_ally.clone(), at_ally.clone()], &[]);
        assert!(
            html.contains("never arrived</span><br><span class=\"flag\">also reached</span> ally: refused (wrong-recipient)</td>"),
            "{html}"
        );
        let mut at_south = envelope("south", EventName::Received, BodyKind::Text, "Talks.");
        at_south.verdict = Some(Verdict::Accepted);
        let html = page("t", &[sent, at_ally, at_south], &[]);
        assert!(
            html.contains("<td>Talks.<br><span class=\"flag\">also reached</span> ally: refused (wrong-recipient)</td>"),
            "{html}"
        );
    }

    #[test]
    fn the_same_move_again_is_one_row_with_a_count() {
        let mut mv = event("broker", EventName::Move);
        mv.detail = Some("held the withdrawal".into());
        let html = page("t", &[mv.clone(), mv.clone(), mv], &[]);
        assert_eq!(html.matches("data-event=\"move\"").count(), 1, "{html}");
        assert!(
            html.contains("held the withdrawal <span class=\"times\">x3</span>"),
            "{html}"
        );
    }

    #[test]
    fn altered_words_are_marked() {
        assert_eq!(
            mark_differences("no strike, if absent provocation", "no strike, if for now"),
            "no strike, if <mark>for</mark> <mark>now</mark>"
        );
    }
}
