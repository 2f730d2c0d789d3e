//! `backchannel send`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use backchannel_party::{Activity, Control, Party};
use backchannel_proto::ledger::Ledger;
use backchannel_proto::node::Notice;
use backchannel_proto::{Assurance, Attestation, Body, MAX_TEXT_LEN, Revocation};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use crate::session::{Session, Sink};
use backchannel_show::Outcome;
use backchannel_show::print;

/// Send one message and wait for the recipient's receipt.
///
/// Exit 0 when a receipt that verifies came back, 3 when none came in time (the
/// message stays queued and is sent again by the party node or the next run), 1 on
/// any other error, including a refusal by the broker or by the recipient (a
/// receipt that says the message arrived expired). If a party node runs for this
/// party (`backchannel party`), the node sends it and this command prints what it
/// reports, exactly as it would alone.
#[derive(Parser)]
#[command(
    after_help = "Examples:\n  backchannel send --config deploy/alpha/alpha.toml --to bravo \"Our aircraft will keep clear of the agreed corridor.\"\n  backchannel send --config deploy/alpha/alpha.toml --to bravo --assurance A-1 --valid-days 30 --condition \"absent provocation\" \"No preemptive strike\"\n  backchannel send --config deploy/alpha/alpha.toml --to bravo --revoke A-1 \"Assurance A-1 is withdrawn as of now.\"\n  backchannel send --config deploy/alpha/alpha.toml --to bravo --file statement.txt\n  echo \"No preemptive strike\" | backchannel send --config deploy/alpha/alpha.toml --to bravo -\n\nA message is at most 61,440 bytes of UTF-8 (all its text together): a frame is at most 64 KiB."
)]
pub struct Args {
    /// The party's configuration file.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// The recipient.
    #[arg(long)]
    pub(crate) to: String,
    /// Send an assurance with this id; MESSAGE is the commitment.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "revoke",
        requires = "validity"
    )]
    pub(crate) assurance: Option<String>,
    /// How many days the assurance holds.
    #[arg(long, value_name = "N", requires = "assurance", group = "validity")]
    pub(crate) valid_days: Option<u32>,
    /// How long the assurance holds: a number and a unit, s, m, h or d (`90s`, `10m`,
    /// `2d`); for a class that watches one lapse.
    #[arg(
        long,
        value_name = "DURATION",
        requires = "assurance",
        group = "validity",
        value_parser = parse_duration
    )]
    pub(crate) valid_for: Option<Duration>,
    /// The assurance's condition, e.g. "absent provocation" (default: unconditional).
    #[arg(long, requires = "assurance", default_value = "")]
    pub(crate) condition: String,
    /// Withdraw the assurance with this id; MESSAGE is the reason.
    #[arg(long, value_name = "ID")]
    pub(crate) revoke: Option<String>,
    /// The message text (or commitment, or reason); `-` reads it from standard input.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub(crate) message: Option<String>,
    /// Read the message from this file (UTF-8) instead.
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,
    /// Seconds to wait for the receipt.
    #[arg(long, default_value_t = 30)]
    pub(crate) timeout: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// How long a plain message or revocation stays deliverable.
const MESSAGE_TTL: Duration = Duration::from_secs(7 * 86_400);

/// Everything `send` was asked to do, with the message already read: what a party
/// node needs to do it for us.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRequest {
    /// The recipient.
    pub to: String,
    /// `text`, `assurance` or `revocation`.
    pub kind: String,
    /// The assurance id (or the id revoked); empty for text.
    pub id: String,
    /// The text, commitment or reason.
    pub message: String,
    /// The assurance's condition.
    pub condition: String,
    /// How long the assurance holds, in seconds.
    pub valid_secs: u64,
    /// Seconds to wait for the receipt.
    pub timeout: u64,
    /// JSON output.
    pub json: bool,
}

