//! docs/trace.schema.json and the parser agree on the examples the schema shows.

use std::path::Path;

use veto_sim::trace::parse_line;

fn schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/trace.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_schema_example_parses() {
    let s = schema();
    let examples = s["examples"].as_array().unwrap();
    assert!(examples.len() >= 5);
    for e in examples {
        parse_line(&e.to_string()).unwrap_or_else(|err| panic!("{e}: {err}"));
    }
}

#[test]
fn the_schema_lists_exactly_the_fields_the_parser_accepts() {
    let s = schema();
    let expect: [(&str, &[&str]); 5] = [
        ("exec", &["kind", "pid", "ppid", "exe", "args", "nspid"]),
        ("proc", &["kind", "pid", "ppid", "exe", "nspid"]),
        ("fork", &["kind", "pid", "ppid", "nspid"]),
        ("exit", &["kind", "pid"]),
        ("call", &["kind", "pid", "tid", "hook", "args", "nspid"]),
    ];
    for (kind, fields) in expect {
        let def = &s["$defs"][kind];
        let mut got: Vec<&str> = def["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = fields.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{kind}");
        assert_eq!(def["additionalProperties"], false, "{kind}");
        // A line with an extra field is refused by the parser as well.
        let mut line =
            serde_json::json!({"kind": kind, "pid": 1, "ppid": 0, "exe": "/x", "hook": "h"});
        line.as_object_mut()
            .unwrap()
            .retain(|k, _| fields.contains(&k.as_str()));
        parse_line(&line.to_string()).unwrap_or_else(|e| panic!("{kind}: {e}"));
        line["surplus"] = serde_json::json!(1);
        assert!(
            parse_line(&line.to_string()).is_err(),
            "{kind} accepted a surplus field"
        );
    }
}
