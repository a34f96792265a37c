//! Decoding of the BTF blob: header, type section and string section.
//!
//! The format is the one the kernel exports at /sys/kernel/btf/vmlinux
//! (include/uapi/linux/btf.h). Only what veto needs is kept per type; every
//! kind is still decoded so that the type ids (their position in the section)
//! stay right.

use super::BtfError;

/// Magic number at the start of every BTF blob, in native (little-endian) order.
const MAGIC: u16 = 0xeb9f;
/// The smallest header: magic, version, flags, hdr_len, then four u32 offsets/lengths.
const MIN_HEADER_LEN: usize = 24;

/// A BTF kind, with the payload veto uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The `void` type, id 0 (never present in the section; synthesised).
    Void,
    /// An integer of `size` bytes, of which `bits` are used (fewer than
    /// `size * 8` only for the old encoding of bitfields, without kind_flag).
    Int { bits: u32 },
    /// Pointer to `target`.
    Ptr { target: u32 },
    /// Array of `nelems` elements of `elem`.
    Array { elem: u32, nelems: u32 },
    /// `struct` with its members.
    Struct { members: Vec<Member> },
    /// `union` with its members.
    Union { members: Vec<Member> },
    /// An enum (32-bit or 64-bit values; veto only needs its size).
    Enum,
    /// A forward declaration (`struct foo;`): no members known.
    Fwd,
    /// `typedef` naming `target`.
    Typedef { target: u32 },
    /// `volatile` qualifier of `target`.
    Volatile { target: u32 },
    /// `const` qualifier of `target`.
    Const { target: u32 },
    /// `restrict` qualifier of `target`.
    Restrict { target: u32 },
    /// A function (its prototype is a FUNC_PROTO type; veto only needs its id).
    Func,
    /// A function prototype.
    FuncProto,
    /// A variable.
    Var,
    /// A data section.
    Datasec,
    /// A floating point type.
    Float,
    /// A declaration tag (annotation) on `target`.
    DeclTag,
    /// A type tag (annotation) on `target`, a modifier like const.
    TypeTag { target: u32 },
}

/// One member of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Offset into the string section; 0 for anonymous members.
    pub name_off: u32,
    /// Type id of the member.
    pub type_id: u32,
    /// Offset from the start of the enclosing struct, in bits.
    pub bit_offset: u32,
    /// Width in bits when the member is a bitfield (kind_flag set and size non-zero).
    pub bitfield_size: u32,
}

/// One decoded type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Type {
    /// Offset of the name in the string section (0 = anonymous).
    pub name_off: u32,
    /// Size in bytes for sized kinds (int, struct, union, enum, float, datasec); 0 otherwise.
    pub size: u32,
    /// The kind and its payload.
    pub kind: Kind,
}

/// Result of decoding: types indexed by id (index 0 is void) and the string section.
pub(crate) struct Decoded {
    pub types: Vec<Type>,
    pub strings: Vec<u8>,
}

/// Little-endian cursor over the type section that reports truncation as an error.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u32(&mut self) -> Result<u32, BtfError> {
        let end = self.pos + 4;
        let b = self
            .bytes
            .get(self.pos..end)
            .ok_or(BtfError::Truncated { offset: self.pos })?;
        self.pos = end;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, n: usize) -> Result<(), BtfError> {
        if self.pos + n > self.bytes.len() {
            return Err(BtfError::Truncated { offset: self.pos });
        }
        self.pos += n;
        Ok(())
    }
}

