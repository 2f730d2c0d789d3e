//! The swim lanes of a run, drawn for a projector: one column per node in the order
//! the story is told (the first message's sender, the intermediary, its recipient,
//! then any third power), one row per thing that happened, in time order, each an
//! arrow between lanes (or a mark on one) with its words under it.
//!
//! It is HTML and CSS, not a drawing of fixed size: the columns share the page's width,
//! and the words wrap at 18 px instead of shrinking or running off a 1024-pixel screen.
//! Heartbeats are left out; the same thing again (a move repeated on each held
//! heartbeat, a copy refused the same way) is one row marked "x3".

use std::fmt::Write as _;

use backchannel_proto::BodyKind;
use backchannel_stage::{Event, EventName, Verdict};

use crate::event_words::{detail, reason, same_envelope, words};
use crate::html::esc;

/// The lanes' style: scoped to `.lanes`, so the classroom's page can hold it too.
pub const STYLE: &str = ".lanes{display:grid;grid-template-columns:repeat(var(--lanes),minmax(0,1fr));font-size:18px;margin:.5em 0 1em;max-width:100%}\
.lanes .head{font-weight:bold;text-align:center;border-bottom:2px solid #bbb;padding:.2em 0;overflow-wrap:anywhere}\
.lanes .row{grid-column:1/-1;display:grid;grid-template-columns:subgrid;background:var(--rules);padding:.15em 0 .35em}\
.lanes .arrow{grid-row:1;height:16px;position:relative}\
.lanes .arrow::before{content:'';position:absolute;top:6px;left:calc(50% / var(--span));right:calc(50% / var(--span));border-top:3px solid currentColor}\
.lanes .arrow.ltr::after,.lanes .arrow.rtl::after{content:'';position:absolute;top:1px;border:7px solid transparent}\
.lanes .arrow.ltr::after{right:calc(50% / var(--span) - 7px);border-left:10px solid currentColor;border-right:0}\
.lanes .arrow.rtl::after{left:calc(50% / var(--span) - 7px);border-right:10px solid currentColor;border-left:0}\
.lanes .dot::before{content:'';position:absolute;top:0;left:calc(50% - 8px);width:16px;height:16px;border-radius:50%;background:currentColor}\
.lanes .label{grid-row:2;grid-column:1/-1;font-size:18px;line-height:1.3;overflow-wrap:anywhere;padding:0 .3em}\
.lanes .ok{color:#1a7f4b}.lanes .bad{color:#c33}.lanes .send{color:#446}.lanes .move{color:#d70}.lanes .lost{color:#c33}\
.lanes .times{font-weight:bold}\
.legend{font-size:18px;display:flex;flex-wrap:wrap;gap:.3em 1.5em;margin:.3em 0}.legend span::before{content:'\\25A0 '}\
.legend .send::before{color:#446}.legend .ok::before{color:#1a7f4b}.legend .bad::before{color:#c33}.legend .move::before{color:#d70}";

/// The lanes, in the order the story is told: the first message's sender, the
/// intermediary, its recipient, then the others by name.
fn lane_order(list: &[&Event]) -> Vec<String> {
    let mut nodes: Vec<String> = Vec::new();
    if let Some(first) = list.iter().find(|e| e.event == EventName::Sent) {
        nodes.push(first.from_name().to_owned());
        nodes.push("broker".to_owned());
        if !first.to_name().is_empty() && first.to_name() != first.from_name() {
            nodes.push(first.to_name().to_owned());
        }
    } else {
        nodes.push("broker".to_owned());
    }
    let mut others: Vec<String> = list
        .iter()
        .map(|e| e.node.clone())
        .filter(|n| !n.is_empty() && !nodes.contains(n))
        .collect();
    others.sort();
    others.dedup();
    nodes.extend(others);
    nodes
}

/// Whether `e` is drawn: what was said, heard, moved, missed or refused; never a
/// heartbeat.
fn drawn(e: &Event) -> bool {
    matches!(
        e.event,
        EventName::Sent
            | EventName::Received
            | EventName::Move
            | EventName::NoReceipt
            | EventName::Notice
    ) && !(e.event == EventName::Received && e.kind == Some(BodyKind::Heartbeat))
}

/// Whether `b` is `a` again, to be folded into one row.
fn same_again(a: &Event, b: &Event) -> bool {
    a.event == b.event
        && a.node == b.node
        && match a.event {
            EventName::Move => a.detail == b.detail,
            EventName::Received => {
                same_envelope(a, b)
                    && a.verdict == b.verdict
                    && a.reason == b.reason
                    && a.body == b.body
                    && a.refused == b.refused
            }
            _ => false,
        }
}

/// One row: where its arrow runs (or its mark sits), its class, its data and words.
struct Row {
    from: usize,
    to: usize,
    class: &'static str,
    data: String,
    label: String,
}

