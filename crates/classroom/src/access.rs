//! Who may sit where: seats are capabilities.
//!
//! Three kinds of code, all random: the **instructor's code** (printed on the
//! instructor's terminal only) admits to any seats, the instructor's included; the
//! **join code** a class is given admits to one student seat (alpha, bravo or the
//! broker's desk), chosen at join; a **seat code** (in a seat's link) admits to that
//! seat only. A session holds exactly the seats its code granted, and every view,
//! stream and action is checked against them by the server. Joins are rate-limited per
//! address, and an instructor's session is never the one forgotten to make room, so no
//! student can take the room or push the instructor out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::view::Role;

/// Most sessions (browsers that joined) a class keeps; the oldest student session is
/// forgotten first.
pub const MAX_SESSIONS: usize = 256;
/// Joins one address may make per [`JOIN_WINDOW`]; more are refused (429).
pub const JOINS_PER_WINDOW: usize = 10;
/// The window of [`JOINS_PER_WINDOW`].
pub const JOIN_WINDOW: Duration = Duration::from_secs(10);
/// Addresses the rate limiter remembers at most (the oldest is forgotten).
const MAX_ADDRESSES: usize = 4096;

/// The seats a student code can admit to.
pub const STUDENT_SEATS: [Role; 4] = [Role::Alpha, Role::Bravo, Role::Third, Role::Broker];

/// `len` characters from an alphabet without look-alikes, from the OS's randomness.
pub fn random_code(len: usize) -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| {
            let i = usize::from(*b) % ALPHABET.len();
            char::from(ALPHABET.get(i).copied().unwrap_or(b'a'))
        })
        .collect())
}

/// Compares secrets without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No code of this class (answered late, to slow guessing).
    WrongCode,
    /// A real code, asked for seats it does not admit to.
    NotThisSeat(String),
}

/// The class's codes.
pub struct Codes {
    /// Admits to any seats.
    pub instructor: String,
    /// Admits to one student seat.
    pub join: String,
    /// Each admits to its seat only.
    pub seats: Vec<(Role, String)>,
}

impl Codes {
    /// Fresh random codes.
    pub fn new() -> anyhow::Result<Codes> {
        Ok(Codes {
            instructor: random_code(12)?,
            join: random_code(10)?,
            seats: STUDENT_SEATS
                .iter()
                .map(|r| Ok((*r, random_code(12)?)))
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// Whether `code` admits to exactly `roles`.
    pub fn grant(&self, code: &str, roles: &[Role]) -> Result<(), Refused> {
        let code = code.trim().as_bytes();
        if constant_time_eq(code, self.instructor.as_bytes()) {
            return Ok(());
        }
        if constant_time_eq(code, self.join.as_bytes()) {
            return match roles {
                [one] if STUDENT_SEATS.contains(one) => Ok(()),
                _ => Err(Refused::NotThisSeat(
                    "the join code admits to one seat: alpha, bravo or the broker's desk (the instructor's code admits to more)".to_owned(),
                )),
            };
        }
        for (seat, seat_code) in &self.seats {
            if constant_time_eq(code, seat_code.as_bytes()) {
                return match roles {
                    [one] if one == seat => Ok(()),
                    _ => Err(Refused::NotThisSeat(format!(
                        "this link admits to the {} seat only",
                        seat.as_str()
                    ))),
                };
            }
        }
        Err(Refused::WrongCode)
    }
}

/// Event streams one session may hold at once (a page holds one; a reload briefly two).
pub const STREAMS_PER_SESSION: usize = 4;
/// Event streams held in all.
pub const STREAMS_IN_ALL: usize = 200;

/// Open event streams: per session token, and in all.
#[derive(Default)]
struct StreamCounts {
    per_session: HashMap<String, usize>,
    total: usize,
}

/// One open event stream, counted until it is dropped.
pub struct StreamGuard {
    counts: std::sync::Arc<Mutex<StreamCounts>>,
    token: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut c = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_session.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_session.remove(&self.token);
            }
        }
    }
}

/// The sessions: token -> the seats it holds, oldest first.
#[derive(Default)]
pub struct Sessions {
    held: Mutex<Vec<(String, Vec<Role>)>>,
    joins: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    streams: std::sync::Arc<Mutex<StreamCounts>>,
}

