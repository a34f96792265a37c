//! The subset of BER (X.690) that LDAP messages use: definite-length TLVs.
//!
//! Written here rather than taken from an LDAP crate: the attacker's LDAP server needs five
//! message shapes, and a hundred lines under byte-exact tests are easier to trust than a
//! protocol stack (ldap3_proto, the maintained option, is MPL-2.0 and brings a parser
//! generator along).

use thiserror::Error;

/// Universal and LDAP application tags used by the scenario.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// ENUMERATED.
    pub const ENUMERATED: u8 = 0x0a;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed).
    pub const SET: u8 = 0x31;
}

/// Why bytes are not a well-formed TLV.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BerError {
    /// The input ends inside a TLV; more bytes may complete it.
    #[error("truncated: need {needed} more byte(s)")]
    Truncated {
        /// How many more bytes the current element needs at least.
        needed: usize,
    },
    /// Indefinite lengths (0x80) are not allowed in LDAP (RFC 4511 section 5.1).
    #[error("indefinite length is not allowed in LDAP")]
    IndefiniteLength,
    /// A length that does not fit the decoder (more than 4 length octets).
    #[error("length field of {0} octets is too long")]
    LengthTooLong(usize),
    /// Multi-byte tag numbers (low bits 0x1f) never occur in LDAP.
    #[error("multi-byte tag 0x{0:02x} is not supported")]
    MultiByteTag(u8),
    /// An element had a different tag than the grammar requires.
    #[error("expected tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag {
        /// The tag the grammar requires.
        expected: u8,
        /// The tag that was found.
        found: u8,
    },
    /// An INTEGER or ENUMERATED that is empty or wider than 64 bits.
    #[error("integer of {0} octets is out of range")]
    BadInteger(usize),
}

/// One decoded element: its identifier octet and its content octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (class, constructed bit and tag number).
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Fails unless this element has tag `expected`.
    pub fn expect(self, expected: u8) -> Result<Self, BerError> {
        if self.tag == expected {
            Ok(self)
        } else {
            Err(BerError::UnexpectedTag {
                expected,
                found: self.tag,
            })
        }
    }

    /// The content of an INTEGER or ENUMERATED as a signed two's-complement number.
    pub fn integer(self) -> Result<i64, BerError> {
        let v = self.value;
        if v.is_empty() || v.len() > 8 {
            return Err(BerError::BadInteger(v.len()));
        }
        let mut n: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
        for &b in v {
            n = (n << 8) | i64::from(b);
        }
        Ok(n)
    }

    /// The elements inside a constructed element.
    pub fn children(self) -> Children<'a> {
        Children { rest: self.value }
    }
}

/// Iterator over consecutive TLVs.
#[derive(Debug, Clone)]
pub struct Children<'a> {
    rest: &'a [u8],
}

impl<'a> Children<'a> {
    /// The next element, failing if there is none or it is malformed.
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>, BerError> {
        let (tlv, used) = decode(self.rest)?;
        self.rest = &self.rest[used..];
        Ok(tlv)
    }

    /// True when every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Decodes the TLV at the start of `input`; returns it and the number of bytes it spans.
pub fn decode(input: &[u8]) -> Result<(Tlv<'_>, usize), BerError> {
    let (&tag, rest) = input
        .split_first()
        .ok_or(BerError::Truncated { needed: 2 })?;
    if tag & 0x1f == 0x1f {
        return Err(BerError::MultiByteTag(tag));
    }
    let (&first, rest) = rest
        .split_first()
        .ok_or(BerError::Truncated { needed: 1 })?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else if first == 0x80 {
        return Err(BerError::IndefiniteLength);
    } else {
        let octets = usize::from(first & 0x7f);
        if octets > 4 {
            return Err(BerError::LengthTooLong(octets));
        }
        if rest.len() < octets {
            return Err(BerError::Truncated {
                needed: octets - rest.len(),
            });
        }
        let len = rest[..octets]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, 2 + octets)
    };
    let total = header + len;
    if input.len() < total {
        return Err(BerError::Truncated {
            needed: total - input.len(),
        });
    }
    Ok((
        Tlv {
            tag,
            value: &input[header..total],
        },
        total,
    ))
}

/// Appends a definite length in the shortest form.
fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one element with tag `tag` around `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Encodes an INTEGER/ENUMERATED-style number with tag `tag` in the minimal octets.
pub fn integer(tag: u8, n: i64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    // Drop leading octets that only repeat the sign of the next one.
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(tag, &bytes[start..])
}

/// Encodes a constructed element whose content is the concatenation of `parts`.
pub fn constructed(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_integers_use_minimal_octets() {
        assert_eq!(integer(tag::INTEGER, 0), [0x02, 0x01, 0x00]);
        assert_eq!(integer(tag::INTEGER, 127), [0x02, 0x01, 0x7f]);
        assert_eq!(integer(tag::INTEGER, 128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(tag::INTEGER, 256), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(integer(tag::INTEGER, -1), [0x02, 0x01, 0xff]);
        assert_eq!(integer(tag::INTEGER, -129), [0x02, 0x02, 0xff, 0x7f]);
    }

    #[test]
    fn integers_round_trip() {
        for n in [
            0,
            1,
            127,
            128,
            255,
            256,
            65535,
            2_147_483_647,
            -1,
            -128,
            -129,
        ] {
            let enc = integer(tag::INTEGER, n);
            let (tlv, used) = decode(&enc).unwrap();
            assert_eq!(used, enc.len());
            assert_eq!(tlv.integer().unwrap(), n, "{n}");
        }
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let content = vec![0x41; 200];
        let enc = tlv(tag::OCTET_STRING, &content);
        assert_eq!(&enc[..3], [0x04, 0x81, 0xc8]);
        let content = vec![0x41; 300];
        let enc = tlv(tag::OCTET_STRING, &content);
        assert_eq!(&enc[..4], [0x04, 0x82, 0x01, 0x2c]);
        let (tlv, used) = decode(&enc).unwrap();
        assert_eq!((tlv.value.len(), used), (300, 304));
    }

    #[test]
    fn truncated_input_says_how_much_is_missing() {
        assert_eq!(
            decode(&[0x30, 0x05, 0x02, 0x01]),
            Err(BerError::Truncated { needed: 3 })
        );
        assert_eq!(decode(&[0x30]), Err(BerError::Truncated { needed: 1 }));
        assert_eq!(
            decode(&[0x30, 0x82, 0x01]),
            Err(BerError::Truncated { needed: 1 })
        );
    }

    #[test]
    fn indefinite_and_oversized_lengths_are_rejected() {
        assert_eq!(decode(&[0x30, 0x80, 0, 0]), Err(BerError::IndefiniteLength));
        assert_eq!(
            decode(&[0x30, 0x85, 1, 1, 1, 1, 1]),
            Err(BerError::LengthTooLong(5))
        );
        assert_eq!(decode(&[0x1f, 0x01, 0]), Err(BerError::MultiByteTag(0x1f)));
    }
}
