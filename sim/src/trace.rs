//! The trace format: JSON lines, one event per line (`docs/sim.md`,
//! `docs/trace.schema.json`).
//!
//! Parsing is strict on purpose: an unknown field or a wrong type is a typo in
//! a hand-written trace, and silently ignoring it would make the simulator
//! answer a different question than the one asked.

use serde_json::{Map, Value};

use crate::error::TraceErrorKind;

/// One event of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `exec`: `pid` runs `exe`. A new pid is a fork+exec of `ppid`; a live pid
    /// replaces its image.
    Exec {
        /// The process.
        pid: u32,
        /// Its parent.
        ppid: u32,
        /// The resolved executable; `None` when unresolved.
        exe: Option<String>,
        /// argv after argv\[0\] (informational).
        args: Vec<String>,
        /// The pid in the process's own pid namespace, if given.
        nspid: Option<u32>,
    },
    /// `proc`: a process that existed before veto started, learnt from /proc.
    Proc {
        /// The process.
        pid: u32,
        /// Its parent.
        ppid: u32,
        /// The resolved executable; `None` when unresolved.
        exe: Option<String>,
        /// The namespace pid, if given.
        nspid: Option<u32>,
    },
    /// `fork`: `ppid` forks `pid`, which keeps the parent's binary.
    Fork {
        /// The child.
        pid: u32,
        /// The parent.
        ppid: u32,
        /// The child's namespace pid, if given.
        nspid: Option<u32>,
    },
    /// `exit`: the process ends.
    Exit {
        /// The process.
        pid: u32,
    },
    /// `call`: a hook invocation.
    Call(Call),
}

/// A hook invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The calling process (tgid).
    pub pid: u32,
    /// The calling thread (defaults to `pid`).
    pub tid: u32,
    /// The hook name (kprobe call, lsm hook, `subsystem/event`).
    pub hook: String,
    /// Arguments by policy index, sorted by index, each index once.
    pub args: Vec<(u32, ArgValue)>,
    /// The namespace pid for this call, if given.
    pub nspid: Option<u32>,
}

impl Call {
    /// The argument at `index`, if the call gives one.
    pub fn arg(&self, index: u32) -> Option<&ArgValue> {
        // Calls carry a handful of arguments: a scan beats a map here.
        self.args.iter().find(|(i, _)| *i == index).map(|(_, v)| v)
    }
}

/// One argument value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// A string (paths, names).
    Str(String),
    /// An integer (any width; checked against the declared type on use).
    Int(i128),
}

impl ArgValue {
    /// How the value is described in errors.
    pub fn describe(&self) -> String {
        match self {
            ArgValue::Str(s) => format!("the string {s:?}"),
            ArgValue::Int(i) => format!("the integer {i}"),
        }
    }
}

/// Parses one trace line (without its number; the caller attaches it).
pub fn parse_line(text: &str) -> Result<Event, TraceErrorKind> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| TraceErrorKind::Json(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(TraceErrorKind::Json("expected an object".into()));
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => k.clone(),
        Some(other) => return Err(TraceErrorKind::UnknownKind(other.to_string())),
        None => return Err(TraceErrorKind::UnknownKind(String::new())),
    };
    let fields = Fields { obj: &obj };
    match kind.as_str() {
        "exec" => {
            const K: &str = "exec";
            fields.only(K, &["kind", "pid", "ppid", "exe", "args", "nspid"])?;
            Ok(Event::Exec {
                pid: fields.pid(K, "pid")?,
                ppid: fields.pid(K, "ppid")?,
                exe: fields.exe(K)?,
                args: fields.string_list("args")?,
                nspid: fields.opt_pid("nspid")?,
            })
        }
        "proc" => {
            const K: &str = "proc";
            fields.only(K, &["kind", "pid", "ppid", "exe", "nspid"])?;
            Ok(Event::Proc {
                pid: fields.pid(K, "pid")?,
                ppid: fields.pid(K, "ppid")?,
                exe: fields.exe(K)?,
                nspid: fields.opt_pid("nspid")?,
            })
        }
        "fork" => {
            const K: &str = "fork";
            fields.only(K, &["kind", "pid", "ppid", "nspid"])?;
            Ok(Event::Fork {
                pid: fields.pid(K, "pid")?,
                ppid: fields.pid(K, "ppid")?,
                nspid: fields.opt_pid("nspid")?,
            })
        }
        "exit" => {
            const K: &str = "exit";
            fields.only(K, &["kind", "pid"])?;
            Ok(Event::Exit {
                pid: fields.pid(K, "pid")?,
            })
        }
        "call" => {
            const K: &str = "call";
            fields.only(K, &["kind", "pid", "tid", "hook", "args", "nspid"])?;
            let pid = fields.pid(K, "pid")?;
            let hook = match obj.get("hook") {
                Some(Value::String(h)) if !h.is_empty() => h.clone(),
                Some(_) => {
                    return Err(TraceErrorKind::BadField {
                        field: "hook".into(),
                        expected: "a non-empty string",
                    });
                }
                None => {
                    return Err(TraceErrorKind::MissingField {
                        kind: K,
                        field: "hook",
                    });
                }
            };
            Ok(Event::Call(Call {
                pid,
                tid: fields.opt_pid("tid")?.unwrap_or(pid),
                hook,
                args: parse_args(obj.get("args"))?,
                nspid: fields.opt_pid("nspid")?,
            }))
        }
        _ => Err(TraceErrorKind::UnknownKind(kind)),
    }
}

