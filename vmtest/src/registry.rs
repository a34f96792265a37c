//! What runs inside each kernel: the guest tests and the named scenarios.
//!
//! Each entry says which program of the initramfs to run, its timeout, and the
//! capabilities it needs (so an `unsupported` on a kernel that kernels.toml says
//! has them becomes a failure). The `e2e` entry is veto's host end-to-end suite
//! ([`crate::suite`]): it becomes one guest test per test of that suite.

use crate::suite::HostSuite;

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
    /// Runs in every selection as one guest test per test of veto's host
    /// end-to-end suite, named `e2e::TEST` (`--test e2e` selects them all).
    HostSuite,
}

/// One registered guest test or scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
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
    /// Extra environment variables.
    pub env: &'static [(&'static str, &'static str)],
}

/// The scenario run when no `--scenario` is given.
pub const DEFAULT_SCENARIO: &str = "enforce-exec-sh";

/// Every guest test and scenario.
pub const REGISTRY: &[Entry] = &[
    Entry {
        name: "probe",
        kind: Kind::Test,
        argv: &["/veto/bin/veto-guest-probe"],
        timeout_s: 180,
        needs: &[],
        not_wired: None,
        env: &[],
    },
    Entry {
        name: E2E,
        kind: Kind::HostSuite,
        argv: &[LIBTEST_RUNNER],
        // Each test starts its own veto (verification under TCG included) and
        // waits up to 120 s for it to be ready.
        timeout_s: 300,
        // The suite has no unsupported path of its own: a kernel that cannot
        // enforce fails it. Unsupported comes only from the guest image (a
        // missing program), which says nothing about the kernel.
        needs: &[],
        not_wired: None,
        env: &[],
    },
    Entry {
        name: "enforce-exec-sh",
        kind: Kind::Scenario,
        argv: &["/veto/bin/veto-guest-scenario", "enforce-exec-sh"],
        timeout_s: 400,
        needs: &["prog_tracepoint", "helper_send_signal"],
        not_wired: None,
        env: &[],
    },
    Entry {
        name: LOG4SHELL,
        kind: Kind::Scenario,
        argv: &["/bin/sh", "-c", LOG4SHELL_SCRIPT],
        // javac and a JVM under TCG: minutes, not seconds.
        timeout_s: 1200,
        // Nothing enforces here yet: the expected outcome is the attack succeeding,
        // which needs no kernel capability.
        needs: &[],
        not_wired: None,
        env: &[
            ("JAVA_HOME", LOG4SHELL_JAVA_HOME),
            // The host's Java links against the host's libraries, read from /host.
            (
                "LD_LIBRARY_PATH",
                "/host/usr/lib/x86_64-linux-gnu:/host/lib/x86_64-linux-gnu",
            ),
        ],
    },
];

/// The Log4Shell scenario: the real attack (veto-log4shell: the vulnerable Java app,
/// the LDAP referral, the remote class, the attacker's commands) on the host's
/// Java 17, read over 9p from the host root that generic-flavour guests mount at
/// /host. No policy is loaded: its pass means the guest was compromised, the
/// baseline an enforced variant must turn into `blocked` once veto's enforcement
/// is wired to it. On a kernel without the host root (cloud flavour: no 9p) it
/// reports unsupported.
pub const LOG4SHELL: &str = "log4shell";

/// The host's Java 17 as the guest sees it (the image links /usr/lib/jvm to
/// /host/usr/lib/jvm, so the JDK's absolute links resolve).
pub const LOG4SHELL_JAVA_HOME: &str = "/usr/lib/jvm/java-17-openjdk-amd64";

/// Where the guest keeps the scenario's binary.
pub const LOG4SHELL_BINARY: &str = "/veto/bin/veto-log4shell";

const LOG4SHELL_SCRIPT: &str = "\
if [ ! -x /host/usr/lib/jvm/java-17-openjdk-amd64/bin/javac ]; then \
  echo 'needs the host root over 9p at /host with Java 17 (generic-flavour kernels; cloud kernels have no 9p)'; \
  exit 77; \
fi; \
mkdir -p /tmp/log4shell && \
exec /veto/bin/veto-log4shell run --expect compromised \
  --classes-dir /tmp/log4shell/classes -o /tmp/log4shell/outcome.json \
  --start-timeout 300 --timeout 120";