fn header_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Decodes a whole BTF blob.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, BtfError> {
    if bytes.len() < MIN_HEADER_LEN {
        return Err(BtfError::Truncated { offset: 0 });
    }
    let magic = u16::from_le_bytes([bytes[0], bytes[1]]);
    if magic != MAGIC {
        // A byte-swapped magic means BTF of the other endianness; veto runs on the
        // kernel it reads, so that is as wrong as garbage.
        return Err(BtfError::BadMagic { found: magic });
    }
    let version = bytes[2];
    if version != 1 {
        return Err(BtfError::UnsupportedVersion { version });
    }
    // hdr_len lets newer kernels append header fields; offsets count from its end.
    let hdr_len = header_u32(bytes, 4) as usize;
    if hdr_len < MIN_HEADER_LEN || hdr_len > bytes.len() {
        return Err(BtfError::Truncated { offset: 4 });
    }
    let type_off = header_u32(bytes, 8) as usize;
    let type_len = header_u32(bytes, 12) as usize;
    let str_off = header_u32(bytes, 16) as usize;
    let str_len = header_u32(bytes, 20) as usize;
    let body = &bytes[hdr_len..];
    let section = |off: usize, len: usize| -> Result<&[u8], BtfError> {
        off.checked_add(len)
            .and_then(|end| body.get(off..end))
            .ok_or(BtfError::Truncated {
                offset: hdr_len + off,
            })
    };
    let type_sec = section(type_off, type_len)?;
    let strings = section(str_off, str_len)?.to_vec();

    let mut types = vec![Type {
        name_off: 0,
        size: 0,
        kind: Kind::Void,
    }];
    let mut cur = Cursor {
        bytes: type_sec,
        pos: 0,
    };
    while cur.pos < type_sec.len() {
        types.push(decode_one(&mut cur, types.len() as u32)?);
    }
    Ok(Decoded { types, strings })
}

/// Decodes the type at the cursor; `id` is only used in error messages.
fn decode_one(cur: &mut Cursor<'_>, id: u32) -> Result<Type, BtfError> {
    let name_off = cur.u32()?;
    let info = cur.u32()?;
    let size_or_type = cur.u32()?;
    let vlen = (info & 0xffff) as usize;
    let kind_no = (info >> 24) & 0x1f;
    let kind_flag = info >> 31 == 1;
    let mut size = 0;
    let kind = match kind_no {
        1 => {
            size = size_or_type;
            // BTF_INT_BITS: the low 8 bits of the encoding word.
            let bits = cur.u32()? & 0xff;
            Kind::Int { bits }
        }
        2 => Kind::Ptr {
            target: size_or_type,
        },
        3 => {
            let elem = cur.u32()?;
            let _index_type = cur.u32()?;
            let nelems = cur.u32()?;
            Kind::Array { elem, nelems }
        }
        4 | 5 => {
            size = size_or_type;
            let mut members = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let name_off = cur.u32()?;
                let type_id = cur.u32()?;
                let offset = cur.u32()?;
                // With kind_flag the offset word packs bitfield size (high 8 bits)
                // and bit offset (low 24 bits); without it, it is a bit offset.
                let (bit_offset, bitfield_size) = if kind_flag {
                    (offset & 0x00ff_ffff, offset >> 24)
                } else {
                    (offset, 0)
                };
                members.push(Member {
                    name_off,
                    type_id,
                    bit_offset,
                    bitfield_size,
                });
            }
            if kind_no == 4 {
                Kind::Struct { members }
            } else {
                Kind::Union { members }
            }
        }
        6 => {
            size = size_or_type;
            cur.skip(8 * vlen)?;
            Kind::Enum
        }
        7 => Kind::Fwd,
        8 => Kind::Typedef {
            target: size_or_type,
        },
        9 => Kind::Volatile {
            target: size_or_type,
        },
        10 => Kind::Const {
            target: size_or_type,
        },
        11 => Kind::Restrict {
            target: size_or_type,
        },
        12 => Kind::Func,
        13 => {
            cur.skip(8 * vlen)?;
            Kind::FuncProto
        }
        14 => {
            cur.skip(4)?;
            Kind::Var
        }
        15 => {
            size = size_or_type;
            cur.skip(12 * vlen)?;
            Kind::Datasec
        }
        16 => {
            size = size_or_type;
            Kind::Float
        }
        17 => {
            cur.skip(4)?;
            Kind::DeclTag
        }
        18 => Kind::TypeTag {
            target: size_or_type,
        },
        19 => {
            size = size_or_type;
            cur.skip(12 * vlen)?;
            Kind::Enum
        }
        other => return Err(BtfError::UnknownKind { kind: other, id }),
    };
    Ok(Type {
        name_off,
        size,
        kind,
    })
}
