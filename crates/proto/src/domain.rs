//! Domain-separation prefixes for everything the protocol hashes or signs.
//!
//! Each prefix names the protocol, its version and the purpose, and ends in a NUL
//! byte so that no prefix is a prefix of another. A signature or digest made for one
//! purpose can therefore never be reused for another (`proto-spec/protocol.md` §6).

/// Prefix of the Ed25519 signing input of an envelope: `prefix || content`.
pub const ENVELOPE_SIGNATURE: &[u8] = b"backchannel/v1/envelope\0";
/// Prefix of the chain digest of an envelope: `SHA-256(prefix || content)`.
pub const CHAIN_DIGEST: &[u8] = b"backchannel/v1/chain\0";
/// Prefix of a channel id: `SHA-256(prefix || key_lo || key_hi || mode || label)[..16]`.
pub const CHANNEL_ID: &[u8] = b"backchannel/v1/channel\0";
/// Prefix of a key fingerprint: `SHA-256(prefix || public key)[..8]`.
pub const KEY_FINGERPRINT: &[u8] = b"backchannel/v1/fingerprint\0";
/// Prefix of a login signature: `prefix || exporter || u8(len(name)) || name`.
pub const LOGIN_SIGNATURE: &[u8] = b"backchannel/v1/login\0";
/// The TLS exporter label (RFC 8446 §7.5) whose 32-byte output a login signs, binding
/// the login to one TLS session.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-backchannel-v1-login";
/// HKDF salt of an off-record channel's chain root (`protocol.md` §6.4).
pub const OFF_RECORD_ROOT: &[u8] = b"backchannel/v1/off-record/root\0";
/// HKDF-Expand info from one epoch's chain key to the next's.
pub const OFF_RECORD_NEXT: &[u8] = b"backchannel/v1/off-record/next\0";
/// HKDF-Expand info from an epoch's chain key to its MAC key.
pub const OFF_RECORD_MAC: &[u8] = b"backchannel/v1/off-record/mac\0";
/// Prefix of an off-record tag's associated data: `prefix || u32 len || content || reveal`.
pub const OFF_RECORD_TAG: &[u8] = b"backchannel/v1/off-record/tag\0";
/// HKDF salt of a MAC login (deniable contact): the key is
/// `HKDF-SHA256(salt = prefix, ikm = X25519(party, broker))` and the tag its expansion
/// over `exporter || u8(len(name)) || name` (`nodes.md` §2).
pub const LOGIN_MAC: &[u8] = b"backchannel/v1/login-mac\0";