/// The name of veto's host end-to-end suite in the registry.
pub const E2E: &str = "e2e";

/// The guest program that runs one libtest test and speaks the guest protocol.
pub const LIBTEST_RUNNER: &str = "/veto/bin/veto-guest-libtest";

/// Tests of the suite that need a program at run time that the guest image does
/// not hold: they report `unsupported` with that reason in the guest. The int 0x80
/// and cold-page tests compile a small C program with `cc`; a C toolchain (compiler,
/// assembler, linker, libc headers and crt files) is too large for an initramfs.
pub const E2E_NEEDS_PROGRAMS: &[(&str, &str)] = &[
    ("int_0x80_execve_through_the_compat_entry_is_killed", "cc"),
    ("unreadable_filename_fails_closed_and_is_flagged", "cc"),
];

/// One test to run in the guest, as selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestTest {
    /// Name in results and filters.
    pub name: String,
    /// Program and arguments inside the initramfs.
    pub argv: Vec<String>,
    /// Seconds before the guest kills it.
    pub timeout_s: u64,
    /// Capabilities it needs.
    pub needs: &'static [&'static str],
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

fn owned_env(e: &Entry) -> Vec<(String, String)> {
    e.env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl GuestTest {
    fn of(e: &Entry) -> GuestTest {
        GuestTest {
            name: e.name.to_string(),
            argv: e.argv.iter().map(|a| a.to_string()).collect(),
            timeout_s: e.timeout_s,
            needs: e.needs,
            env: owned_env(e),
        }
    }

    /// Whether this is one test of veto's host end-to-end suite.
    pub fn is_e2e(&self) -> bool {
        self.name
            .strip_prefix(E2E)
            .is_some_and(|r| r.starts_with("::"))
    }
}

/// The guest tests of the suite's tests: `veto-guest-libtest [--needs P] -- BINARY TEST`.
fn expand_suite(e: &Entry, suite: &HostSuite) -> Vec<GuestTest> {
    suite
        .tests
        .iter()
        .map(|t| {
            let mut argv: Vec<String> = e.argv.iter().map(|a| a.to_string()).collect();
            for (_, program) in E2E_NEEDS_PROGRAMS.iter().filter(|(n, _)| n == t) {
                argv.extend(["--needs".to_string(), program.to_string()]);
            }
            argv.extend([
                "--".to_string(),
                suite.test_binary.to_string_lossy().into_owned(),
                t.clone(),
            ]);
            GuestTest {
                name: format!("{}::{t}", e.name),
                argv,
                timeout_s: e.timeout_s,
                needs: e.needs,
                env: owned_env(e),
            }
        })
        .collect()
}

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
    /// The selection includes the host suite but it was not built.
    #[error(
        "the selection includes {E2E} (veto's end-to-end suite) but its test binary was not \
         built; `cargo xtask vmtest` builds it, or choose other tests with --test"
    )]
    SuiteNotBuilt,
}

/// Whether `--test FILTER` may select tests of the host suite. Without the built
/// suite its test names are unknown, so any filter that could match an `e2e::`
/// name needs it built.
pub fn filter_may_select_suite(test_filter: Option<&str>) -> bool {
    test_filter.is_none_or(|f| {
        alternatives(f).any(|f| format!("{E2E}::").contains(f) || f.starts_with(E2E))
    })
}

/// The comma-separated alternatives of a `--test` filter.
fn alternatives(filter: &str) -> impl Iterator<Item = &str> {
    filter.split(',').map(str::trim).filter(|f| !f.is_empty())
}

