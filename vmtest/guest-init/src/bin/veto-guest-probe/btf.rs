//! Finds a function's BTF type id in /sys/kernel/btf/vmlinux, which LSM and fentry
//! program loads need as their attach target.

/// Byte size of the data that follows a type's 12-byte header, by BTF kind.
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
        3 => 12,                      // ARRAY
        4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
        6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
        2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
        _ => return None,
    })
}

/// The id of the BTF_KIND_FUNC named `name`.
pub fn func_id(btf: &[u8], name: &str) -> Result<u32, String> {
    let u32_at = |off: usize| -> Result<u32, String> {
        btf.get(off..off + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| "BTF truncated".to_string())
    };
    if btf.get(0..2) != Some(&[0x9f, 0xeb]) {
        return Err("not little-endian BTF".into());
    }
    let hdr_len = u32_at(4)? as usize;
    let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
    let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
    let types = hdr_len + type_off;
    let strings = btf
        .get(hdr_len + str_off..hdr_len + str_off + str_len)
        .ok_or("BTF string section truncated")?;
    let name_at = |off: usize| {
        strings
            .get(off..)
            .and_then(|s| s.split(|&b| b == 0).next())
            .unwrap_or(&[])
    };
    let mut pos = types;
    let mut id = 1u32;
    while pos < types + type_len {
        let (name_off, info) = (u32_at(pos)? as usize, u32_at(pos + 4)?);
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        if kind == 12 && name_at(name_off) == name.as_bytes() {
            return Ok(id);
        }
        pos += 12 + extra_len(kind, vlen).ok_or_else(|| format!("unknown BTF kind {kind}"))?;
        id += 1;
    }
    Err(format!("no function {name} in BTF"))
}