/// Typed access to the fields of one line.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn only(&self, kind: &'static str, allowed: &[&str]) -> Result<(), TraceErrorKind> {
        match self.obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(TraceErrorKind::UnknownField {
                kind,
                field: k.clone(),
            }),
            None => Ok(()),
        }
    }

    fn pid(&self, kind: &'static str, field: &'static str) -> Result<u32, TraceErrorKind> {
        self.opt_pid(field)?
            .ok_or(TraceErrorKind::MissingField { kind, field })
    }

    fn opt_pid(&self, field: &'static str) -> Result<Option<u32>, TraceErrorKind> {
        match self.obj.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or(TraceErrorKind::BadField {
                    field: field.into(),
                    expected: "an integer from 0 to 4294967295",
                }),
        }
    }

    fn exe(&self, kind: &'static str) -> Result<Option<String>, TraceErrorKind> {
        match self.obj.get("exe") {
            None => Err(TraceErrorKind::MissingField { kind, field: "exe" }),
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.starts_with('/') => Ok(Some(s.clone())),
            Some(Value::String(s)) => Err(TraceErrorKind::RelativeExe(s.clone())),
            Some(_) => Err(TraceErrorKind::BadField {
                field: "exe".into(),
                expected: "an absolute path or null",
            }),
        }
    }

    fn string_list(&self, field: &'static str) -> Result<Vec<String>, TraceErrorKind> {
        let bad = || TraceErrorKind::BadField {
            field: field.into(),
            expected: "an array of strings",
        };
        match self.obj.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
        }
    }
}

/// Parses `args`: an array (positions 0..n) or an object of decimal indices.
fn parse_args(value: Option<&Value>) -> Result<Vec<(u32, ArgValue)>, TraceErrorKind> {
    let mut out = Vec::new();
    match value {
        None => {}
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                out.push((i as u32, arg_value(&format!("args[{i}]"), v)?));
            }
        }
        Some(Value::Object(map)) => {
            for (k, v) in map {
                // Reject "+1", " 1", "01" so that one index has one spelling.
                let index = k
                    .parse::<u32>()
                    .ok()
                    .filter(|i| i.to_string() == *k)
                    .ok_or(TraceErrorKind::BadField {
                        field: format!("args.{k}"),
                        expected: "keyed by a decimal argument index",
                    })?;
                out.push((index, arg_value(&format!("args.{k}"), v)?));
            }
            out.sort_by_key(|(i, _)| *i);
        }
        Some(_) => {
            return Err(TraceErrorKind::BadField {
                field: "args".into(),
                expected: "an array or an object of index → value",
            });
        }
    }
    Ok(out)
}

fn arg_value(field: &str, v: &Value) -> Result<ArgValue, TraceErrorKind> {
    match v {
        Value::String(s) => Ok(ArgValue::Str(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .map(ArgValue::Int)
            .ok_or(TraceErrorKind::BadField {
                field: field.into(),
                expected: "a string or an integer (no fractions)",
            }),
        _ => Err(TraceErrorKind::BadField {
            field: field.into(),
            expected: "a string or an integer",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_examples_parse() {
        let lines = [
            r#"{"kind":"exec","pid":100,"ppid":1,"exe":"/usr/bin/java","args":["-jar","app.jar"]}"#,
            r#"{"kind":"proc","pid":50,"ppid":1,"exe":"/usr/sbin/sshd"}"#,
            r#"{"kind":"fork","pid":101,"ppid":100}"#,
            r#"{"kind":"exit","pid":101}"#,
            r#"{"kind":"call","pid":101,"tid":101,"hook":"sys_execve","args":["/bin/sh"]}"#,
        ];
        for l in lines {
            parse_line(l).unwrap();
        }
    }

    #[test]
    fn sparse_args_are_sorted_by_index() {
        let Event::Call(c) =
            parse_line(r#"{"kind":"call","pid":1,"hook":"h","args":{"4":59,"1":"x"}}"#).unwrap()
        else {
            panic!("not a call")
        };
        assert_eq!(
            c.args,
            vec![(1, ArgValue::Str("x".into())), (4, ArgValue::Int(59))]
        );
        assert_eq!(c.tid, 1, "tid defaults to pid");
    }

    #[test]
    fn unresolved_exe_is_null() {
        let e = parse_line(r#"{"kind":"exec","pid":2,"ppid":1,"exe":null}"#).unwrap();
        assert!(matches!(e, Event::Exec { exe: None, .. }));
    }

    #[test]
    fn relative_exe_is_refused() {
        let e = parse_line(r#"{"kind":"exec","pid":2,"ppid":1,"exe":"bin/sh"}"#).unwrap_err();
        assert_eq!(e, TraceErrorKind::RelativeExe("bin/sh".into()));
    }

    #[test]
    fn unknown_field_is_refused() {
        let e = parse_line(r#"{"kind":"exit","pid":2,"ppid":1}"#).unwrap_err();
        assert!(matches!(e, TraceErrorKind::UnknownField { .. }));
    }

    #[test]
    fn fractional_argument_is_refused() {
        let e = parse_line(r#"{"kind":"call","pid":1,"hook":"h","args":[1.5]}"#).unwrap_err();
        assert!(matches!(e, TraceErrorKind::BadField { .. }), "{e}");
    }

    #[test]
    fn u64_argument_is_kept_whole() {
        let Event::Call(c) =
            parse_line(r#"{"kind":"call","pid":1,"hook":"h","args":[18446744073709551615]}"#)
                .unwrap()
        else {
            panic!("not a call")
        };
        assert_eq!(c.args[0].1, ArgValue::Int(u64::MAX as i128));
    }

    #[test]
    fn non_canonical_index_is_refused() {
        let e = parse_line(r#"{"kind":"call","pid":1,"hook":"h","args":{"01":1}}"#).unwrap_err();
        assert!(matches!(e, TraceErrorKind::BadField { .. }));
    }
}
