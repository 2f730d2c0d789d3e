//! The judge: what an outsider holding only public keys can establish from a
//! transcript (`proto-spec/protocol.md` §10).
//!
//! The judge trusts nothing in the transcript but the bytes of the frames: not the
//! owner's verdicts, not its clock. For each entry it says whether the envelope is
//! provably written by its named sender, unattributable (deniable mode), attributable
//! to either party but provable against neither (off-record mode), or invalid; and for
//! each chain the owner took part in, whether it is complete.

use std::collections::BTreeMap;
use std::fmt;

use crate::body::BodyKind;
use crate::channel_id::ChannelId;
use crate::digest::Digest;
use crate::envelope::{Ack, Refusal, Refusals};
use crate::identity::{Fingerprint, PublicIdentity, SigningIdentity};
use crate::mode::ChannelMode;
use crate::off_record::{self, OffRecordAuth, Secret32};
use crate::rejection::Rejection;
use crate::transcript::{Direction, RecordedVerdict, TranscriptError, parse_transcript};
use crate::verify::{Attestation, EnvelopeIn};

/// What the judge concludes about one entry's authorship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A signature by this key verified: the named sender wrote exactly these bytes.
    ProvablyWrittenBy {
        /// The sender's name.
        name: String,
        /// Its key's fingerprint.
        fingerprint: Fingerprint,
    },
    /// Deniable mode: nothing in the bytes says who wrote them. The owner, the broker
    /// or anyone else could have produced this entry.
    Unattributable,
    /// Off-record mode: a MAC under a key both parties hold. It convinced the
    /// recipient (the broker lacks the key), but either party could have made it, so
    /// it proves nothing. `checked`: the judge was handed a party's private key and
    /// the tag verifies under the pair's key (still proving nothing).
    EitherPartyCouldHaveWritten {
        /// Whether the judge could check the tag (with a party's private key).
        checked: bool,
    },
    /// Off-record mode, after a reveal: the tag verifies under a MAC key published in
    /// entry `revealed_in` of this transcript, so anyone who saw that entry (the broker
    /// included) could have made this one.
    AnyoneCouldHaveWritten {
        /// The entry whose envelope published the key.
        revealed_in: usize,
    },
    /// Not a valid envelope, or a signature that does not verify.
    Invalid(Rejection),
    /// Not an envelope: the owner's count of rejected envelopes it did not keep
    /// (`protocol.md` §9.1). Its word only; there is nothing to verify, and nothing
    /// it omits was accepted.
    Omitted,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::ProvablyWrittenBy { name, fingerprint } => {
                write!(f, "provably written by {name} (key {fingerprint})")
            }
            Finding::Unattributable => {
                f.write_str("unattributable: deniable mode, nothing proves who wrote it")
            }
            Finding::EitherPartyCouldHaveWritten { checked: false } => f.write_str(
                "authenticated to the recipient; unattributable to a judge: either party could have written it (off-record)",
            ),
            Finding::EitherPartyCouldHaveWritten { checked: true } => f.write_str(
                "its MAC verifies under the key both parties hold: either party could have written it, so it proves nothing (off-record)",
            ),
            Finding::AnyoneCouldHaveWritten { revealed_in } => write!(
                f,
                "anyone could have written it: its key was published in entry {revealed_in} (off-record)"
            ),
            Finding::Invalid(why) => write!(f, "invalid: {why}"),
            Finding::Omitted => f.write_str(
                "a count, not an envelope: rejected envelopes the owner did not keep (its word only)",
            ),
        }
    }
}

/// The judge's view of one transcript entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryReport {
    /// Position in the transcript, from 0.
    pub index: usize,
    /// Sent or received, as recorded.
    pub direction: Direction,
    /// The owner's verdict, as recorded (not trusted, shown for comparison).
    pub recorded: RecordedVerdict,
    /// The owner's recorded reason, if it rejected the envelope.
    pub recorded_reason: String,
    /// Sender, recipient, sequence number and body kind, when the frame decodes.
    pub summary: Option<EntrySummary>,
    /// The judge's conclusion.
    pub finding: Finding,
}

