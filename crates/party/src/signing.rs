//! Where a batch's signatures are made: on every core, when the batch is big enough
//! to pay for the threads.
//!
//! Signing is most of a signed-mode sender's CPU (~20-40 us per envelope here against
//! ~7 us for everything else). The core hands over one job per signature
//! ([`SignJob`]); this runs them on scoped threads, so a sender whose recipient and
//! broker leave a core idle fills it. Small batches (a person's message, a window of
//! one) are signed in place: starting a thread would cost more than it saves.

use std::sync::OnceLock;

use backchannel_proto::sign_job::SignJob;

/// Fewer jobs than this are signed on the calling thread.
const PARALLEL_FROM: usize = 16;

/// At most this many threads sign one batch.
const MAX_THREADS: usize = 8;

/// Runs `jobs` on up to every core (the caller's thread is one of them). A thread that
/// cannot be started leaves its share to the core, which runs what is left.
pub(crate) fn sign_on_every_core(jobs: &mut [SignJob<'_>]) {
    if jobs.len() < PARALLEL_FROM {
        return;
    }
    let threads = cores();
    if threads < 2 {
        return;
    }
    let share = jobs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut shares = jobs.chunks_mut(share);
        let mine = shares.next();
        for theirs in shares {
            let started = std::thread::Builder::new()
                .name("party-sign".into())
                .spawn_scoped(scope, move || theirs.iter_mut().for_each(SignJob::run));
            if started.is_err() {
                // Left unsigned here: Endpoint::send_batch signs whatever is left.
                break;
            }
        }
        if let Some(mine) = mine {
            mine.iter_mut().for_each(SignJob::run);
        }
    });
}

/// How many threads may sign a batch: the cores this process may use, up to
/// [`MAX_THREADS`]. Asked once per process: the standard library reads the cgroup's CPU
/// quota from files on every call, which cost a sender at a few thousand small batches
/// a second ~5 % of its CPU.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_THREADS)
    })
}
