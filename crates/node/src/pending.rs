//! `backchannel pending`: what this party sent that has no receipt yet.

use std::path::PathBuf;

use backchannel_party::Party;
use backchannel_proto::{Body, EnvelopeIn};
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

/// Writes the list for `party`.
pub fn report(party: &Party, request: &PendingRequest, sink: &mut dyn Sink) {
    let me = party.name();
    let mut total = 0usize;
    for channel in party.endpoint().channels() {
        let to = channel.peer().identity.name().as_str();
        for o in &channel.state().unacked {
            total += 1;
            let body = EnvelopeIn::decode(&o.frame)
                .ok()
                .map(|e| e.envelope().body.clone().into_owned());
            if request.json {
                let mut v = json!({
                    "to": to,
                    "seq": o.seq,
                    "sent_at": o.sent_at.to_string(),
                    "kind": body.as_ref().map(|b| b.kind().as_str()),
                });
                if let (Some(map), Some(b)) = (v.as_object_mut(), &body) {
                    raw_fields(b, map);
                }
                sink.out(&v.to_string());
            } else {
                let text = body.as_ref().map(print::body_text).unwrap_or_default();
                sink.out(&format!(
                    "[{me}] #{} to {to}, sent {}, no receipt yet: {text}",
                    o.seq, o.sent_at
                ));
            }
        }
    }
    if !request.json {
        sink.out(&format!("[{me}] {total} message(s) await a receipt"));
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