/// The decoded fields a judge shows for an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySummary {
    /// Named sender.
    pub sender: String,
    /// Named recipient.
    pub recipient: String,
    /// Sequence number.
    pub seq: u64,
    /// Mode.
    pub mode: ChannelMode,
    /// Body kind.
    pub kind: BodyKind,
    /// The body, one line, escaped for people ([`Body`]'s `Display`).
    pub body: String,
    /// The decoded body, its words raw (for machine output: escape before showing).
    pub decoded: crate::body::Body<'static>,
}

/// One direction of one channel, as far as the transcript holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    /// Who wrote the chain.
    pub sender: String,
    /// To whom.
    pub recipient: String,
    /// Which channel.
    pub channel: ChannelId,
    /// In which mode.
    pub mode: ChannelMode,
    /// Highest sequence number present.
    pub last_seq: u64,
    /// Whether 1..=last_seq are all present, each linked to the one before, with no
    /// fork and no acknowledgement contradicting the other direction.
    pub complete: bool,
    /// What is wrong, in words.
    pub problems: Vec<String>,
    /// The highest sequence number of this chain that the recipient acknowledged in
    /// an envelope present in the transcript.
    pub acknowledged_up_to: u64,
    /// Whether that acknowledgement is signed, i.e. a proof of delivery.
    pub acknowledgement_provable: bool,
    /// Envelopes of this chain the recipient says it refused although it
    /// acknowledged past them (they arrived expired), with why: acknowledged, not
    /// delivered.
    pub refused: Vec<(u64, &'static str)>,
}

/// Everything the judge concludes from one transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeReport {
    /// The owner the transcript names (not proven: anyone can write a transcript).
    pub owner: String,
    /// One report per readable entry, in file order.
    pub entries: Vec<EntryReport>,
    /// One report per chain the owner sent or received.
    pub chains: Vec<ChainReport>,
    /// Where the file was damaged or truncated, if it was.
    pub damage: Option<String>,
}

impl JudgeReport {
    /// Whether no entry is invalid and the file is undamaged.
    pub fn all_entries_valid(&self) -> bool {
        self.damage.is_none()
            && self
                .entries
                .iter()
                .all(|e| !matches!(e.finding, Finding::Invalid(_)))
    }

    /// Whether every chain is complete.
    pub fn chains_complete(&self) -> bool {
        self.chains.iter().all(|c| c.complete)
    }

    /// Both of the above: what `backchannel verify` exits 0 on.
    pub fn is_clean(&self) -> bool {
        self.all_entries_valid() && self.chains_complete()
    }
}

/// A content envelope of a chain, as the judge collects it.
struct Link {
    digest: Digest,
    prev: Digest,
    ack: Ack,
    refused: Refusals,
    attested: bool,
}

/// What a receipt or heartbeat announces: the sender's head and its acknowledgement.
struct Announcement {
    head: Ack,
    ack: Ack,
    refused: Refusals,
    attested: bool,
}

/// One direction of one channel: its content envelopes by sequence number (more than
/// one at a sequence number is a fork) and the control envelopes' announcements.
#[derive(Default)]
struct ChainData {
    links: BTreeMap<u64, Vec<Link>>,
    announcements: Vec<Announcement>,
}

impl ChainData {
    /// Every acknowledgement of the other direction this chain carries, with whether
    /// it is signed.
    fn acks(&self) -> impl Iterator<Item = (Ack, bool)> + '_ {
        self.links
            .values()
            .flatten()
            .map(|l| (l.ack, l.attested))
            .chain(self.announcements.iter().map(|a| (a.ack, a.attested)))
    }

    /// Every refusal of the other direction's envelopes this chain lists.
    fn refusals(&self) -> impl Iterator<Item = Refusal> + '_ {
        self.links
            .values()
            .flatten()
            .map(|l| &l.refused)
            .chain(self.announcements.iter().map(|a| &a.refused))
            .flat_map(Refusals::listed)
    }
}

type ChainKey = (ChannelId, String, String, u8);

/// Judges a transcript with only the public keys in `keys`.
pub fn judge(bytes: &[u8], keys: &[PublicIdentity]) -> Result<JudgeReport, TranscriptError> {
    judge_with_secrets(bytes, keys, &[])
}

