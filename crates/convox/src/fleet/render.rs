//! What a fleet run shows: progress while it runs (on a terminal one spinner per running rack
//! under a line of counts; otherwise one plain line per rack as it ends) and the summary at
//! the end (a table, or `--output json`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use convox_aws::CallCounter;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;

use crate::cli::Output;
use crate::progress::Progress;
use crate::render::{print, print_json, table};
use crate::Fail;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunResult {
    Ok,
    Failed,
    /// Stopped by SIGINT/SIGTERM while it ran (recorded so in its history).
    Interrupted,
    /// Not begun: the run was interrupted first.
    NotStarted,
}

impl RunResult {
    fn text(self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::Failed => "FAILED",
            RunResult::Interrupted => "interrupted",
            RunResult::NotStarted => "not started",
        }
    }
}

/// One rack's line of the summary (`--output json`: stable keys).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RackRun {
    pub rack: String,
    pub result: RunResult,
    pub before_mode: Option<&'static str>,
    pub after_mode: Option<&'static str>,
    pub entries_created: u64,
    pub seconds: f64,
    pub api_calls: u64,
    pub throttled_calls: u64,
    pub error: Option<String>,
    /// The exit status an interruption asks for (128+N).
    #[serde(skip)]
    pub code: u8,
}

impl RackRun {
    pub(crate) fn not_started(rack: &str) -> RackRun {
        RackRun {
            rack: rack.to_string(),
            result: RunResult::NotStarted,
            before_mode: None,
            after_mode: None,
            entries_created: 0,
            seconds: 0.0,
            api_calls: 0,
            throttled_calls: 0,
            error: None,
            code: 1,
        }
    }

    pub(crate) fn ok(
        rack: &str,
        report: &convox_engine::Report,
        took: Duration,
        c: &CallCounter,
    ) -> RackRun {
        RackRun {
            result: RunResult::Ok,
            before_mode: Some(report.before.as_str()),
            after_mode: Some(report.after.as_str()),
            entries_created: c.succeeded("eks:CreateAccessEntry"),
            seconds: took.as_secs_f64(),
            api_calls: c.total(),
            throttled_calls: c.throttled(),
            ..RackRun::not_started(rack)
        }
    }

    pub(crate) fn failed(rack: &str, e: Fail, took: Duration, c: Option<&CallCounter>) -> RackRun {
        let interrupted = e.code > 128;
        RackRun {
            result: if interrupted {
                RunResult::Interrupted
            } else {
                RunResult::Failed
            },
            entries_created: c.map_or(0, |c| c.succeeded("eks:CreateAccessEntry")),
            seconds: took.as_secs_f64(),
            api_calls: c.map_or(0, CallCounter::total),
            throttled_calls: c.map_or(0, CallCounter::throttled),
            error: Some(e.to_string()),
            code: e.code,
            ..RackRun::not_started(rack)
        }
    }

    fn mode_text(&self) -> String {
        match (self.before_mode, self.after_mode) {
            (Some(b), Some(a)) if a != b => format!("{b} -> {a}"),
            (Some(b), _) => b.to_string(),
            _ => "-".to_string(),
        }
    }
}

/// Progress of the whole run.
pub(crate) struct View {
    multi: Option<MultiProgress>,
    counts: Option<ProgressBar>,
    total: usize,
    ended: AtomicUsize,
    failed: AtomicUsize,
}

impl View {
    pub(crate) fn new(total: usize, action: &str) -> View {
        let (multi, counts) = if std::io::stderr().is_terminal() {
            let m = MultiProgress::new();
            let c = m.add(ProgressBar::new(total as u64));
            if let Ok(s) = ProgressStyle::with_template("{prefix} [{bar:30}] {msg} ({elapsed})") {
                c.set_style(s.progress_chars("=> "));
            }
            c.set_prefix(action.to_string());
            c.enable_steady_tick(Duration::from_millis(200));
            (Some(m), Some(c))
        } else {
            (None, None)
        };
        let v = View {
            multi,
            counts,
            total,
            ended: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        };
        v.update_counts();
        v
    }

    fn update_counts(&self) {
        if let Some(c) = &self.counts {
            let ended = self.ended.load(Ordering::SeqCst);
            let failed = self.failed.load(Ordering::SeqCst);
            c.set_position(ended as u64);
            c.set_message(format!(
                "{} done, {failed} failed, {} left",
                ended - failed,
                self.total - ended
            ));
        }
    }

