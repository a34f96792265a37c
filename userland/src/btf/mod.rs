//! A small reader of the kernel's BTF (BPF Type Format).
//!
//! veto's eBPF programs are written in Rust, which has no CO-RE relocations: a
//! struct field read through generated bindings would bake one kernel's layout in
//! and silently read garbage on another. So user space reads the running kernel's
//! BTF (/sys/kernel/btf/vmlinux), computes the few member offsets the programs
//! need ([`KernelOffsets`]) and hands them in at load time. The same reader finds
//! the BTF ids of kernel functions, which LSM and tracing programs must name when
//! they are loaded.

mod offsets;
mod raw;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use offsets::{FromBtf, KernelOffsets, offset_fields};
use raw::{Kind, Type};

/// Where the kernel exports its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Size of a kernel pointer: veto reads the BTF of the kernel it runs on.
const POINTER_SIZE: u32 = std::mem::size_of::<usize>() as u32;

/// Errors of reading BTF or of looking something up in it.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The BTF file could not be read.
    #[error(
        "cannot read BTF from {path}: {source} (is the kernel built with CONFIG_DEBUG_INFO_BTF?)"
    )]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The blob ends before a header, section or type it announces.
    #[error("BTF is truncated or malformed near byte {offset}")]
    Truncated {
        /// Byte offset where data was missing.
        offset: usize,
    },
    /// The blob does not start with the BTF magic of this machine's byte order.
    #[error("not BTF of this machine: magic is 0x{found:04x}, expected 0xeb9f")]
    BadMagic {
        /// The first two bytes, read little-endian.
        found: u16,
    },
    /// A BTF format version this reader does not know.
    #[error("BTF version {version} is not supported (only version 1)")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// A type kind this reader does not know; the rest of the section cannot be decoded.
    #[error("BTF type {id} has unknown kind {kind}; this kernel's BTF is newer than veto's reader")]
    UnknownKind {
        /// The kind number.
        kind: u32,
        /// The type id where it was found.
        id: u32,
    },
    /// No struct or union of that name.
    #[error("the kernel's BTF has no struct or union named `{name}`")]
    NoSuchType {
        /// The name looked up.
        name: String,
    },
    /// The struct or union has no member of that name, not even inside anonymous members.
    #[error("`{ty}` has no member `{member}` in the kernel's BTF")]
    NoSuchMember {
        /// The struct (and member path) searched.
        ty: String,
        /// The member that is missing.
        member: String,
    },
    /// The member is a bitfield not starting on a byte boundary: it cannot be read
    /// with a plain load at a byte offset.
    #[error(
        "`{ty}.{member}` is a bitfield (bit offset {bit_offset}, {bits} bits) that does not start and end on a byte boundary"
    )]
    Bitfield {
        /// The struct (and member path) holding it.
        ty: String,
        /// The member.
        member: String,
        /// Its offset in bits from the start of the outermost struct.
        bit_offset: u32,
        /// Its width in bits.
        bits: u32,
    },
    /// A path continues below a member that is not an embedded struct or union.
    #[error(
        "`{ty}.{member}` is not an embedded struct or union, so `{next}` cannot be looked up inside it"
    )]
    NotComposite {
        /// The struct (and member path) holding the member.
        ty: String,
        /// The member.
        member: String,
        /// The name that was to be found inside it.
        next: String,
    },
    /// A `->` step follows a member that is not a pointer to a struct or union.
    #[error("`{ty}.{member}` is not a pointer to a struct or union, so `->` cannot follow it")]
    NotPointer {
        /// The struct (and member path) holding the member.
        ty: String,
        /// The member.
        member: String,
    },
    /// Several structs share the name and disagree on the answer.
    #[error(
        "`{name}` is defined {count} times in the kernel's BTF with different layouts for `{path}`"
    )]
    Ambiguous {
        /// The struct name.
        name: String,
        /// How many definitions were found.
        count: usize,
        /// The member path whose answer differed.
        path: String,
    },
    /// An empty member path or an empty step in a path.
    #[error("empty member path for `{ty}`")]
    EmptyPath {
        /// The struct the path started from.
        ty: String,
    },
    /// A member has a size the eBPF programs would misread.
    #[error(
        "`{ty}.{member}` is {size} bytes in the kernel's BTF, veto reads it as {expected} bytes"
    )]
    UnexpectedSize {
        /// The struct.
        ty: String,
        /// The member path.
        member: String,
        /// Its size in BTF.
        size: u32,
        /// The size the programs read.
        expected: u32,
    },
    /// No function of that name (it may be inlined, static in a module, or absent).
    #[error("the kernel's BTF has no function named `{name}`")]
    NoSuchFunc {
        /// The name looked up.
        name: String,
    },
}

