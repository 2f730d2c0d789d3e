//! The per-channel state machine: one party's view of its conversation with one peer.
//!
//! Sans-IO (quinn-proto's `Connection` is the model). A driver calls, in this order:
//!
//! 1. [`Channel::handle_verified`] for each envelope from the peer (usually through
//!    [`Endpoint::handle_frame`](crate::Endpoint::handle_frame)), and
//!    [`Channel::send`] for each message the user sends;
//! 2. [`Channel::handle_timeout`] whenever the time from [`Channel::poll_timeout`]
//!    has come;
//! 3. [`Channel::poll_transmit`] until it returns `false`, writing the frames out
//!    (after a batch of inputs, so one receipt covers the whole batch);
//! 4. [`Channel::poll_event`] until it returns `None`.
//!
//! After a reconnect it calls [`Channel::on_reconnect`]. Content envelopes that stay
//! unacknowledged for the acknowledgement timeout are sent again (go-back-N from the
//! oldest), so a single dropped envelope heals once the broker lets the copy
//! through; the recipient drops the duplicates. Each retransmission that brings no
//! progress doubles the wait (up to 8 timeouts), so an offline peer's mailbox is not
//! filled with copies. A reconnect does not resend at once: what reached the broker
//! waits in the peer's mailbox, and a receipt usually follows the login; what did
//! not is sent again when the timer fires, one timeout after the reconnect.
//!
//! Two kinds of envelope (`proto-spec/protocol.md` §7.1):
//! * **content** (text, assurance, revocation) extends the sender's hash chain with
//!   the next sequence number, is kept until acknowledged, and obliges a receipt;
//! * **control** (receipt, heartbeat) announces the sender's chain head (`seq`, `prev`)
//!   and acknowledgement without extending the chain. It is never stored or resent:
//!   the next one supersedes a lost one. Its `sent_at` strictly increases, so an old
//!   heartbeat cannot be replayed as a sign of life.
//!
//! A heartbeat is sent only while it would tell the peer something
//! ([`Channel::heartbeat_owed`]): a channel on which both sides have acknowledged
//! everything is silent, so idle channels cost nothing on the wire and an offline
//! peer's mailbox does not fill with heartbeats.

use std::collections::VecDeque;
use std::time::Duration;

use crate::body::Body;
use crate::channel_state::{ChannelState, Outstanding};
use crate::config::ChannelConfig;
use crate::digest::Digest;
use crate::envelope::{Ack, Envelope, RefusalCode, Refusals};
use crate::event::Event;
use crate::frame::HEADER_LEN;
use crate::identity::{PartyName, SigningIdentity};
use crate::mode::ChannelMode;
use crate::off_record::{self, ChannelKeys};
use crate::rejection::{ChainFault, Rejection};
use crate::seal::{
    SealError, seal_deniable, seal_off_record, seal_signed, seal_with_foreign_authenticator,
};
use crate::time::Timestamp;
use crate::verify::{Attestation, EnvelopeIn, PeerPolicy, VerifiedEnvelope};
use crate::version::ProtocolVersion;

/// What an off-record envelope is sealed with: its epoch's MAC key and what it reveals.
struct MacMaterial {
    key: off_record::Secret32,
    reveal: Option<(u64, off_record::Secret32)>,
}

/// What this party last told the peer in an envelope it sealed (not persisted: after a
/// restart the channel assumes it told nothing, which costs at most one heartbeat).
#[derive(Debug, Default, Clone, Copy)]
struct Told {
    /// The peer's sequence number this party last acknowledged.
    received: u64,
    /// Off-record: the newest epoch whose key it published.
    reveal: Option<u64>,
}

/// An Ed25519 signature's length, the signed-mode authenticator.
pub(crate) const SIGNATURE_LEN: usize = 64;

/// Where a frame's content starts: after the header and the content's u32 length.
const CONTENT_START: usize = HEADER_LEN + 4;

/// The most times the retransmission wait doubles: 2^3 = 8 acknowledgement timeouts.
const MAX_BACKOFF_DOUBLINGS: u32 = 3;