impl Sessions {
    /// Counts a join from `from` at `now`: false if it is one too many.
    pub fn admit_join(&self, from: IpAddr, now: Instant) -> bool {
        let mut joins = self
            .joins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if joins.len() >= MAX_ADDRESSES && !joins.contains_key(&from) {
            // Forget the address whose last join is oldest.
            let oldest = joins
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                joins.remove(&ip);
            }
        }
        let times = joins.entry(from).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= JOIN_WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= JOINS_PER_WINDOW {
            return false;
        }
        times.push_back(now);
        true
    }

    /// A new session holding `roles`; makes room by forgetting the oldest student
    /// session, never an instructor's.
    pub fn open(&self, roles: Vec<Role>) -> anyhow::Result<String> {
        let token = random_code(32)?;
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.len() >= MAX_SESSIONS {
            let oldest_student = held
                .iter()
                .position(|(_, r)| !r.contains(&Role::Instructor))
                .unwrap_or(0);
            held.remove(oldest_student);
        }
        held.push((token.clone(), roles));
        Ok(token)
    }

    /// Counts a new event stream for `token`, or refuses it (none if the session or
    /// the class already holds as many as allowed).
    pub fn open_stream(&self, token: &str) -> Option<StreamGuard> {
        let mut c = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = c.per_session.get(token).copied().unwrap_or(0);
        if mine >= STREAMS_PER_SESSION || c.total >= STREAMS_IN_ALL {
            return None;
        }
        c.per_session
            .insert(token.to_owned(), mine.saturating_add(1));
        c.total = c.total.saturating_add(1);
        Some(StreamGuard {
            counts: std::sync::Arc::clone(&self.streams),
            token: token.to_owned(),
        })
    }

    /// The seats the session `token` holds.
    pub fn roles(&self, token: &str) -> Option<Vec<Role>> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.iter()
            .find(|(t, _)| constant_time_eq(t.as_bytes(), token.as_bytes()))
            .map(|(_, r)| r.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn each_code_admits_to_what_it_says_and_no_more() {
        let c = Codes::new().unwrap();
        let all = [Role::Alpha, Role::Bravo, Role::Broker, Role::Instructor];
        assert_eq!(c.grant(&c.instructor, &all), Ok(()));
        assert_eq!(c.grant(&c.join, &[Role::Bravo]), Ok(()));
        assert!(matches!(
            c.grant(&c.join, &[Role::Bravo, Role::Broker]),
            Err(Refused::NotThisSeat(_))
        ));
        assert!(matches!(
            c.grant(&c.join, &[Role::Instructor]),
            Err(Refused::NotThisSeat(_))
        ));
        let (seat, code) = c.seats.first().unwrap();
        assert_eq!(c.grant(code, &[*seat]), Ok(()));
        assert!(matches!(
            c.grant(code, &[Role::Instructor]),
            Err(Refused::NotThisSeat(_))
        ));
        assert_eq!(c.grant("guess", &[Role::Alpha]), Err(Refused::WrongCode));
    }

    #[test]
    fn an_instructor_is_never_forgotten_to_make_room() {
        let s = Sessions::default();
        let instructor = s.open(vec![Role::Instructor]).unwrap();
        for _ in 0..MAX_SESSIONS * 2 {
            s.open(vec![Role::Bravo]).unwrap();
        }
        assert_eq!(s.roles(&instructor), Some(vec![Role::Instructor]));
    }

    #[test]
    fn event_streams_are_capped_per_session_and_in_all() {
        let s = Sessions::default();
        let mine: Vec<StreamGuard> = (0..STREAMS_PER_SESSION)
            .map(|_| s.open_stream("t").unwrap())
            .collect();
        assert!(s.open_stream("t").is_none());
        drop(mine);
        assert!(
            s.open_stream("t").is_some(),
            "a closed stream frees its place"
        );
        let all: Vec<StreamGuard> = (0..STREAMS_IN_ALL)
            .filter_map(|i| s.open_stream(&format!("s{i}")))
            .collect();
        assert_eq!(all.len(), STREAMS_IN_ALL);
        assert!(s.open_stream("another").is_none());
    }

    #[test]
    fn joins_are_limited_per_address_and_window() {
        let s = Sessions::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..JOINS_PER_WINDOW {
            assert!(s.admit_join(a, t0));
        }
        assert!(!s.admit_join(a, t0));
        assert!(s.admit_join(b, t0), "another address is not held back");
        assert!(s.admit_join(a, t0 + JOIN_WINDOW), "the window passes");
    }
}