/// The tests to run: every [`Kind::Test`], the host suite's tests (from `suite`),
/// and the chosen scenario (default [`DEFAULT_SCENARIO`]), in registry order,
/// filtered by `test_filter`: comma-separated substrings, a test runs if its name
/// contains any of them, and each must match some test (a renamed test must not
/// drop out of a fixed selection silently).
pub fn select(
    scenario: Option<&str>,
    test_filter: Option<&str>,
    suite: Option<&HostSuite>,
) -> Result<Vec<GuestTest>, SelectError> {
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
    let keep = |name: &str| test_filter.is_none_or(|f| alternatives(f).any(|a| name.contains(a)));
    let mut all = Vec::new();
    for e in REGISTRY {
        match e.kind {
            Kind::Test => all.push(GuestTest::of(e)),
            Kind::Scenario if std::ptr::eq(e, chosen) => all.push(GuestTest::of(e)),
            Kind::Scenario => {}
            Kind::HostSuite => match suite {
                Some(s) => all.extend(expand_suite(e, s)),
                None if filter_may_select_suite(test_filter) => {
                    return Err(SelectError::SuiteNotBuilt);
                }
                None => {}
            },
        }
    }
    all.retain(|t| keep(&t.name));
    let unmatched = test_filter
        .into_iter()
        .flat_map(alternatives)
        .find(|a| !all.iter().any(|t| t.name.contains(a)));
    if all.is_empty() || unmatched.is_some() {
        let every = REGISTRY
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SelectError::NoMatch(
            unmatched.or(test_filter).unwrap_or("").into(),
            every,
        ));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> HostSuite {
        HostSuite {
            test_binary: "/r/target/release/deps/enforce-1".into(),
            veto: "/r/target/release/veto".into(),
            repo: "/r".into(),
            tests: vec![
                "seed_policy_kills".into(),
                "int_0x80_execve_through_the_compat_entry_is_killed".into(),
            ],
        }
    }

    fn names(tests: &[GuestTest]) -> Vec<&str> {
        tests.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn the_default_selection_is_the_probe_the_suite_and_the_default_scenario() {
        let s = suite();
        let tests = select(None, None, Some(&s)).unwrap();
        assert_eq!(
            names(&tests),
            [
                "probe",
                "e2e::seed_policy_kills",
                "e2e::int_0x80_execve_through_the_compat_entry_is_killed",
                "enforce-exec-sh"
            ]
        );
        assert_eq!(
            tests[1].argv,
            [
                LIBTEST_RUNNER,
                "--",
                "/r/target/release/deps/enforce-1",
                "seed_policy_kills"
            ]
        );
        assert_eq!(tests[2].argv[1..3], ["--needs", "cc"]);
        assert!(tests[1].is_e2e() && !tests[0].is_e2e());
    }

    #[test]
    fn the_suite_is_required_unless_the_filter_leaves_it_out() {
        assert!(matches!(
            select(None, None, None),
            Err(SelectError::SuiteNotBuilt)
        ));
        assert!(matches!(
            select(None, Some("e2e"), None),
            Err(SelectError::SuiteNotBuilt)
        ));
        assert_eq!(
            names(&select(None, Some("probe"), None).unwrap()),
            ["probe"]
        );
        let s = suite();
        assert_eq!(
            names(&select(None, Some("e2e::seed"), Some(&s)).unwrap()),
            ["e2e::seed_policy_kills"]
        );
        assert_eq!(
            names(&select(None, Some("probe, e2e::seed,exec-sh"), Some(&s)).unwrap()),
            ["probe", "e2e::seed_policy_kills", "enforce-exec-sh"]
        );
        let e = select(None, Some("probe,e2e::renamed"), Some(&s)).unwrap_err();
        assert!(e.to_string().contains("\"e2e::renamed\""), "{e}");
    }

    #[test]
    fn a_test_filter_keeps_matching_names_only() {
        let tests = select(None, Some("prob"), None).unwrap();
        assert_eq!(names(&tests), ["probe"]);
        assert!(select(None, Some("nothing"), None).is_err());
    }

    #[test]
    fn log4shell_is_a_scenario_that_expects_the_compromise() {
        let tests = select(Some(LOG4SHELL), Some(LOG4SHELL), None).unwrap();
        assert_eq!(names(&tests), [LOG4SHELL]);
        let script = &tests[0].argv[2];
        assert!(script.contains("--expect compromised") && script.contains("exit 77"));
        assert!(tests[0].env.iter().any(|(k, _)| k == "JAVA_HOME"));
        assert!(
            select(Some("nope"), None, None)
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
