//! The attack for real on this host: real JVM, real JNDI, real /bin/sh, no enforcement.

use veto_log4shell::outcome::Outcome;
use veto_log4shell::procfs;
use veto_log4shell::{Config, LookupForm, RequestKind, Scenario, StepName, Verdict};

fn run(config: Config) -> Outcome {
    let outcome = Scenario::run(&config).expect("the scenario runs");
    eprintln!("{}", outcome.summary());
    outcome
}

fn exploit(form: LookupForm) -> Config {
    Config {
        request: RequestKind::Exploit(form),
        ..Config::default()
    }
}

/// Nothing the run started is still there: no process of the app's group (zombies
/// included), not the shell, and no port still accepting connections.
fn assert_nothing_left(o: &Outcome) {
    assert!(
        o.cleanup.processes_left.is_empty(),
        "{:?}",
        o.cleanup.processes_left
    );
    assert!(procfs::group_members(o.app.pid).is_empty());
    if let Some(shell) = &o.shell {
        assert!(!std::path::Path::new(&format!("/proc/{}", shell.pid)).exists());
    }
    // All four listening sockets were recorded, and none of them exists any more
    // (compared by inode: a freed port may be taken at once by a parallel run).
    let mut ports: Vec<u16> = o.cleanup.listeners.iter().map(|l| l.port).collect();
    ports.sort_unstable();
    let mut expected = vec![
        o.attacker.ldap_port,
        o.attacker.http_port,
        o.attacker.listener_port,
        o.app.port,
    ];
    expected.sort_unstable();
    assert_eq!(ports, expected);
    let rows = procfs::tcp_rows();
    for l in &o.cleanup.listeners {
        assert!(
            !rows.iter().any(|r| r.inode == l.inode),
            "the socket on port {} is still open",
            l.port
        );
    }
}

#[test]
fn full_chain_compromises_the_host_without_enforcement() {
    let o = run(exploit(LookupForm::Plain));
    for step in &o.steps {
        assert!(
            step.observed,
            "{:?} not observed: {}",
            step.name, step.detail
        );
    }
    assert_eq!(o.verdict, Verdict::Compromised);
    assert_eq!(o.failed_step, None);
    assert!(
        o.output_of("id").unwrap().starts_with("uid="),
        "{:?}",
        o.output_of("id")
    );
    assert!(o.marker.written);
    assert!(o.app.survived);
    let shell = o.shell.as_ref().expect("a shell connected");
    // The shell is a direct child of the JVM and runs /bin/sh's real binary.
    assert_eq!(shell.parent_chain[0].pid, shell.pid);
    assert_eq!(shell.parent_chain[1].pid, o.app.pid);
    assert_eq!(
        std::path::PathBuf::from(&shell.exe_at_connect),
        std::fs::canonicalize("/bin/sh").unwrap()
    );
    // The kernel's process events: the JVM forked the shell's process, which then exec'd
    // four times: jspawnhelper, /bin/sh, bash (for /dev/tcp), /bin/sh on the socket.
    if o.exec_trace_source.starts_with("kernel") {
        let fork = o
            .exec_trace
            .iter()
            .find(|r| r.kind == "fork" && r.pid == shell.pid)
            .expect("the shell's fork was reported");
        assert_eq!(fork.parent, Some(o.app.pid));
        let execs = o
            .exec_trace
            .iter()
            .filter(|r| r.kind == "exec" && r.pid == shell.pid)
            .count();
        assert_eq!(execs, 4, "{:?}", o.exec_trace);
    } else {
        eprintln!("no kernel process events here: {}", o.exec_trace_source);
    }
    // Steps the servers and the listener timestamp happen in chain order (the shell's
    // spawn is polled from /proc and may lag, so it is left out).
    let times: Vec<f64> = o
        .steps
        .iter()
        .filter(|s| s.name != StepName::ShellSpawn)
        .map(|s| s.at_ms.unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_nothing_left(&o);
}

#[test]
fn obfuscated_lookups_compromise_the_host_too() {
    for form in [LookupForm::Lower, LookupForm::DefaultValues] {
        let o = run(exploit(form));
        assert_eq!(o.verdict, Verdict::Compromised, "{form:?}");
        assert!(o.output_of("id").unwrap().starts_with("uid="));
        assert_nothing_left(&o);
    }
}

#[test]
fn request_without_a_lookup_is_only_logged() {
    let o = run(Config {
        request: RequestKind::NoLookup,
        ..Config::default()
    });
    assert_eq!(o.verdict, Verdict::NotCompromised);
    assert_eq!(o.failed_step, Some(StepName::LdapSearch));
    assert!(o.attacker.served.is_empty(), "{:?}", o.attacker.served);
    assert!(o.processes.is_empty(), "{:?}", o.processes);
    assert!(
        o.app
            .log
            .iter()
            .any(|l| l.contains("q=hello from the scenario"))
    );
    assert!(o.app.survived);
    assert_nothing_left(&o);
}

#[test]
fn lookup_to_a_closed_port_fails_cleanly_and_the_app_survives() {
    let o = run(Config {
        request: RequestKind::ClosedPort,
        ..Config::default()
    });
    assert_eq!(o.verdict, Verdict::NotCompromised);
    assert_eq!(o.failed_step, Some(StepName::LdapSearch));
    let detail = &o.step(StepName::LdapSearch).detail;
    assert!(
        detail.contains("Error looking up JNDI resource"),
        "{detail}"
    );
    assert!(o.app.response.contains(" 200"), "{}", o.app.response);
    assert!(o.app.survived);
    assert!(o.processes.is_empty());
    assert_nothing_left(&o);
}

/// What the JDK does on its own: without trustURLCodebase=true, JDK 17 reads the
/// javaNamingReference entry but refuses to load the factory from its codebase, so the
/// class is never fetched and the lookup simply yields the Reference.
#[test]
fn without_trust_url_codebase_the_jdk_never_fetches_the_class() {
    let o = run(Config {
        trust_url_codebase: false,
        ..Config::default()
    });
    assert_eq!(o.verdict, Verdict::NotCompromised);
    assert!(o.step(StepName::LdapSearch).observed);
    assert_eq!(o.failed_step, Some(StepName::ClassFetch));
    assert!(o.app.survived);
    assert_nothing_left(&o);
}

/// The hook later enforcement uses: the JVM is moved into a cgroup before the request,
/// and the shell it spawns is born there.
#[test]
fn the_app_and_its_shell_run_in_the_given_cgroup() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let Some(root) = mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| f[1].to_string())
    else {
        eprintln!("no cgroup2 mount on this machine: the cgroup hook cannot be exercised here");
        return;
    };
    let name = format!("veto-log4shell-test-{}", std::process::id());
    let dir = std::path::Path::new(&root).join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        eprintln!(
            "cannot create {} ({e}): the cgroup hook needs root; not exercised",
            dir.display()
        );
        return;
    }
    let o = Scenario::run(&Config {
        cgroup: Some(dir.clone()),
        ..Config::default()
    });
    let removed = std::fs::remove_dir(&dir);
    let o = o.unwrap();
    eprintln!("{}", o.summary());
    assert_eq!(o.verdict, Verdict::Compromised);
    let cgroup = o.output_of("cat /proc/$$/cgroup").unwrap();
    assert!(
        cgroup
            .lines()
            .any(|l| l.starts_with("0::") && l.ends_with(&format!("/{name}"))),
        "{cgroup}"
    );
    removed.expect("the cgroup is empty after the run");
    assert_nothing_left(&o);
}
