//! What a run tells the person (or fleet runner) driving it while it runs: progress lines and
//! warnings. The engine never prints; the binary renders these on stderr (a spinner, plain
//! lines), a fleet runner may prefix them with the rack's name or drop them.

/// Where a run's progress and warnings go. `Sync`: one sink may serve concurrent runs.
pub trait Events: Sync {
    /// A progress line ("waiting for rack R's lock …").
    fn say(&self, msg: &str);
    /// Something a person must see even when progress is quiet (a downgrade's risk).
    fn warn(&self, msg: &str);
}

/// Drops everything (tests, callers that only want the result).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Events for Silent {
    fn say(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}
