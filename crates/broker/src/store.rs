//! The broker's durable store of queued frames: mailboxes survive a crash.
//!
//! **Why redb.** The store is an embedded, transactional key-value file (redb): a
//! commit is atomic and durable when it returns (copy-on-write B-trees, checksummed
//! pages, two-phase commit), and a torn write from a crash is rolled back to the last
//! commit on open. That is exactly what a mailbox needs, and it has had the crash
//! testing a hand-rolled log would not. Frames that arrive together are committed
//! together (group commit, `store_writer.rs`) **as one entry**: one sealed record per
//! group, not per frame, so the store costs a commit per group and about one AEAD
//! pass over the bytes per frame. A group is removed once every frame in it was
//! written to its recipient.
//!
//! **Sealed at rest.** Each group is sealed with XChaCha20-Poly1305 under the broker's
//! storage key (`broker.storage-key`, 0600, beside `broker.key`), with a fresh random
//! 192-bit nonce and the group's id as associated data: a copied disk shows no traffic
//! (only how many groups wait and their sizes, not even for whom), and a group that
//! was altered or put back under another id fails to open. Ids are never reused (the
//! next id is committed with each group), so an old group put back fails too. A
//! damaged group is reported and dropped, never delivered; a store the key does not
//! open is refused.
//!
//! What a crash can lose is stated in `proto-spec/nodes.md` §3.1.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use redb::{Database, Durability, ReadableDatabase as _, ReadableTable as _, TableDefinition};

/// Groups of queued frames by id.
const QUEUED: TableDefinition<u64, &[u8]> = TableDefinition::new("queued");
/// `next-id` and `key-check`.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const NEXT_ID: &str = "next-id";
const KEY_CHECK: &str = "key-check";
const KEY_CHECK_TEXT: &[u8] = b"backchannel broker storage key check";
const DOMAIN: &[u8] = b"backchannel/v1/broker-store\0";
const NONCE_LEN: usize = 24;
const KEY_FILE_LABEL: &str = "backchannel-storage-key";

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened, read or written.
    #[error("{path}: {detail}")]
    Database {
        /// The store file.
        path: PathBuf,
        /// What redb said.
        detail: String,
    },
    /// The storage key file is missing, unreadable or malformed.
    #[error("{path}: {detail}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The key does not open this store: a different deployment's key, or a
    /// replaced store.
    #[error(
        "{path}: the storage key does not open this store (wrong broker.storage-key, or the store was replaced)"
    )]
    WrongKey {
        /// The store file.
        path: PathBuf,
    },
    /// No randomness for a nonce.
    #[error("no randomness for a nonce: {0}")]
    Random(String),
    /// The store is missing, empty, or was never opened under this deployment's key:
    /// starting on it would silently lose every message that was queued.
    #[error(
        "{path}: no broker store here (missing, empty or never initialised): the messages it held would be lost without a word. Restore it; or, to start with an empty store on purpose, run the broker with --new-store (`init` creates the store for a new deployment)"
    )]
    Missing {
        /// The store file.
        path: PathBuf,
    },
}

/// A frame waiting in a mailbox, as kept in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFrame {
    /// The id of the group it was stored with (increasing in arrival order).
    pub group: u64,
    /// The mailbox.
    pub recipient: String,
    /// The party whose envelope it is (for quotas).
    pub from: String,
    /// The frame as it will be delivered.
    pub frame: Vec<u8>,
}

/// A group of frames to store under one id.
#[derive(Clone, Debug)]
pub struct NewGroup<'a> {
    /// Its id.
    pub id: u64,
    /// Its frames: (recipient, from, frame).
    pub frames: Vec<(&'a str, &'a str, &'a [u8])>,
}

/// What opening the store found.
#[derive(Debug)]
pub struct Recovered {
    /// Every intact queued frame, in arrival order.
    pub frames: Vec<StoredFrame>,
    /// Groups that failed to open (damaged or tampered): dropped, never delivered.
    pub damaged: Vec<u64>,
}

