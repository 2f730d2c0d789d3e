//! Fresh party identities for a run.

use backchannel_proto::{PartyName, SigningIdentity};

use crate::StageError;

/// 32 bytes from the operating system's CSPRNG.
pub fn secret_bytes() -> Result<[u8; 32], StageError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| StageError::Setup(format!("no randomness from the OS: {e}")))?;
    Ok(secret)
}

/// A fresh identity for `name`.
pub fn generate(name: &str) -> Result<SigningIdentity, StageError> {
    let name = PartyName::new(name).map_err(|e| StageError::Setup(format!("{name:?}: {e}")))?;
    Ok(SigningIdentity::from_secret_bytes(name, &secret_bytes()?))
}
