//! Tests of the BTF reader: a hand-built blob for exact layouts and error
//! cases, and the running kernel's BTF for known facts, cross-checked against
//! pahole when it is installed.

use super::*;

/// Builds a BTF blob type by type, the way the kernel lays it out.
#[derive(Default)]
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn push(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn info(kind: u32, vlen: u32, kind_flag: bool) -> u32 {
        (kind << 24) | vlen | if kind_flag { 1 << 31 } else { 0 }
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        let n = self.str(name);
        self.push(&[n, Self::info(1, 0, false), size, size * 8])
    }

    fn ptr(&mut self, target: u32) -> u32 {
        self.push(&[0, Self::info(2, 0, false), target])
    }

    fn modifier(&mut self, kind: u32, name: &str, target: u32) -> u32 {
        let n = self.str(name);
        self.push(&[n, Self::info(kind, 0, false), target])
    }

    /// A struct (kind 4) or union (kind 5); members are (name, type, bit offset, bitfield bits).
    fn composite(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32, u32)],
    ) -> u32 {
        let kind_flag = members.iter().any(|m| m.3 != 0);
        let n = self.str(name);
        let mut words = vec![n, Self::info(kind, members.len() as u32, kind_flag), size];
        for &(name, ty, bit_off, bits) in members {
            words.push(self.str(name));
            words.push(ty);
            words.push(if kind_flag {
                (bits << 24) | bit_off
            } else {
                bit_off
            });
        }
        self.push(&words)
    }

    fn func(&mut self, name: &str) -> u32 {
        let proto = self.push(&[0, Self::info(13, 0, false), 0]);
        let n = self.str(name);
        self.push(&[n, Self::info(12, 0, false), proto])
    }

    fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(1);
        out.push(0);
        for w in [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// A miniature of the kernel's layouts: `dentry.d_name` is a const qstr whose
/// `len` sits in an anonymous struct inside an anonymous union; `task.mm` is a
/// pointer through a typedef; `task.bits` holds bitfields.
fn sample() -> Btf {
    let mut b = Builder::new();
    let u32_ = b.int("u32", 4);
    let u64_ = b.int("u64", 8);
    let uchar = b.int("unsigned char", 1);
    let hash_len = b.composite(4, "", 8, &[("hash", u32_, 0, 0), ("len", u32_, 32, 0)]);
    let anon_union = b.composite(5, "", 8, &[("", hash_len, 0, 0), ("hash_len", u64_, 0, 0)]);
    let name_ptr = b.ptr(uchar);
    let qstr = b.composite(
        4,
        "qstr",
        16,
        &[("", anon_union, 0, 0), ("name", name_ptr, 64, 0)],
    );
    let const_qstr = b.modifier(10, "", qstr);
    let file = b.composite(4, "file", 8, &[("f_flags", u32_, 32, 0)]);
    let file_ptr = b.ptr(file);
    let exe_wrap = b.composite(
        4,
        "",
        16,
        &[("pad", u64_, 0, 0), ("exe_file", file_ptr, 64, 0)],
    );
    let mm = b.composite(
        4,
        "mm_struct",
        24,
        &[("users", u32_, 0, 0), ("", exe_wrap, 64, 0)],
    );
    let mm_t = b.modifier(8, "mm_t", mm);
    let volatile_mm = b.modifier(9, "", mm_t);
    let mm_ptr = b.ptr(volatile_mm);
    b.composite(
        4,
        "dentry",
        48,
        &[("d_flags", u32_, 0, 0), ("d_name", const_qstr, 256, 0)],
    );
    b.composite(
        4,
        "task_struct",
        32,
        &[
            ("pid", u32_, 0, 0),
            ("mm", mm_ptr, 64, 0),
            ("small", u32_, 128, 3),
            ("whole", u32_, 136, 8),
            ("odd", u32_, 147, 5),
        ],
    );
    b.func("bpf_lsm_bprm_check_security");
    Btf::parse(&b.build()).expect("the sample blob parses")
}

#[test]
fn member_inside_anonymous_struct_in_anonymous_union_is_found() {
    let btf = sample();
    assert_eq!(btf.member_offset("qstr", &["len"]).unwrap(), 4);
    assert_eq!(btf.member_offset("qstr", &["hash_len"]).unwrap(), 0);
    assert_eq!(btf.member_offset("qstr", &["name"]).unwrap(), 8);
}

#[test]
fn path_through_const_embedded_struct_adds_offsets() {
    let btf = sample();
    let len = btf.member("dentry", &["d_name", "len"]).unwrap();
    assert_eq!((len.offset, len.size), (36, 4));
    assert_eq!(
        btf.member_offset("dentry", &["d_name", "name"]).unwrap(),
        40
    );
}

#[test]
fn member_of_anonymous_struct_at_nonzero_offset_counts_that_offset() {
    let btf = sample();
    assert_eq!(btf.member_offset("mm_struct", &["exe_file"]).unwrap(), 16);
}

#[test]
fn pointer_through_typedef_and_volatile_names_its_struct() {
    let btf = sample();
    assert_eq!(btf.pointee("task_struct", &["mm"]).unwrap(), "mm_struct");
    assert_eq!(btf.pointee("mm_struct", &["exe_file"]).unwrap(), "file");
}

#[test]
fn offset_path_follows_pointers_and_embedded_structs() {
    let btf = sample();
    assert_eq!(
        btf.member_offset_path("task_struct", "mm->exe_file->f_flags")
            .unwrap(),
        vec![8, 16, 4]
    );
    assert_eq!(
        btf.member_offset_path("dentry", "d_name.len").unwrap(),
        vec![36]
    );
}

#[test]
fn byte_aligned_bitfield_is_accepted_with_its_width() {
    let btf = sample();
    let whole = btf.member("task_struct", &["whole"]).unwrap();
    assert_eq!((whole.offset, whole.size), (17, 1));
}

#[test]
fn unaligned_bitfields_are_refused_naming_struct_and_member() {
    let btf = sample();
    for member in ["small", "odd"] {
        let err = btf.member_offset("task_struct", &[member]).unwrap_err();
        assert!(
            matches!(&err, BtfError::Bitfield { ty, member: m, .. } if ty == "task_struct" && m == member),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("task_struct.{member}")));
    }
}

