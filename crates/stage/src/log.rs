//! The events of one or more runs, written as JSON lines (`--events FILE`).

use std::path::Path;

use crate::event::Event;

/// Events of one or more runs, in the order they were added.
#[derive(Default, Clone, Debug)]
pub struct EventLog {
    events: Vec<Event>,
}

impl EventLog {
    /// Adds a run's events.
    pub fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
    }

    /// The events in time order (events of one time in the order they were added).
    pub fn in_order(&self) -> Vec<Event> {
        let mut events = self.events.clone();
        events.sort_by_key(|e| e.time);
        events
    }

    /// The events as JSON lines, in time order.
    pub fn json_lines(&self) -> Result<String, serde_json::Error> {
        let mut text = String::new();
        for e in self.in_order() {
            text.push_str(&serde_json::to_string(&e)?);
            text.push('\n');
        }
        Ok(text)
    }

    /// Writes the events as JSON lines to `path`, in time order.
    pub fn write(&self, path: &Path) -> Result<(), crate::StageError> {
        let text = self.json_lines().map_err(|e| crate::StageError::Io {
            what: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(path, text).map_err(|source| crate::StageError::Io {
            what: path.display().to_string(),
            source,
        })
    }
}
