//! Progress for long waits, on stderr (stdout stays machine-readable): a spinner per resource on a
//! terminal (indicatif); elsewhere one line when a status changes and a heartbeat every 30 s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gitfleet::bootstrap::rollout::{Event, Reporter};
use gitfleet::provider::Progress;

pub struct Lines {
    prefix: String,
    last: Mutex<HashMap<String, (String, Instant)>>,
}

impl Lines {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            last: Mutex::new(HashMap::new()),
        }
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

impl Progress for Lines {
    fn status(&self, what: &str, status: &str, elapsed: Duration) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let print = match last.get(what) {
            Some((s, at)) => s != status || now.duration_since(*at) >= Duration::from_secs(30),
            None => true,
        };
        if print {
            eprintln!("[{}] {what}: {status} ({})", self.prefix, clock(elapsed));
            last.insert(what.to_string(), (status.to_string(), now));
        }
    }
}

/// Spinners on a terminal, one per resource being waited for.
pub struct Spinners {
    prefix: String,
    multi: indicatif::MultiProgress,
    bars: Mutex<HashMap<String, indicatif::ProgressBar>>,
}

impl Spinners {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            multi: indicatif::MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Spinners {
    fn status(&self, what: &str, status: &str, elapsed: Duration) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(what.to_string()).or_insert_with(|| {
            let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{prefix}] {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_prefix(self.prefix.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let msg = format!("{what}: {status} ({})", clock(elapsed));
        if matches!(status, "ACTIVE" | "DELETED" | "Succeeded" | "Ready") {
            bar.finish_with_message(msg);
        } else {
            bar.set_message(msg);
        }
    }
}

/// The progress display fitting where stderr goes.
pub fn for_cluster(prefix: &str) -> Box<dyn Progress> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Box::new(Spinners::new(prefix))
    } else {
        Box::new(Lines::new(prefix))
    }
}

/// How `up` and `down` tell what they are doing: on stderr, prefixed by the cluster.
pub struct Stderr;

impl Reporter for Stderr {
    fn progress(&self, cluster: &str) -> Box<dyn Progress> {
        for_cluster(cluster)
    }

    fn event(&self, cluster: &str, event: Event<'_>) {
        match event {
            Event::Applying(step) => eprintln!("[{cluster}] {step} ..."),
            Event::Applied(step) => eprintln!("[{cluster}] {step}: done"),
            Event::Warning(warning) => eprintln!("[{cluster}] warning: {warning}"),
        }
    }
}
