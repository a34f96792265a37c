//! The simulator on policies read from YAML by the front end: the seed
//! policies with the Log4Shell trace, and every example policy the front end
//! accepts driven through each of its hooks.

use std::path::{Path, PathBuf};

use veto_policy::spec::{ArgType, Policy};
use veto_sim::{Outcome, simulate};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn seed(name: &str) -> Policy {
    let path = repo().join("testdata/seed-policies").join(name);
    veto_policy::load_file(&path).unwrap_or_else(|d| panic!("{d}"))
}

fn log4shell_trace() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/log4shell.jsonl"))
        .unwrap()
}

#[test]
fn sigkill_seed_kills_the_shell_forked_by_java_and_spares_sshd() {
    let r = simulate(&[seed("block-log4shell-sigkill.yaml")], &log4shell_trace()).unwrap();
    let by_line = |l: usize| r.iter().find(|c| c.line == l).unwrap();
    assert_eq!(by_line(5).outcome, Outcome::Sigkill);
    assert_eq!(by_line(5).decisions[0].actions, vec!["Sigkill"]);
    assert_eq!(by_line(8).outcome, Outcome::Allow);
}

#[test]
fn lsm_seed_denies_exec_from_java_with_the_policy_errno() {
    let r = simulate(&[seed("block-log4shell-lsm.yaml")], &log4shell_trace()).unwrap();
    let by_line = |l: usize| r.iter().find(|c| c.line == l).unwrap();
    assert_eq!(by_line(6).outcome, Outcome::Deny);
    assert_eq!(by_line(6).errno, Some(-1));
    assert_eq!(by_line(9).outcome, Outcome::Allow);
}

#[test]
fn both_seeds_loaded_together_act_independently() {
    let policies = [
        seed("block-log4shell-sigkill.yaml"),
        seed("block-log4shell-lsm.yaml"),
    ];
    let r = simulate(&policies, &log4shell_trace()).unwrap();
    let outcomes: Vec<(usize, Outcome)> = r.iter().map(|c| (c.line, c.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (5, Outcome::Sigkill),
            (6, Outcome::Deny),
            (8, Outcome::Allow),
            (9, Outcome::Allow)
        ]
    );
}

/// A value of the declared type, as a trace writes it.
fn sample(ty: ArgType) -> String {
    if ty.is_integer() {
        "0".into()
    } else {
        "\"/tmp/x\"".into()
    }
}

#[test]
fn every_example_the_front_end_accepts_simulates_on_each_hook() {
    let mut files = Vec::new();
    let mut stack = vec![repo().join("testdata")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut hooks_run = 0;
    for f in &files {
        // Examples veto refuses are the front end's business, not this test's.
        let Ok(policy) = veto_policy::load_file(f) else {
            continue;
        };
        let mut lines =
            vec![r#"{"kind":"exec","pid":10,"ppid":1,"exe":"/usr/bin/bash"}"#.to_string()];
        for h in &policy.hooks {
            let args: Vec<String> = h
                .args
                .iter()
                .map(|a| format!("\"{}\":{}", a.index, sample(a.ty)))
                .collect();
            lines.push(format!(
                r#"{{"kind":"exec","pid":{pid},"ppid":10,"exe":"/usr/bin/true"}}"#,
                pid = 100 + hooks_run
            ));
            lines.push(format!(
                r#"{{"kind":"call","pid":{pid},"hook":"{hook}","args":{{{args}}}}}"#,
                pid = 100 + hooks_run,
                hook = h.point.trace_name(),
                args = args.join(",")
            ));
            hooks_run += 1;
        }
        let r = simulate(std::slice::from_ref(&policy), &lines.join("\n"))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(r.len(), policy.hooks.len(), "{}", f.display());
    }
    assert!(
        hooks_run >= 10,
        "only {hooks_run} hooks from {} files",
        files.len()
    );
}
