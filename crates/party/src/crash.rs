//! Crash injection: named points before each write and sync of the party's files
//! and before each transmission, where a test can make the party stop as if killed.
//!
//! In a normal build [`CrashPoints`] is empty and every check is `Ok`. With the
//! `test-utils` feature a test arms it to fail the n-th point it reaches; the party
//! then returns an error that says "simulated crash" and refuses all further
//! work, and its files hold what a process killed at that moment would have left:
//! after a power loss the transcript is cut back to what was synced
//! ([`CrashPoints::crash_after_for_testing_only`]); after `kill -9`, an OOM kill or a
//! panic what was written stays, synced or not (the page cache survives the process:
//! [`CrashPoints::kill_after_for_testing_only`]).

/// The points, in the order a batch reaches them.
pub const POINTS: [&str; 6] = [
    "transcript.write",
    "transcript.fsync",
    "snapshot.write",
    "snapshot.rename",
    "snapshot.dirsync",
    "transmit",
];

/// Where a simulated crash happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("simulated crash at {0} (test-utils crash injection)")]
pub struct Crash(pub &'static str);

/// The crash points of one party.
#[derive(Debug, Clone, Default)]
pub struct CrashPoints {
    #[cfg(feature = "test-utils")]
    armed: Option<std::sync::Arc<std::sync::Mutex<Arming>>>,
}

#[cfg(feature = "test-utils")]
#[derive(Debug)]
struct Arming {
    /// Points still to pass before the crash; the point that finds 0 crashes.
    remaining: u64,
    /// A process kill (what was written stays) rather than a power loss.
    kill: bool,
    /// Every point reached, in order (for the test's report).
    reached: Vec<&'static str>,
}

impl CrashPoints {
    /// Fails with [`Crash`] if this is the point the test chose.
    pub fn check(&self, point: &'static str) -> Result<(), Crash> {
        #[cfg(feature = "test-utils")]
        if let Some(armed) = &self.armed
            && let Ok(mut a) = armed.lock()
        {
            a.reached.push(point);
            if a.remaining == 0 {
                return Err(Crash(point));
            }
            a.remaining -= 1;
        }
        let _ = point;
        Ok(())
    }

    /// Whether a crash here loses what was written but not synced (a power loss),
    /// rather than keeping it (a killed process).
    pub fn loses_unsynced(&self) -> bool {
        #[cfg(feature = "test-utils")]
        if let Some(armed) = &self.armed
            && let Ok(a) = armed.lock()
        {
            return !a.kill;
        }
        true
    }
}

#[cfg(feature = "test-utils")]
impl CrashPoints {
    /// Crash points that fail the point reached after `pass` others have passed;
    /// `u64::MAX` only counts.
    pub fn crash_after_for_testing_only(pass: u64) -> Self {
        Self::armed(pass, false)
    }

    /// Like [`CrashPoints::crash_after_for_testing_only`], as a killed process: what
    /// was written and not synced stays on disk.
    pub fn kill_after_for_testing_only(pass: u64) -> Self {
        Self::armed(pass, true)
    }

    fn armed(pass: u64, kill: bool) -> Self {
        CrashPoints {
            armed: Some(std::sync::Arc::new(std::sync::Mutex::new(Arming {
                remaining: pass,
                kill,
                reached: Vec::new(),
            }))),
        }
    }

    /// The points reached so far.
    pub fn reached(&self) -> Vec<&'static str> {
        self.armed
            .as_ref()
            .and_then(|a| a.lock().ok().map(|a| a.reached.clone()))
            .unwrap_or_default()
    }
}