/// The swim lanes: one row per envelope event, in time order.
pub fn lanes(list: &[&Event]) -> String {
    let nodes = lane_order(list);
    let col = |node: &str| nodes.iter().position(|n| n == node).unwrap_or(0);
    let broker = col("broker");
    let mut counted: Vec<(&Event, usize)> = Vec::new();
    for e in list.iter().copied().filter(|e| drawn(e)) {
        match counted.last_mut() {
            Some((last, n)) if same_again(last, e) => *n += 1,
            _ => counted.push((e, 1)),
        }
    }
    let sent: Vec<&Event> = list
        .iter()
        .copied()
        .filter(|e| e.event == EventName::Sent)
        .collect();
    // (receipt's recipient, its sender, refused seq) already drawn: a receipt lists
    // refusals again until they fall off its list, but says so only once.
    let mut refusals_drawn: std::collections::HashSet<(String, String, u64)> =
        std::collections::HashSet::new();
    let mut rows = Vec::new();
    for (e, times) in &counted {
        let node = e.node.as_str();
        let row = match e.event {
            EventName::Sent => Row {
                from: col(node),
                to: broker,
                class: "send",
                data: "data-event=\"sent\"".to_owned(),
                label: format!("{node} says #{} {}", e.seq.unwrap_or(0), words(e)),
            },
            EventName::Received if e.kind == Some(BodyKind::Receipt) => {
                let accepted = e.verdict == Some(Verdict::Accepted);
                let newly_refused: Vec<String> = if accepted {
                    e.refused
                        .iter()
                        .flat_map(|r| r.listed.iter())
                        .filter(|r| {
                            refusals_drawn.insert((
                                node.to_owned(),
                                e.from_name().to_owned(),
                                r.seq,
                            ))
                        })
                        .map(|r| format!("#{} REFUSED ({}), not delivered", r.seq, r.code))
                        .collect()
                } else {
                    Vec::new()
                };
                // A receipt that newly lists a refusal is drawn as the refusal.
                let (class, refused, tail) = if !newly_refused.is_empty() {
                    (
                        "bad",
                        " data-refused=\"true\"",
                        format!(": {}", newly_refused.join(", ")),
                    )
                } else if accepted {
                    ("ok", "", String::new())
                } else {
                    ("bad", "", format!(": REJECTED ({})", reason(e)))
                };
                Row {
                    from: broker,
                    to: col(node),
                    class,
                    data: format!("data-event=\"receipt\"{refused}"),
                    label: format!("{node} gets a receipt from {}{tail}", e.from_name()),
                }
            }
            EventName::Received => {
                let accepted = e.verdict == Some(Verdict::Accepted);
                let original = sent.iter().find(|s| same_envelope(s, e));
                let (mark, flag) = match original {
                    None => (
                        "forged",
                        " [NEVER SENT by its named sender: forged or renumbered]",
                    ),
                    Some(s) if words(s) != words(e) => ("altered", " [ALTERED on the way]"),
                    Some(_) => ("", ""),
                };
                let verdict = if accepted {
                    "accepted".to_owned()
                } else {
                    format!("REJECTED ({})", reason(e))
                };
                Row {
                    from: broker,
                    to: col(node),
                    class: if accepted { "ok" } else { "bad" },
                    data: format!("data-event=\"received\" data-mark=\"{mark}\""),
                    label: format!(
                        "{node} hears #{} {}: {verdict}{flag}",
                        e.seq.unwrap_or(0),
                        words(e)
                    ),
                }
            }
            EventName::Move => Row {
                from: broker,
                to: broker,
                class: "move",
                data: "data-event=\"move\"".to_owned(),
                label: format!("broker's move: {}", detail(e)),
            },
            EventName::NoReceipt => Row {
                from: col(node),
                to: col(node),
                class: "lost",
                data: "data-event=\"no-receipt\"".to_owned(),
                label: format!(
                    "{node} got no receipt for #{}: dropped or delayed?",
                    e.seq.unwrap_or(0)
                ),
            },
            _ => Row {
                from: col(node),
                to: col(node),
                class: "lost",
                data: "data-event=\"notice\"".to_owned(),
                label: format!(
                    "the broker refused {node}'s #{}: {}",
                    e.seq.unwrap_or(0),
                    detail(e)
                ),
            },
        };
        rows.push((row, *times));
    }
    draw(&nodes, &rows)
}

fn draw(nodes: &[String], rows: &[(Row, usize)]) -> String {
    let n = nodes.len().max(1);
    // A vertical rule down the middle of every lane.
    let rules: Vec<String> = (0..n)
        .map(|i| {
            let at = (2 * i + 1) * 100 / (2 * n);
            format!("linear-gradient(#ccc,#ccc) {at}% 0/2px 100% no-repeat")
        })
        .collect();
    let mut out = format!(
        "<div class=\"legend\"><span class=\"send\">said</span><span class=\"ok\">heard and accepted, or a receipt</span><span class=\"bad\">refused</span><span class=\"move\">the intermediary's move</span><span>x3: the same again</span></div>\
         <div class=\"lanes timeline\" style=\"--lanes:{n};--rules:{}\">",
        rules.join(",")
    );
    for name in nodes {
        let _ = write!(out, "<div class=\"head\">{}</div>", esc(name));
    }
    for (row, times) in rows {
        let (lo, hi) = (row.from.min(row.to), row.from.max(row.to));
        let span = hi - lo + 1;
        let shape = if row.from == row.to {
            "dot"
        } else if row.from < row.to {
            "ltr"
        } else {
            "rtl"
        };
        let times = if *times > 1 {
            format!(" <span class=\"times\">x{times}</span>")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<div class=\"row {class}\" {data}><div class=\"arrow {shape}\" style=\"grid-column:{}/span {span};--span:{span}\"></div><div class=\"label\">{}{times}</div></div>",
            lo + 1,
            esc(&row.label),
            class = row.class,
            data = row.data,
        );
    }
    out.push_str("</div>");
    out
}
