//! Signatures a batch send leaves for the driver to schedule
//! ([`Endpoint::send_batch`](crate::Endpoint::send_batch)).
//!
//! Signing is most of a signed-mode sender's work, and each signature is independent
//! of the others (the chain digest covers the content only). A sans-IO core starts no
//! threads, so it hands the driver one job per signature: the core made the message
//! and holds the key, the job signs exactly that message with that key, and the
//! driver only decides on which thread each job runs. A job the driver leaves is run
//! by the core. Ed25519 signing is deterministic, so the frames are byte for byte
//! those [`Endpoint::send`](crate::Endpoint::send) makes.

use crate::domain;
use crate::identity::SigningIdentity;

/// One signature to make. `Send`, so a driver can run it on another thread.
pub struct SignJob<'a> {
    signer: &'a SigningIdentity,
    content: Vec<u8>,
    /// Which channel and envelope it belongs to.
    pub(crate) target: (usize, u64),
    signature: Option<[u8; 64]>,
}

impl<'a> SignJob<'a> {
    pub(crate) fn new(signer: &'a SigningIdentity, content: Vec<u8>, target: (usize, u64)) -> Self {
        SignJob {
            signer,
            content,
            target,
            signature: None,
        }
    }

    /// Makes the signature (once; running a job again does nothing).
    pub fn run(&mut self) {
        if self.signature.is_none() {
            self.signature = self
                .signer
                .sign_parts(&[domain::ENVELOPE_SIGNATURE, &self.content])
                .ok()
                .map(|s| s.to_bytes());
        }
    }

    /// The signature, once made.
    pub(crate) fn signature(&self) -> Option<&[u8; 64]> {
        self.signature.as_ref()
    }
}

impl std::fmt::Debug for SignJob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignJob")
            .field("signer", &self.signer.name())
            .field("content_len", &self.content.len())
            .field("signed", &self.signature.is_some())
            .finish()
    }
}