/// Judges a transcript with the public keys in `keys` and the private keys in
/// `secrets` (a party handing over its own key, the "leak" test): with them the judge
/// can check off-record tags, which still proves nothing, because the holder of the
/// secret could have made every one. Signed entries are judged exactly as by
/// [`judge`].
pub fn judge_with_secrets(
    bytes: &[u8],
    keys: &[PublicIdentity],
    secrets: &[SigningIdentity],
) -> Result<JudgeReport, TranscriptError> {
    let parsed = parse_transcript(bytes)?;
    let reveals = collect_reveals(&parsed.entries);
    let mut pair_keys = PairKeys::default();
    let owner = parsed.owner;
    let mut entries = Vec::with_capacity(parsed.entries.len());
    let mut chains: BTreeMap<ChainKey, ChainData> = BTreeMap::new();

    for (index, entry) in parsed.entries.iter().enumerate() {
        let decoded = if entry.is_omission_summary() {
            Err(None)
        } else {
            EnvelopeIn::decode(entry.frame).map_err(Some)
        };
        let (summary, finding) = match decoded {
            Err(None) => (None, Finding::Omitted),
            Err(Some(why)) => (None, Finding::Invalid(why)),
            Ok(env) => {
                let e = env.envelope();
                let finding = match e.mode {
                    ChannelMode::OffRecord => {
                        judge_off_record(&env, keys, secrets, &reveals, &mut pair_keys)
                    }
                    _ => judge_authorship(&env, keys),
                };
                let involves_owner = e.sender == owner || e.recipient == owner;
                if involves_owner && !matches!(finding, Finding::Invalid(_)) {
                    let key = (
                        e.channel,
                        e.sender.to_string(),
                        e.recipient.to_string(),
                        e.mode.to_u8(),
                    );
                    let attested = matches!(finding, Finding::ProvablyWrittenBy { .. });
                    let chain = chains.entry(key).or_default();
                    if e.body.is_control() {
                        chain.announcements.push(Announcement {
                            head: Ack {
                                seq: e.seq,
                                head: e.prev,
                            },
                            ack: e.ack,
                            refused: e.refused,
                            attested,
                        });
                    } else {
                        let at_seq = chain.links.entry(e.seq).or_default();
                        let digest = env.digest();
                        if !at_seq.iter().any(|l| l.digest == digest) {
                            at_seq.push(Link {
                                digest,
                                prev: e.prev,
                                ack: e.ack,
                                refused: e.refused,
                                attested,
                            });
                        }
                    }
                }
                let summary = EntrySummary {
                    sender: e.sender.to_string(),
                    recipient: e.recipient.to_string(),
                    seq: e.seq,
                    mode: e.mode,
                    kind: e.body.kind(),
                    body: e.body.to_string(),
                    decoded: e.body.clone().into_owned(),
                };
                (Some(summary), finding)
            }
        };
        entries.push(EntryReport {
            index,
            direction: entry.direction,
            recorded: entry.verdict,
            recorded_reason: entry.reason.to_owned(),
            summary,
            finding,
        });
    }

    // An acknowledgement of seq N proves the other direction reached seq N, even if
    // the transcript holds none of it: that chain is reported too.
    let implied: Vec<ChainKey> = chains
        .iter()
        .filter(|(_, data)| data.acks().any(|(ack, _)| ack.seq > 0))
        .map(|((c, s, r, m), _)| (*c, r.clone(), s.clone(), *m))
        .collect();
    for key in implied {
        chains.entry(key).or_default();
    }
    let reports = chains
        .iter()
        .map(|(key, data)| chain_report(key, data, &chains))
        .collect();
    Ok(JudgeReport {
        owner: owner.to_owned(),
        entries,
        chains: reports,
        damage: parsed.damage.map(|d| d.to_string()),
    })
}

fn judge_authorship(env: &EnvelopeIn<'_>, keys: &[PublicIdentity]) -> Finding {
    let e = env.envelope();
    match e.mode {
        ChannelMode::Deniable => match env.check_deniable() {
            Ok(()) => Finding::Unattributable,
            Err(why) => Finding::Invalid(why),
        },
        ChannelMode::Signed => {
            let Some(key) = keys.iter().find(|k| k.name().as_str() == e.sender) else {
                return Finding::Invalid(Rejection::UnknownSender {
                    sender: e.sender.to_string(),
                });
            };
            match env.authenticate(key) {
                Ok(Attestation::Signed(fingerprint)) => Finding::ProvablyWrittenBy {
                    name: e.sender.to_string(),
                    fingerprint,
                },
                Ok(Attestation::Unattested | Attestation::Mac(_) | Attestation::MacUnchecked) => {
                    Finding::Unattributable
                }
                Err(why) => Finding::Invalid(why),
            }
        }
        ChannelMode::OffRecord => Finding::EitherPartyCouldHaveWritten { checked: false },
        ChannelMode::Other(_) => Finding::Invalid(Rejection::Malformed("unknown channel mode")),
    }
}