impl SendRequest {
    /// Reads the message (argument, `-` for stdin, or `--file`) and checks its size.
    pub fn from_args(args: &Args) -> anyhow::Result<Self> {
        let message = match (&args.file, args.message.as_deref()) {
            (Some(path), _) => read_message_file(path)?,
            (None, Some("-")) => {
                let mut text = String::new();
                std::io::stdin()
                    .take(MAX_TEXT_LEN as u64 + 1)
                    .read_to_string(&mut text)
                    .context("cannot read the message from standard input (is it UTF-8?)")?;
                text.strip_suffix('\n').map(str::to_owned).unwrap_or(text)
            }
            (None, Some(m)) => m.to_owned(),
            (None, None) => anyhow::bail!("no message: give MESSAGE, - or --file"),
        };
        let (kind, id) = match (&args.assurance, &args.revoke) {
            (Some(id), _) => ("assurance", id.clone()),
            (None, Some(id)) => ("revocation", id.clone()),
            (None, None) => ("text", String::new()),
        };
        let request = SendRequest {
            to: args.to.clone(),
            kind: kind.to_owned(),
            id,
            message,
            condition: args.condition.clone(),
            valid_secs: match (args.valid_for, args.valid_days) {
                (Some(d), _) => d.as_secs(),
                (None, days) => u64::from(days.unwrap_or(1)) * 86_400,
            },
            timeout: args.timeout,
            json: args.json,
        };
        let len = request.body()?.0.text_len();
        if len > MAX_TEXT_LEN {
            anyhow::bail!(
                "the message is {len} bytes; at most {MAX_TEXT_LEN} fit in one envelope (frames are at most 64 KiB): nothing was sent"
            );
        }
        Ok(request)
    }

    /// The body to seal now, and how long it stays deliverable.
    pub fn body(&self) -> anyhow::Result<(Body<'_>, Duration)> {
        Ok(match self.kind.as_str() {
            "assurance" => {
                let ttl = Duration::from_secs(self.valid_secs);
                let body = Body::Assurance(Assurance {
                    id: self.id.as_str().into(),
                    commitment: self.message.as_str().into(),
                    condition: self.condition.as_str().into(),
                    valid_until: backchannel_party::now().saturating_add(ttl),
                });
                // An assurance is not worth delivering after it lapses.
                (body, ttl.min(MESSAGE_TTL))
            }
            "revocation" => (
                Body::Revocation(Revocation {
                    assurance_id: self.id.as_str().into(),
                    reason: self.message.as_str().into(),
                }),
                MESSAGE_TTL,
            ),
            "text" => (Body::Text(self.message.as_str().into()), MESSAGE_TTL),
            other => anyhow::bail!("unknown message kind {other:?}"),
        })
    }
}

/// `90s`, `10m`, `2h`, `2d` (the one grammar,
/// [`parse_duration`](backchannel_proto::duration::parse_duration)): at least one
/// second, at most 10 years.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = backchannel_proto::duration::parse_duration(text)
        .ok_or_else(|| format!("{text:?}: a number, then s, m, h or d (e.g. 90s, 10m, 2d)"))?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(10 * 365 * 86_400) {
        return Err(format!("{text:?}: between 1 second and 10 years"));
    }
    Ok(d)
}

/// Refuses an assurance whose id this party already gave the same recipient with
/// other words (`backchannel_proto::ledger`): the recipient could not tell which one
/// is meant. Reads the party's transcript (assurances are rare; the check is exact).
pub fn check_assurance_id(party: &Party, request: &SendRequest) -> anyhow::Result<()> {
    if request.kind != "assurance" {
        return Ok(());
    }
    let (Body::Assurance(a), _) = request.body()? else {
        return Ok(());
    };
    let bytes = std::fs::read(party.transcript_path())
        .with_context(|| format!("{}", party.transcript_path().display()))?;
    let parsed = backchannel_proto::transcript::parse_transcript(&bytes)
        .with_context(|| format!("{}", party.transcript_path().display()))?;
    let ledger = Ledger::build(parsed.entries, backchannel_party::now());
    ledger
        .check_new(party.name(), &request.to, &a)
        .map_err(|e| anyhow::anyhow!("nothing was sent: {e}"))
}

