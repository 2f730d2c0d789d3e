//! The side-by-side table `backchannel demo` ends with: per mode, who can forge, whether
//! the recipient knows, what a judge can prove, and whether contact is deniable.

use backchannel_proto::ChannelMode;
use backchannel_proto::judge::Finding;
use serde_json::json;

use crate::exchange::Account;

/// One column of the closing side-by-side table: what the run of one mode showed.
pub(crate) struct ModeSummary {
    mode: ChannelMode,
    /// Every message was accepted as authenticated by its named sender: the recipient
    /// knows who wrote it.
    recipient_convinced: bool,
    /// Entries of bravo's transcript a judge attributes provably.
    provable: usize,
    /// Entries the judge found attributable to either party, or to anyone after a reveal.
    either_party: usize,
    anyone: usize,
    /// How the parties proved themselves to the broker in this mode.
    login: &'static str,
}

impl ModeSummary {
    pub(crate) fn of(account: &Account) -> Self {
        let bravo = account.judged.iter().find(|(o, _)| o == "bravo");
        let count = |f: fn(&Finding) -> bool| {
            bravo.map_or(0, |(_, r)| {
                r.entries.iter().filter(|e| f(&e.finding)).count()
            })
        };
        ModeSummary {
            mode: account.mode,
            recipient_convinced: account.mode.recipient_authenticates()
                && account.failures.is_empty(),
            provable: count(|f| matches!(f, Finding::ProvablyWrittenBy { .. })),
            either_party: count(|f| matches!(f, Finding::EitherPartyCouldHaveWritten { .. })),
            anyone: count(|f| matches!(f, Finding::AnyoneCouldHaveWritten { .. })),
            login: backchannel_proto::node::LoginKind::for_modes([account.mode]).as_str(),
        }
    }

    /// Who can write an envelope bravo accepts as alpha's, by the mode's construction
    /// (the attack lab shows each case live).
    fn who_can_forge(&self) -> &'static str {
        if self.mode.recipient_authenticates() {
            "only the sender"
        } else {
            "the broker (or anyone it lets in)"
        }
    }

    fn judge_can_prove(&self) -> String {
        if self.provable > 0 {
            format!("who said what ({} entries provable)", self.provable)
        } else if self.either_party + self.anyone > 0 {
            format!(
                "nothing ({} either party's, {} anyone's after a reveal)",
                self.either_party, self.anyone
            )
        } else {
            "nothing".to_owned()
        }
    }

    fn contact_deniable(&self) -> bool {
        self.login == "mac"
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        json!({
            "mode": self.mode.to_string(),
            "who_can_forge": self.who_can_forge(),
            "recipient_convinced": self.recipient_convinced,
            "judge_can_prove": self.judge_can_prove(),
            "provable_entries": self.provable,
            "contact_deniable": self.contact_deniable(),
            "login": self.login,
        })
    }
}

/// The side-by-side table the demo ends with.
pub(crate) fn summary_table(modes: &[ModeSummary]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let rows: Vec<(&str, Vec<String>)> = vec![
        ("", modes.iter().map(|m| m.mode.to_string()).collect()),
        (
            "who can forge live",
            modes.iter().map(|m| m.who_can_forge().to_owned()).collect(),
        ),
        (
            "does the recipient know",
            modes
                .iter()
                .map(|m| yes_no(m.recipient_convinced))
                .collect(),
        ),
        (
            "what a judge can prove",
            modes.iter().map(ModeSummary::judge_can_prove).collect(),
        ),
        (
            "is contact deniable",
            modes
                .iter()
                .map(|m| {
                    if m.contact_deniable() {
                        "yes (login by MAC)".to_owned()
                    } else {
                        "no (login signed)".to_owned()
                    }
                })
                .collect(),
        ),
    ];
    let widths: Vec<usize> = (0..modes.len())
        .map(|i| {
            rows.iter()
                .filter_map(|(_, cells)| cells.get(i).map(String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::from("\n==== the modes side by side ====\n");
    for (label, cells) in &rows {
        let mut line = format!("{label:<24}");
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(&format!(" | {cell:<width$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
