//! The driver loop: moves frames between the broker connection and the core.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backchannel_proto::node::{NodeFrame, parse_node_frame};
use backchannel_proto::transcript::{Direction, RecordedVerdict};
use backchannel_proto::{Body, Channel, Endpoint, EndpointSendError, EnvelopeIn, Event, Timestamp};
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::activity::{Activity, Control, Received};
use crate::config::PartySettings;
use crate::connection::{ConnectError, Connection, connect};
use crate::state_file::{self, StateFileError};
use crate::transcript_file::{TranscriptFile, TranscriptFileError};

/// The current time as the core wants it.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

/// Why the party stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    /// The transcript could not be written.
    #[error(transparent)]
    Transcript(#[from] TranscriptFileError),
    /// The state could not be saved or loaded.
    #[error(transparent)]
    State(#[from] StateFileError),
    /// The broker refused us for a reason that retrying will not fix.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Sending was refused by the core.
    #[error(transparent)]
    Send(#[from] EndpointSendError),
    /// A saved channel belongs to a peer that is no longer configured.
    #[error("the state file has a channel with {0:?}, who is not a configured peer")]
    UnknownSavedPeer(String),
}

/// Most frames handled as one batch (one receipt, one transcript flush).
const BATCH: usize = 256;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A party node: its protocol state, its files, and (while running) its connection.
pub struct Party {
    settings: PartySettings,
    endpoint: Endpoint,
    transcript: TranscriptFile,
    conn: Option<Connection>,
    backoff: Duration,
    dirty: bool,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("me", self.settings.me.name())
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Party {
    /// Opens the party's transcript and restores its channel state from disk.
    pub fn open(settings: PartySettings) -> Result<Self, PartyError> {
        let transcript = TranscriptFile::open(&settings.transcript, settings.me.name())?;
        let saved = state_file::load(&settings.state)?;
        for (peer, _) in &saved {
            if !settings
                .peers
                .iter()
                .any(|p| p.identity.name().as_str() == peer)
            {
                return Err(PartyError::UnknownSavedPeer(peer.clone()));
            }
        }
        let channels = settings
            .peers
            .iter()
            .map(|policy| {
                let state = saved
                    .iter()
                    .find(|(peer, _)| peer == policy.identity.name().as_str())
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                Channel::restore(
                    settings.me.name().clone(),
                    policy.clone(),
                    settings.channel.clone(),
                    state,
                )
            })
            .collect();
        let endpoint = Endpoint::with_channels(settings.me.clone(), channels);
        Ok(Party {
            settings,
            endpoint,
            transcript,
            conn: None,
            backoff: MIN_BACKOFF,
            dirty: false,
        })
    }

    /// The protocol state (for inspection).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Seals a message to `peer`; it is saved to disk (state and transcript) before
    /// this returns, and transmitted by [`Party::run_until`]. Returns its sequence
    /// number.
    pub fn send(&mut self, peer: &str, body: Body<'_>, ttl: Duration) -> Result<u64, PartyError> {
        let at = now();
        let seq = self.endpoint.send(at, peer, body, ttl)?;
        self.save_state()?;
        if let Some(frame) = self
            .endpoint
            .channel(peer)
            .and_then(|c| c.state().outstanding(seq))
            .map(|o| o.frame.clone())
        {
            self.transcript
                .record(Direction::Sent, at, RecordedVerdict::Sent, "", &frame);
        }
        self.transcript.sync()?;
        Ok(seq)
    }

    fn save_state(&mut self) -> Result<(), PartyError> {
        let channels: Vec<(&str, &backchannel_proto::ChannelState)> = self
            .endpoint
            .channels()
            .iter()
            .map(|c| (c.peer().identity.name().as_str(), c.state()))
            .collect();
        state_file::save(&self.settings.state, &channels)?;
        self.dirty = false;
        Ok(())
    }

    /// Runs the party until `deadline` or until `on` returns [`Control::Stop`]:
    /// connects (and reconnects with backoff), sends what is queued, receives and
    /// verifies, acknowledges, and reports each [`Activity`] to `on`. Whatever is owed
    /// (receipts) is sent before it returns. Returns `true` if stopped by `on`.
    pub async fn run_until(
        &mut self,
        deadline: Instant,
        mut on: impl FnMut(&Activity) -> Control,
    ) -> Result<bool, PartyError> {
        let mut stop = false;
        let mut frames: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
        loop {
            if self.conn.is_none() {
                match self.reconnect(deadline, &mut on).await? {
                    Some(c) => self.conn = Some(c),
                    None => {
                        self.persist()?;
                        return Ok(stop);
                    }
                }
            }
            if let Err(reason) = self.flush().await {
                self.disconnect(reason, &mut on);
                continue;
            }
            self.persist()?;
            if stop {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let wake = self
                .endpoint
                .poll_timeout()
                .map(|t| Instant::now() + t.saturating_since(now()))
                .map_or(deadline, |t| t.min(deadline));
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            frames.clear();
            let read = tokio::select! {
                r = conn.reader.read_batch(&mut frames, BATCH) => Some(r),
                _ = tokio::time::sleep_until(wake) => None,
            };
            match read {
                None => self.endpoint.handle_timeout(now()),
                Some(Ok(true)) => {
                    for frame in &frames {
                        if self.handle_frame(frame, &mut on) == Control::Stop {
                            stop = true;
                        }
                    }
                    self.endpoint.handle_timeout(now());
                }
                Some(Ok(false)) => {
                    self.disconnect("the broker closed the connection".into(), &mut on);
                }
                Some(Err(e)) => self.disconnect(e.to_string(), &mut on),
            }
            while let Some((peer, event)) = self.endpoint.poll_event() {
                let activity = match event {
                    Event::Delivered { up_to, attestation } => Activity::Delivered {
                        peer: peer.to_string(),
                        up_to,
                        attestation,
                    },
                    Event::Unacknowledged { seq, .. } => Activity::Unacknowledged {
                        peer: peer.to_string(),
                        seq,
                    },
                };
                if on(&activity) == Control::Stop {
                    stop = true;
                }
            }
        }
    }

    fn handle_frame(&mut self, frame: &[u8], on: &mut impl FnMut(&Activity) -> Control) -> Control {
        let at = now();
        match parse_node_frame(frame) {
            Ok(NodeFrame::Envelope(_)) => {}
            Ok(NodeFrame::Notice(n)) => return on(&Activity::Notice(n)),
            Ok(_) => return Control::Continue,
            Err(e) => {
                tracing::warn!("unreadable frame from the broker: {e}");
            }
        }
        self.dirty = true;
        let verdict = self.endpoint.handle_frame(at, frame);
        let (recorded, reason) = match &verdict {
            Ok(_) => (RecordedVerdict::Accepted, String::new()),
            Err(why) => (RecordedVerdict::Rejected, format!("{}: {why}", why.code())),
        };
        self.transcript
            .record(Direction::Received, at, recorded, &reason, frame);
        let received = Received {
            envelope: EnvelopeIn::decode(frame)
                .ok()
                .map(|e| e.envelope().clone().into_owned()),
            verdict: verdict.map(|a| a.attestation),
        };
        on(&Activity::Received(Box::new(received)))
    }

    /// Sends everything the core has to send, recording receipts and heartbeats in the
    /// transcript (content envelopes were recorded when sealed).
    async fn flush(&mut self) -> Result<(), String> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let mut out = Vec::with_capacity(512);
        loop {
            out.clear();
            let at = now();
            match self.endpoint.poll_transmit(at, &mut out) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("could not seal a receipt or heartbeat: {e}");
                    break;
                }
            }
            if EnvelopeIn::decode(&out).is_ok_and(|e| e.envelope().body.is_control()) {
                self.transcript
                    .record(Direction::Sent, at, RecordedVerdict::Sent, "", &out);
                self.dirty = true;
            }
            conn.writer
                .write_all(&out)
                .await
                .map_err(|e| e.to_string())?;
        }
        conn.writer.flush().await.map_err(|e| e.to_string())
    }

    /// Closes the connection cleanly (TLS close_notify), after sending what is owed.
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.persist();
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.writer.shutdown().await;
        }
    }

    fn persist(&mut self) -> Result<(), PartyError> {
        self.transcript.sync()?;
        if self.dirty {
            self.save_state()?;
        }
        Ok(())
    }

    fn disconnect(&mut self, reason: String, on: &mut impl FnMut(&Activity) -> Control) {
        self.conn = None;
        tracing::info!("disconnected: {reason}");
        let _ = on(&Activity::Disconnected { reason });
    }

    /// Connects with exponential backoff until `deadline`; `None` if the deadline
    /// passed first. A refusal that retrying cannot fix is an error.
    async fn reconnect(
        &mut self,
        deadline: Instant,
        on: &mut impl FnMut(&Activity) -> Control,
    ) -> Result<Option<Connection>, PartyError> {
        loop {
            match connect(&self.settings).await {
                Ok(conn) => {
                    self.backoff = MIN_BACKOFF;
                    self.endpoint.on_reconnect();
                    let _ = on(&Activity::Connected {
                        queued: conn.queued,
                    });
                    return Ok(Some(conn));
                }
                Err(e) if e.is_transient() => {
                    let _ = on(&Activity::Disconnected {
                        reason: e.to_string(),
                    });
                    let wake = Instant::now() + self.backoff;
                    if wake >= deadline {
                        return Ok(None);
                    }
                    tokio::time::sleep_until(wake).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
