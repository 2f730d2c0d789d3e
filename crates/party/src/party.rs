//! The driver loop: moves frames between the broker connection and the core.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backchannel_proto::journal::{self, ReplayError};
use backchannel_proto::node::{DISPLACED, NodeFrame, parse_node_frame};
use backchannel_proto::rejection_log::{self, RejectionLog};
use backchannel_proto::transcript::{Direction, RecordedVerdict, parse_records};
use backchannel_proto::{
    Body, Channel, ChannelState, Endpoint, EndpointSendError, EnvelopeIn, Event, Rejection,
    Timestamp, Transmitted,
};
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::activity::{Activity, Control, Received};
use crate::config::PartySettings;
use crate::connection::{ConnectError, Connection, connect};
use crate::crash::CrashPoints;
use crate::lock::{LockError, PartyLock};
use crate::signing::sign_on_every_core;
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
    /// Another process owns this party.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The transcript could not be written.
    #[error(transparent)]
    Transcript(#[from] TranscriptFileError),
    /// The state could not be saved or loaded.
    #[error(transparent)]
    State(#[from] StateFileError),
    /// The transcript does not fit the snapshot or contradicts itself.
    #[error("{path}: cannot rebuild the channel state: {source}")]
    Replay {
        /// The transcript.
        path: std::path::PathBuf,
        /// What does not fit.
        source: ReplayError,
    },
    /// The broker refused us for a reason that retrying will not fix.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Sending was refused by the core.
    #[error(transparent)]
    Send(#[from] EndpointSendError),
    /// A saved channel belongs to a peer that is no longer configured.
    #[error("the state file has a channel with {0:?}, who is not a configured peer")]
    UnknownSavedPeer(String),
    /// An earlier write failed, so what is in memory may not be on disk: this party
    /// must be opened again (which rebuilds the state from what is on disk).
    #[error("an earlier write to the party's files failed; open the party again")]
    Failed,
}

/// Most frames handled as one batch (one receipt, one transcript flush).
const BATCH: usize = 256;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// After another login of this party displaced us: wait this long before trying
/// again (doubling up to [`MAX_DISPLACED_BACKOFF`]), so two holders of one key do not
/// take turns a thousand times a second.
const DISPLACED_BACKOFF: Duration = Duration::from_secs(5);
const MAX_DISPLACED_BACKOFF: Duration = Duration::from_secs(60);
/// A snapshot is saved after this many transcript records (and on close), so a
/// restart replays at most about this many.
const SNAPSHOT_EVERY: usize = 4096;

/// Why [`Party::run_until_interrupted`] returned.
#[derive(Debug)]
pub enum RunEnd<T> {
    /// `on` returned [`Control::Stop`].
    Stopped,
    /// The deadline passed.
    Deadline,
    /// The interrupt completed, with this output.
    Interrupted(T),
}

/// One message to send with [`Party::send_many`].
#[derive(Clone, Debug)]
pub struct Outgoing<'a> {
    /// The recipient.
    pub to: String,
    /// What to say.
    pub body: Body<'a>,
    /// How long it stays deliverable.
    pub ttl: Duration,
}

/// A party node: its protocol state, its files, and (while running) its connection.
///
/// It holds the party's lock for its whole life, so no other process can write the
/// party's state while it exists. Its files follow one rule (`proto-spec/nodes.md`
/// §4): every record is on disk before anything that depends on it leaves the
/// process, whether a frame to the broker or a report to the user.
pub struct Party {
    settings: PartySettings,
    endpoint: Endpoint,
    transcript: TranscriptFile,
    /// What this run kept of the envelopes it rejected (a budget per source).
    rejections: RejectionLog,
    _lock: PartyLock,
    conn: Option<Connection>,
    /// A connection attempt in flight, kept across interruptions (a node's request
    /// arriving while it connects): an attempt abandoned after the broker read its
    /// login would leave the broker a second session for this party, which could
    /// then displace the live one ("logged in again elsewhere").
    connecting: Option<tokio::task::JoinHandle<Result<Connection, ConnectError>>>,
    backoff: Duration,
    /// When not to reconnect before (after being displaced by another login).
    not_before: Option<Instant>,
    displaced_backoff: Duration,
    /// Records written since the last snapshot.
    since_snapshot: usize,
    snapshot_every: usize,
    /// Reports held back until what they report is on disk.
    held: Vec<Activity>,
    crash: CrashPoints,
    failed: bool,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("me", self.settings.me.name())
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

/// The snapshot to start from, or none: the transcript is the journal, so a snapshot
/// that is damaged (its checksum or contents), of an older format, or ahead of the
/// transcript is not trusted; the state is rebuilt from the whole transcript instead,
/// and the user is told once.
fn usable_snapshot(
    settings: &PartySettings,
) -> Result<Option<backchannel_proto::persist::Snapshot>, PartyError> {
    let snapshot = match state_file::load(&settings.state) {
        Ok(s) => s,
        Err(StateFileError::Invalid { path, source }) => {
            tracing::warn!(
                "{}: {source}; rebuilding the channel state from the transcript {}",
                path.display(),
                settings.transcript.display()
            );
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    let transcript_len = std::fs::metadata(&settings.transcript).map_or(0, |m| m.len());
    if snapshot.covers > transcript_len {
        tracing::warn!(
            "{}: it covers {} bytes of a transcript of {transcript_len}; rebuilding the channel state from the transcript {}",
            settings.state.display(),
            snapshot.covers,
            settings.transcript.display()
        );
        return Ok(None);
    }
    Ok(Some(snapshot))
}

impl Drop for Party {
    /// An attempt to connect that is still in flight ends with the party: nobody would
    /// take up its session.
    fn drop(&mut self) {
        if let Some(attempt) = self.connecting.take() {
            attempt.abort();
        }
    }
}

impl Party {
    /// Takes the party's lock, opens its transcript and rebuilds its channel state:
    /// the last snapshot, plus the transcript records written after it.
    pub fn open(settings: PartySettings) -> Result<Self, PartyError> {
        Self::open_with(settings, CrashPoints::default())
    }

    /// [`Party::open`] with crash points armed by a test.
    #[cfg(feature = "test-utils")]
    pub fn open_with_crash_points_for_testing_only(
        settings: PartySettings,
        crash: CrashPoints,
    ) -> Result<Self, PartyError> {
        Self::open_with(settings, crash)
    }

    fn open_with(settings: PartySettings, crash: CrashPoints) -> Result<Self, PartyError> {
        let me = settings.me.name().clone();
        let lock = PartyLock::acquire(&PartyLock::path_for(&settings.state), me.as_str())?;
        let (saved, replay_from) = match usable_snapshot(&settings)? {
            Some(s) => (s.channels, s.covers),
            None => (Vec::new(), 0),
        };
        for (peer, _) in &saved {
            if !settings
                .peers
                .iter()
                .any(|p| p.identity.name().as_str() == peer)
            {
                return Err(PartyError::UnknownSavedPeer(peer.clone()));
            }
        }
        let (transcript, tail) =
            TranscriptFile::open(&settings.transcript, &me, Some(replay_from), crash.clone())?;
        let mut states: Vec<(String, ChannelState)> = settings
            .peers
            .iter()
            .map(|policy| {
                let name = policy.identity.name().as_str();
                let state = saved
                    .iter()
                    .find(|(peer, _)| peer == name)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                (name.to_owned(), state)
            })
            .collect();
        let (entries, _) = parse_records(&tail, 0);
        let since_snapshot = entries.len();
        // Sealed after the snapshot: whether each was transmitted before the process
        // ended is not known, so what is still unacknowledged goes out at once.
        let unknown: Vec<(String, u64)> = entries
            .iter()
            .filter(|e| e.direction == Direction::Sent)
            .filter_map(|e| EnvelopeIn::decode(e.frame).ok())
            .filter(|e| !e.envelope().body.is_control())
            .map(|e| (e.envelope().recipient.to_string(), e.envelope().seq))
            .collect();
        journal::replay(me.as_str(), &mut states, entries).map_err(|source| {
            PartyError::Replay {
                path: settings.transcript.clone(),
                source,
            }
        })?;
        let channels = settings
            .peers
            .iter()
            .zip(states)
            .map(|(policy, (_, state))| {
                let peer = policy.identity.name().as_str().to_owned();
                let mut channel =
                    Channel::restore(me.clone(), policy.clone(), settings.channel.clone(), state);
                let seqs: Vec<u64> = unknown
                    .iter()
                    .filter(|(to, _)| *to == peer)
                    .map(|(_, seq)| *seq)
                    .collect();
                channel.transmit_unknown(&seqs);
                channel
            })
            .collect();
        let endpoint = Endpoint::with_channels(settings.me.clone(), channels);
        Ok(Party {
            settings,
            endpoint,
            transcript,
            rejections: RejectionLog::new(),
            _lock: lock,
            conn: None,
            connecting: None,
            backoff: MIN_BACKOFF,
            not_before: None,
            displaced_backoff: DISPLACED_BACKOFF,
            since_snapshot,
            snapshot_every: SNAPSHOT_EVERY,
            held: Vec::new(),
            crash,
            failed: false,
        })
    }

    /// The transcript file this party appends to (readers may read it meanwhile).
    pub fn transcript_path(&self) -> &std::path::Path {
        &self.settings.transcript
    }

    /// The protocol state (for inspection).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The party's name.
    pub fn name(&self) -> &str {
        self.settings.me.name().as_str()
    }

    /// Seals a message to `peer`; it is on disk (in the transcript) before this
    /// returns, and transmitted by [`Party::run_until`]. Returns its sequence number.
    pub fn send(&mut self, peer: &str, body: Body<'_>, ttl: Duration) -> Result<u64, PartyError> {
        let mut results = self.send_many(vec![Outgoing {
            to: peer.to_owned(),
            body,
            ttl,
        }])?;
        results
            .pop()
            .unwrap_or(Err(EndpointSendError::UnknownPeer(
                backchannel_proto::UnknownPeer(peer.to_owned()),
            )))
            .map_err(PartyError::from)
    }

    /// Seals every message in `batch`, in order, and puts them all on disk with one
    /// fsync (group commit) before returning. Each message gets its own result: one
    /// refused by the core (unknown peer, too many unacknowledged, too large) does not
    /// stop the others. The outer error means nothing in this batch may be assumed
    /// saved, and the party must be opened again. Signed-mode signatures of a batch of
    /// 16 or more are made on every core (`proto-spec/nodes.md` §4.3).
    pub fn send_many(
        &mut self,
        batch: Vec<Outgoing<'_>>,
    ) -> Result<Vec<Result<u64, EndpointSendError>>, PartyError> {
        self.check_usable()?;
        let at = now();
        let peers: Vec<String> = batch.iter().map(|item| item.to.clone()).collect();
        let results = self.endpoint.send_batch(
            at,
            batch
                .into_iter()
                .zip(&peers)
                .map(|(item, to)| (to.as_str(), item.body, item.ttl)),
            sign_on_every_core,
        );
        for (to, result) in peers.iter().zip(&results) {
            if let Ok(seq) = result
                && let Some(o) = self
                    .endpoint
                    .channel(to)
                    .and_then(|c| c.state().outstanding(*seq))
            {
                self.transcript
                    .record(Direction::Sent, at, RecordedVerdict::Sent, "", &o.frame);
            }
        }
        self.persist()?;
        for (peer, ahead) in self.endpoint.clock_ahead(at) {
            self.held.push(Activity::ClockAhead {
                peer: peer.to_string(),
                ahead,
            });
        }
        Ok(results)
    }

    fn check_usable(&self) -> Result<(), PartyError> {
        if self.failed {
            Err(PartyError::Failed)
        } else {
            Ok(())
        }
    }

    /// Puts every queued transcript record on disk (one fsync), and saves a snapshot
    /// when enough records have accumulated. Any failure makes the party unusable:
    /// its memory may now be ahead of its disk.
    fn persist(&mut self) -> Result<(), PartyError> {
        self.check_usable()?;
        let result = self.persist_inner();
        if result.is_err() {
            self.failed = true;
            self.conn = None;
        }
        result
    }

    /// The first half of [`Party::persist`]: the queued records, with one fsync.
    fn sync_transcript(&mut self) -> Result<(), PartyError> {
        self.check_usable()?;
        match self.transcript.sync() {
            Ok(n) => {
                self.since_snapshot += n;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                self.conn = None;
                Err(e.into())
            }
        }
    }

    fn persist_inner(&mut self) -> Result<(), PartyError> {
        self.since_snapshot += self.transcript.sync()?;
        if self.since_snapshot >= self.snapshot_every {
            self.snapshot_if_possible()?;
        }
        Ok(())
    }

    /// Saves a snapshot; a failure to do so loses nothing (the transcript holds every
    /// record since the last one), so it is a warning, and a later batch tries again.
    fn snapshot_if_possible(&mut self) -> Result<(), PartyError> {
        match self.save_snapshot() {
            Err(PartyError::State(StateFileError::Crashed(crash))) => {
                Err(PartyError::State(StateFileError::Crashed(crash)))
            }
            Err(e) => {
                tracing::warn!(
                    "could not save a snapshot (nothing is lost: the transcript has it): {e}"
                );
                self.since_snapshot = self.snapshot_every / 2;
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Saves a snapshot after every `records` transcript records (default 4096), so
    /// a restart replays at most about that many. Fewer means faster restarts and
    /// more snapshot writes (three fsyncs each).
    pub fn set_snapshot_interval(&mut self, records: usize) {
        self.snapshot_every = records.max(1);
    }

    /// Saves the channel states as of the transcript's durable length. Only called
    /// with nothing queued, so the states are exactly what the transcript gives.
    fn save_snapshot(&mut self) -> Result<(), PartyError> {
        let channels: Vec<(&str, &ChannelState)> = self
            .endpoint
            .channels()
            .iter()
            .map(|c| (c.peer().identity.name().as_str(), c.state()))
            .collect();
        state_file::save(
            &self.settings.state,
            self.transcript.durable_len(),
            &channels,
            &self.crash,
        )?;
        self.since_snapshot = 0;
        Ok(())
    }

    /// Runs the party until `deadline` or until `on` returns [`Control::Stop`]:
    /// connects (and reconnects with backoff), sends what is queued, receives and
    /// verifies, acknowledges, and reports each [`Activity`] to `on`. Whatever is owed
    /// (receipts) is sent before it returns. Returns `true` if stopped by `on`.
    ///
    /// Each batch of frames read is handled in this order: verdicts recorded in the
    /// transcript, one fsync, then the reports to `on`, then the receipts out. So
    /// nothing is shown to the user or acknowledged to the peer before it is on disk.
    ///
    /// A deadline that has already passed (or passes while what is owed is written)
    /// still takes one batch of what has already arrived, without waiting: a caller
    /// that runs with short deadlines (a sender keeping a schedule, whose own fsync
    /// outlasts the gap) would otherwise never read its receipts.
    pub async fn run_until(
        &mut self,
        deadline: Instant,
        on: impl FnMut(&Activity) -> Control,
    ) -> Result<bool, PartyError> {
        let never = std::future::pending::<()>();
        Ok(matches!(
            self.run_until_interrupted(deadline, never, on).await?,
            RunEnd::Stopped
        ))
    }

    /// [`Party::run_until`], which also returns as soon as `interrupt` completes
    /// (after putting on disk and sending what is owed), with its output. A long-running
    /// node passes "the next request from a local client" here, handles it (for
    /// example with [`Party::send_many`]) and calls this again. The connection is
    /// kept between calls.
    pub async fn run_until_interrupted<T>(
        &mut self,
        deadline: Instant,
        interrupt: impl std::future::Future<Output = T>,
        mut on: impl FnMut(&Activity) -> Control,
    ) -> Result<RunEnd<T>, PartyError> {
        self.check_usable()?;
        let mut interrupt = std::pin::pin!(interrupt);
        let mut interrupted = None;
        let mut stop = false;
        let mut late_read_done = false;
        let mut frames: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
        loop {
            // What was read is on disk before the user hears of it; the user hears of
            // it before a snapshot could fail (a crash there must not leave a message
            // on disk that nobody was shown).
            self.sync_transcript()?;
            for activity in std::mem::take(&mut self.held) {
                if on(&activity) == Control::Stop {
                    stop = true;
                }
            }
            self.persist()?;
            if self.conn.is_none() && !stop && interrupted.is_none() {
                let reconnected = tokio::select! {
                    r = self.reconnect(deadline, &mut on) => Some(r?),
                    t = &mut interrupt => {
                        interrupted = Some(t);
                        None
                    }
                };
                match reconnected {
                    Some(Some(c)) => self.conn = Some(c),
                    Some(None) => return Ok(RunEnd::Deadline),
                    None => {}
                }
            }
            if let Err(reason) = self.flush().await? {
                self.disconnect(reason);
                continue;
            }
            if stop {
                return Ok(RunEnd::Stopped);
            }
            if let Some(t) = interrupted {
                return Ok(RunEnd::Interrupted(t));
            }
            if Instant::now() >= deadline {
                if late_read_done || self.conn.is_none() {
                    return Ok(RunEnd::Deadline);
                }
                // Past the deadline: take what already arrived (the read is polled
                // before the timer, which has fired), then return.
                late_read_done = true;
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
            // In this order: a request, then what arrived, then the timer (so a timer
            // that is already due, or a passed deadline, does not starve the reads).
            let read = tokio::select! {
                biased;
                t = &mut interrupt => {
                    interrupted = Some(t);
                    continue;
                }
                r = conn.reader.read_batch(&mut frames, BATCH) => Some(r),
                _ = tokio::time::sleep_until(wake) => None,
            };
            match read {
                None => self.endpoint.handle_timeout(now()),
                Some(Ok(true)) => {
                    self.handle_frames(&frames);
                    self.endpoint.handle_timeout(now());
                }
                Some(Ok(false)) => self.disconnect("the broker closed the connection".into()),
                Some(Err(e)) => self.disconnect(e.to_string()),
            }
            while let Some((peer, event)) = self.endpoint.poll_event() {
                self.held.push(match event {
                    Event::Acknowledged {
                        up_to,
                        attestation,
                        refused,
                        unlisted,
                    } => Activity::Acknowledged {
                        peer: peer.to_string(),
                        up_to,
                        attestation,
                        refused,
                        unlisted,
                    },
                    Event::Unacknowledged { seq, .. } => Activity::Unacknowledged {
                        peer: peer.to_string(),
                        seq,
                    },
                });
            }
        }
    }

    /// One read's frames: notices are reported, envelopes judged by the core in one
    /// batch (one batch signature verification), each verdict recorded in the
    /// transcript and held for the user until it is on disk.
    fn handle_frames(&mut self, frames: &[Vec<u8>]) {
        let at = now();
        let mut envelopes: Vec<&[u8]> = Vec::with_capacity(frames.len());
        for frame in frames {
            match parse_node_frame(frame) {
                Ok(NodeFrame::Notice(n)) if n.code == DISPLACED => self.displaced(),
                Ok(NodeFrame::Notice(n)) => self.held.push(Activity::Notice(n)),
                Ok(NodeFrame::Envelope(_)) => envelopes.push(frame),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("unreadable frame from the broker: {e}");
                    envelopes.push(frame);
                }
            }
        }
        let verdicts = self.endpoint.handle_frames(at, &envelopes);
        for (frame, verdict) in envelopes.iter().zip(verdicts) {
            match &verdict {
                Ok(_) => self.transcript.record(
                    Direction::Received,
                    at,
                    RecordedVerdict::Accepted,
                    "",
                    frame,
                ),
                Err(why) => {
                    // Kept in full within the budget; an expiry always (it moves
                    // the channel, and restart replays it).
                    let sender = EnvelopeIn::decode(frame)
                        .map(|e| e.envelope().sender.to_string())
                        .unwrap_or_else(|_| rejection_log::UNDECODABLE.to_owned());
                    if self.rejections.keep(&sender, why.code())
                        || matches!(why, Rejection::Expired { .. })
                    {
                        let reason = format!("{}: {why}", why.code());
                        self.transcript.record(
                            Direction::Received,
                            at,
                            RecordedVerdict::Rejected,
                            &reason,
                            frame,
                        );
                    }
                }
            }
            let received = match verdict {
                Ok(accepted) => Received {
                    envelope: Some(accepted.envelope.into_owned()),
                    verdict: Ok(accepted.attestation),
                },
                Err(why) => Received {
                    envelope: EnvelopeIn::decode(frame)
                        .ok()
                        .map(|e| e.envelope().clone().into_owned()),
                    verdict: Err(why),
                },
            };
            self.held.push(Activity::Received(Box::new(received)));
        }
        // One summary record per source whose rejections were counted, not kept.
        for omitted in self.rejections.take_summaries() {
            self.transcript.record(
                Direction::Received,
                at,
                RecordedVerdict::Rejected,
                &omitted.reason(),
                &[],
            );
        }
    }

    /// Another login of this party took over at the broker: stop using this
    /// connection and wait before logging in again.
    fn displaced(&mut self) {
        self.not_before = Some(Instant::now() + self.displaced_backoff);
        let reason = format!(
            "logged in again elsewhere (another process or host uses {}'s key); retrying in {} s",
            self.name(),
            self.displaced_backoff.as_secs()
        );
        self.displaced_backoff = (self.displaced_backoff * 2).min(MAX_DISPLACED_BACKOFF);
        self.disconnect(reason);
    }

    /// Sends everything the core has to send, recording receipts and heartbeats in the
    /// transcript (content envelopes were recorded when sealed). The outer error is a
    /// crash; the inner one a connection failure.
    async fn flush(&mut self) -> Result<Result<(), String>, PartyError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Ok(()));
        };
        let mut out = Vec::with_capacity(512);
        let mut any = false;
        loop {
            out.clear();
            let at = now();
            let what = match self.endpoint.poll_transmit(at, &mut out) {
                Ok(Some((_, what))) => what,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("could not seal a receipt or heartbeat: {e}");
                    break;
                }
            };
            if !any {
                if let Err(crash) = self.crash.check("transmit") {
                    self.failed = true;
                    return Err(PartyError::Transcript(crash.into()));
                }
                any = true;
            }
            if what == Transmitted::Control {
                // Its only effect on the state is the last sent time, which never
                // goes backwards anyway: it is synced with the next batch.
                self.transcript
                    .record(Direction::Sent, at, RecordedVerdict::Sent, "", &out);
            }
            if let Err(e) = conn.writer.write_all(&out).await {
                return Ok(Err(e.to_string()));
            }
        }
        Ok(conn.writer.flush().await.map_err(|e| e.to_string()))
    }

    /// Closes the connection cleanly (TLS close_notify), after sending what is owed,
    /// and saves a snapshot so the next start replays nothing.
    pub async fn close(&mut self) {
        if let Some(attempt) = self.connecting.take() {
            attempt.abort();
        }
        if self.failed {
            self.conn = None;
            return;
        }
        if self.persist().is_ok()
            && self.flush().await.is_ok()
            && self.persist().is_ok()
            && self.since_snapshot > 0
            && self.snapshot_if_possible().is_err()
        {
            self.failed = true;
        }
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.writer.shutdown().await;
        }
    }

    fn disconnect(&mut self, reason: String) {
        self.conn = None;
        tracing::info!("disconnected: {reason}");
        self.held.push(Activity::Disconnected { reason });
    }

    /// Connects with exponential backoff until `deadline`; `None` if the deadline
    /// passed first. A refusal that retrying cannot fix is an error.
    async fn reconnect(
        &mut self,
        deadline: Instant,
        on: &mut impl FnMut(&Activity) -> Control,
    ) -> Result<Option<Connection>, PartyError> {
        // Kept until the wait is over: an interrupted wait (a node's request) resumes.
        if let Some(t) = self.not_before {
            if t >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Ok(None);
            }
            tokio::time::sleep_until(t).await;
            self.not_before = None;
        }
        loop {
            let settings = self.settings.clone();
            let attempt = self
                .connecting
                .get_or_insert_with(|| tokio::spawn(async move { connect(&settings).await }));
            // Awaiting the handle, not the attempt: if this wait is interrupted, the
            // attempt goes on and the next call takes it up.
            let outcome = attempt.await;
            self.connecting = None;
            let outcome = outcome.unwrap_or_else(|e| {
                Err(ConnectError::Protocol(format!(
                    "the connection attempt stopped: {e}"
                )))
            });
            match outcome {
                Ok(conn) => {
                    self.backoff = MIN_BACKOFF;
                    self.endpoint.on_reconnect(now());
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
                        // Not before the deadline: a caller that loops on short
                        // deadlines must not turn the backoff into a busy retry.
                        tokio::time::sleep_until(deadline).await;
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
