//! JSON lines in Tetragon's event shape, plus `exe` (the resolved path that
//! matchBinaries compared).

use serde_json::{Value, json};

use super::{ArgValue, Event};
use crate::process::Process;

fn process(p: &Process) -> Value {
    json!({
        "exec_id": p.exec_id,
        "pid": p.pid,
        "tid": p.pid,
        "uid": p.uid,
        "cwd": p.cwd,
        "binary": p.binary,
        "exe": p.exe,
        "arguments": p.arguments,
        "flags": p.flags.join(" "),
        "start_time": p.start_time,
        "parent_exec_id": p.parent_exec_id,
    })
}

fn arg(label: &Option<String>, ty: &str, v: &ArgValue) -> Value {
    let mut o = match v {
        ArgValue::Str(s) => json!({ "string_arg": s }),
        ArgValue::Int(i) if ty == "int64" => json!({ "long_arg": i }),
        ArgValue::Int(i) => json!({ "int_arg": i }),
        ArgValue::Uint(u) if ty == "size_t" => json!({ "size_arg": u }),
        ArgValue::Uint(u) => json!({ "uint_arg": u }),
        ArgValue::Unreadable => json!({ "error": "unreadable" }),
    };
    if let Some(l) = label {
        o["label"] = json!(l);
    }
    o
}

/// One event as a JSON value.
pub fn to_value(ev: &Event, node: &str) -> Value {
    match ev {
        Event::Exec {
            process: p,
            parent,
            time,
        } => json!({
            "process_exec": { "process": process(p), "parent": parent.as_ref().map(process) },
            "node_name": node,
            "time": time,
        }),
        Event::Exit {
            process: p,
            parent,
            status,
            time,
        } => {
            let mut body = json!({
                "process": process(p),
                "parent": parent.as_ref().map(process),
                "status": status.code,
                "time": time,
            });
            // As Tetragon: the signal's name, only when one ended the process.
            if let Some(sig) = status.signal_name() {
                body["signal"] = json!(sig);
            }
            json!({
                "process_exit": body,
                "node_name": node,
                "time": time,
            })
        }
        Event::Hook { report: r, time } => {
            let args: Vec<Value> = r.args.iter().map(|(l, t, v)| arg(l, t, v)).collect();
            let mut body = json!({
                "process": process(&r.process),
                "parent": r.parent.as_ref().map(process),
                "args": args,
                "action": r.action,
                "policy_name": r.policy,
            });
            if r.sig != 0 && r.sig != 9 {
                body["signal"] = json!(r.sig);
            }
            match &r.function_name {
                Some(f) => {
                    body["function_name"] = json!(f);
                    json!({ "process_kprobe": body, "node_name": node, "time": time })
                }
                None => {
                    body["subsys"] = json!(r.subsys);
                    body["event"] = json!(r.event);
                    json!({ "process_tracepoint": body, "node_name": node, "time": time })
                }
            }
        }
    }
}