/// Why a message could not be sent. All of these are the local caller's problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// Too many envelopes await a receipt: the peer or the broker is not keeping up,
    /// or is silently dropping. Nothing was queued.
    #[error("{unacked} envelopes await a receipt (limit {limit}); nothing was sent")]
    Backpressure {
        /// How many await a receipt.
        unacked: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The channel's mode cannot be produced by this implementation.
    #[error("cannot send in {0}")]
    UnsupportedMode(ChannelMode),
    /// The signer is not this channel's local party.
    #[error("the signer {signer} is not this channel's party {me}")]
    WrongSigner {
        /// The signer's name.
        signer: String,
        /// The channel's local party.
        me: String,
    },
    /// Receipts and heartbeats are made by the channel, not sent by the caller.
    #[error("receipts and heartbeats are sent by the channel itself")]
    ControlBody,
    /// An assurance id outside the allowed characters (`protocol.md` §5.3).
    #[error("assurance id {0} is not 1 to 64 of A-Z a-z 0-9 . _ : - (nothing was sent)")]
    InvalidAssuranceId(String),
    /// The sequence space is used up (after 2^64 - 1 envelopes).
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    /// The envelope could not be sealed (for example: too large).
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// What [`Channel::poll_transmit`] put in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmitted {
    /// A content envelope sealed earlier (by a send, which recorded it), now going
    /// out for the first time or again.
    Content {
        /// Its sequence number.
        seq: u64,
    },
    /// A receipt or heartbeat sealed just now: a driver that keeps a transcript
    /// records it here, since no send did.
    Control,
}

/// An envelope the channel accepted: authentic as far as its mode allows, in
/// sequence, continuing the history, and within its validity.
#[derive(Clone, Debug)]
pub struct Accepted<'a> {
    /// Its fields.
    pub envelope: Envelope<'a>,
    /// On what grounds it is attributed to its sender.
    pub attestation: Attestation,
    /// Its chain digest.
    pub digest: Digest,
    /// The frame exactly as received (for the transcript).
    pub frame: &'a [u8],
}

/// One party's channel with one peer.
#[derive(Debug)]
pub struct Channel {
    me: PartyName,
    peer: PeerPolicy,
    config: ChannelConfig,
    state: ChannelState,
    /// Sequence numbers of outstanding envelopes to (re)transmit, in order.
    transmit: VecDeque<u64>,
    /// When to send every unacknowledged envelope again, if any is outstanding.
    retransmit_at: Option<Timestamp>,
    /// Retransmissions since the last progress (the wait doubles with each, up to
    /// [`MAX_BACKOFF_DOUBLINGS`]).
    retransmissions: u32,
    /// Content was accepted (or resent to us) that the peer has not been told about.
    receipt_owed: bool,
    heartbeat_due: bool,
    told: Told,
    events: VecDeque<Event>,
    /// Off-record mode: the pair's key chains, derived from the local identity key
    /// at first use (never persisted: they follow from the keys and the state).
    keys: Option<ChannelKeys>,
}

impl Channel {
    /// A fresh channel between `me` and the peer described by `peer`.
    pub fn new(me: PartyName, peer: PeerPolicy, config: ChannelConfig) -> Self {
        Self::restore(me, peer, config, ChannelState::default())
    }

    /// A channel continuing from a persisted `state`. Call
    /// [`Channel::on_reconnect`] once connected to send what is still unacknowledged.
    pub fn restore(
        me: PartyName,
        peer: PeerPolicy,
        config: ChannelConfig,
        state: ChannelState,
    ) -> Self {
        Channel {
            me,
            peer,
            config,
            state,
            transmit: VecDeque::new(),
            retransmit_at: None,
            retransmissions: 0,
            receipt_owed: false,
            heartbeat_due: false,
            told: Told::default(),
            events: VecDeque::new(),
            keys: None,
        }
    }

    /// The local party's name.
    pub fn me(&self) -> &PartyName {
        &self.me
    }

    /// What local policy pins for the peer.
    pub fn peer(&self) -> &PeerPolicy {
        &self.peer
    }

    /// The state that decides verdicts (persist this).
    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// Whether a receipt is owed to the peer.
    pub fn receipt_owed(&self) -> bool {
        self.receipt_owed
    }

    /// Seals content `body` as the next envelope of the chain, valid for `ttl`, and
    /// queues it for transmission. Returns its sequence number.
    ///
    /// Receipts and heartbeats are not sent this way: the channel makes them itself in
    /// [`Channel::poll_transmit`] when they are owed or due.
    pub fn send(
        &mut self,
        signer: &SigningIdentity,
        now: Timestamp,
        body: Body<'_>,
        ttl: Duration,
    ) -> Result<u64, SendError> {
        self.send_with(signer, now, body, ttl, false)
            .map(|(seq, _)| seq)
    }

