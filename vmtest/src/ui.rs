//! A terminal view of [`Progress`] events: a download bar, one line per VM event.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use veto_guest::protocol::Event;

use crate::fetch::FetchEvent;
use crate::matrix::Progress;

/// Consumes progress events and draws them on stderr.
#[derive(Default)]
pub struct Terminal {
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// A fresh view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows one event.
    pub fn show(&self, p: Progress) {
        match p {
            Progress::Fetch(FetchEvent::Updating) => {
                eprintln!("vmtest: refreshing the private Debian package lists")
            }
            Progress::Fetch(FetchEvent::Downloads { count, bytes }) => {
                let bar = ProgressBar::new(bytes);
                bar.set_style(
                    ProgressStyle::with_template(
                        "vmtest: downloading {msg} [{bar:30}] {bytes}/{total_bytes}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar.set_message(format!("{count} .deb(s)"));
                *self.bar.lock().expect("lock") = Some(bar);
            }
            Progress::Fetch(FetchEvent::Downloaded { package, bytes }) => {
                if let Some(b) = self.bar.lock().expect("lock").as_ref() {
                    b.inc(bytes);
                    b.set_message(package);
                }
            }
            Progress::Fetch(FetchEvent::Unpacked { kernel }) => {
                if let Some(b) = self.bar.lock().expect("lock").take() {
                    b.finish_and_clear();
                }
                eprintln!("vmtest: kernel {kernel} unpacked into the cache");
            }
            Progress::LockUpdated(path) => eprintln!("vmtest: wrote {}", path.display()),
            Progress::Waiting(dir) => eprintln!(
                "vmtest: another run is using {}; waiting for it (VETO_VMTEST_OUT and VETO_VMTEST_CACHE choose other folders)",
                dir.display()
            ),
            Progress::Boot { kernel } => eprintln!("vmtest: [{kernel}] booting"),
            Progress::Line { kernel, line } => match serde_json::from_str::<Event>(&line) {
                Ok(Event::Init { uptime_s, release }) => {
                    eprintln!(
                        "vmtest: [{kernel}] init started ({release}, guest uptime {uptime_s:.1} s)"
                    )
                }
                Ok(Event::ModuleError { module, error }) => {
                    eprintln!("vmtest: [{kernel}] module {module}: {error}")
                }
                Ok(Event::Result {
                    test,
                    status,
                    reason,
                    duration_s,
                    ..
                }) => {
                    eprintln!(
                        "vmtest: [{kernel}] {test}: {} ({duration_s:.1} s) {reason}",
                        status.as_str()
                    )
                }
                Ok(Event::Done { .. }) => eprintln!("vmtest: [{kernel}] done"),
                Ok(Event::Ready { .. }) => {}
                Err(_) => eprintln!("vmtest: [{kernel}] garbled line: {line}"),
            },
            Progress::Finished(run) => {
                let boot = run
                    .boot_s
                    .map(|b| format!("{b:.1} s"))
                    .unwrap_or_else(|| "-".into());
                eprintln!(
                    "vmtest: [{}] {} (boot to init {boot}, VM {:.0} s){}",
                    run.name,
                    run.status,
                    run.wall_s,
                    if run.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", run.reason)
                    }
                );
            }
        }
    }
}