    /// A rack begins: its progress (a spinner of its own on a terminal, else quiet).
    pub(crate) fn start(&self, rack: &str) -> (Progress, Option<ProgressBar>) {
        match &self.multi {
            Some(m) => {
                let b = m.add(ProgressBar::new_spinner());
                if let Ok(s) = ProgressStyle::with_template("  {spinner} {prefix}: {msg}") {
                    b.set_style(s);
                }
                b.set_prefix(rack.to_string());
                b.enable_steady_tick(Duration::from_millis(120));
                (Progress::on_bar(b.clone()), Some(b))
            }
            None => (Progress::new(true), None),
        }
    }

    /// A rack ended: its spinner goes, the counts move; a plain line off a terminal.
    pub(crate) fn done(&self, run: &RackRun, bar: Option<ProgressBar>) {
        let n = self.ended.fetch_add(1, Ordering::SeqCst) + 1;
        if run.result != RunResult::Ok {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        self.update_counts();
        if self.multi.is_none() {
            let what = match (&run.result, &run.error) {
                (RunResult::Ok, _) => format!(
                    "ok, {}, {} entries created, {:.1} s",
                    run.mode_text(),
                    run.entries_created,
                    run.seconds
                ),
                (r, Some(e)) => format!("{}: {e}", r.text()),
                (r, None) => r.text().to_string(),
            };
            eprintln!(
                "[{n}/{}] {}: {}",
                self.total,
                convox_params::printable(&run.rack),
                convox_params::printable(&what)
            );
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(c) = &self.counts {
            c.finish_and_clear();
        }
    }
}

/// The end of a fleet run.
pub(crate) struct Summary {
    action: &'static str,
    parallel: usize,
    pub runs: Vec<RackRun>,
    seconds: f64,
    api_calls: u64,
    pub throttled: u64,
}

impl Summary {
    pub(crate) fn new(
        action: &'static str,
        parallel: usize,
        runs: Vec<RackRun>,
        took: Duration,
    ) -> Summary {
        Summary {
            action,
            parallel,
            api_calls: runs.iter().map(|r| r.api_calls).sum(),
            // Counted per client (every throttling answer, whether or not a bucket saw it).
            throttled: runs.iter().map(|r| r.throttled_calls).sum(),
            runs,
            seconds: took.as_secs_f64(),
        }
    }

    fn names(&self, pick: impl Fn(RunResult) -> bool) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| pick(r.result))
            .map(|r| r.rack.clone())
            .collect()
    }

    pub(crate) fn print(&self, output: Output) -> Result<(), Fail> {
        match output {
            Output::Json => print_json(&json!({
                "action": self.action,
                "parallel": self.parallel,
                "seconds": self.seconds,
                "api_calls": self.api_calls,
                "throttled_calls": self.throttled,
                "ok": self.names(|r| r == RunResult::Ok),
                "failed": self.names(|r| r != RunResult::Ok),
                "racks": self.runs,
            })),
            Output::Text => {
                print(&self.text());
                Ok(())
            }
        }
    }

    fn text(&self) -> String {
        let mut rows = vec![[
            "RACK".to_string(),
            "MODE".into(),
            "ENTRIES".into(),
            "TIME".into(),
            "RESULT".into(),
        ]];
        for r in &self.runs {
            rows.push([
                r.rack.clone(),
                r.mode_text(),
                r.entries_created.to_string(),
                format!("{:.1}s", r.seconds),
                r.result.text().to_string(),
            ]);
        }
        let mut s = table(&rows);
        for r in self.runs.iter().filter(|r| r.error.is_some()) {
            s.push_str(&format!(
                "{}: {}\n",
                r.rack,
                r.error.as_deref().unwrap_or_default()
            ));
        }
        let ok = self.names(|r| r == RunResult::Ok).len();
        s.push_str(&format!(
            "{ok} of {} racks ok in {:.1}s ({} API calls, {} throttled)\n",
            self.runs.len(),
            self.seconds,
            self.api_calls,
            self.throttled
        ));
        s
    }

    /// Exit 1 naming the racks that failed; 128+N when a signal interrupted the run.
    pub(crate) fn outcome(&self) -> Result<(), Fail> {
        let bad = self.names(|r| r != RunResult::Ok);
        if bad.is_empty() {
            return Ok(());
        }
        if let Some(code) = super::signal_code(&self.runs) {
            let started = self.names(|r| r == RunResult::Interrupted);
            return Err(Fail {
                msg: format!(
                    "interrupted: racks {} were recorded as interrupted, {} not started; rerun the command to finish",
                    started.join(", "),
                    self.names(|r| r == RunResult::NotStarted).len()
                ),
                code,
            });
        }
        Err(Fail::msg(format!(
            "{} of {} racks failed: {}; see `convox rack -r NAME` for each",
            bad.len(),
            self.runs.len(),
            bad.join(", ")
        )))
    }
}
