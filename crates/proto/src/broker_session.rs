//! One broker connection as a state machine, without I/O: awaiting a login, then open.
//!
//! The tokio broker reads frames and feeds them here; every decision about them
//! (accept the login or refuse it, which frames are protocol violations, what to refuse
//! and what to relay) is made here, so fuzzers and tests drive exactly what the broker
//! runs.

use ed25519_dalek::SigningKey;

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
    /// Refuse a login: send `notice` and close. The notice is the same whether the
    /// name is unknown or the proof fails, so an outsider cannot list the registered
    /// names; `why` is the difference, for the broker's own log only.
    LoginRefused {
        /// What the client is told (code `login-refused`).
        notice: Notice,
        /// Why, for the broker's log.
        why: LoginError,
    },
    /// The verdict on each envelope, in order: relay the accepted ones, tell the sender
    /// about the refused ones.
    Envelopes(Vec<Result<Inspected<'a>, Refusal>>),
}

/// A broker connection's protocol state.
pub struct BrokerSession {
    exporter: [u8; EXPORTER_LEN],
    party: Option<PublicIdentity>,
    closed: bool,
    /// The broker's certificate key, to check deniable (MAC) logins with.
    login_key: Option<SigningKey>,
}

impl std::fmt::Debug for BrokerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSession")
            .field("party", &self.party)
            .field("closed", &self.closed)
            .field("accepts_mac_logins", &self.login_key.is_some())
            .finish()
    }
}

impl BrokerSession {
    /// A new connection whose TLS session has exporter value `exporter`. It accepts
    /// signed logins only; see [`BrokerSession::accepting_mac_logins`].
    pub fn new(exporter: [u8; EXPORTER_LEN]) -> Self {
        BrokerSession {
            exporter,
            party: None,
            closed: false,
            login_key: None,
        }
    }

    /// Also accepts deniable (MAC) logins, checked with the broker's certificate key
    /// `key` (`nodes.md` §2).
    pub fn accepting_mac_logins(mut self, key: Option<SigningKey>) -> Self {
        self.login_key = key;
        self
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
            return match verify_login(first, &self.exporter, registered, self.login_key.as_ref()) {
                Ok(party) => {
                    self.party = Some(party.clone());
                    SessionStep::LoggedIn(party)
                }
                Err(e) => {
                    self.closed = true;
                    SessionStep::LoginRefused {
                        notice: login_notice(&e),
                        why: e,
                    }
                }
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

/// The code of the one notice for an unknown name and for a proof that fails.
pub const LOGIN_REFUSED: &str = "login-refused";

fn login_notice(e: &LoginError) -> Notice {
    match e {
        LoginError::UnknownParty(_) | LoginError::BadSignature(_) => notice(
            LOGIN_REFUSED,
            "login refused: not a registered party, or the proof does not verify for this TLS session".into(),
        ),
        LoginError::NotALogin(_) => notice(e.code(), e.to_string()),
    }
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
            SessionStep::LoginRefused { notice, .. } if notice.code == "not-a-login"
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

    #[test]
    fn an_unknown_name_and_a_bad_proof_get_the_same_notice() {
        let alpha = SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[1; 32]);
        let mallory =
            SigningIdentity::from_secret_bytes(PartyName::new("mallory").unwrap(), &[2; 32]);
        let impostor =
            SigningIdentity::from_secret_bytes(PartyName::new("alpha").unwrap(), &[3; 32]);
        let registered = vec![alpha.public()];
        let refused = |who: &SigningIdentity| {
            let mut s = BrokerSession::new([9; 32]);
            let login = login_frame(who, &[9; 32]).unwrap();
            match s.handle_frames(&[&login], &registered) {
                SessionStep::LoginRefused { notice, why } => (notice, why),
                other => panic!("{other:?}"),
            }
        };
        let (unknown, why_unknown) = refused(&mallory);
        let (bad, why_bad) = refused(&impostor);
        assert_eq!(unknown, bad);
        assert_eq!(unknown.code, LOGIN_REFUSED);
        assert_eq!(why_unknown.code(), "unknown-party");
        assert_eq!(why_bad.code(), "bad-login");
    }
}
