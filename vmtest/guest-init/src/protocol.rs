//! Manifest (host → guest) and events (guest → host).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the manifest sits inside the initramfs.
pub const MANIFEST_PATH: &str = "/veto/manifest.json";

/// The serial device the guest writes its events to.
pub const RESULTS_DEVICE: &str = "/dev/ttyS1";

/// The value the init writes to isa-debug-exit after its done marker. QEMU turns a
/// write of `v` into the exit status `(v << 1) | 1`, see [`DONE_QEMU_STATUS`].
pub const DONE_EXIT_VALUE: u8 = 0x2a;

/// The QEMU exit status that a completed guest produces. A kernel panic with
/// `panic=-1 -no-reboot` exits 0 like a clean poweroff, so only this value says the
/// init reached its end.
pub const DONE_QEMU_STATUS: i32 = ((DONE_EXIT_VALUE as i32) << 1) | 1;

/// Exit code by which a guest test says "this kernel cannot do what I need"; the
/// first line it printed is the reason.
pub const EXIT_UNSUPPORTED: i32 = 77;

/// A line a test prints on stdout to report a figure: `VETO-METRIC name=value`.
pub const METRIC_PREFIX: &str = "VETO-METRIC ";

/// Most bytes of a test's output carried back in its result.
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// What the guest init must do, written by the host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Kernel modules to load, in dependency order (paths inside the initramfs).
    pub modules: Vec<String>,
    /// Tests to run, in order.
    pub tests: Vec<TestSpec>,
    /// Mount the host's root read-only over 9p at [`HOST_ROOT`] (generic-flavour
    /// kernels, after their 9p modules are loaded), for scenarios that need the
    /// host's programs such as Java.
    #[serde(default)]
    pub host_root: bool,
}

/// Where the host root is mounted when [`Manifest::host_root`] is set.
pub const HOST_ROOT: &str = "/host";

/// The 9p mount tag the host exports its root under.
pub const HOST_ROOT_TAG: &str = "hostroot";

/// One test program to run in the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// The test's name, unique within a run.
    pub name: String,
    /// Program and arguments; `argv[0]` is an absolute path in the initramfs.
    pub argv: Vec<String>,
    /// Seconds after which the test's process group is killed and the test fails.
    pub timeout_s: u64,
    /// Extra environment variables.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

/// Outcome of one test as judged by its exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exit code 0.
    Pass,
    /// Any other exit, a signal, or the timeout.
    Fail,
    /// Exit code [`EXIT_UNSUPPORTED`].
    Unsupported,
}

impl Status {
    /// The lowercase word used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unsupported => "unsupported",
        }
    }
}

/// One line on the results channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The init started: the guest's uptime then and `uname -r`.
    Init {
        /// `/proc/uptime` when the init began.
        uptime_s: f64,
        /// The running kernel's release.
        release: String,
    },
    /// A kernel module could not be loaded (loaded ones are not reported).
    ModuleError {
        /// Module path inside the initramfs.
        module: String,
        /// errno text.
        error: String,
    },
    /// The setup (mounts, loopback, modules) finished.
    Ready {
        /// Seconds spent loading modules.
        modules_s: f64,
        /// Mounts that failed, with the reason (a missing filesystem is not fatal:
        /// the tests that need it say unsupported).
        mount_errors: Vec<String>,
    },
    /// A test finished.
    Result {
        /// The test's name from the manifest.
        test: String,
        /// Pass, fail or unsupported.
        status: Status,
        /// Why, for fail and unsupported; empty for pass.
        reason: String,
        /// Wall time of the test inside the guest (emulated time under TCG).
        duration_s: f64,
        /// stdout then stderr, cut at [`OUTPUT_LIMIT`].
        output: String,
        /// Figures the test reported with [`METRIC_PREFIX`] lines.
        #[serde(default)]
        metrics: BTreeMap<String, f64>,
    },
    /// Every test ran; nothing follows but the isa-debug-exit write.
    Done {
        /// How many tests ran.
        tests: usize,
    },
}

/// Collects `VETO-METRIC name=value` lines from a test's stdout.
pub fn parse_metrics(stdout: &str) -> BTreeMap<String, f64> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix(METRIC_PREFIX))
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_json_lines() {
        let e = Event::Result {
            test: "probe".into(),
            status: Status::Unsupported,
            reason: "no BTF".into(),
            duration_s: 1.5,
            output: "no BTF\n".into(),
            metrics: BTreeMap::from([("load_s".into(), 0.25)]),
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.starts_with(r#"{"event":"result""#), "{line}");
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
    }

    #[test]
    fn metrics_are_read_from_prefixed_lines_only() {
        let m = parse_metrics("hello\nVETO-METRIC load_s=1.25\nVETO-METRIC bad=x\nload_s=9\n");
        assert_eq!(m, BTreeMap::from([("load_s".to_string(), 1.25)]));
    }

    #[test]
    fn done_status_is_what_qemu_reports_for_the_done_write() {
        assert_eq!(DONE_QEMU_STATUS, 85);
    }
}
