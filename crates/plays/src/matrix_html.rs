//! `attacks --html FILE`: the attack matrix as one self-contained page, a coloured
//! table (attack x mode) with the live outcome, whether it matches the spec, and the
//! narrative and the judge's view per cell. Every text is escaped.

use std::fmt::Write as _;

use backchannel_lab::expected::{Attack, Outcome};
use backchannel_proto::ChannelMode;

use crate::lab_run::{LiveRun, expectation, matches};
use backchannel_show::html::esc;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}\
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:6px 8px;vertical-align:top;text-align:left}\
td.caught-by-recipient{background:#cfe9d6}td.refused-by-broker{background:#d3e3f4}\
td.caught-by-sender{background:#f6ecc4}td.undetected{background:#f3c9c9}td.control{background:#eee}\
td.proved-to-judge{background:#d9d2ef}td.nothing-proved{background:#fbe3cf}\
td.forgery-detected{background:#cfe9d6}td.indistinguishable{background:#f3c9c9}\
.mismatch{outline:3px solid #c00}.small{font-size:.85em;color:#444}.legend span{padding:2px 8px;margin-right:6px}";

fn class(o: Outcome) -> &'static str {
    o.as_str()
}

/// The page for the rows `attacks` ran.
pub fn page(rows: &[(Attack, ChannelMode, LiveRun)]) -> String {
    let mut modes: Vec<ChannelMode> = Vec::new();
    for (_, m, _) in rows {
        if !modes.contains(m) {
            modes.push(*m);
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>backchannel: the attack matrix</title><style>{STYLE}</style></head><body>\
         <h1>The attack matrix, run live</h1>\
         <p class=\"legend\"><span class=\"\" style=\"background:#cfe9d6\">caught by the recipient</span><span style=\"background:#d3e3f4\">refused by the broker</span><span style=\"background:#f6ecc4\">caught by the sender (no receipt)</span><span style=\"background:#f3c9c9\">undetected</span><br>judge rows: <span style=\"background:#d9d2ef\">proved to the judge</span><span style=\"background:#fbe3cf\">nothing proved</span><span style=\"background:#cfe9d6\">forgery detected</span><span style=\"background:#f3c9c9\">indistinguishable</span> a red frame: differs from proto-spec/attacks.toml</p>\
         <table class=\"matrix\"><tr><th>attack</th><th>what the intermediary does</th>"
    );
    for m in &modes {
        let _ = write!(out, "<th>{}</th>", esc(&m.to_string()));
    }
    out.push_str("</tr>");
    let mut names: Vec<&Attack> = Vec::new();
    for (a, _, _) in rows {
        if !names.iter().any(|n| n.name == a.name) {
            names.push(a);
        }
    }
    for a in names {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}<div class=\"small\">{}</div></td>",
            esc(&a.name),
            esc(&a.what),
            esc(&a.analogy)
        );
        for m in &modes {
            match rows.iter().find(|(x, y, _)| x.name == a.name && y == m) {
                Some((_, _, r)) => {
                    let want = expectation(a, *m);
                    let ok = matches(r, want);
                    let reason = if r.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", esc(&r.reason))
                    };
                    let _ = write!(
                        out,
                        "<td class=\"{}{}\" data-attack=\"{}\" data-mode=\"{}\" data-outcome=\"{}\"><b>{}{reason}</b>{}<div class=\"small\">{}</div><div class=\"small\">judge: {}</div></td>",
                        // The honest row has nothing to detect: neutral, not red.
                        if a.name == "honest" {
                            "control"
                        } else {
                            class(r.outcome)
                        },
                        if ok { "" } else { " mismatch" },
                        esc(&a.name),
                        esc(&m.to_string()),
                        r.outcome.as_str(),
                        esc(r.outcome.as_str()),
                        if ok {
                            String::new()
                        } else {
                            format!("<div>expected {}</div>", esc(want.outcome.as_str()))
                        },
                        esc(&r.narrative),
                        esc(&r.judge)
                    );
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></body></html>\n");
    out
}
