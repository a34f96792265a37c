//! What the simulator says about each call, as JSON lines or a table.

use std::fmt::Write as _;

use serde::Serialize;

/// The combined outcome of a call: the strongest effect of all policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No policy enforced anything.
    Allow,
    /// A signal other than SIGKILL was sent.
    Signal,
    /// The call fails with `errno`.
    Deny,
    /// The caller was killed.
    Sigkill,
}

impl Outcome {
    /// The output spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Signal => "signal",
            Outcome::Deny => "deny",
            Outcome::Sigkill => "sigkill",
        }
    }
}

/// One policy's decision at the called hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The policy's `metadata.name`.
    pub policy: String,
    /// The first matching selector (0-based); null for a hook without selectors.
    pub selector: Option<usize>,
    /// The selector's actions by the policy's names (`["Post"]` when it has none).
    pub actions: Vec<&'static str>,
}

/// The simulator's answer for one call line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallReport {
    /// The trace line, from 1.
    pub line: usize,
    /// The calling process.
    pub pid: u32,
    /// The hook called.
    pub hook: String,
    /// Every policy that decided, in load order.
    pub decisions: Vec<Decision>,
    /// The strongest effect.
    pub outcome: Outcome,
    /// What the call returns when denied (argError as written), else null.
    pub errno: Option<i32>,
    /// Whether any policy posted an event.
    pub posted: bool,
}

impl CallReport {
    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }
}

/// A table for people: one row per call.
pub fn table(reports: &[CallReport]) -> String {
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            let decisions = if r.decisions.is_empty() {
                "-".to_string()
            } else {
                r.decisions
                    .iter()
                    .map(|d| {
                        let sel = d.selector.map_or("*".to_string(), |i| i.to_string());
                        format!("{}[{}]:{}", d.policy, sel, d.actions.join("+"))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            [
                r.line.to_string(),
                r.pid.to_string(),
                r.hook.clone(),
                r.outcome.as_str().to_string(),
                r.errno.map_or("-".to_string(), |e| e.to_string()),
                if r.posted { "yes" } else { "no" }.to_string(),
                decisions,
            ]
        })
        .collect();
    let header = [
        "LINE",
        "PID",
        "HOOK",
        "OUTCOME",
        "ERRNO",
        "POSTED",
        "DECISIONS",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_the_documented_one() {
        let r = CallReport {
            line: 5,
            pid: 101,
            hook: "sys_execve".into(),
            decisions: vec![Decision {
                policy: "p".into(),
                selector: Some(0),
                actions: vec!["Sigkill"],
            }],
            outcome: Outcome::Sigkill,
            errno: None,
            posted: true,
        };
        assert_eq!(
            r.to_json(),
            r#"{"line":5,"pid":101,"hook":"sys_execve","decisions":[{"policy":"p","selector":0,"actions":["Sigkill"]}],"outcome":"sigkill","errno":null,"posted":true}"#
        );
    }

    #[test]
    fn table_has_one_row_per_call() {
        let r = CallReport {
            line: 1,
            pid: 7,
            hook: "h".into(),
            decisions: vec![],
            outcome: Outcome::Allow,
            errno: None,
            posted: false,
        };
        let t = table(&[r.clone(), r]);
        assert_eq!(t.lines().count(), 3);
        assert!(t.starts_with("LINE"));
    }
}