    /// [`Channel::send`]; with `defer_signature` on a signed-mode channel the frame is
    /// queued with 64 zero bytes where the signature goes, and the second value is
    /// `true`: the caller must [`Channel::fill_signature`] before anything else reads
    /// the channel ([`Endpoint::send_batch`](crate::Endpoint::send_batch) does). The
    /// chain digest covers the content only, so it is final either way.
    pub(crate) fn send_with(
        &mut self,
        signer: &SigningIdentity,
        now: Timestamp,
        body: Body<'_>,
        ttl: Duration,
        defer_signature: bool,
    ) -> Result<(u64, bool), SendError> {
        if body.is_control() {
            return Err(SendError::ControlBody);
        }
        let id = match &body {
            Body::Assurance(a) => Some(&a.id),
            Body::Revocation(r) => Some(&r.assurance_id),
            _ => None,
        };
        if let Some(id) = id.filter(|id| !crate::text::is_valid_assurance_id(id)) {
            return Err(SendError::InvalidAssuranceId(crate::text::plain(id)));
        }
        if self.state.unacked.len() >= self.config.max_unacked {
            return Err(SendError::Backpressure {
                unacked: self.state.unacked.len(),
                limit: self.config.max_unacked,
            });
        }
        let seq = self
            .state
            .sent
            .seq
            .checked_add(1)
            .ok_or(SendError::SequenceExhausted)?;
        // A sender's chain never goes back in time, even if its clock does.
        let sent_at = now.max(self.state.last_sent_at);
        let mac = self.mac_material(signer, (seq - 1) / off_record::EPOCH_LEN)?;
        let env = self.envelope(seq, self.state.sent.head, sent_at, ttl, body);
        let mut frame = Vec::with_capacity(256);
        let deferred = defer_signature && self.peer.mode == ChannelMode::Signed;
        let digest = if deferred {
            self.check_signer(signer)?;
            seal_with_foreign_authenticator(&env, &[0; SIGNATURE_LEN], &mut frame)?
        } else {
            self.seal(&env, signer, mac.as_ref(), &mut frame)?
        };
        self.note_told(mac.as_ref());
        self.state.sent = Ack { seq, head: digest };
        self.state.last_sent_at = sent_at;
        self.state.unacked.push_back(Outstanding {
            seq,
            digest,
            sent_at,
            reported: false,
            frame,
        });
        self.transmit.push_back(seq);
        // This envelope carries the acknowledgement header, so no separate receipt
        // is needed for what was received so far.
        self.receipt_owed = false;
        self.heartbeat_due = false;
        Ok((seq, deferred))
    }

    /// The content of outstanding envelope `seq` as it is signed (between the frame's
    /// length prefix and its 64-byte signature), for a deferred signature.
    pub(crate) fn unsigned_content(&self, seq: u64) -> Option<&[u8]> {
        let frame = &self.state.outstanding(seq)?.frame;
        frame.get(CONTENT_START..frame.len().checked_sub(SIGNATURE_LEN)?)
    }

    /// Puts the signature of outstanding envelope `seq` in its frame (deferred by
    /// [`Channel::send_with`]).
    pub(crate) fn fill_signature(&mut self, seq: u64, signature: &[u8; SIGNATURE_LEN]) {
        if let Some(o) = self.state.outstanding_mut(seq)
            && let Some(at) = o.frame.len().checked_sub(SIGNATURE_LEN)
            && let Some(slot) = o.frame.get_mut(at..)
        {
            slot.copy_from_slice(signature);
        }
    }