/// The sealed, durable store.
pub struct Store {
    db: Database,
    cipher: XChaCha20Poly1305,
    path: PathBuf,
    next_id: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

/// Writes a new random storage key to `path` (mode 0600); refuses to overwrite one.
pub fn create_storage_key(path: &Path) -> Result<(), StoreError> {
    let key_err = |detail: String| StoreError::Key {
        path: path.to_owned(),
        detail,
    };
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StoreError::Random(e.to_string()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| key_err(e.to_string()))?;
    let text = format!("{KEY_FILE_LABEL} {}\n", hex(&key));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_err(e.to_string()))
}

/// Reads the storage key at `path`, refusing a file other users could read.
pub fn read_storage_key(path: &Path) -> Result<[u8; 32], StoreError> {
    let key_err = |detail: String| StoreError::Key {
        path: path.to_owned(),
        detail,
    };
    backchannel_net::key_files::check_private_permissions(path)
        .map_err(|e| key_err(e.to_string()))?;
    let text = fs::read_to_string(path).map_err(|e| key_err(e.to_string()))?;
    let hex_text = text
        .trim()
        .strip_prefix(KEY_FILE_LABEL)
        .map(str::trim)
        .ok_or_else(|| {
            key_err(format!(
                "not a storage key (expected `{KEY_FILE_LABEL} <64 hex digits>`)"
            ))
        })?;
    let mut key = [0u8; 32];
    if hex_text.len() != 64 {
        return Err(key_err("a storage key is 64 hex digits".into()));
    }
    for (i, byte) in key.iter_mut().enumerate() {
        let digits = hex_text
            .get(2 * i..2 * i + 2)
            .and_then(|d| u8::from_str_radix(d, 16).ok())
            .ok_or_else(|| key_err("a storage key is 64 hex digits".into()))?;
        *byte = digits;
    }
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Opens (or creates) the store at `path` under `key`, and returns every frame
    /// still queued in it.
    pub fn open(path: &Path, key: &[u8; 32]) -> Result<(Store, Recovered), StoreError> {
        Self::open_with(path, key, true)
    }

    /// Opens the store at `path` under `key`, refusing one that is missing, empty or
    /// was never opened under a key ([`StoreError::Missing`]): what a broker restart
    /// does, so a lost store is never taken for one with nothing queued.
    pub fn open_existing(path: &Path, key: &[u8; 32]) -> Result<(Store, Recovered), StoreError> {
        let missing = || StoreError::Missing {
            path: path.to_owned(),
        };
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => return Err(missing()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => {
                return Err(StoreError::Database {
                    path: path.to_owned(),
                    detail: e.to_string(),
                });
            }
        }
        Self::open_with(path, key, false)
    }

    fn open_with(
        path: &Path,
        key: &[u8; 32],
        create: bool,
    ) -> Result<(Store, Recovered), StoreError> {
        let db_err = |e: &dyn std::fmt::Display| StoreError::Database {
            path: path.to_owned(),
            detail: e.to_string(),
        };
        let db = Database::create(path).map_err(|e| db_err(&e))?;
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        let mut store = Store {
            db,
            cipher,
            path: path.to_owned(),
            next_id: 1,
        };
        store.check_key(create)?;
        let recovered = store.recover()?;
        Ok((store, recovered))
    }

    fn db_err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    /// Confirms the key opens this store (writing the check on first use, when
    /// `create`) and loads the next id.
    fn check_key(&mut self, create: bool) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
            let check = meta
                .get(KEY_CHECK)
                .map_err(|e| self.db_err(e))?
                .map(|v| v.value().to_vec());
            match check {
                Some(sealed) => {
                    if self.open_sealed(KEY_CHECK.as_bytes(), &sealed).as_deref()
                        != Some(KEY_CHECK_TEXT)
                    {
                        return Err(StoreError::WrongKey {
                            path: self.path.clone(),
                        });
                    }
                }
                None if !create => {
                    return Err(StoreError::Missing {
                        path: self.path.clone(),
                    });
                }
                None => {
                    let sealed = self.seal(KEY_CHECK.as_bytes(), KEY_CHECK_TEXT)?;
                    meta.insert(KEY_CHECK, sealed.as_slice())
                        .map_err(|e| self.db_err(e))?;
                }
            }
            if let Some(v) = meta.get(NEXT_ID).map_err(|e| self.db_err(e))? {
                let bytes: [u8; 8] = v.value().try_into().unwrap_or([0; 8]);
                self.next_id = u64::from_be_bytes(bytes).max(1);
            }
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    fn recover(&mut self) -> Result<Recovered, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let mut frames = Vec::new();
        let mut damaged = Vec::new();
        let table = match txn.open_table(QUEUED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Ok(Recovered { frames, damaged });
            }
            Err(e) => return Err(self.db_err(e)),
        };
        // Keys iterate in order: groups come back in the order they were stored.
        for entry in table.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = entry.map_err(|e| self.db_err(e))?;
            let group = k.value();
            let plain = self.open_sealed(&group_aad(group), v.value());
            match plain.as_deref().and_then(|p| split_group(group, p)) {
                Some(mut found) => frames.append(&mut found),
                None => damaged.push(group),
            }
        }
        drop(table);
        drop(txn);
        if !damaged.is_empty() {
            self.commit(&[], damaged.iter().copied())?;
        }
        Ok(Recovered { frames, damaged })
    }

    /// The id the next new group must have at least (ids only grow).
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Seals and inserts `groups` (each an id, at least [`Store::next_id`] and
    /// increasing, and its frames as (recipient, from, frame)) and removes the groups
    /// in `finished`, in one durable transaction. With no group to insert the commit
    /// does not wait for the disk: removals become durable with the next group (a
    /// crash before that delivers those frames again; their recipients drop them as
    /// replays).
    pub fn commit<'a>(
        &mut self,
        groups: &[NewGroup<'a>],
        finished: impl IntoIterator<Item = u64>,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        if groups.is_empty() {
            txn.set_durability(Durability::None)
                .map_err(|e| self.db_err(e))?;
        }
        let mut next = self.next_id;
        {
            let mut table = txn.open_table(QUEUED).map_err(|e| self.db_err(e))?;
            for id in finished {
                table.remove(id).map_err(|e| self.db_err(e))?;
            }
            for group in groups {
                if group.id < next {
                    return Err(
                        self.db_err(format!("group id {} reused (next is {next})", group.id))
                    );
                }
                let mut plain = Vec::new();
                for (recipient, from, frame) in &group.frames {
                    join_entry(recipient, from, frame, &mut plain);
                }
                let sealed = self.seal(&group_aad(group.id), &plain)?;
                table
                    .insert(group.id, sealed.as_slice())
                    .map_err(|e| self.db_err(e))?;
                next = group.id + 1;
            }
            if next != self.next_id {
                let mut meta = txn.open_table(META).map_err(|e| self.db_err(e))?;
                meta.insert(NEXT_ID, next.to_be_bytes().as_slice())
                    .map_err(|e| self.db_err(e))?;
            }
        }
        txn.commit().map_err(|e| self.db_err(e))?;
        self.next_id = next;
        Ok(())
    }

    fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| StoreError::Random("sealing failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, body) = sealed.split_first_chunk::<NONCE_LEN>()?;
        self.cipher
            .decrypt(&XNonce::from(*nonce), Payload { msg: body, aad })
            .ok()
    }
}

