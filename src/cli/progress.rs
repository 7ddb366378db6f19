//! Progress lines for long waits: one line when a resource's status changes, and a heartbeat
//! every 30 seconds while it does not, on stderr (so stdout stays machine-readable).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