#[test]
fn missing_member_error_names_struct_path_and_member() {
    let btf = sample();
    let err = btf
        .member_offset("dentry", &["d_name", "nope"])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`dentry.d_name` has no member `nope` in the kernel's BTF"
    );
}

#[test]
fn missing_struct_and_function_are_errors() {
    let btf = sample();
    assert!(matches!(
        btf.member_offset("no_such", &["x"]),
        Err(BtfError::NoSuchType { .. })
    ));
    assert!(matches!(
        btf.func_id("nope"),
        Err(BtfError::NoSuchFunc { .. })
    ));
}

#[test]
fn descending_into_a_pointer_with_a_dot_is_an_error() {
    let btf = sample();
    let err = btf
        .member_offset("task_struct", &["mm", "users"])
        .unwrap_err();
    assert!(matches!(err, BtfError::NotComposite { .. }), "{err:?}");
    let err = btf.member_offset_path("task_struct", "pid->x").unwrap_err();
    assert!(matches!(err, BtfError::NotPointer { .. }), "{err:?}");
}

#[test]
fn func_id_is_the_position_of_the_func_type() {
    let btf = sample();
    // 17 types before the prototype, the prototype is 18, the FUNC 19.
    assert_eq!(btf.func_id("bpf_lsm_bprm_check_security").unwrap(), 19);
}

