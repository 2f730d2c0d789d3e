//! `backchannel pending`: what this party sent that has no receipt yet.

use std::path::PathBuf;

use backchannel_party::Party;
use backchannel_proto::knowledge::{Fate, Knowledge};
use backchannel_proto::transcript::parse_transcript;
use backchannel_proto::{Body, EnvelopeIn, Timestamp};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::session::Sink;
use backchannel_show::print;

/// List the messages this party sent that await the recipient's receipt.
///
/// They are on disk and are sent again (after a reconnect, and on the retransmission
/// timer) until a receipt covers them. Asks the party node if one runs.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel pending --config deploy/alpha/alpha.toml\n  backchannel pending --config deploy/alpha/alpha.toml --json"
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// One JSON object per message: to, seq, sent_at, kind, text fields (raw).
    #[arg(long)]
    pub(crate) json: bool,
}

/// What `pending` was asked to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingRequest {
    /// JSON output.
    pub json: bool,
}

/// A message that awaits the recipient's receipt.
pub struct Pending {
    /// The recipient.
    pub to: String,
    /// Its sequence number.
    pub seq: u64,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// What it says (none if its frame cannot be read back).
    pub body: Option<Body<'static>>,
}

/// What `party` (open, its node's view) sent that awaits a receipt.
pub fn from_party(party: &Party) -> Vec<Pending> {
    let mut list = Vec::new();
    for channel in party.endpoint().channels() {
        let to = channel.peer().identity.name().as_str();
        for o in &channel.state().unacked {
            list.push(Pending {
                to: to.to_owned(),
                seq: o.seq,
                sent_at: o.sent_at,
                body: EnvelopeIn::decode(&o.frame)
                    .ok()
                    .map(|e| e.envelope().body.clone().into_owned()),
            });
        }
    }
    list
}

/// What the transcript `bytes` of `me` says was sent and awaits a receipt: read only,
/// for when no node runs (opening the party would create or change its files). An
/// empty file is a party that has sent nothing.
pub fn from_transcript(me: &str, bytes: &[u8]) -> anyhow::Result<Vec<Pending>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let parsed = parse_transcript(bytes)?;
    let knowledge = Knowledge::build(me, parsed.entries, backchannel_party::now());
    Ok(knowledge
        .sent
        .into_iter()
        .filter(|m| m.fate == Fate::Unanswered)
        .map(|m| Pending {
            to: m.to,
            seq: m.seq,
            sent_at: m.sent_at,
            body: Some(m.body),
        })
        .collect())
}

/// Writes the list for `party`.
pub fn report(party: &Party, request: &PendingRequest, sink: &mut dyn Sink) {
    write(party.name(), &from_party(party), request, sink);
}

/// Writes `list`, `me`'s messages awaiting a receipt.
pub fn write(me: &str, list: &[Pending], request: &PendingRequest, sink: &mut dyn Sink) {
    for p in list {
        if request.json {
            let mut v = json!({
                "to": p.to,
                "seq": p.seq,
                "sent_at": p.sent_at.to_string(),
                "kind": p.body.as_ref().map(|b| b.kind().as_str()),
            });
            if let (Some(map), Some(b)) = (v.as_object_mut(), &p.body) {
                raw_fields(b, map);
            }
            sink.out(&v.to_string());
        } else {
            let text = p.body.as_ref().map(print::body_text).unwrap_or_default();
            sink.out(&format!(
                "[{me}] #{} to {}, sent {}, no receipt yet: {text}",
                p.seq, p.to, p.sent_at
            ));
        }
    }
    if !request.json {
        sink.out(&format!("[{me}] {} message(s) await a receipt", list.len()));
    }
}

/// The body's text fields as they are, for JSON.
fn raw_fields(body: &Body<'_>, map: &mut serde_json::Map<String, serde_json::Value>) {
    match body {
        Body::Text(t) => {
            map.insert("text".into(), json!(t));
        }
        Body::Assurance(a) => {
            map.insert("id".into(), json!(a.id));
            map.insert("commitment".into(), json!(a.commitment));
            map.insert("condition".into(), json!(a.condition));
            map.insert("valid_until".into(), json!(a.valid_until.to_string()));
        }
        Body::Revocation(r) => {
            map.insert("assurance_id".into(), json!(r.assurance_id));
            map.insert("reason".into(), json!(r.reason));
        }
        Body::Receipt | Body::Heartbeat => {}
    }
}
