//! Property: whatever the bytes, the front end answers with a policy or with
//! positioned diagnostics; it never panics. Inputs are real policies (the seeds and
//! the corpus) mutated the way hand edits and bad merges break YAML.

use std::path::Path;

use proptest::prelude::*;
use veto_policy::spec::{ArgValues, limits};

fn seeds() -> &'static [String] {
    static SEEDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(read_seeds)
}

fn read_seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut out = Vec::new();
    for dir in ["seed-policies", "tetragon-examples"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        entries.sort();
        out.extend(entries.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    out
}

/// One edit of a text, addressed by fractions so it applies to any length.
#[derive(Debug, Clone)]
enum Edit {
    /// Insert a YAML-significant snippet at a character position.
    Insert(f64, &'static str),
    /// Delete a run of characters.
    Delete(f64, usize),
    /// Duplicate a line.
    DupLine(f64),
    /// Remove a line.
    DropLine(f64),
    /// Replace one character.
    Replace(f64, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let snippet = prop::sample::select(vec![
        ":",
        "- ",
        "  ",
        "\n",
        "\"",
        "'",
        "[",
        "]",
        "{",
        "}",
        "&a ",
        "*a",
        "!t ",
        "---\n",
        "#",
        "-1",
        "0x",
        "99999999999999999999",
        "values: []",
        "index: 7",
        "\t",
        "é",
        "\u{0}",
    ]);
    let ch = prop::sample::select(vec![
        ':', '-', ' ', '"', '[', '0', 'x', '\n', '\\', '|', '>',
    ]);
    prop_oneof![
        (0.0..1.0f64, snippet).prop_map(|(p, s)| Edit::Insert(p, s)),
        (0.0..1.0f64, 1usize..40).prop_map(|(p, n)| Edit::Delete(p, n)),
        (0.0..1.0f64).prop_map(Edit::DupLine),
        (0.0..1.0f64).prop_map(Edit::DropLine),
        (0.0..1.0f64, ch).prop_map(|(p, c)| Edit::Replace(p, c)),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |f: f64| ((chars.len() as f64) * f) as usize;
    let mut lines: Vec<&str> = text.lines().collect();
    let line_at = |f: f64, n: usize| ((n as f64) * f) as usize;
    match *e {
        Edit::Insert(f, s) => {
            let i = at(f);
            chars[..i].iter().collect::<String>() + s + &chars[i..].iter().collect::<String>()
        }
        Edit::Delete(f, n) => {
            let i = at(f);
            let j = (i + n).min(chars.len());
            chars[..i].iter().chain(&chars[j..]).collect()
        }
        Edit::Replace(f, c) => {
            let mut v = chars.clone();
            if let Some(x) = v.get_mut(at(f)) {
                *x = c;
            }
            v.into_iter().collect()
        }
        Edit::DupLine(f) if !lines.is_empty() => {
            let i = line_at(f, lines.len());
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Edit::DropLine(f) if !lines.is_empty() => {
            lines.remove(line_at(f, lines.len()));
            lines.join("\n")
        }
        _ => text.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_policies_never_panic(seed in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 1..6)) {
        let all = seeds();
        let mut text = all[seed.index(all.len())].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        match veto_policy::load_str("m.yaml", &text) {
            Ok(p) => {
                // Whatever is accepted keeps the spec's promises.
                prop_assert!(!p.hooks.is_empty());
                for h in &p.hooks {
                    prop_assert!(h.selectors.len() <= limits::MAX_SELECTORS);
                    for s in &h.selectors {
                        prop_assert!(s.match_args.len() <= limits::MAX_MATCH_ARGS);
                        prop_assert!(s.actions.len() <= limits::MAX_ACTIONS);
                        for m in &s.match_args {
                            prop_assert!(h.arg(m.index).is_some());
                            prop_assert!(!m.values.is_empty());
                            if let ArgValues::Strings(v) = &m.values {
                                prop_assert!(v.iter().all(|v| v.value.len() <= limits::MAX_STRING_LEN));
                            }
                        }
                    }
                }
            }
            Err(d) => {
                prop_assert!(!d.is_empty());
                for d in &d {
                    prop_assert!(d.line >= 1 && d.col >= 1, "{}", d);
                    prop_assert!(!d.message.is_empty());
                }
            }
        }
    }
}
