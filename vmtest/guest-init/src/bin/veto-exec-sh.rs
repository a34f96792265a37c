//! The enforced scenario's target: a regular binary in the initramfs that execs
//! `/bin/sh`, which in turn leaves a marker file. If the policy works the exec is
//! stopped (SIGKILL) before the shell can write the marker.

use std::ffi::CString;

fn main() {
    let marker = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/veto-exec-sh.marker".into());
    let script = format!("echo reached > {marker}");
    let argv = [
        c"sh".to_owned(),
        c"-c".to_owned(),
        CString::new(script).expect("no NUL"),
    ];
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings kept alive above.
    unsafe { libc::execv(c"/bin/sh".as_ptr(), ptrs.as_ptr()) };
    eprintln!(
        "veto-exec-sh: execv /bin/sh: {}",
        std::io::Error::last_os_error()
    );
    std::process::exit(1);
}