fn read_message_file(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > MAX_TEXT_LEN as u64 {
        anyhow::bail!(
            "{}: {} bytes; at most {MAX_TEXT_LEN} fit in one envelope (frames are at most 64 KiB): nothing was sent",
            path.display(),
            meta.len()
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read it as UTF-8", path.display()))
}

/// One sealed message waiting for its receipt.
pub struct SendSession {
    me: String,
    request: SendRequest,
    seq: u64,
    deadline: Instant,
    delivered: Option<Attestation>,
    refused: Option<Notice>,
    /// The recipient acknowledged it as refused (why).
    refused_by_peer: Option<&'static str>,
}

impl SendSession {
    /// Starts waiting for the receipt of `seq`, which `request` was sealed as.
    pub fn new(me: &str, request: SendRequest, seq: u64, shown: &str, sink: &mut dyn Sink) -> Self {
        if !request.json {
            sink.out(&format!("[{me}] sent #{seq} to {}: {shown}", request.to));
        }
        SendSession {
            me: me.to_owned(),
            deadline: Instant::now() + Duration::from_secs(request.timeout),
            request,
            seq,
            delivered: None,
            refused: None,
            refused_by_peer: None,
        }
    }
}

impl Session for SendSession {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn on(&mut self, a: &Activity, sink: &mut dyn Sink) -> Control {
        if !self.request.json
            && let Some(line) = print::activity_line(&self.me, a)
        {
            sink.out(&line);
        }
        let (to, seq) = (&self.request.to, self.seq);
        match a.settles(to, seq) {
            Some(Ok(attestation)) => {
                self.delivered = Some(attestation);
                return Control::Stop;
            }
            Some(Err(why)) => {
                self.refused_by_peer = Some(why);
                return Control::Stop;
            }
            None => {}
        }
        match a {
            // A full mailbox is temporary: the envelope stays unacknowledged and is
            // sent again by the retransmission timer or the next run. Any other
            // refusal will not change by waiting.
            Activity::Notice(n) if n.seq == seq && n.peer == *to && n.code == "queue-full" => {
                Control::Continue
            }
            Activity::Notice(n) if n.seq == seq && n.peer == *to => {
                self.refused = Some(n.clone());
                Control::Stop
            }
            _ => Control::Continue,
        }
    }

    fn finish(self: Box<Self>, sink: &mut dyn Sink) -> anyhow::Result<Outcome> {
        let seq = self.seq;
        if self.request.json {
            sink.out(
                &json!({
                    "to": self.request.to,
                    "seq": seq,
                    "delivered": self.delivered.is_some(),
                    "attested": self.delivered.is_some_and(|a| a.is_attested()),
                    "refused": self.refused.as_ref().map(|n| n.to_string())
                        .or(self.refused_by_peer.map(|why| format!("{}: {why}", self.request.to))),
                })
                .to_string(),
            );
        }
        if let Some(n) = self.refused {
            anyhow::bail!("the broker refused #{seq}: {n}");
        }
        if let Some(why) = self.refused_by_peer {
            anyhow::bail!(
                "{} refused #{seq}: {why} (it arrived after its validity ended: delayed, or sent with too short a validity); it was not delivered",
                self.request.to
            );
        }
        match self.delivered {
            Some(_) => Ok(Outcome::Ok),
            None => {
                sink.err(&format!(
                    "backchannel: no receipt for #{seq} from {} within {} s: the broker or the recipient may have dropped it (it stays queued and is sent again by the party node or the next run)",
                    self.request.to, self.request.timeout
                ));
                Ok(Outcome::TimedOut)
            }
        }
    }
}