/// What a member lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInfo {
    /// Offset in bytes from the start of the struct the lookup started from.
    pub offset: u32,
    /// Size of the member in bytes (typedefs and qualifiers resolved; pointers are
    /// the machine's pointer size).
    pub size: u32,
    /// BTF type id of the member, as declared (not resolved).
    pub type_id: u32,
}

/// The parsed BTF of one kernel.
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    /// Named struct and union ids by name (a name may have several definitions).
    composites: HashMap<String, Vec<u32>>,
    /// Named function ids by name.
    funcs: HashMap<String, Vec<u32>>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.types.len())
            .field("strings", &self.strings.len())
            .finish()
    }
}

impl Btf {
    /// Reads the running kernel's BTF from /sys/kernel/btf/vmlinux.
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new(VMLINUX_BTF))
    }

    /// Reads raw BTF (not an ELF file) from `path`.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let bytes = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.to_owned(),
            source,
        })?;
        Btf::parse(&bytes)
    }

    /// Parses a raw BTF blob.
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        let decoded = raw::decode(bytes)?;
        let mut btf = Btf {
            types: decoded.types,
            strings: decoded.strings,
            composites: HashMap::new(),
            funcs: HashMap::new(),
        };
        for (id, ty) in btf.types.iter().enumerate() {
            if ty.name_off == 0 {
                continue;
            }
            let index = match ty.kind {
                Kind::Struct { .. } | Kind::Union { .. } => &mut btf.composites,
                Kind::Func => &mut btf.funcs,
                _ => continue,
            };
            let name = str_at(&btf.strings, ty.name_off).to_owned();
            index.entry(name).or_default().push(id as u32);
        }
        Ok(btf)
    }

    /// Number of types, `void` (id 0) included.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// The BTF id of the function `name` (e.g. `bpf_lsm_bprm_check_security`),
    /// the `attach_btf_id` an LSM or tracing program is loaded with.
    pub fn func_id(&self, name: &str) -> Result<u32, BtfError> {
        self.funcs
            .get(name)
            .and_then(|ids| ids.first().copied())
            .ok_or_else(|| BtfError::NoSuchFunc {
                name: name.to_owned(),
            })
    }

    /// Whether a struct or union named `name` exists.
    pub fn has_struct(&self, name: &str) -> bool {
        self.composites.contains_key(name)
    }

    /// Size in bytes of the struct or union `name`.
    pub fn struct_size(&self, name: &str) -> Result<u32, BtfError> {
        let ids = self.composite_ids(name)?;
        self.agree(
            name,
            "",
            ids.iter().map(|&id| Ok(self.types[id as usize].size)),
        )
    }

    /// Offset in bytes of the member reached by `path` inside struct `name`,
    /// descending through embedded (not pointed-to) structs and unions, and
    /// seeing through anonymous ones: `member_offset("dentry", &["d_name", "len"])`.
    pub fn member_offset(&self, name: &str, path: &[&str]) -> Result<u32, BtfError> {
        Ok(self.member(name, path)?.offset)
    }

    /// Like [`Btf::member_offset`], with the member's size and type.
    pub fn member(&self, name: &str, path: &[&str]) -> Result<MemberInfo, BtfError> {
        let ids = self.composite_ids(name)?;
        let joined = path.join(".");
        self.agree(
            name,
            &joined,
            ids.iter().map(|&id| self.member_in(id, name, path)),
        )
    }

    /// The name of the struct or union that member `path` of `name` points to
    /// (typedefs and qualifiers resolved): `pointee("task_struct", &["mm"])` is
    /// `mm_struct`. This lets a caller chain lookups across pointers.
    pub fn pointee(&self, name: &str, path: &[&str]) -> Result<String, BtfError> {
        let ids = self.composite_ids(name)?;
        let joined = path.join(".");
        self.agree(
            name,
            &joined,
            ids.iter().map(|&id| {
                let m = self.member_in(id, name, path)?;
                self.pointee_name(m.type_id)
                    .ok_or_else(|| BtfError::NotPointer {
                        ty: name.to_owned(),
                        member: joined.clone(),
                    })
            }),
        )
    }

    /// Offsets of a chain of member reads across pointers, written as in C:
    /// `member_offset_path("task_struct", "mm->exe_file->f_path.dentry")` gives
    /// `[off(task_struct.mm), off(mm_struct.exe_file), off(file.f_path.dentry)]`.
    /// Reading `p = *(p + off)` for each offset in turn, starting from a task
    /// pointer, yields the dentry pointer. `.` descends into embedded structs
    /// (offsets add up), `->` follows a pointer (a new read starts).
    pub fn member_offset_path(&self, name: &str, path: &str) -> Result<Vec<u32>, BtfError> {
        let mut offsets = Vec::new();
        let mut current = name.to_owned();
        let steps: Vec<&str> = path.split("->").collect();
        for (i, step) in steps.iter().enumerate() {
            let members: Vec<&str> = step.split('.').collect();
            if members.iter().any(|m| m.is_empty()) {
                return Err(BtfError::EmptyPath { ty: current });
            }
            offsets.push(self.member_offset(&current, &members)?);
            if i + 1 < steps.len() {
                current = self.pointee(&current, &members)?;
            }
        }
        Ok(offsets)
    }

    /// All definitions of the struct or union `name`.
    fn composite_ids(&self, name: &str) -> Result<&[u32], BtfError> {
        self.composites
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| BtfError::NoSuchType {
                name: name.to_owned(),
            })
    }

    /// Combines the answers of every definition of `name`: the first error if
    /// none answers, the answer if all that answer agree, else an ambiguity error.
    /// (vmlinux BTF is deduplicated, so a core struct has one definition; this
    /// guards against the rare name defined differently in two compilation units.)
    fn agree<T: PartialEq>(
        &self,
        name: &str,
        path: &str,
        answers: impl Iterator<Item = Result<T, BtfError>>,
    ) -> Result<T, BtfError> {
        let mut first_err = None;
        let mut found: Option<T> = None;
        let mut count = 0;
        for answer in answers {
            count += 1;
            match answer {
                Ok(v) => match &found {
                    Some(prev) if *prev != v => {
                        return Err(BtfError::Ambiguous {
                            name: name.to_owned(),
                            count: self.composites.get(name).map_or(count, Vec::len),
                            path: path.to_owned(),
                        });
                    }
                    Some(_) => {}
                    None => found = Some(v),
                },
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match (found, first_err) {
            (Some(v), _) => Ok(v),
            (None, Some(e)) => Err(e),
            (None, None) => Err(BtfError::NoSuchType {
                name: name.to_owned(),
            }),
        }
    }

    /// Walks `path` from the composite `id` (named `name` for messages).
    fn member_in(&self, id: u32, name: &str, path: &[&str]) -> Result<MemberInfo, BtfError> {
        let Some((first, rest)) = path.split_first() else {
            return Err(BtfError::EmptyPath {
                ty: name.to_owned(),
            });
        };
        let mut holder = name.to_owned();
        let mut composite = id;
        let mut bit_offset = 0u32;
        let mut member_name = *first;
        let mut remaining = rest;
        loop {
            let Some((rel_bits, bitfield, type_id)) = self.find_member(composite, member_name)
            else {
                return Err(BtfError::NoSuchMember {
                    ty: holder,
                    member: member_name.to_owned(),
                });
            };
            bit_offset += rel_bits;
            let size = self.size_of(type_id);
            let bits = match (bitfield, &self.types[self.resolve(type_id) as usize].kind) {
                (0, Kind::Int { bits }) if *bits < size * 8 => *bits,
                (0, _) => size * 8,
                (declared, _) => declared,
            };
            if !bit_offset.is_multiple_of(8) || !bits.is_multiple_of(8) {
                return Err(BtfError::Bitfield {
                    ty: holder,
                    member: member_name.to_owned(),
                    bit_offset,
                    bits,
                });
            }
            let Some((next, rest)) = remaining.split_first() else {
                return Ok(MemberInfo {
                    offset: bit_offset / 8,
                    size: bits / 8,
                    type_id,
                });
            };
            let resolved = self.resolve(type_id);
            if !matches!(
                self.types[resolved as usize].kind,
                Kind::Struct { .. } | Kind::Union { .. }
            ) {
                return Err(BtfError::NotComposite {
                    ty: holder,
                    member: member_name.to_owned(),
                    next: (*next).to_owned(),
                });
            }
            holder = format!("{holder}.{member_name}");
            composite = resolved;
            member_name = next;
            remaining = rest;
        }
    }

    /// Finds a member by name in one composite, descending into anonymous struct
    /// and union members (C makes their members visible in the enclosing scope).
    /// Returns the bit offset relative to `composite`, the bitfield width (0 if
    /// not a bitfield) and the member's declared type id.
    fn find_member(&self, composite: u32, name: &str) -> Option<(u32, u32, u32)> {
        let members = match &self.types[composite as usize].kind {
            Kind::Struct { members } | Kind::Union { members } => members,
            _ => return None,
        };
        for m in members {
            if m.name_off != 0 {
                if str_at(&self.strings, m.name_off) == name {
                    return Some((m.bit_offset, m.bitfield_size, m.type_id));
                }
                continue;
            }
            let inner = self.resolve(m.type_id);
            if let Some((off, bits, ty)) = self.find_member(inner, name) {
                return Some((m.bit_offset + off, bits, ty));
            }
        }
        None
    }

    /// Follows typedefs and qualifiers (const, volatile, restrict, type tags) to the
    /// underlying type. Bounded, since malformed BTF could contain a cycle.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..64 {
            match self.types.get(id as usize).map(|t| &t.kind) {
                Some(
                    Kind::Typedef { target }
                    | Kind::Const { target }
                    | Kind::Volatile { target }
                    | Kind::Restrict { target }
                    | Kind::TypeTag { target },
                ) => id = *target,
                _ => return id,
            }
        }
        id
    }

    /// Size in bytes of a type (0 for void, functions and unknown ids).
    fn size_of(&self, id: u32) -> u32 {
        let resolved = self.resolve(id);
        let Some(ty) = self.types.get(resolved as usize) else {
            return 0;
        };
        match ty.kind {
            Kind::Ptr { .. } => POINTER_SIZE,
            Kind::Array { elem, nelems } => self.size_of(elem).saturating_mul(nelems),
            _ => ty.size,
        }
    }

    /// The name of the struct or union a pointer type points to, if it is one.
    fn pointee_name(&self, id: u32) -> Option<String> {
        let Kind::Ptr { target } = self.types.get(self.resolve(id) as usize)?.kind else {
            return None;
        };
        let t = &self.types[self.resolve(target) as usize];
        match t.kind {
            Kind::Struct { .. } | Kind::Union { .. } | Kind::Fwd if t.name_off != 0 => {
                Some(str_at(&self.strings, t.name_off).to_owned())
            }
            _ => None,
        }
    }
}

/// The NUL-terminated string at `off` in the string section ("" if out of range).
fn str_at(strings: &[u8], off: u32) -> &str {
    let Some(tail) = strings.get(off as usize..) else {
        return "";
    };
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    std::str::from_utf8(&tail[..end]).unwrap_or("")
}

#[cfg(test)]
mod tests;
