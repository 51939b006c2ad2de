//! Progress on stderr: an indicatif spinner saying what we wait for when stderr is a
//! terminal; otherwise plain lines, each distinct message once (no spinner noise in logs).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Every spinner made, so that the ERROR line is never printed onto a spinner's line
/// whatever path a command failed on ([`clear_all`]).
static LIVE: Mutex<Vec<ProgressBar>> = Mutex::new(Vec::new());

/// Clears every spinner still on screen (before the final ERROR line).
pub fn clear_all() {
    if let Ok(mut live) = LIVE.lock() {
        for b in live.drain(..) {
            b.finish_and_clear();
        }
    }
}

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    last: Arc<Mutex<String>>,
    quiet: bool,
}

impl Progress {
    /// `quiet`: no plain lines (JSON output, or the caller wants silence).
    pub fn new(quiet: bool) -> Progress {
        let bar = if std::io::stderr().is_terminal() && !quiet {
            let b = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(100));
            if let Ok(mut live) = LIVE.lock() {
                live.push(b.clone());
            }
            Some(b)
        } else {
            None
        };
        Progress {
            bar,
            last: Arc::new(Mutex::new(String::new())),
            quiet,
        }
    }

    /// Progress shown on a bar another view owns (a fleet run's spinner for one rack).
    pub fn on_bar(bar: ProgressBar) -> Progress {
        Progress {
            bar: Some(bar),
            last: Arc::new(Mutex::new(String::new())),
            quiet: true,
        }
    }

    pub fn say(&self, msg: &str) {
        // Messages name ARNs and clusters as AWS spelled them: never raw controls.
        let msg = &*convox_params::printable(msg);
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
            return;
        }
        if self.quiet {
            return;
        }
        let mut last = match self.last.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        if *last != msg {
            eprintln!("{msg}");
            *last = msg.to_string();
        }
    }

    /// Something a person must see even when progress is quiet (JSON output, `rack auth`):
    /// a call still waiting for its answer, and when it gives up. On stderr, so stdout stays
    /// a clean result.
    pub fn notice(&self, msg: &str) {
        let msg = &*convox_params::printable(msg);
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
            return;
        }
        // Each distinct notice once (every retry of a hung call says the same).
        let mut last = match self.last.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        if *last != msg {
            eprintln!("{msg}");
            *last = msg.to_string();
        }
    }

    pub fn notice_callback(&self) -> convox_aws::ProgressCallback {
        let me = self.clone();
        Arc::new(move |m: &str| me.notice(m))
    }

    /// A spinner-only status for a phase that is usually quick but may not be (a slow network,
    /// the SDK retrying): shown on a terminal, never as a plain line (logs stay quiet).
    pub fn status(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }

    pub fn callback(&self) -> convox_aws::ProgressCallback {
        let me = self.clone();
        Arc::new(move |m: &str| me.say(m))
    }

    /// Runs `f` (which prints) with the spinner, if any, out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The engine's progress lines and warnings, on stderr.
impl convox_engine::Events for Progress {
    fn say(&self, msg: &str) {
        Progress::say(self, msg);
    }
    /// A warning for a person: never swallowed by a spinner or by quiet progress.
    fn warn(&self, msg: &str) {
        self.suspend(|| eprintln!("WARNING: {}", convox_params::printable(msg)));
    }
}
