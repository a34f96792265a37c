//! The Tetragon example corpus: every file is either accepted, or rejected with
//! diagnostics that name the file, a position and a reason. None panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// The corpus files, relative to the repository root.
fn corpus() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = Vec::new();
    yaml_files(&root.join("testdata/tetragon-examples"), &mut files);
    files
        .into_iter()
        .map(|p| p.strip_prefix(&root).unwrap().to_path_buf())
        .collect()
}

/// The reason of a diagnostic with quoted names kept and numbers dropped, so that
/// the split groups like reasons together.
fn reason_class(message: &str) -> String {
    message.split(':').next().unwrap_or(message).to_string()
}

#[test]
fn every_corpus_file_is_accepted_or_rejected_with_a_position_and_a_reason() {
    let root = repo_root();
    let files = corpus();
    assert!(files.len() >= 60, "corpus missing: {} files", files.len());
    let mut accepted = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut rejected = 0;
    for rel in &files {
        let text = std::fs::read_to_string(root.join(rel)).unwrap();
        let result = std::panic::catch_unwind(|| veto_policy::load_str(rel, &text));
        let result = result.unwrap_or_else(|_| panic!("{} made the parser panic", rel.display()));
        match result {
            Ok(p) => {
                assert!(!p.hooks.is_empty());
                accepted.push(rel.clone());
            }
            Err(diags) => {
                rejected += 1;
                assert!(!diags.is_empty());
                for d in &diags {
                    assert_eq!(&d.file, rel);
                    assert!(d.line >= 1 && d.col >= 1, "{d}");
                    assert!(!d.message.is_empty());
                    let shown = d.to_string();
                    assert!(
                        shown.starts_with(&format!("{}:{}:{}: ", rel.display(), d.line, d.col)),
                        "{shown}"
                    );
                    println!("{shown}");
                }
                // Count each reason once per file.
                let mut classes: Vec<_> = diags.iter().map(|d| reason_class(&d.message)).collect();
                classes.sort();
                classes.dedup();
                for c in classes {
                    *reasons.entry(c).or_default() += 1;
                }
            }
        }
    }
    println!(
        "\ncorpus: {} files, {} accepted, {rejected} rejected",
        files.len(),
        accepted.len()
    );
    for a in &accepted {
        println!("  accepted: {}", a.display());
    }
    // The files veto accepts today. A change here is a change of what veto supports:
    // update the list and docs/policy-language.md together.
    let expected: Vec<PathBuf> = [
        "hardlink-observe.yaml",
        "hardlink-override.yaml",
        "list-syscalls.yaml",
        "lsm_file_open.yaml",
        "override-security.yaml",
        "symlink-observe.yaml",
        "symlink-override.yaml",
        "sys_clock_settime.yaml",
        "sys_mount.yaml",
        "sys_pivot_root.yaml",
        "sys_ptrace.yaml",
        "sys_setuid.yaml",
    ]
    .iter()
    .map(|f| Path::new("testdata/tetragon-examples").join(f))
    .collect();
    assert_eq!(accepted, expected);
    let mut by_count: Vec<_> = reasons.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("rejections by reason (files):");
    for (reason, n) in by_count {
        println!("  {n:3}  {reason}");
    }
}
