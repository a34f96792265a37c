//! Machine-readable outputs: results.json and junit.xml.

use std::fmt::Write as _;

use serde_json::json;

use crate::verdict::KernelRun;

/// Whether the run failed: any failing kernel or test.
pub fn any_failure(runs: &[KernelRun]) -> bool {
    runs.iter()
        .any(|k| k.status == "fail" || k.results.iter().any(|r| r.status == "fail"))
}

/// results.json: `{"kernels":[…],"results":[…]}`.
pub fn results_json(runs: &[KernelRun], wall_s: f64) -> String {
    let results: Vec<_> = runs.iter().flat_map(|k| k.results.iter()).collect();
    let doc = json!({
        "kernels": runs,
        "results": results,
        "wall_s": wall_s,
        "emulated": "TCG (qemu -accel tcg -cpu max): guest timings are emulated, not hardware speed",
    });
    serde_json::to_string_pretty(&doc).expect("results serialize")
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// junit.xml: one testsuite per kernel, a `boot` case for the VM itself, one case
/// per test; unsupported is `skipped` with its reason.
pub fn junit_xml(runs: &[KernelRun]) -> String {
    let mut total = (0, 0, 0);
    let mut suites = String::new();
    for k in runs {
        let mut cases = String::new();
        let (mut tests, mut failures, mut skipped) = (1, 0, 0);
        let class = xml(&format!("vmtest.{}", k.name));
        let _ = write!(
            cases,
            "    <testcase classname=\"{class}\" name=\"boot\" time=\"{:.3}\">",
            k.wall_s
        );
        if k.status == "fail" {
            failures += 1;
            let _ = write!(cases, "<failure message=\"{}\"/>", xml(&k.reason));
        }
        cases.push_str("</testcase>\n");
        for r in &k.results {
            tests += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{class}\" name=\"{}\" time=\"{:.3}\">",
                xml(&r.test),
                r.duration_s
            );
            match r.status {
                "fail" => {
                    failures += 1;
                    let _ = write!(cases, "<failure message=\"{}\"/>", xml(&r.reason));
                }
                "unsupported" => {
                    skipped += 1;
                    let _ = write!(cases, "<skipped message=\"{}\"/>", xml(&r.reason));
                }
                _ => {}
            }
            if !r.output.is_empty() {
                let _ = write!(cases, "<system-out>{}</system-out>", xml(&r.output));
            }
            cases.push_str("</testcase>\n");
        }
        total = (total.0 + tests, total.1 + failures, total.2 + skipped);
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">\n{cases}  </testsuite>",
            xml(&format!("{} ({})", k.name, k.release)),
            k.wall_s
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"veto vmtest\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n{suites}</testsuites>\n",
        total.0, total.1, total.2
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::TestResult;
    use std::collections::BTreeMap;

    fn run() -> KernelRun {
        KernelRun {
            name: "6.1".into(),
            release: "6.1.0-50-cloud-amd64".into(),
            status: "pass",
            reason: String::new(),
            boot_s: Some(3.5),
            load_s: None,
            load_failed_s: None,
            wall_s: 20.0,
            capabilities: BTreeMap::from([("prog_lsm".into(), true)]),
            capability_reasons: BTreeMap::new(),
            results: vec![
                TestResult {
                    kernel: "6.1".into(),
                    test: "probe".into(),
                    status: "pass",
                    reason: String::new(),
                    duration_s: 1.0,
                    output: String::new(),
                },
                TestResult {
                    kernel: "6.1".into(),
                    test: "enforce-exec-sh".into(),
                    status: "fail",
                    reason: "veto run exited before ready <&>".into(),
                    duration_s: 2.0,
                    output: String::new(),
                },
            ],
        }
    }

    #[test]
    fn results_json_has_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(&results_json(&[run()], 30.0)).unwrap();
        let k = &v["kernels"][0];
        for key in [
            "name",
            "release",
            "status",
            "reason",
            "boot_s",
            "load_s",
            "capabilities",
        ] {
            assert!(k.get(key).is_some(), "kernels[0].{key} missing");
        }
        let r = &v["results"][1];
        assert_eq!(r["kernel"], "6.1");
        assert_eq!(r["test"], "enforce-exec-sh");
        assert_eq!(r["status"], "fail");
        assert!(r.get("duration_s").is_some());
        assert!(any_failure(&[run()]));
    }

    #[test]
    fn junit_counts_and_escapes() {
        let x = junit_xml(&[run()]);
        assert!(
            x.contains("tests=\"3\" failures=\"1\" skipped=\"0\""),
            "{x}"
        );
        assert!(x.contains("before ready &lt;&amp;&gt;"), "{x}");
    }
}
