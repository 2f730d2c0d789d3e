//! docs/events.md is the published schema of [`Event`]: this test reads its two tables
//! and holds them against the type, so neither can change without the other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use backchannel_proto::Timestamp;
use backchannel_stage::{Event, EventName};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md")).unwrap()
}

/// The names in backticks in the first cell of each row of the table whose header row
/// starts with `header`.
fn first_cells(doc: &str, header: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_table = false;
    for line in doc.lines() {
        if line.starts_with(header) {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cell = line.split('|').nth(1).unwrap_or("");
        if cell.trim_start().starts_with("---") {
            continue;
        }
        for part in cell.split(',') {
            let name = part.trim().trim_matches('`');
            if !name.is_empty() {
                names.push(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_key_of_an_event_is_documented_and_nothing_else() {
    let event = Event::new(Timestamp::from_millis(0), "r", "alpha", EventName::Sent);
    let json = serde_json::to_value(&event).unwrap();
    let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
    let mut documented = first_cells(&doc(), "| key |");
    keys.sort();
    documented.sort();
    assert_eq!(keys, documented);
}

#[test]
fn every_event_name_is_documented_and_nothing_else() {
    let mut names: Vec<String> = EventName::ALL
        .iter()
        .map(|n| {
            let serialised = serde_json::to_value(n).unwrap();
            assert_eq!(serialised, serde_json::json!(n.as_str()));
            n.as_str().to_owned()
        })
        .collect();
    let mut documented = first_cells(&doc(), "| event |");
    names.sort();
    documented.sort();
    assert_eq!(names, documented);
}

#[test]
fn an_absent_key_is_null_and_the_time_is_rfc3339() {
    let event = Event::new(
        Timestamp::from_millis(1_700_000_000_123),
        "r",
        "alpha",
        EventName::NoReceipt,
    );
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(json["event"], "no-receipt");
    assert!(json["refused"].is_null());
    assert!(json["seq"].is_null());
}
