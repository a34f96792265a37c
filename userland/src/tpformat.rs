//! Tracepoint record layouts from tracefs `format` files.
//!
//! A syscall hook reads its arguments at the offsets the running kernel
//! publishes for `syscalls/sys_enter_<name>`; they are a stable ABI, unlike
//! struct layouts, but still read rather than assumed.

use std::path::{Path, PathBuf};

/// Errors of finding or reading a tracepoint format.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// tracefs could not be found or mounted.
    #[error("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: {0}")]
    NoTracefs(String),
    /// The tracepoint does not exist on this kernel.
    #[error("tracepoint {category}/{name} does not exist on this kernel ({path} is missing)")]
    Missing {
        /// Category.
        category: String,
        /// Event.
        name: String,
        /// The format file looked for.
        path: PathBuf,
    },
    /// The format file could not be parsed.
    #[error("{path}: {reason}")]
    Parse {
        /// The format file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// One field of a tracepoint record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// C declaration without the name (`const char *`, `__data_loc char[]`).
    pub ty: String,
    /// Field name.
    pub name: String,
    /// Byte offset in the record.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Signedness.
    pub signed: bool,
}

/// A tracepoint's id and fields (common fields included, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// The event id: the value of `common_type` in its records.
    pub id: u32,
    /// Every field in order.
    pub fields: Vec<Field>,
}

impl Format {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The syscall arguments of a `sys_enter_*` record (after `__syscall_nr`).
    pub fn syscall_args(&self) -> &[Field] {
        match self.fields.iter().position(|f| f.name == "__syscall_nr") {
            Some(i) => &self.fields[i + 1..],
            None => &[],
        }
    }
}

/// Parses the text of a `format` file.
pub fn parse(path: &Path, text: &str) -> Result<Format, FormatError> {
    let err = |reason: String| FormatError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let mut id = None;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("ID:") {
            id = Some(v.trim().parse().map_err(|e| err(format!("bad ID: {e}")))?);
        } else if let Some(rest) = line.strip_prefix("field:") {
            let mut decl = "";
            let (mut offset, mut size, mut signed) = (None, None, false);
            for part in rest.split(';').map(str::trim) {
                if let Some(v) = part.strip_prefix("offset:") {
                    offset = v.parse().ok();
                } else if let Some(v) = part.strip_prefix("size:") {
                    size = v.parse().ok();
                } else if let Some(v) = part.strip_prefix("signed:") {
                    signed = v == "1";
                } else if decl.is_empty() {
                    decl = part;
                }
            }
            let (Some(offset), Some(size)) = (offset, size) else {
                return Err(err(format!("field without offset or size: {line}")));
            };
            // The name is the last identifier of the declaration, before a
            // trailing [N] (`char comm[16]`); `__data_loc char[] name` has its
            // brackets before the name.
            let decl_noarr = match decl.rfind('[') {
                Some(i) if decl.ends_with(']') => decl[..i].trim_end(),
                _ => decl,
            };
            let split = decl_noarr
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map(|i| i + 1)
                .unwrap_or(0);
            let name = decl_noarr[split..].to_string();
            let ty = format!(
                "{}{}",
                decl_noarr[..split].trim(),
                &decl[decl_noarr.len()..]
            )
            .trim()
            .to_string();
            fields.push(Field {
                ty,
                name,
                offset,
                size,
                signed,
            });
        }
    }
    let id = id.ok_or_else(|| err("no ID line".into()))?;
    Ok(Format { id, fields })
}

/// The tracefs mount point, mounting it at /sys/kernel/tracing if needed.
pub fn tracefs() -> Result<PathBuf, FormatError> {
    for p in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(p).join("events").is_dir() {
            return Ok(PathBuf::from(p));
        }
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: plain mount(2) with static NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(FormatError::NoTracefs(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    Ok(PathBuf::from("/sys/kernel/tracing"))
}

/// Reads the format of `category/name` from tracefs.
pub fn read(category: &str, name: &str) -> Result<Format, FormatError> {
    let path = tracefs()?
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text = std::fs::read_to_string(&path).map_err(|_| FormatError::Missing {
        category: category.into(),
        name: name.into(),
        path: path.clone(),
    })?;
    parse(&path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXECVE: &str = "name: sys_enter_execve
ID: 862
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] parent_comm;\toffset:32;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:36;\tsize:16;\tsigned:0;
";

    #[test]
    fn syscall_arguments_follow_the_syscall_number() {
        let f = parse(Path::new("format"), EXECVE).unwrap();
        assert_eq!(f.id, 862);
        let args = f.syscall_args();
        assert_eq!(args[0].name, "filename");
        assert_eq!(args[0].ty, "const char *");
        assert_eq!((args[0].offset, args[0].size), (16, 8));
        assert_eq!(args[1].name, "argv");
        assert_eq!(args[2].name, "parent_comm");
        assert_eq!(args[2].ty, "__data_loc char[]");
        assert_eq!(
            (args[3].name.as_str(), args[3].ty.as_str()),
            ("comm", "char[16]")
        );
    }

    #[test]
    fn a_file_without_id_is_an_error() {
        assert!(parse(Path::new("f"), "format:\n").is_err());
    }
}
