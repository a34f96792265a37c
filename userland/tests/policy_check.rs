//! `veto policy check` end to end: the real binary on the repository's policy files.
//!
//! Every refusal is asserted by its exact `FILE:LINE:COL: reason` line and exit status 1;
//! the fixtures are in testdata/bad-policies (see its README for what each one breaks).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Runs `veto policy check ARGS…` from the repository root.
fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .current_dir(repo_root())
        .arg("policy")
        .arg("check")
        .args(args)
        .output()
        .expect("veto runs")
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts that checking `file` alone fails with exactly `expected` as its errors.
fn assert_refused(file: &str, expected: &[&str]) {
    let path = format!("testdata/bad-policies/{file}");
    let out = check(&[&path]);
    assert_eq!(out.status.code(), Some(1), "{file}: {out:?}");
    let lines = stderr_lines(&out);
    let errors: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.ends_with("nothing was loaded"))
        .collect();
    let expected: Vec<String> = expected.iter().map(|e| format!("{path}:{e}")).collect();
    assert_eq!(errors, expected, "{file}");
    assert!(out.stdout.is_empty(), "a refused set prints no plan");
}

#[test]
fn seed_policies_pass_and_print_their_plans() {
    let out = check(&[
        "testdata/seed-policies/block-log4shell-sigkill.yaml",
        "testdata/seed-policies/block-log4shell-lsm.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        plan.contains("attach: tracepoint syscalls/sys_enter_execve"),
        "{plan}"
    );
    assert!(
        plan.contains("needs:  tracepoint programs, bpf_send_signal"),
        "{plan}"
    );
    assert!(
        plan.contains("compat gap: a 32-bit entry of execve"),
        "{plan}"
    );
    assert!(plan.contains("attach: lsm/bprm_check_security"), "{plan}");
    assert!(
        plan.contains("enforcement: NotifyEnforcer -> return -1 at lsm/bprm_check_security"),
        "{plan}"
    );
    assert!(plan.contains("needs:  BPF LSM"), "{plan}");
}

#[test]
fn json_output_carries_the_plan_as_data() {
    let out = check(&[
        "-o",
        "json",
        "testdata/seed-policies/block-log4shell-sigkill.yaml",
        "testdata/seed-policies/block-log4shell-lsm.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["errors"].as_array().unwrap().len(), 0);
    let sigkill = &doc["policies"][0]["hooks"][0];
    assert_eq!(sigkill["attach"]["kind"], "tracepoint");
    assert_eq!(sigkill["attach"]["name"], "sys_enter_execve");
    assert_eq!(
        sigkill["needs"],
        serde_json::json!(["tracepoint", "send_signal"])
    );
    let lsm = &doc["policies"][1]["hooks"][0];
    assert_eq!(lsm["attach"]["kind"], "lsm");
    assert_eq!(lsm["attach"]["hook"], "bprm_check_security");
    assert_eq!(lsm["enforcement"][0]["effect"]["error"], -1);
}

#[test]
fn json_output_of_a_refused_set_lists_the_errors() {
    let out = check(&[
        "--output",
        "json",
        "testdata/bad-policies/unknown-syscall.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["policies"].as_array().unwrap().len(), 0);
    let e = &doc["errors"][0];
    assert_eq!(e["file"], "testdata/bad-policies/unknown-syscall.yaml");
    assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(7), Some(11)));
}

#[test]
fn malformed_yaml() {
    assert_refused(
        "malformed-yaml.yaml",
        &["16:11: malformed YAML: invalid indentation in quoted scalar"],
    );
}

#[test]
fn wrong_api_version() {
    assert_refused(
        "wrong-api-version.yaml",
        &["1:13: apiVersion must be cilium.io/v1alpha1, found \"cilium.io/v1\""],
    );
}

#[test]
fn wrong_kind() {
    assert_refused(
        "wrong-kind.yaml",
        &["2:7: kind must be TracingPolicy, found \"TracingPolicies\""],
    );
}

#[test]
fn missing_metadata_name() {
    assert_refused("missing-name.yaml", &["4:3: metadata.name is missing"]);
}

#[test]
fn unknown_field() {
    assert_refused(
        "unknown-field.yaml",
        &["8:5: unknown field \"syscal\" in spec.kprobes"],
    );
}

#[test]
fn unknown_operator() {
    assert_refused(
        "unknown-operator.yaml",
        &[
            "19:19: unknown operator \"Equals\" in matchArgs (use Equal, NotEqual, Prefix, NotPrefix, Postfix, NotPostfix, GT, LT or Mask)",
        ],
    );
}

#[test]
fn unknown_action() {
    assert_refused(
        "unknown-action.yaml",
        &[
            "22:17: unknown action \"Kill\" (use Post, NoPost, Sigkill, Signal, Override or NotifyEnforcer)",
        ],
    );
}

#[test]
fn arg_index_not_declared_in_args() {
    assert_refused(
        "undeclared-arg-index.yaml",
        &["18:16: matchArgs index 1 is not declared in args"],
    );
}

#[test]
fn more_than_five_selectors() {
    assert_refused(
        "too-many-selectors.yaml",
        &["43:7: too many selectors: 6, at most 5 per hook"],
    );
}

#[test]
fn more_than_five_match_args() {
    assert_refused(
        "too-many-match-args.yaml",
        &["33:9: too many matchArgs: 6, at most 5 per selector"],
    );
}

#[test]
fn more_than_three_actions() {
    assert_refused(
        "too-many-actions.yaml",
        &["26:9: too many matchActions: 4, at most 3 per selector"],
    );
}

#[test]
fn empty_value_list() {
    assert_refused(
        "empty-values.yaml",
        &[
            "20:17: matchArgs.values is empty: an empty list would match nothing (Tetragon ignores it; veto refuses it)",
        ],
    );
}

#[test]
fn value_too_long() {
    assert_refused(
        "value-too-long.yaml",
        &[
            "20:18: value is 257 bytes, at most 256 for matchArgs Equal (over the limit is an error, never a truncation)",
        ],
    );
}

#[test]
fn integer_value_that_is_not_a_number() {
    assert_refused(
        "not-a-number.yaml",
        &[
            "17:11: \"zero\" is not a number (int argument 0 takes decimal, 0x hex or 0 octal integers)",
        ],
    );
}

#[test]
fn signal_without_argsig() {
    assert_refused(
        "signal-without-argsig.yaml",
        &["22:17: Signal needs argSig (the signal number)"],
    );
}

#[test]
fn override_without_argerror() {
    assert_refused(
        "override-without-argerror.yaml",
        &["22:17: Override needs argError (the value the call returns)"],
    );
}

#[test]
fn unknown_syscall() {
    assert_refused(
        "unknown-syscall.yaml",
        &["7:11: unknown syscall \"sys_exceve\": not in the x86-64 syscall table"],
    );
}

#[test]
fn duplicate_policy_names_across_files() {
    // Each file alone is valid; together they are refused, naming both places.
    for f in ["duplicate-name-a.yaml", "duplicate-name-b.yaml"] {
        let out = check(&[&format!("testdata/bad-policies/{f}")]);
        assert_eq!(out.status.code(), Some(0), "{f}: {out:?}");
    }
    let out = check(&[
        "testdata/bad-policies/duplicate-name-a.yaml",
        "testdata/bad-policies/duplicate-name-b.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&out)[0],
        "testdata/bad-policies/duplicate-name-b.yaml:4:9: duplicate policy name \"duplicate-name\": \
         already used at testdata/bad-policies/duplicate-name-a.yaml:4:9"
    );
    assert!(out.stdout.is_empty(), "the set loads whole or not at all");
}

#[test]
fn unsupported_features_are_refused_by_name() {
    assert_refused(
        "unsupported-uprobes.yaml",
        &["6:3: spec.uprobes is not supported"],
    );
    assert_refused(
        "unsupported-operator.yaml",
        &["19:19: operator \"SPort\" is not supported"],
    );
    assert_refused(
        "unsupported-action.yaml",
        &["22:17: action \"FollowFD\" is not supported"],
    );
}

#[test]
fn every_error_of_a_file_is_reported_not_just_the_first() {
    assert_refused(
        "many-errors.yaml",
        &[
            "1:13: apiVersion must be cilium.io/v1alpha1, found \"cilium.io/v1alpha2\"",
            "7:11: unknown syscall \"sys_nosuchcall\": not in the x86-64 syscall table",
            "10:13: argument type \"char_buf\" is not supported",
            "14:25: followChildren works only with In and NotIn, not Prefix",
            "18:17: Signal needs argSig (the signal number)",
            "19:17: Override needs argError (the value the call returns)",
        ],
    );
}

#[test]
fn one_bad_file_refuses_the_whole_set() {
    let out = check(&[
        "testdata/seed-policies/block-log4shell-sigkill.yaml",
        "testdata/bad-policies/wrong-kind.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let out = check(&["testdata/bad-policies/no-such-file.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_lines(&out)[0]
            .starts_with("testdata/bad-policies/no-such-file.yaml: cannot read the file:"),
        "{out:?}"
    );
}

#[test]
fn no_files_is_a_usage_error() {
    let out = check(&[]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn symlinked_binary_value_warns_and_still_passes() {
    // A real file and a symlink to it, in a directory of this test's own.
    let dir = std::env::temp_dir().join(format!("veto-policy-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let real = dir.join("real-tool");
    let link = dir.join("tool");
    std::fs::write(&real, b"#!/bin/true\n").unwrap();
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: symlinked\n\
             spec:\n  kprobes:\n  - call: sys_execve\n    selectors:\n    - matchBinaries:\n\
             \x20     - operator: In\n        values:\n        - {}\n        - {}\n",
            link.display(),
            real.display()
        ),
    )
    .unwrap();
    let out = check(&[policy.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "{}:12:11: warning: {} is a symlink to {}; matchBinaries compares the resolved \
             executable path, so this value matches nothing",
            policy.display(),
            link.display(),
            real.display()
        )]
    );
}

#[test]
fn whole_corpus_in_one_run_names_file_line_and_column_for_every_error() {
    fn yaml_files(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(
                    p.strip_prefix(repo_root())
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    let mut files = Vec::new();
    yaml_files(&repo_root().join("testdata/tetragon-examples"), &mut files);
    files.sort();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = check(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the corpus has unsupported policies"
    );
    let lines = stderr_lines(&out);
    let (summary, diags) = lines.split_last().unwrap();
    assert!(summary.ends_with("nothing was loaded"), "{summary}");
    for line in diags {
        // FILE:LINE:COL: reason, with FILE one of the corpus files.
        let mut parts = line.splitn(4, ':');
        let (file, l, c, reason) = (
            parts.next().unwrap(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        assert!(files.iter().any(|f| f == file), "{line}");
        assert!(l.parse::<u32>().is_ok_and(|n| n >= 1), "{line}");
        assert!(c.parse::<u32>().is_ok_and(|n| n >= 1), "{line}");
        assert!(reason.len() > 1 && reason.starts_with(' '), "{line}");
    }
}