#[test]
fn truncated_and_foreign_blobs_are_refused() {
    let mut bytes = Builder::new().build();
    // Big-endian BTF: the magic bytes swapped.
    bytes[0] = 0xeb;
    bytes[1] = 0x9f;
    assert!(matches!(Btf::parse(&bytes), Err(BtfError::BadMagic { .. })));
    let mut b = Builder::new();
    b.int("int", 4);
    let full = b.build();
    assert!(matches!(
        Btf::parse(&full[..full.len() - 3]),
        Err(BtfError::Truncated { .. })
    ));
    assert!(matches!(
        Btf::parse(&[0u8; 4]),
        Err(BtfError::Truncated { .. })
    ));
}

// ---- the running kernel ----

fn kernel() -> Btf {
    Btf::from_sys_fs().expect("this kernel exports BTF at /sys/kernel/btf/vmlinux")
}

#[test]
fn kernel_btf_has_task_struct_pid_and_lsm_hook_functions() {
    let btf = kernel();
    assert!(btf.type_count() > 10_000);
    let pid = btf.member("task_struct", &["pid"]).unwrap();
    assert_eq!(pid.size, 4);
    assert!(btf.func_id("bpf_lsm_bprm_check_security").unwrap() > 0);
}

#[test]
fn kernel_offsets_are_found_and_marked_valid() {
    let btf = kernel();
    let off = KernelOffsets::from_btf(&btf).unwrap();
    assert_eq!(off.valid, 1);
    // struct path is { mnt, dentry } and qstr is { hash_len union, name } in
    // every kernel veto supports.
    assert_eq!((off.path_mnt, off.path_dentry), (0, 8));
    assert_eq!((off.qstr_len, off.qstr_name), (4, 8));
    assert_ne!(off.mount_mnt_parent, off.mount_mnt_mountpoint);
}

#[test]
fn kernel_offset_path_matches_single_lookups() {
    let btf = kernel();
    let off = KernelOffsets::from_btf(&btf).unwrap();
    assert_eq!(
        btf.member_offset_path("task_struct", "mm->exe_file->f_path.dentry")
            .unwrap(),
        vec![
            off.task_mm,
            off.mm_exe_file,
            off.file_f_path + off.path_dentry
        ]
    );
    assert_eq!(
        btf.member_offset("dentry", &["d_name", "len"]).unwrap(),
        off.dentry_d_name + off.qstr_len
    );
}

/// pahole (Debian package `dwarves`) prints each member with `/* offset size */`,
/// members of anonymous structs and unions at their absolute offset. It reads
/// the same BTF with a different implementation, so it serves as an oracle.
fn pahole_offsets(ty: &str) -> Option<std::collections::HashMap<String, u32>> {
    let out = std::process::Command::new("pahole")
        .args(["-F", "btf", "-C", ty, VMLINUX_BTF])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut map = std::collections::HashMap::new();
    for line in text.lines() {
        let Some((decl, comment)) = line.split_once("/*") else {
            continue;
        };
        let Some(decl) = decl.trim_end().strip_suffix(';') else {
            continue;
        };
        // `char comm[16]`: the name is before the array bounds.
        let decl = decl.split('[').next().unwrap_or(decl);
        let name: String = decl
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let Some(offset) = comment
            .split_whitespace()
            .next()
            .and_then(|w| w.parse::<u32>().ok())
        else {
            continue;
        };
        if !name.is_empty() && !decl.trim_start().starts_with('}') {
            map.entry(name).or_insert(offset);
        }
    }
    Some(map)
}

#[test]
fn kernel_offsets_agree_with_pahole_when_installed() {
    let btf = kernel();
    let off = KernelOffsets::from_btf(&btf).unwrap();
    let mut checked = 0;
    for (field, value) in offset_fields(&off) {
        let mut parts = field.split('.');
        let ty = parts.next().unwrap();
        let members: Vec<&str> = parts.collect();
        if members.len() != 1 {
            continue; // pahole does not expand named member types
        }
        let Some(table) = pahole_offsets(ty) else {
            eprintln!("pahole not installed (apt-get install dwarves): oracle check skipped");
            return;
        };
        assert_eq!(table.get(members[0]), Some(&value), "{field}");
        checked += 1;
    }
    assert!(
        checked >= 15,
        "only {checked} offsets checked against pahole"
    );
}
