//! Human-readable outputs: the terminal table and report.md. Both are rendered from
//! the same rows so they never disagree.

use std::collections::BTreeSet;

use crate::verdict::KernelRun;

fn secs(s: Option<f64>) -> String {
    s.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

fn cell(status: &str) -> &'static str {
    match status {
        "pass" => "pass",
        "unsupported" => "unsupported",
        _ => "FAIL",
    }
}

/// The column a result goes in: a suite's tests (`e2e::NAME`) share one.
fn column(test: &str) -> &str {
    test.split_once("::").map_or(test, |(suite, _)| suite)
}

/// The cell of `column` for kernel `k`: a single test's status, or a suite's
/// counts and its summed guest time.
fn column_cell(k: &KernelRun, column_name: &str) -> String {
    let rs: Vec<_> = k
        .results
        .iter()
        .filter(|r| column(&r.test) == column_name)
        .collect();
    match rs.as_slice() {
        [] => "-".into(),
        [one] if one.test == column_name => cell(one.status).to_string(),
        many => {
            let count = |s: &str| many.iter().filter(|r| cell(r.status) == s).count();
            let secs: f64 = many.iter().map(|r| r.duration_s).sum();
            let mut parts = vec![format!("{} pass", count("pass"))];
            for (n, word) in [
                (count("FAIL"), "FAIL"),
                (count("unsupported"), "unsupported"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {word}"));
                }
            }
            format!("{} ({secs:.0} s)", parts.join(", "))
        }
    }
}

/// Rows of the kernel × test matrix: header first.
fn matrix_rows(runs: &[KernelRun]) -> Vec<Vec<String>> {
    let mut tests: Vec<String> = Vec::new();
    for r in runs.iter().flat_map(|k| &k.results) {
        let c = column(&r.test);
        if !tests.iter().any(|t| t == c) {
            tests.push(c.to_string());
        }
    }
    let mut rows = vec![
        ["kernel", "release", "vm", "boot s", "load s"]
            .iter()
            .map(|s| s.to_string())
            .chain(tests.iter().cloned())
            .collect::<Vec<_>>(),
    ];
    for k in runs {
        let mut row = vec![
            k.name.clone(),
            k.release.clone(),
            cell(k.status).to_string(),
            secs(k.boot_s),
            match (k.load_s, k.load_failed_s) {
                (None, Some(f)) => format!("{f:.1} (failed)"),
                (l, _) => secs(l),
            },
        ];
        for t in &tests {
            row.push(column_cell(k, t));
        }
        rows.push(row);
    }
    rows
}

/// "kernel / test: status: reason" for everything that is not a plain pass.
fn reasons(runs: &[KernelRun]) -> Vec<String> {
    let mut out = Vec::new();
    for k in runs {
        if k.status != "pass" {
            out.push(format!("{} / vm: FAIL: {}", k.name, k.reason));
        }
        for r in &k.results {
            if r.status != "pass" {
                out.push(format!(
                    "{} / {}: {}: {}",
                    k.name,
                    r.test,
                    cell(r.status),
                    r.reason
                ));
            }
        }
    }
    out
}

/// Rows of the capability table: header first.
fn capability_rows(runs: &[KernelRun]) -> Vec<Vec<String>> {
    let caps: BTreeSet<&String> = runs.iter().flat_map(|k| k.capabilities.keys()).collect();
    let mut rows = vec![
        std::iter::once("capability".to_string())
            .chain(runs.iter().map(|k| k.name.clone()))
            .collect(),
    ];
    for c in caps {
        let mut row = vec![c.clone()];
        for k in runs {
            row.push(match k.capabilities.get(c) {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            });
        }
        rows.push(row);
    }
    rows
}

fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(
                &widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
            out.push('\n');
        }
    }
    out
}

fn markdown(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!(
            "| {} |\n",
            r.iter()
                .map(|c| c.replace('|', "\\|"))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        if i == 0 {
            out.push_str(&format!("|{}\n", "---|".repeat(r.len())));
        }
    }
    out
}

/// The terminal table, reasons and capabilities.
pub fn terminal(runs: &[KernelRun], wall_s: f64) -> String {
    let mut out = aligned(&matrix_rows(runs));
    let why = reasons(runs);
    if !why.is_empty() {
        out.push('\n');
        for w in why {
            out.push_str(&w);
            out.push('\n');
        }
    }
    let caps = capability_rows(runs);
    if caps.len() > 1 {
        out.push('\n');
        out.push_str(&aligned(&caps));
    }
    out.push_str(&format!(
        "\n{} kernel(s) in {wall_s:.0} s wall (TCG: guest times are emulated)\n",
        runs.len()
    ));
    out
}

/// report.md, for a CI system to publish.
pub fn markdown_report(runs: &[KernelRun], wall_s: f64) -> String {
    let mut out = String::from("# veto kernel matrix\n\n");
    out.push_str(&markdown(&matrix_rows(runs)));
    let why = reasons(runs);
    if !why.is_empty() {
        out.push_str("\n## Not passed\n\n");
        for w in why {
            out.push_str(&format!("- {}\n", w.replace('\n', " ")));
        }
    }
    let caps = capability_rows(runs);
    if caps.len() > 1 {
        out.push_str("\n## Capabilities\n\n");
        out.push_str(&markdown(&caps));
    }
    out.push_str(&format!(
        "\nWall time {wall_s:.0} s. Guests run under QEMU TCG (`-accel tcg -cpu max`): boot and load times are emulated.\n"
    ));
    out
}
