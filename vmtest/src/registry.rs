//! What runs inside each kernel: the guest tests and the named scenarios.
//!
//! Each entry says which program of the initramfs to run, its timeout, and the
//! capabilities it needs (so an `unsupported` on a kernel that kernels.toml says
//! has them becomes a failure). The enforcer's end-to-end suite plugs in here as
//! further entries once its test binaries can run in a guest.

/// Capability names the built-in probe reports and kernels.toml may `expect`.
pub const KNOWN_CAPABILITIES: &[&str] = &[
    "bpf_lsm_active",
    "btf_vmlinux",
    "kprobes",
    "prog_socket_filter",
    "prog_kprobe",
    "prog_tracepoint",
    "prog_raw_tracepoint",
    "prog_perf_event",
    "prog_lsm",
    "prog_fentry",
    "helper_send_signal",
    "helper_override_return",
    "helper_probe_read_kernel",
    "map_ringbuf",
];

/// Whether an entry always runs or only when chosen with `--scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs in every selection (subject to `--test`).
    Test,
    /// Runs when chosen with `--scenario NAME`; the default scenario runs otherwise.
    Scenario,
}

/// One guest test or scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestTest {
    /// Name in results and filters.
    pub name: &'static str,
    /// Test or scenario.
    pub kind: Kind,
    /// Program and arguments inside the initramfs.
    pub argv: &'static [&'static str],
    /// Seconds before the guest kills it (emulated time is slow: verifier work
    /// under TCG takes many times longer than on hardware).
    pub timeout_s: u64,
    /// Capabilities it needs.
    pub needs: &'static [&'static str],
    /// Why it cannot run yet; selecting it is then an error carrying this reason.
    pub not_wired: Option<&'static str>,
}

/// The scenario run when no `--scenario` is given.
pub const DEFAULT_SCENARIO: &str = "enforce-exec-sh";

/// Every guest test and scenario.
pub const REGISTRY: &[GuestTest] = &[
    GuestTest {
        name: "probe",
        kind: Kind::Test,
        argv: &["/veto/bin/veto-guest-probe"],
        timeout_s: 180,
        needs: &[],
        not_wired: None,
    },
    GuestTest {
        name: "enforce-exec-sh",
        kind: Kind::Scenario,
        argv: &["/veto/bin/veto-guest-scenario", "enforce-exec-sh"],
        timeout_s: 400,
        needs: &["prog_tracepoint", "helper_send_signal"],
        not_wired: None,
    },
    GuestTest {
        name: "log4shell",
        kind: Kind::Scenario,
        argv: &[],
        timeout_s: 900,
        needs: &["prog_lsm", "bpf_lsm_active"],
        not_wired: Some(
            "not wired yet: the guest side of the Log4Shell scenario (the vulnerable app on \
             the host's Java, read from the host root that generic-flavour guests mount \
             over 9p at /host) is not written, and veto's enforcement is not wired to it",
        ),
    },
];

/// A selection problem.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// `--scenario` named nothing known.
    #[error("unknown scenario {0:?}; known: {1}")]
    UnknownScenario(String, String),
    /// The scenario exists but cannot run yet.
    #[error("scenario {0:?} is registered but {1}")]
    NotWired(String, String),
    /// `--test` matched nothing.
    #[error("--test {0:?} matches no test; known: {1}")]
    NoMatch(String, String),
}

/// The tests to run: every [`Kind::Test`] plus the chosen scenario (default
/// [`DEFAULT_SCENARIO`]), filtered by `test_filter` (a substring of the name).
pub fn select(
    scenario: Option<&str>,
    test_filter: Option<&str>,
) -> Result<Vec<&'static GuestTest>, SelectError> {
    let names = |kind| {
        REGISTRY
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted = scenario.unwrap_or(DEFAULT_SCENARIO);
    let chosen = REGISTRY
        .iter()
        .find(|t| t.kind == Kind::Scenario && t.name == wanted)
        .ok_or_else(|| SelectError::UnknownScenario(wanted.into(), names(Kind::Scenario)))?;
    if let Some(why) = chosen.not_wired {
        return Err(SelectError::NotWired(wanted.into(), why.into()));
    }
    let all: Vec<&GuestTest> = REGISTRY
        .iter()
        .filter(|t| t.kind == Kind::Test || std::ptr::eq(*t, chosen))
        .filter(|t| test_filter.is_none_or(|f| t.name.contains(f)))
        .collect();
    if all.is_empty() {
        let every = REGISTRY
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SelectError::NoMatch(
            test_filter.unwrap_or("").into(),
            every,
        ));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_selection_is_the_probe_and_the_default_scenario() {
        let names: Vec<_> = select(None, None).unwrap().iter().map(|t| t.name).collect();
        assert_eq!(names, ["probe", "enforce-exec-sh"]);
    }

    #[test]
    fn a_test_filter_keeps_matching_names_only() {
        let names: Vec<_> = select(None, Some("prob"))
            .unwrap()
            .iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["probe"]);
        assert!(select(None, Some("nothing")).is_err());
    }

    #[test]
    fn log4shell_is_registered_but_says_why_it_cannot_run() {
        let e = select(Some("log4shell"), None).unwrap_err().to_string();
        assert!(e.contains("not wired yet") && e.contains("9p"), "{e}");
        assert!(
            select(Some("nope"), None)
                .unwrap_err()
                .to_string()
                .contains("enforce-exec-sh")
        );
    }

    #[test]
    fn needed_capabilities_are_known_ones() {
        for t in REGISTRY {
            for n in t.needs {
                assert!(
                    KNOWN_CAPABILITIES.contains(n),
                    "{} needs unknown {n}",
                    t.name
                );
            }
        }
    }
}
