//! The attacks, one per file. Each is written for three roles, [`ALPHA`] writing to
//! [`BRAVO`] with [`CHARLIE`] a third party, and for positions in the conversation
//! ("alpha's 2nd message to bravo"), so that every attack is aimed at the same
//! exchange. A [`Cast`] says which registered party plays each role (in the lab:
//! alpha, bravo and charlie; with `broker --adversary`: the first three parties of the
//! roster), and positions count from the first envelope the broker sees in each
//! direction, so a move fires on the next envelope it applies to, however long the
//! conversation has been going.

pub mod cast;
mod scripted;
pub mod vocabulary;

mod alter;
mod delay;
mod downgrade;
mod drop;
mod drop_receipt;
mod equivocate;
mod forge;
mod forge_receipt;
mod honest;
mod redirect;
mod reflect;
mod reorder;
mod replay;
mod splice;
mod substitute_key;
mod withhold;

pub use cast::{ALPHA, BRAVO, CHARLIE, Cast};
pub use scripted::ScriptedMove;
pub use vocabulary::{Move, Out};

/// Every strategy name, the honest baseline first, in the order of the spec.
pub const ALL: &[&str] = &[
    "honest",
    "forge",
    "alter",
    "replay",
    "reorder",
    "drop",
    "withhold",
    "delay",
    "redirect",
    "reflect",
    "splice",
    "downgrade",
    "equivocate",
    "forge-receipt",
    "substitute-key",
    "drop-receipt",
];

/// A fresh instance of the move named `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Move>> {
    Some(match name {
        "honest" => Box::new(honest::Honest),
        "forge" => Box::new(forge::Forge),
        "alter" => Box::new(alter::Alter::default()),
        "replay" => Box::new(replay::Replay::default()),
        "reorder" => Box::new(reorder::Reorder::default()),
        "drop" => Box::new(drop::Drop),
        "withhold" => Box::new(withhold::Withhold),
        "delay" => Box::new(delay::Delay::default()),
        "redirect" => Box::new(redirect::Redirect),
        "reflect" => Box::new(reflect::Reflect),
        "splice" => Box::new(splice::Splice),
        "downgrade" => Box::new(downgrade::Downgrade),
        "equivocate" => Box::new(equivocate::Equivocate),
        "forge-receipt" => Box::new(forge_receipt::ForgeReceipt::default()),
        "substitute-key" => Box::new(substitute_key::SubstituteKey::new()),
        "drop-receipt" => Box::new(drop_receipt::DropReceipt),
        _ => return None,
    })
}
