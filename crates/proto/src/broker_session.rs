//! One broker connection as a state machine, without I/O: awaiting a login, then open.
//!
//! The tokio broker reads frames and feeds them here; every decision about them
//! (accept the login or refuse it, which frames are protocol violations, what to refuse
//! and what to relay) is made here, so fuzzers and tests drive exactly what the broker
//! runs.

use crate::frame::{FrameHeader, FrameKind};
use crate::identity::PublicIdentity;
use crate::node::{EXPORTER_LEN, LoginError, Notice, verify_login};
use crate::relay::{Inspected, Refusal, inspect_batch};

/// What the broker should do after a batch of frames from one connection.
#[derive(Debug)]
pub enum SessionStep<'a> {
    /// The login was accepted: send a welcome, then serve this party.
    LoggedIn(PublicIdentity),
    /// Refuse: send the notice and close the connection.
    Close(Notice),
    /// The verdict on each envelope, in order: relay the accepted ones, tell the sender
    /// about the refused ones.
    Envelopes(Vec<Result<Inspected<'a>, Refusal>>),
}

/// A broker connection's protocol state.
#[derive(Debug)]
pub struct BrokerSession {
    exporter: [u8; EXPORTER_LEN],
    party: Option<PublicIdentity>,
    closed: bool,
}

impl BrokerSession {
    /// A new connection whose TLS session has exporter value `exporter`.
    pub fn new(exporter: [u8; EXPORTER_LEN]) -> Self {
        BrokerSession {
            exporter,
            party: None,
            closed: false,
        }
    }

    /// The party logged in on this connection, once there is one.
    pub fn party(&self) -> Option<&PublicIdentity> {
        self.party.as_ref()
    }

    /// Handles the frames that arrived together. Before login the first frame must be
    /// a valid login (further frames in the same batch are ignored: the client must
    /// wait for its welcome); after login every frame must be an envelope. After a
    /// [`SessionStep::Close`] everything is refused.
    pub fn handle_frames<'a>(
        &mut self,
        frames: &[&'a [u8]],
        registered: &[PublicIdentity],
    ) -> SessionStep<'a> {
        if self.closed {
            return SessionStep::Close(notice("closed", "this connection is closed".into()));
        }
        let Some(party) = &self.party else {
            let first = frames.first().copied().unwrap_or_default();
            return match verify_login(first, &self.exporter, registered) {
                Ok(party) => {
                    self.party = Some(party.clone());
                    SessionStep::LoggedIn(party)
                }
                Err(e) => self.close(login_notice(&e)),
            };
        };
        if let Some(kind) = frames.iter().find_map(|f| match FrameHeader::parse(f) {
            Ok(h) if h.kind == FrameKind::Envelope => None,
            Ok(h) => Some(h.kind.to_u8()),
            Err(_) => Some(0),
        }) {
            return self.close(notice(
                "protocol",
                format!("protocol violation: a frame of kind {kind} after login"),
            ));
        }
        SessionStep::Envelopes(inspect_batch(party, frames, registered))
    }

    fn close<'a>(&mut self, n: Notice) -> SessionStep<'a> {
        self.closed = true;
        SessionStep::Close(n)
    }
}

fn login_notice(e: &LoginError) -> Notice {
    notice(e.code(), e.to_string())
}

fn notice(code: &str, message: String) -> Notice {
    Notice {
        code: code.to_owned(),
        message,
        peer: String::new(),
        seq: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{PartyName, SigningIdentity};
    use crate::node::login_frame;

    #[test]
    fn login_then_envelopes_only() {
        let alpha = SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[1; 32]);
        let registered = vec![alpha.public()];
        let mut s = BrokerSession::new([9; 32]);
        assert!(matches!(
            s.handle_frames(&[b"junk"], &registered),
            SessionStep::Close(n) if n.code == "not-a-login"
        ));
        assert!(matches!(
            s.handle_frames(&[b"more"], &registered),
            SessionStep::Close(_)
        ));

        let mut s = BrokerSession::new([9; 32]);
        let login = login_frame(&alpha, &[9; 32]).unwrap();
        assert!(matches!(
            s.handle_frames(&[&login], &registered),
            SessionStep::LoggedIn(_)
        ));
        assert_eq!(s.party().map(|p| p.name().as_str()), Some("alpha"));
        // A second login after login is a protocol violation.
        assert!(matches!(
            s.handle_frames(&[&login], &registered),
            SessionStep::Close(n) if n.code == "protocol"
        ));
    }
}