fn group_aad(group: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DOMAIN.len() + 8);
    aad.extend_from_slice(DOMAIN);
    aad.extend_from_slice(&group.to_be_bytes());
    aad
}

/// Appends one frame to a group's plaintext:
/// `u8 len(recipient) || recipient || u8 len(from) || from || u32 len(frame) || frame`
/// (names are at most 32 bytes, frames at most 64 KiB + header).
fn join_entry(recipient: &str, from: &str, frame: &[u8], out: &mut Vec<u8>) {
    for name in [recipient, from] {
        let bytes = name.as_bytes();
        let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
        out.push(len);
        out.extend_from_slice(bytes.get(..usize::from(len)).unwrap_or_default());
    }
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame.get(..len as usize).unwrap_or_default());
}

fn split_group(group: u64, mut rest: &[u8]) -> Option<Vec<StoredFrame>> {
    fn name<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
        let (len, tail) = rest.split_first()?;
        let (name, tail) = tail.split_at_checked(usize::from(*len))?;
        *rest = tail;
        std::str::from_utf8(name).ok()
    }
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let recipient = name(&mut rest)?;
        let from = name(&mut rest)?;
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let (frame, tail) = tail.split_at_checked(u32::from_be_bytes(*len) as usize)?;
        rest = tail;
        frames.push(StoredFrame {
            group,
            recipient: recipient.to_owned(),
            from: from.to_owned(),
            frame: frame.to_vec(),
        });
    }
    Some(frames)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("backchannel-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn append(store: &mut Store, frames: &[(&str, &str, &[u8])]) -> u64 {
        let id = store.next_id();
        let group = NewGroup {
            id,
            frames: frames.to_vec(),
        };
        store.commit(&[group], []).unwrap();
        id
    }

    #[test]
    fn frames_survive_reopening_in_order_and_finished_groups_do_not() {
        let dir = scratch("reopen");
        let key = [7u8; 32];
        let path = dir.join("broker.store");
        let (mut store, found) = Store::open(&path, &key).unwrap();
        assert!(found.frames.is_empty());
        let first = append(&mut store, &[("bravo", "alpha", b"one")]);
        let second = append(
            &mut store,
            &[("bravo", "charlie", b"two"), ("alpha", "bravo", b"three")],
        );
        assert!(second > first);
        store.commit(&[], [first]).unwrap();
        drop(store);
        let (mut store, found) = Store::open(&path, &key).unwrap();
        let got: Vec<_> = found
            .frames
            .iter()
            .map(|f| {
                (
                    f.group,
                    f.recipient.as_str(),
                    f.from.as_str(),
                    f.frame.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (second, "bravo", "charlie", b"two".as_slice()),
                (second, "alpha", "bravo", b"three".as_slice())
            ]
        );
        // Ids keep growing across reopening: none is ever reused.
        let third = append(&mut store, &[("bravo", "alpha", b"four")]);
        assert!(third > second);
    }

    #[test]
    fn a_copied_store_shows_no_traffic() {
        let dir = scratch("sealed");
        let path = dir.join("broker.store");
        let (mut store, _) = Store::open(&path, &[1u8; 32]).unwrap();
        let secret = b"No preemptive strike absent provocation";
        append(&mut store, &[("bravo", "alpha", secret)]);
        drop(store);
        let raw = fs::read(&path).unwrap();
        for needle in [secret.as_slice(), b"No pree", b"bravo", b"alpha"] {
            assert!(!raw.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let dir = scratch("wrong-key");
        let path = dir.join("broker.store");
        drop(Store::open(&path, &[1u8; 32]).unwrap());
        let err = Store::open(&path, &[2u8; 32]).unwrap_err();
        assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    }

    #[test]
    fn a_group_moved_or_altered_is_dropped_not_delivered() {
        let dir = scratch("tamper");
        let path = dir.join("broker.store");
        let key = [3u8; 32];
        let (mut store, _) = Store::open(&path, &key).unwrap();
        let a = append(&mut store, &[("bravo", "alpha", b"for bravo")]);
        let b = append(&mut store, &[("charlie", "alpha", b"for charlie")]);
        // An attacker with the file copies charlie's group under a new id and flips a
        // bit in bravo's.
        {
            let txn = store.db.begin_write().unwrap();
            {
                let mut t = txn.open_table(QUEUED).unwrap();
                let copied = t.get(b).unwrap().unwrap().value().to_vec();
                t.insert(99, copied.as_slice()).unwrap();
                let mut own = t.get(a).unwrap().unwrap().value().to_vec();
                let last = own.len() - 1;
                own[last] ^= 1;
                t.insert(a, own.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        drop(store);
        let (store, found) = Store::open(&path, &key).unwrap();
        assert_eq!(found.frames.len(), 1);
        assert_eq!(found.frames[0].recipient, "charlie");
        assert_eq!(found.damaged, vec![a, 99]);
        // Dropped for good: the next open finds only the intact one.
        drop(store);
        let (_, again) = Store::open(&path, &key).unwrap();
        assert!(again.damaged.is_empty());
        assert_eq!(again.frames.len(), 1);
    }

    #[test]
    fn storage_keys_are_written_private_and_read_back() {
        let dir = scratch("key");
        let path = dir.join("broker.storage-key");
        create_storage_key(&path).unwrap();
        let key = read_storage_key(&path).unwrap();
        assert_ne!(key, [0u8; 32]);
        assert!(create_storage_key(&path).is_err(), "overwrote a key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(read_storage_key(&path).is_err());
        }
    }
}
