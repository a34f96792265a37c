//! `veto probe` end to end: the real binary on the real kernel (root).

use std::process::Command;

fn veto(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_veto"))
        .args(args)
        .output()
        .expect("the veto binary runs")
}

#[test]
fn json_report_has_every_capability_and_the_policy_needs() {
    let out = veto(&["probe", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    for key in [
        "tracepoint",
        "raw_tracepoint",
        "kprobe",
        "lsm",
        "fentry",
        "fmod_ret",
    ] {
        assert!(
            v["programs"][key]["available"].is_boolean(),
            "programs.{key}"
        );
    }
    for key in ["send_signal", "override_return"] {
        assert!(v["helpers"][key]["available"].is_boolean(), "helpers.{key}");
    }
    assert_eq!(v["programs"]["tracepoint"]["available"], true);
    assert_eq!(v["btf"]["available"], true);
    assert!(v["bpf_lsm_active"]["available"].is_boolean());
    assert!(v["kernel_release"].as_str().is_some_and(|s| !s.is_empty()));
    let needs = v["policy_needs"].as_array().expect("policy_needs list");
    assert_eq!(needs.len(), 5);
}

#[test]
fn text_report_has_one_line_per_capability_in_plain_words() {
    let out = veto(&["probe"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for label in [
        "tracepoint programs",
        "raw_tracepoint programs",
        "kprobe programs",
        "lsm programs",
        "fentry programs",
        "bpf_send_signal",
        "bpf_override_return",
        "bpf lsm active",
        "btf",
        "ring buffer",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"));
        let value = line[label.len()..].trim_start();
        assert!(
            value.starts_with("yes") || value.starts_with("no ("),
            "{line}"
        );
    }
}

#[test]
fn an_unknown_output_format_is_refused() {
    let out = veto(&["probe", "-o", "yaml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("yaml"));
}
