//! The attacks, one per file. Each targets the lab's cast (`alpha` writes to `bravo`;
//! `charlie` is a third party) and the lab scenario (alpha's envelopes #1, #2, #3 to
//! bravo, after one to charlie), so that every attack is aimed at the same exchange.

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

use crate::adversary::Move;

/// The party whose messages are attacked.
pub const ALPHA: &str = "alpha";
/// Their intended recipient.
pub const BRAVO: &str = "bravo";
/// A third party who was never meant to receive them.
pub const CHARLIE: &str = "charlie";

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
        "alter" => Box::new(alter::Alter),
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
