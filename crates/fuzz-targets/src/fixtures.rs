//! Fixed identities and genuine frames the targets (and the seed generator) start from.

#![allow(missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use backchannel_proto::{
    Body, ChannelConfig, ChannelMode, Endpoint, PartyName, PeerPolicy, PublicIdentity,
    SigningIdentity, Timestamp,
};

/// The fixed start of time.
pub const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

pub fn identity(name: &str, seed: u8) -> SigningIdentity {
    match PartyName::new(name) {
        Ok(n) => SigningIdentity::from_secret_bytes(n, &[seed; 32]),
        Err(e) => panic!("fixture name: {e}"),
    }
}

pub fn alpha() -> SigningIdentity {
    identity("alpha", 0xa1)
}

pub fn bravo() -> SigningIdentity {
    identity("bravo", 0xb2)
}

pub fn keys() -> Vec<PublicIdentity> {
    vec![alpha().public(), bravo().public()]
}

pub fn config() -> ChannelConfig {
    ChannelConfig {
        ack_timeout: Duration::from_secs(1),
        heartbeat_interval: Some(Duration::from_millis(500)),
        ..ChannelConfig::default()
    }
}

pub fn endpoint(me: SigningIdentity, peer: &SigningIdentity, mode: ChannelMode) -> Endpoint {
    let policy = PeerPolicy::new(&me.public(), peer.public(), mode, "main");
    Endpoint::new(me, vec![policy], config())
}

pub fn mode_from(byte: u8) -> ChannelMode {
    match byte % 3 {
        0 => ChannelMode::Signed,
        1 => ChannelMode::Deniable,
        _ => ChannelMode::OffRecord,
    }
}

/// alpha's first four genuine frames to bravo, in each mode, one second apart.
pub fn genuine(mode: ChannelMode) -> &'static [Vec<u8>] {
    static SIGNED: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    static DENIABLE: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    static OFF_RECORD: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let cell = match mode {
        ChannelMode::Signed => &SIGNED,
        ChannelMode::OffRecord => &OFF_RECORD,
        _ => &DENIABLE,
    };
    cell.get_or_init(|| {
        let mut a = endpoint(alpha(), &bravo(), mode);
        (0..4u64)
            .map(|i| {
                let now = T0.saturating_add(Duration::from_secs(i));
                if let Err(e) = a.send(
                    now,
                    "bravo",
                    Body::Text(format!("message {i}").into()),
                    Duration::from_secs(86_400),
                ) {
                    panic!("fixture send: {e}");
                }
                let mut out = Vec::new();
                match a.poll_transmit(now, &mut out) {
                    Ok(Some(_)) => out,
                    other => panic!("fixture transmit: {other:?}"),
                }
            })
            .collect()
    })
}