/// (channel, sender, recipient, epoch): one direction's epoch.
type EpochKey = (ChannelId, String, String, u64);

/// Every MAC key published in the transcript, with the entry that published it.
fn collect_reveals(
    entries: &[crate::transcript::Entry<'_>],
) -> BTreeMap<EpochKey, Vec<(usize, Secret32)>> {
    let mut reveals: BTreeMap<EpochKey, Vec<(usize, Secret32)>> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let Ok(env) = EnvelopeIn::decode(entry.frame) else {
            continue;
        };
        let e = env.envelope();
        if e.mode != ChannelMode::OffRecord {
            continue;
        }
        if let Ok(OffRecordAuth {
            reveal: Some((epoch, key)),
            ..
        }) = OffRecordAuth::parse(env.authenticator())
        {
            let at = reveals
                .entry((
                    e.channel,
                    e.sender.to_string(),
                    e.recipient.to_string(),
                    epoch,
                ))
                .or_default();
            if at.len() < 4 && !at.iter().any(|(_, k)| *k == key) {
                at.push((index, key));
            }
        }
    }
    reveals
}

/// The most epoch keys the judge derives in all (each costs two HKDF-Expands): beyond,
/// a tag stays unchecked rather than let a hostile transcript stall the judge.
const JUDGE_EPOCH_BUDGET: usize = 1 << 16;

/// MAC keys the judge derived from a party's private key, per direction.
#[derive(Default)]
struct PairKeys {
    chains: BTreeMap<(ChannelId, String, String), (Secret32, Vec<Secret32>)>,
    spent: usize,
}

impl PairKeys {
    /// The MAC key of `epoch` of the direction `e.sender -> e.recipient`, if a secret
    /// of either party and the other's public key are at hand and the budget allows.
    fn mac_key(
        &mut self,
        e: &crate::envelope::Envelope<'_>,
        epoch: u64,
        keys: &[PublicIdentity],
        secrets: &[SigningIdentity],
    ) -> Option<Secret32> {
        let id = (e.channel, e.sender.to_string(), e.recipient.to_string());
        if !self.chains.contains_key(&id) {
            let (mine, other) = secrets.iter().find_map(|s| {
                let other = if s.name().as_str() == e.sender {
                    &e.recipient
                } else if s.name().as_str() == e.recipient {
                    &e.sender
                } else {
                    return None;
                };
                keys.iter()
                    .find(|k| k.name().as_str() == other.as_ref())
                    .map(|k| (s, k))
            })?;
            let secret = off_record::pair_secret(mine.signing_key(), other.key()).ok()?;
            let root =
                off_record::chain_root(&secret, e.version, e.channel, &e.sender, &e.recipient);
            let first = off_record::mac_key(&root);
            self.chains.insert(id.clone(), (root, vec![first]));
        }
        let (chain, macs) = self.chains.get_mut(&id)?;
        let wanted = usize::try_from(epoch).ok()?;
        while macs.len() <= wanted {
            if self.spent >= JUDGE_EPOCH_BUDGET {
                return None;
            }
            self.spent += 1;
            *chain = off_record::next_chain(chain);
            macs.push(off_record::mac_key(chain));
        }
        macs.get(wanted).cloned()
    }
}

fn judge_off_record(
    env: &EnvelopeIn<'_>,
    keys: &[PublicIdentity],
    secrets: &[SigningIdentity],
    reveals: &BTreeMap<EpochKey, Vec<(usize, Secret32)>>,
    pair_keys: &mut PairKeys,
) -> Finding {
    let e = env.envelope();
    let auth = match OffRecordAuth::parse(env.authenticator()) {
        Ok(a) => a,
        Err(why) => return Finding::Invalid(why),
    };
    let epoch = off_record::epoch_of(e);
    let id = (
        e.channel,
        e.sender.to_string(),
        e.recipient.to_string(),
        epoch,
    );
    let published = reveals
        .get(&id)
        .into_iter()
        .flatten()
        .find(|(_, key)| off_record::check_tag(e, env.content(), &auth, key).is_ok());
    if let Some((revealed_in, _)) = published {
        return Finding::AnyoneCouldHaveWritten {
            revealed_in: *revealed_in,
        };
    }
    match pair_keys.mac_key(e, epoch, keys, secrets) {
        Some(key) => match off_record::check_tag(e, env.content(), &auth, &key) {
            Ok(()) => Finding::EitherPartyCouldHaveWritten { checked: true },
            Err(why) => Finding::Invalid(why),
        },
        None => Finding::EitherPartyCouldHaveWritten { checked: false },
    }
}

