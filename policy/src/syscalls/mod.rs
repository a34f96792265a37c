//! Syscall names: which spellings a policy may use and what they resolve to.

mod table;

pub use table::{I386, X86_64};

/// Why a syscall name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Not in the x86-64 table.
    Unknown,
    /// A 32-bit entry point (`__ia32_sys_…`, `compat_sys_…`): veto hooks the 64-bit
    /// syscalls; the compat entry is covered by the plan's compat note instead.
    Compat,
}

/// Resolves a syscall as a policy writes it (`sys_execve`, `__x64_sys_execve` or
/// `execve`) to its table name (`execve`).
pub fn resolve(call: &str) -> Result<&'static str, NameError> {
    if call.starts_with("__ia32_") || call.contains("compat_sys_") {
        return Err(NameError::Compat);
    }
    let bare = call
        .strip_prefix("__x64_sys_")
        .or_else(|| call.strip_prefix("sys_"))
        .unwrap_or(call);
    X86_64
        .iter()
        .find(|(name, _)| *name == bare)
        .map(|(name, _)| *name)
        .ok_or(NameError::Unknown)
}

/// The x86-64 number of a syscall (table name, without `sys_`).
pub fn x86_64_number(name: &str) -> Option<u32> {
    X86_64.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

/// The i386 number of a syscall, as a 64-bit kernel with IA32 emulation serves it.
pub fn i386_number(name: &str) -> Option<u32> {
    I386.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_spellings_resolve_to_the_table_name() {
        assert_eq!(resolve("sys_execve"), Ok("execve"));
        assert_eq!(resolve("__x64_sys_execve"), Ok("execve"));
        assert_eq!(resolve("execve"), Ok("execve"));
        assert_eq!(resolve("sys_nosuchcall"), Err(NameError::Unknown));
        assert_eq!(resolve("__ia32_sys_dup"), Err(NameError::Compat));
    }

    #[test]
    fn numbers_match_the_kernel_abi() {
        assert_eq!(x86_64_number("read"), Some(0));
        assert_eq!(x86_64_number("execve"), Some(59));
        assert_eq!(x86_64_number("execveat"), Some(322));
        assert_eq!(x86_64_number("clone3"), Some(435));
        assert_eq!(x86_64_number("mseal"), Some(462));
        assert_eq!(i386_number("execve"), Some(11));
        assert_eq!(i386_number("execveat"), Some(358));
        assert_eq!(i386_number("socketcall"), Some(102));
        assert_eq!(x86_64_number("socketcall"), None);
    }

    #[test]
    fn table_has_no_duplicate_names_or_numbers() {
        for table in [X86_64, I386] {
            let mut names: Vec<_> = table.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.len());
            let mut nrs: Vec<_> = table.iter().map(|(_, n)| *n).collect();
            nrs.sort_unstable();
            nrs.dedup();
            assert_eq!(nrs.len(), table.len());
        }
    }
}
