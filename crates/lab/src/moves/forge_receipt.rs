//! forge-receipt: fabricates bravo's receipt so alpha believes delivery happened.

use std::time::Duration;

use backchannel_proto::{Ack, Body, Digest, Envelope, Timestamp};

use super::cast::{ALPHA, BRAVO};
use super::vocabulary::{Move, Out};
use crate::observed::Observed;

/// The intermediary keeps a withdrawal from reaching the other side and tells the
/// sender it was delivered. Discards alpha's #3 to bravo and answers alpha with a
/// receipt "from bravo" acknowledging it.
#[derive(Default)]
pub struct ForgeReceipt {
    /// bravo's last envelope to alpha: its head, acknowledgement and signature.
    last_from_bravo: Option<Observed>,
}

impl Move for ForgeReceipt {
    fn name(&self) -> &'static str {
        "forge-receipt"
    }

    fn on_envelope(&mut self, now: Timestamp, seen: &Observed, out: &mut Vec<Out>) {
        if seen.is_from(BRAVO, ALPHA) {
            self.last_from_bravo = Some(seen.clone());
        }
        if !(seen.is_content(ALPHA, BRAVO) && seen.position >= 3) {
            out.push(Out::forward(seen));
            return;
        }
        let (head, ack, authenticator) = match &self.last_from_bravo {
            Some(b) => {
                let e = &b.envelope;
                // A receipt or heartbeat announces bravo's head; content is the head.
                let head = Ack {
                    seq: e.seq,
                    head: if e.body.is_control() {
                        e.prev
                    } else {
                        b.digest
                    },
                };
                (head, e.ack, b.authenticator.clone())
            }
            None => (Ack::default(), Ack::default(), vec![0; 64]),
        };
        // In signed and off-record mode the receipt names alpha's real #3; in deniable
        // mode the rewriter translates bravo's acknowledgement into "everything consumed".
        let claimed = if seen.envelope.mode != backchannel_proto::ChannelMode::Deniable {
            Ack {
                seq: seen.envelope.seq,
                head: seen.digest,
            }
        } else {
            ack
        };
        let receipt = Envelope {
            version: seen.envelope.version,
            mode: seen.envelope.mode,
            channel: seen.envelope.channel,
            sender: seen.name(BRAVO).to_owned().into(),
            recipient: seen.name(ALPHA).to_owned().into(),
            seq: head.seq,
            prev: if head.seq == 0 {
                Digest::ZERO
            } else {
                head.head
            },
            ack: claimed,
            refused: backchannel_proto::Refusals::default(),
            sent_at: now,
            expires_at: now.saturating_add(Duration::from_secs(3600)),
            body: Body::Receipt,
        };
        out.push(Out::Envelope {
            envelope: Box::new(receipt),
            authenticator,
        });
    }
}
