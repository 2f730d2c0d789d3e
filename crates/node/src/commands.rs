//! The party commands as a process runs them: each asks a party node already running
//! for this party to do it (over the control socket), or opens the party's files
//! itself and serves the request as the node would.

use anyhow::Context as _;
use backchannel_show::Outcome;
use backchannel_show::print;

use crate::control::{Owner, Request, delegate_or_open};
use crate::pending::{self, PendingRequest, report};
use crate::receive::{self, ReceiveRequest, ReceiveSession};
use crate::send::{self, SendRequest, SendSession, check_assurance_id};
use crate::session::Terminal;

/// Runs `backchannel send`.
pub async fn send(args: send::Args) -> anyhow::Result<Outcome> {
    let request = SendRequest::from_args(&args)?;
    let (me, mut party) =
        match delegate_or_open(&args.config, &Request::Send(request.clone())).await? {
            Owner::Delegated(outcome) => return Ok(outcome),
            Owner::Me(me, party) => (me, *party),
        };
    check_assurance_id(&party, &request)?;
    let (body, ttl) = request.body()?;
    let shown = print::body_text(&body);
    let seq = party.send(&request.to, body, ttl)?;
    let session = SendSession::new(&me, request, seq, &shown, &mut Terminal);
    crate::node::serve(&args.config, me, party, Box::new(session)).await
}

/// Runs `backchannel receive`.
pub async fn receive(args: receive::Args) -> anyhow::Result<Outcome> {
    let request = ReceiveRequest {
        count: args.count,
        timeout: args.timeout,
        json: args.json,
    };
    match delegate_or_open(&args.config, &Request::Receive(request.clone())).await? {
        Owner::Delegated(outcome) => Ok(outcome),
        Owner::Me(me, party) => {
            let session = Box::new(ReceiveSession::new(&me, request));
            crate::node::serve(&args.config, me, *party, session).await
        }
    }
}

/// Runs `backchannel pending`.
///
/// Read-only: with no node running it reads the transcript and creates or changes no
/// file (a missing transcript is a party that has sent nothing).
pub async fn pending(args: pending::Args) -> anyhow::Result<Outcome> {
    let request = PendingRequest { json: args.json };
    if crate::control::connect(&args.config).await?.is_none() {
        let (config, path, bytes) = crate::open::read_transcript(&args.config)?;
        let list = pending::from_transcript(&config.name, &bytes)
            .with_context(|| format!("{}", path.display()))?;
        pending::write(&config.name, &list, &request, &mut Terminal);
        return Ok(Outcome::Ok);
    }
    match delegate_or_open(&args.config, &Request::Pending(request.clone())).await? {
        Owner::Delegated(outcome) => Ok(outcome),
        Owner::Me(_, party) => {
            report(&party, &request, &mut Terminal);
            Ok(Outcome::Ok)
        }
    }
}