fn chain_report(
    key: &ChainKey,
    data: &ChainData,
    all: &BTreeMap<ChainKey, ChainData>,
) -> ChainReport {
    let (channel, sender, recipient, mode) = key;
    let links = &data.links;
    let mut problems = Vec::new();
    // The other direction of the same channel: its acknowledgements of this chain
    // must name digests this chain holds.
    let mut acknowledged_up_to = 0;
    let mut acknowledgement_provable = false;
    let reverse = all.get(&(*channel, recipient.clone(), sender.clone(), *mode));
    for (ack, attested) in reverse.into_iter().flat_map(ChainData::acks) {
        if ack.seq == 0 {
            continue;
        }
        if let Some([mine]) = links.get(&ack.seq).map(Vec::as_slice)
            && mine.digest != ack.head
        {
            problems.push(format!(
                "{recipient} acknowledged a different seq {} than this chain holds",
                ack.seq
            ));
        }
        if ack.seq > acknowledged_up_to
            || (ack.seq == acknowledged_up_to && attested && !acknowledgement_provable)
        {
            acknowledged_up_to = ack.seq;
            acknowledgement_provable = attested;
        }
    }
    let mut refused: Vec<(u64, &'static str)> = reverse
        .into_iter()
        .flat_map(ChainData::refusals)
        .map(|r| (r.seq, r.code.as_str()))
        .collect();
    refused.sort_unstable();
    refused.dedup();
    // How far the chain provably reaches: its own envelopes, the heads its receipts
    // and heartbeats announce, and what the other side acknowledged.
    let announced = data.announcements.iter().map(|a| a.head.seq).max();
    let last_seq = links
        .keys()
        .next_back()
        .copied()
        .max(announced)
        .unwrap_or(0)
        .max(acknowledged_up_to);
    // Walk the envelopes present, not the numbers in between: a hostile entry can
    // announce a head near 2^64, and the judge must stay linear in the transcript.
    let mut prev_digest = Some(Digest::ZERO);
    let mut next = 1u64;
    for (&seq, versions) in links.range(1..) {
        if seq > next {
            problems.push(missing(next, seq - 1));
            prev_digest = None;
        }
        match versions.as_slice() {
            [] => {}
            [link] => {
                if let Some(expected) = prev_digest
                    && link.prev != expected
                {
                    problems.push(format!("seq {seq} does not link to seq {}", seq - 1));
                }
                prev_digest = Some(link.digest);
            }
            forked => {
                problems.push(format!(
                    "seq {seq} exists in {} different versions (a fork)",
                    forked.len()
                ));
                prev_digest = None;
            }
        }
        next = seq.saturating_add(1);
    }
    if last_seq >= next {
        problems.push(missing(next, last_seq));
    }
    // A receipt or heartbeat names the sender's head: it must be the envelope this
    // chain holds at that sequence number.
    for a in &data.announcements {
        let holds = match links.get(&a.head.seq).map(Vec::as_slice) {
            Some([link]) => Some(link.digest),
            _ if a.head.seq == 0 => Some(Digest::ZERO),
            _ => None,
        };
        if holds.is_some_and(|d| d != a.head.head) {
            problems.push(format!(
                "a {sender} announcement names a different seq {} than this chain holds",
                a.head.seq
            ));
        }
    }
    problems.dedup();
    ChainReport {
        sender: sender.clone(),
        recipient: recipient.clone(),
        channel: *channel,
        mode: ChannelMode::from_u8(*mode),
        last_seq,
        complete: problems.is_empty(),
        problems,
        acknowledged_up_to,
        acknowledgement_provable,
        refused,
    }
}

fn missing(from: u64, to: u64) -> String {
    if from == to {
        format!("seq {from} is missing")
    } else {
        format!("seqs {from} to {to} are missing")
    }
}