    fn envelope<'b>(
        &'b self,
        seq: u64,
        prev: Digest,
        sent_at: Timestamp,
        ttl: Duration,
        body: Body<'b>,
    ) -> Envelope<'b> {
        Envelope {
            version: ProtocolVersion::CURRENT,
            mode: self.peer.mode,
            channel: self.peer.channel,
            sender: self.me.as_str().into(),
            recipient: self.peer.identity.name().as_str().into(),
            seq,
            prev,
            ack: self.state.received,
            refused: self.state.refusals,
            sent_at,
            expires_at: sent_at.saturating_add(ttl),
            body,
        }
    }

    fn check_signer(&self, signer: &SigningIdentity) -> Result<(), SendError> {
        if signer.name() != &self.me {
            return Err(SendError::WrongSigner {
                signer: signer.name().to_string(),
                me: self.me.to_string(),
            });
        }
        Ok(())
    }

    fn seal(
        &self,
        env: &Envelope<'_>,
        signer: &SigningIdentity,
        mac: Option<&MacMaterial>,
        out: &mut Vec<u8>,
    ) -> Result<Digest, SendError> {
        self.check_signer(signer)?;
        Ok(match (self.peer.mode, mac) {
            (ChannelMode::Signed, _) => seal_signed(env, signer, out)?,
            (ChannelMode::Deniable, _) => seal_deniable(env, out)?,
            (ChannelMode::OffRecord, Some(m)) => {
                seal_off_record(env, &m.key, m.reveal.as_ref().map(|(e, k)| (*e, k)), out)?
            }
            (other, _) => return Err(SendError::UnsupportedMode(other)),
        })
    }

    /// The pair's key chains, derived at first use from the local identity key.
    fn keys(&mut self, me: &SigningIdentity) -> Result<&mut ChannelKeys, Rejection> {
        let keys = match self.keys.take() {
            Some(k) => k,
            None => ChannelKeys::derive(
                me.signing_key(),
                self.me.as_str(),
                self.peer.identity.key(),
                self.peer.identity.name().as_str(),
                self.peer.channel,
                ProtocolVersion::CURRENT,
                self.state.acked.seq,
                self.state.received.seq,
            )?,
        };
        Ok(self.keys.insert(keys))
    }

    /// Off-record mode: the MAC key of `epoch` and the newest fully acknowledged epoch
    /// to reveal with its key (`protocol.md` §6.4); `None` in the other modes.
    fn mac_material(
        &mut self,
        signer: &SigningIdentity,
        epoch: u64,
    ) -> Result<Option<MacMaterial>, SendError> {
        if self.peer.mode != ChannelMode::OffRecord {
            return Ok(None);
        }
        if signer.name() != &self.me {
            return Err(SendError::WrongSigner {
                signer: signer.name().to_string(),
                me: self.me.to_string(),
            });
        }
        let revealable = off_record::revealable_epoch(self.state.acked.seq);
        let unsupported = |_| SendError::UnsupportedMode(ChannelMode::OffRecord);
        let keys = self.keys(signer).map_err(unsupported)?;
        let key = keys.send.key_moving(epoch).map_err(unsupported)?;
        // The sending chain keeps the last epochs' keys: a reveal usually needs no
        // derivation; the reveal chain walks only when acknowledgements lag further.
        let reveal = match revealable {
            Some(e) => match keys.send.kept_key(e) {
                Some(k) => Some((e, k.clone())),
                None => Some((e, keys.reveal.key_moving(e).map_err(unsupported)?)),
            },
            None => None,
        };
        Ok(Some(MacMaterial { key, reveal }))
    }

    /// Off-record mode: checks an envelope's tag with the key this party shares with
    /// the peer, and takes note of the key it reveals (`protocol.md` §6.4). Refuses
    /// what is under a revealed, stale or far-off epoch (a content envelope whose number
    /// was already accepted is a [`Rejection::Replay`] then, whoever made it), a bad tag
    /// ([`Rejection::BadMac`]) and a reveal that is not the channel's key
    /// ([`Rejection::BadReveal`]).
    pub fn authenticate_off_record(
        &mut self,
        me: &SigningIdentity,
        env: &EnvelopeIn<'_>,
    ) -> Result<Attestation, Rejection> {
        let fields = env.envelope();
        if fields.mode != ChannelMode::OffRecord || self.peer.mode != ChannelMode::OffRecord {
            return Err(Rejection::ModeMismatch {
                expected: self.peer.mode,
                got: fields.mode,
            });
        }
        let auth = off_record::OffRecordAuth::parse(env.authenticator())?;
        let epoch = off_record::epoch_of(fields);
        let fingerprint = self.peer.identity.fingerprint();
        let received = self.state.received.seq;
        let keys = self.keys(me)?;
        let (key, advance) = match keys.receive.look_up(epoch) {
            // A copy of a number already accepted, under a key since published: a
            // replay, whoever made it (it cannot be accepted either way).
            Err(Rejection::RevealedKey { .. } | Rejection::StaleEpoch { .. })
                if !fields.body.is_control() && fields.seq <= received =>
            {
                return Err(Rejection::Replay {
                    seq: fields.seq,
                    accepted: received,
                });
            }
            other => other?,
        };
        off_record::check_tag(fields, env.content(), &auth, &key)?;
        if let Some(a) = advance {
            keys.receive.advance(a);
        }
        if let Some((revealed, published)) = &auth.reveal {
            if *revealed >= epoch {
                return Err(Rejection::BadReveal { epoch: *revealed });
            }
            // An epoch older than the keys kept cannot be compared: its reveal is
            // ignored (the envelope itself authenticated).
            if let Some(expected) = keys.receive.kept_key(*revealed) {
                if expected != published {
                    return Err(Rejection::BadReveal { epoch: *revealed });
                }
                keys.receive.mark_revealed(*revealed);
            }
        }
        Ok(Attestation::Mac(fingerprint))
    }

    /// Decides whether a verified envelope from the peer fits this channel, in the
    /// order of `proto-spec/protocol.md` §7.2: sequence, chain link, acknowledgement,
    /// clock, order, expiry. On acceptance the state advances; on rejection it does
    /// not, except that an expired content envelope still moves the chain on
    /// ([`Rejection::Expired`]).
    pub fn handle_verified<'a>(
        &mut self,
        now: Timestamp,
        verified: VerifiedEnvelope<'a>,
    ) -> Result<Accepted<'a>, Rejection> {
        let attestation = verified.attestation();
        let digest = verified.digest();
        let frame = verified.frame();
        let env = verified.envelope();
        let control = env.body.is_control();
        let received = self.state.received;
        let expected = received.seq.saturating_add(1);
        // Where this envelope claims to stand in the peer's chain: its own position for
        // content, the announced head for control.
        let position = if control {
            expected.saturating_sub(1)
        } else {
            expected
        };
        if env.seq < position {
            if !control {
                // An authentic duplicate usually means the sender resent after losing
                // our receipt: owe it a fresh one. Acceptance state is unchanged.
                self.receipt_owed = true;
            }
            return Err(Rejection::Replay {
                seq: env.seq,
                accepted: received.seq,
            });
        }
        if env.seq > position {
            return Err(Rejection::Gap {
                expected,
                got: env.seq,
                announced: control,
            });
        }
        if env.prev != received.head {
            return Err(Rejection::ChainMismatch {
                seq: env.seq,
                fault: ChainFault::PrevMismatch,
            });
        }
        self.check_ack(env.seq, env.ack)?;
        if env.sent_at > now.saturating_add(self.config.max_clock_skew) {
            return Err(Rejection::FromTheFuture {
                sent_at: env.sent_at,
                now,
            });
        }
        if control && env.sent_at <= self.state.last_received_at {
            // Control envelopes carry strictly increasing times: this one is stale.
            return Err(Rejection::Replay {
                seq: env.seq,
                accepted: received.seq,
            });
        }
        if env.sent_at < self.state.last_received_at {
            return Err(Rejection::OutOfOrder {
                sent_at: env.sent_at,
                previous: self.state.last_received_at,
            });
        }
        let expired = now > env.expires_at;
        if expired && control {
            return Err(Rejection::Expired {
                expires_at: env.expires_at,
                now,
            });
        }
        let (seq, ack, sent_at, expires_at) = (env.seq, env.ack, env.sent_at, env.expires_at);
        let refused = env.refused;
        if !control {
            self.state.received = Ack { seq, head: digest };
            self.receipt_owed = true;
            if expired {
                // Said in every envelope from now on, so the sender never takes the
                // acknowledgement for delivery.
                self.state.note_refusal(seq, RefusalCode::Expired);
            }
        } else if matches!(env.body, Body::Heartbeat) && seq > 0 {
            // The peer heartbeats only while something is owed, and we hold its head:
            // most likely our receipt was lost, so answer with one (a receipt is never
            // answered, so this cannot ping-pong).
            self.receipt_owed = true;
        }
        self.state.last_received_at = sent_at;
        self.apply_ack(now, ack, &refused, attestation);
        if expired {
            // Authentic and in sequence: the chain moves on, so a delaying broker
            // cannot stall the channel, but the body is not delivered.
            return Err(Rejection::Expired { expires_at, now });
        }
        Ok(Accepted {
            envelope: verified.into_envelope(),
            attestation,
            digest,
            frame,
        })
    }

    /// Checks that the peer's acknowledgement of our chain is one we can stand behind:
    /// not beyond what we sent, not behind what it acknowledged before, and naming
    /// the digests we actually sent.
    fn check_ack(&self, seq: u64, ack: Ack) -> Result<(), Rejection> {
        let fault = if ack.seq > self.state.sent.seq {
            Some(ChainFault::AckBeyondSent {
                acked: ack.seq,
                sent: self.state.sent.seq,
            })
        } else if ack.seq < self.state.acked.seq {
            Some(ChainFault::AckRegressed {
                acked: ack.seq,
                known: self.state.acked.seq,
            })
        } else {
            let expected_head = if ack.seq == self.state.acked.seq {
                Some(self.state.acked.head)
            } else {
                self.state.outstanding(ack.seq).map(|o| o.digest)
            };
            (expected_head != Some(ack.head))
                .then_some(ChainFault::AckHeadMismatch { acked: ack.seq })
        };
        match fault {
            Some(fault) => Err(Rejection::ChainMismatch { seq, fault }),
            None => Ok(()),
        }
    }

    fn apply_ack(
        &mut self,
        now: Timestamp,
        ack: Ack,
        refused: &Refusals,
        attestation: Attestation,
    ) {
        let Some(news) = self.state.take_ack(ack, refused) else {
            return;
        };
        // Progress: give what is still outstanding a full timeout again.
        self.retransmissions = 0;
        self.retransmit_at =
            (!self.state.unacked.is_empty()).then(|| now.saturating_add(self.config.ack_timeout));
        self.events.push_back(Event::Acknowledged {
            up_to: news.up_to,
            attestation,
            refused: news.refused,
            unlisted: news.unlisted,
        });
    }

    /// Advances timers: reports envelopes whose receipt is overdue, queues every
    /// unacknowledged envelope again when the retransmission timer fires, and
    /// schedules a heartbeat when nothing was sent for the heartbeat interval.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let timeout = self.config.ack_timeout;
        for o in self.state.unacked.iter_mut() {
            if !o.reported && now >= o.sent_at.saturating_add(timeout) {
                o.reported = true;
                self.events.push_back(Event::Unacknowledged {
                    seq: o.seq,
                    sent_at: o.sent_at,
                });
            }
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.transmit = self.state.unacked.iter().map(|o| o.seq).collect();
            self.retransmissions = (self.retransmissions + 1).min(MAX_BACKOFF_DOUBLINGS);
            let wait = timeout.saturating_mul(1 << self.retransmissions);
            self.retransmit_at = (!self.state.unacked.is_empty()).then(|| now.saturating_add(wait));
        }
        if let Some(interval) = self.config.heartbeat_interval
            && now >= self.state.last_sent_at.saturating_add(interval)
            && self.heartbeat_owed()
        {
            self.heartbeat_due = true;
        }
    }

    /// Whether a heartbeat would tell the peer anything (`protocol.md` §5.3): the peer
    /// has not acknowledged this party's head (a withheld last envelope shows as a
    /// `Gap`), this party accepted content it has not acknowledged in any envelope
    /// since, or (off-record) an acknowledged epoch's key is still unpublished. A
    /// channel on which nothing is owed either way stays silent.
    pub fn heartbeat_owed(&self) -> bool {
        self.state.acked.seq < self.state.sent.seq
            || self.told.received < self.state.received.seq
            || (self.peer.mode == ChannelMode::OffRecord
                && off_record::revealable_epoch(self.state.acked.seq) > self.told.reveal)
    }

    /// Records what an envelope just sealed told the peer.
    fn note_told(&mut self, mac: Option<&MacMaterial>) {
        self.told.received = self.state.received.seq;
        if let Some((epoch, _)) = mac.and_then(|m| m.reveal.as_ref()) {
            self.told.reveal = self.told.reveal.max(Some(*epoch));
        }
    }

    /// The next time [`Channel::handle_timeout`] has something to do, if any.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let report = self
            .state
            .unacked
            .iter()
            .find(|o| !o.reported)
            .map(|o| o.sent_at.saturating_add(self.config.ack_timeout));
        let heartbeat = self
            .config
            .heartbeat_interval
            .filter(|_| self.heartbeat_owed())
            .map(|i| self.state.last_sent_at.saturating_add(i));
        [report, heartbeat, self.retransmit_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Appends the next frame to send to `out` and says what it is, or returns `None`
    /// when there is nothing to send.
    ///
    /// Queued content goes first; then a receipt if one is owed (a queued content
    /// envelope already carries the acknowledgement, so none is made while content
    /// is waiting), or a heartbeat if one is due.
    pub fn poll_transmit(
        &mut self,
        signer: &SigningIdentity,
        now: Timestamp,
        out: &mut Vec<u8>,
    ) -> Result<Option<Transmitted>, SendError> {
        while let Some(seq) = self.transmit.pop_front() {
            // Skipped if it was acknowledged while queued.
            if let Some(o) = self.state.outstanding(seq) {
                out.extend_from_slice(&o.frame);
                if self.retransmit_at.is_none() {
                    self.retransmit_at = Some(now.saturating_add(self.config.ack_timeout));
                }
                return Ok(Some(Transmitted::Content { seq }));
            }
        }
        let body = if self.receipt_owed {
            Body::Receipt
        } else if self.heartbeat_due && self.heartbeat_owed() {
            Body::Heartbeat
        } else {
            // A heartbeat that came due on a channel since settled is not owed.
            self.heartbeat_due = false;
            return Ok(None);
        };
        // Strictly later than anything sent before, so the peer can refuse a replayed
        // control envelope by its time alone.
        let sent_at = now.max(
            self.state
                .last_sent_at
                .saturating_add(Duration::from_millis(1)),
        );
        let mac = self.mac_material(signer, self.state.sent.seq / off_record::EPOCH_LEN)?;
        let env = self.envelope(
            self.state.sent.seq,
            self.state.sent.head,
            sent_at,
            self.config.control_ttl,
            body,
        );
        self.seal(&env, signer, mac.as_ref(), out)?;
        self.note_told(mac.as_ref());
        self.state.last_sent_at = sent_at;
        self.receipt_owed = false;
        self.heartbeat_due = false;
        Ok(Some(Transmitted::Control))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// After a reconnect: owes the peer a receipt if anything was ever received
    /// (neither side knows what the other saw last), and sends every unacknowledged
    /// envelope again one acknowledgement timeout from `now` unless a receipt covers
    /// it first. Not at once: the broker holds what reached it, and resending a
    /// backlog on every connection would fill an offline peer's mailbox with copies.
    /// Envelopes sealed but never transmitted still go out at once. The recipient
    /// drops exact duplicates as [`Rejection::Replay`].
    pub fn on_reconnect(&mut self, now: Timestamp) {
        self.receipt_owed = self.state.received.seq > 0;
        if !self.state.unacked.is_empty() {
            self.retransmit_at = Some(now.saturating_add(self.config.ack_timeout));
        }
    }

    /// After a restart: the envelopes in `seqs` (sealed since the last snapshot, so
    /// whether they were ever transmitted is not known) that are still unacknowledged
    /// go out at once, oldest first, ahead of anything sealed from now on; a copy the
    /// peer already has is dropped as [`Rejection::Replay`]. Without this an envelope
    /// journaled just before a crash would wait a whole acknowledgement timeout while
    /// the next one went out first and was refused as a `gap` (`protocol.md` §7.1).
    pub fn transmit_unknown(&mut self, seqs: &[u64]) {
        let mut due: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|seq| self.state.outstanding(*seq).is_some() && !self.transmit.contains(seq))
            .collect();
        due.sort_unstable();
        due.dedup();
        for seq in due.into_iter().rev() {
            self.transmit.push_front(seq);
        }
    }

    /// How far ahead of `now` this party's last envelope is dated, if it is further
    /// than the skew a peer tolerates: this party's clock jumped ahead and back, and
    /// since a chain never goes back in time, its peers refuse what it sends
    /// ([`Rejection::FromTheFuture`]) until `now` catches up.
    pub fn clock_ahead(&self, now: Timestamp) -> Option<Duration> {
        let limit = now.saturating_add(self.config.max_clock_skew);
        (self.state.last_sent_at > limit).then(|| self.state.last_sent_at.saturating_since(now))
    }
}
