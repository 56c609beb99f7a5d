//! TNEF (MS-OXTNEF), the `winmail.dat` / `application/ms-tnef` part
//! Outlook sends: a message's attachments wrapped in one opaque part, so
//! blocked files inside it are only seen once it is opened.
//!
//! The stream is a signature, a 2-byte key and a run of attributes (level,
//! ID, length, data, checksum). An attachment starts at `attAttachRendData`;
//! its name comes from `attAttachTitle` or the MAPI properties in
//! `attAttachment`, its bytes from `attAttachData` or those properties.
//!
//! Leniency, on purpose, so that nothing a client would open is missed and
//! real-world files open: attribute checksums are not verified (the last
//! one may even be missing), the attribute level is ignored, attributes are
//! matched on the low 16 bits of their ID (the high bits only repeat the
//! attribute's type), and a tail too short to hold an attribute (a line end
//! added in transit) is ignored.

use super::{Member, OpenError};
use crate::mime::limits::Budget;

/// The first four bytes of every TNEF stream (little-endian).
const SIGNATURE: u32 = 0x223E_9F78;

/// Attribute IDs, low 16 bits.
const ATT_ATTACH_REND_DATA: u16 = 0x9002;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_DATA: u16 = 0x800F;
const ATT_ATTACHMENT: u16 = 0x9005;

/// Level, ID and length: an attribute's bytes before its data.
const ATTRIBUTE_HEADER: usize = 1 + 4 + 4;

/// MAPI property IDs inside `attAttachment`.
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_METHOD: u16 = 0x3705;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
/// IDs from here on are named properties, whose tag is followed by a name.
const FIRST_NAMED_ID: u16 = 0x8000;

/// MAPI property types.
const PT_LONG: u16 = 0x0003;
const PT_OBJECT: u16 = 0x000D;
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const MV_FLAG: u16 = 0x1000;

/// An embedded object's value starts with the 16-byte interface ID.
const IID_LEN: usize = 16;

/// `PR_ATTACH_METHOD` values whose data is the object (`PR_ATTACH_DATA_OBJ`):
/// an embedded message and an OLE object. Other methods use the binary data.
const ATTACH_EMBEDDED_MSG: u32 = 5;
const ATTACH_OLE: u32 = 6;

/// The attachments in a TNEF stream, each with its best name (the long file
/// name, else the short one) and the bytes a client would open.
///
/// Those bytes are what the attachment method says: for an embedded
/// message or OLE object, the object in `PR_ATTACH_DATA_OBJ` (without its
/// interface ID); otherwise the binary data, from `attAttachData` or
/// `PR_ATTACH_DATA_BIN`, whichever comes last (as Outlook applies them).
/// Either stands in when the other is missing. An embedded message is
/// returned as its TNEF bytes, whichever way it is stored; the caller opens
/// it in turn.
///
/// Every length is checked against the bytes actually there and nothing is
/// allocated from one; each attachment calls `budget.enter(depth)` and draws
/// its bytes from `budget`. A bad signature or an attribute whose data is
/// cut short is `Corrupt`; a MAPI property block that cannot be followed is
/// read up to that point only.
pub fn open(data: &[u8], budget: &mut Budget, depth: usize) -> Result<Vec<Member>, OpenError> {
    let truncated = || OpenError::Corrupt("TNEF: truncated attribute".into());
    let mut stream = Reader(data);
    if stream.u32() != Some(SIGNATURE) {
        return Err(OpenError::Corrupt("TNEF: bad signature".into()));
    }
    stream.bytes(2).ok_or_else(truncated)?; // legacy key
    let mut members = Vec::new();
    let mut current: Option<Attachment> = None;
    while stream.0.len() >= ATTRIBUTE_HEADER {
        let (id, value) = stream.attribute().ok_or_else(truncated)?;
        if !matches!(id, ATT_ATTACH_REND_DATA | ATT_ATTACH_TITLE | ATT_ATTACH_DATA | ATT_ATTACHMENT) {
            continue;
        }
        // A new attachment at its rendering data, or at any attachment
        // attribute that comes without one.
        if id == ATT_ATTACH_REND_DATA || current.is_none() {
            if let Some(done) = current.take() {
                members.push(done.finish(budget)?);
            }
            budget.enter(depth)?;
        }
        let attachment = current.get_or_insert_default();
        match id {
            ATT_ATTACH_TITLE => attachment.title = string8(value),
            ATT_ATTACH_DATA => attachment.binary = Some(value),
            ATT_ATTACHMENT => attachment.read_properties(value),
            _ => {}
        }
    }
    if let Some(done) = current {
        members.push(done.finish(budget)?);
    }
    Ok(members)
}

/// What has been read of one attachment; its bytes stay borrowed from the
/// stream until the attachment is complete.
#[derive(Default)]
struct Attachment<'a> {
    title: Option<String>,
    file_name: Option<String>,
    long_name: Option<String>,
    method: Option<u32>,
    binary: Option<&'a [u8]>,
    object: Option<&'a [u8]>,
}

impl<'a> Attachment<'a> {
    /// Take the names and data out of an `attAttachment` property block,
    /// stopping quietly at the first property it cannot follow.
    fn read_properties(&mut self, block: &'a [u8]) {
        let mut props = Reader(block);
        let Some(count) = props.u32() else { return };
        for _ in 0..count {
            // Every property takes at least four bytes, so a false count
            // ends with the block.
            if self.read_property(&mut props).is_none() {
                return;
            }
        }
    }

    /// One property: the ones that matter are kept, the others skipped.
    fn read_property(&mut self, props: &mut Reader<'a>) -> Option<()> {
        let tag = props.u32()?;
        let (kind, id) = ((tag & 0xFFFF) as u16, (tag >> 16) as u16);
        if id >= FIRST_NAMED_ID {
            props.property_name()?;
        }
        let base = kind & !MV_FLAG;
        let variable = matches!(base, PT_OBJECT | PT_STRING8 | PT_UNICODE | PT_BINARY);
        let count = if variable || kind & MV_FLAG != 0 { props.u32()? } else { 1 };
        for _ in 0..count {
            if !variable {
                let value = props.bytes(fixed_size(kind)?)?;
                if (id, kind) == (PR_ATTACH_METHOD, PT_LONG) {
                    self.method = value.first_chunk().map(|&bytes| u32::from_le_bytes(bytes));
                }
                continue;
            }
            let len = usize::try_from(props.u32()?).ok()?;
            let value = props.padded(len)?;
            if kind & MV_FLAG != 0 {
                continue;
            }
            match (id, base) {
                (PR_ATTACH_LONG_FILENAME, PT_STRING8) => self.long_name = string8(value),
                (PR_ATTACH_LONG_FILENAME, PT_UNICODE) => self.long_name = unicode(value),
                (PR_ATTACH_FILENAME, PT_STRING8) => self.file_name = string8(value),
                (PR_ATTACH_FILENAME, PT_UNICODE) => self.file_name = unicode(value),
                (PR_ATTACH_DATA, PT_BINARY) => self.binary = Some(value),
                (PR_ATTACH_DATA, PT_OBJECT) => self.object = value.get(IID_LEN..),
                _ => {}
            }
        }
        Some(())
    }

    /// The member, its bytes drawn from the budget.
    fn finish(self, budget: &mut Budget) -> Result<Member, OpenError> {
        let data = match self.method {
            Some(ATTACH_EMBEDDED_MSG | ATTACH_OLE) => self.object.or(self.binary),
            _ => self.binary.or(self.object),
        };
        let data = data.unwrap_or_default();
        budget.take(data.len() as u64)?;
        let name = self.long_name.or(self.file_name).or(self.title).unwrap_or_default();
        Ok(Member { name, data: data.to_vec(), encrypted: false })
    }
}

/// The bytes of one fixed-size value of a property of type `kind` as TNEF
/// stores it (padded to four bytes), or `None` for a type this reader does
/// not know. Multi-valued 2-byte types are `None` too: implementations
/// disagree on how their values are packed.
fn fixed_size(kind: u16) -> Option<usize> {
    match kind & !MV_FLAG {
        0x0002 | 0x000B if kind & MV_FLAG != 0 => None,
        // PT_I2, PT_LONG, PT_R4, PT_ERROR, PT_BOOLEAN
        0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4),
        // PT_DOUBLE, PT_CURRENCY, PT_APPTIME, PT_I8, PT_SYSTIME
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
        // PT_CLSID
        0x0048 => Some(16),
        _ => None,
    }
}

/// An 8-bit string up to its NUL: UTF-8 when it is valid UTF-8, otherwise
/// read as Latin-1 so that no byte (and no file extension) is lost. `None`
/// when empty, so that another name is used.
fn string8(value: &[u8]) -> Option<String> {
    let text = value.split(|&b| b == 0).next().unwrap_or_default();
    let name = match std::str::from_utf8(text) {
        Ok(utf8) => utf8.to_owned(),
        Err(_) => text.iter().map(|&b| char::from(b)).collect(),
    };
    Some(name).filter(|name| !name.is_empty())
}

/// A UTF-16LE string up to its NUL; `None` when empty.
fn unicode(value: &[u8]) -> Option<String> {
    let (units, _) = value.as_chunks::<2>();
    let units = units.iter().map(|&unit| u16::from_le_bytes(unit)).take_while(|&unit| unit != 0);
    let name: String = char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    Some(name).filter(|name| !name.is_empty())
}

/// Little-endian fields read off the front of a byte slice; `None` when the
/// slice is too short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        let (&head, rest) = self.0.split_first_chunk()?;
        self.0 = rest;
        Some(u32::from_le_bytes(head))
    }

    /// One attribute's ID (low 16 bits) and data; its level and checksum
    /// are skipped unchecked, and a checksum cut off by the end of the
    /// stream is no loss.
    fn attribute(&mut self) -> Option<(u16, &'a [u8])> {
        self.bytes(1)?;
        let id = (self.u32()? & 0xFFFF) as u16;
        let len = usize::try_from(self.u32()?).ok()?;
        let value = self.bytes(len)?;
        self.0 = self.0.get(2..).unwrap_or_default();
        Some((id, value))
    }

    /// `len` bytes followed by padding to a multiple of four; padding missing
    /// at the very end of a block is tolerated.
    fn padded(&mut self, len: usize) -> Option<&'a [u8]> {
        let value = self.bytes(len)?;
        self.0 = self.0.get((4 - len % 4) % 4..).unwrap_or_default();
        Some(value)
    }

    /// Skip a named property's name: a GUID, then a number or a string.
    fn property_name(&mut self) -> Option<()> {
        self.bytes(16)?;
        match self.u32()? {
            0 => self.bytes(4).map(drop),
            1 => {
                let len = usize::try_from(self.u32()?).ok()?;
                self.padded(len).map(drop)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::limits::LimitHit;
    use std::time::Duration;

    const MESSAGE: u8 = 1;
    const ATTACHMENT: u8 = 2;
    /// Full attribute tags as Outlook writes them (type in the high word).
    const REND_DATA: u32 = 0x0006_9002;
    const TITLE: u32 = 0x0001_8010;
    const DATA: u32 = 0x0006_800F;
    const PROPS: u32 = 0x0006_9005;
    const SUBJECT: u32 = 0x0001_8004;

    /// A TNEF stream under construction.
    struct Writer(Vec<u8>);

    impl Writer {
        fn new() -> Writer {
            Writer([&SIGNATURE.to_le_bytes()[..], &[0x01, 0x00]].concat())
        }

        fn attr(mut self, level: u8, tag: u32, value: &[u8]) -> Writer {
            let checksum = value.iter().fold(0u16, |sum, &b| sum.wrapping_add(u16::from(b)));
            self.0.push(level);
            self.0.extend(tag.to_le_bytes());
            self.0.extend((value.len() as u32).to_le_bytes());
            self.0.extend(value);
            self.0.extend(checksum.to_le_bytes());
            self
        }

        /// An attachment the way Outlook writes one: rendering data, title, data.
        fn attachment(self, title: &str, data: &[u8]) -> Writer {
            self.attr(ATTACHMENT, REND_DATA, &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0])
                .attr(ATTACHMENT, TITLE, &[title.as_bytes(), b"\0"].concat())
                .attr(ATTACHMENT, DATA, data)
        }
    }

    /// A MAPI property block from already encoded properties.
    fn block(props: &[Vec<u8>]) -> Vec<u8> {
        [(props.len() as u32).to_le_bytes().to_vec(), props.concat()].concat()
    }

    /// A property's tag and values (count, then length + padded data each).
    fn variable(id: u16, kind: u16, values: &[&[u8]]) -> Vec<u8> {
        let mut out = (u32::from(id) << 16 | u32::from(kind)).to_le_bytes().to_vec();
        out.extend((values.len() as u32).to_le_bytes());
        for value in values {
            out.extend((value.len() as u32).to_le_bytes());
            out.extend(*value);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        out
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }

    fn open_all(data: &[u8]) -> Result<Vec<Member>, OpenError> {
        open(data, &mut Budget::new(1 << 20, 5, 100, 0, Duration::from_secs(30)), 1)
    }

    fn member(name: &str, data: &[u8]) -> Member {
        Member { name: name.into(), data: data.to_vec(), encrypted: false }
    }

    #[test]
    fn two_attachments_with_short_names() {
        let stream = Writer::new()
            .attr(MESSAGE, SUBJECT, b"Invoice\0")
            .attachment("INVOICE.EXE", b"MZ\x90\0payload")
            .attachment("notes.txt", b"hello")
            .0;
        assert_eq!(
            open_all(&stream).unwrap(),
            [member("INVOICE.EXE", b"MZ\x90\0payload"), member("notes.txt", b"hello")]
        );
    }

    #[test]
    fn long_name_overrides_the_short_one() {
        let guid = [0x11; 16];
        let named_by_number =
            [&0x8001_0003u32.to_le_bytes()[..], &guid, &0u32.to_le_bytes(), &7u32.to_le_bytes(), &5u32.to_le_bytes()]
                .concat();
        let name = utf16("Key");
        let named_by_string = [
            &0x8002_001Eu32.to_le_bytes()[..],
            &guid,
            &1u32.to_le_bytes(),
            &(name.len() as u32).to_le_bytes(),
            &name,
            &variable(0, 0, &[b"val\0"])[4..],
        ]
        .concat();
        let others = vec![
            [0x0E20_0003u32.to_le_bytes(), 1234u32.to_le_bytes()].concat(), // PR_ATTACH_SIZE, PT_LONG
            [&0x3705_0002u32.to_le_bytes()[..], &[1, 0, 0, 0]].concat(),    // PT_I2, padded
            [&0x3008_0040u32.to_le_bytes()[..], &[0; 8]].concat(),          // PT_SYSTIME
            [&0x0FFF_0048u32.to_le_bytes()[..], &[0; 16]].concat(),         // PT_CLSID
            [&0x1234_1003u32.to_le_bytes()[..], &2u32.to_le_bytes(), &[0; 8]].concat(), // PT_MV_LONG
            variable(0x3703, 0x101E, &[b".exe\0", b".a\0"]),                // PT_MV_STRING8
            variable(0x3709, PT_BINARY, &[b"\x01\x02\x03"]),
            named_by_number,
            named_by_string,
        ];
        for long_name in [
            variable(0x3707, PT_UNICODE, &[&utf16("Quarterly report.pdf.exe")]),
            variable(0x3707, PT_STRING8, &[b"Quarterly report.pdf.exe\0"]),
        ] {
            let props = block(&[others.clone(), vec![long_name]].concat());
            let stream = Writer::new().attachment("QUARTE~1.EXE", b"MZ").attr(ATTACHMENT, PROPS, &props).0;
            assert_eq!(open_all(&stream).unwrap(), [member("Quarterly report.pdf.exe", b"MZ")]);
        }
    }

    fn method(value: u32) -> Vec<u8> {
        [(u32::from(PR_ATTACH_METHOD) << 16 | u32::from(PT_LONG)).to_le_bytes(), value.to_le_bytes()].concat()
    }

    #[test]
    fn data_follows_the_attach_method() {
        let inner = Writer::new().attachment("inner.exe", b"MZ inner").0;
        let object = |bytes: &[u8]| variable(PR_ATTACH_DATA, PT_OBJECT, &[&[&[0x07; IID_LEN][..], bytes].concat()]);
        let binary = |bytes: &[u8]| variable(PR_ATTACH_DATA, PT_BINARY, &[bytes]);
        let embedded = block(&[
            variable(PR_ATTACH_FILENAME, PT_STRING8, &[b"forward.msg\0"]),
            method(ATTACH_EMBEDDED_MSG),
            object(&inner),
        ]);
        let stream = Writer::new()
            // An embedded message behind a placeholder: the object counts.
            .attachment("Untitled Attachment", b"This attachment is a MAPI 1.0 embedded message")
            .attr(ATTACHMENT, PROPS, &embedded)
            // No method: the binary data that comes last.
            .attachment("b.txt", b"harmless")
            .attr(ATTACHMENT, PROPS, &block(&[binary(b"MZ b")]))
            // By value: the binary data, not the object.
            .attachment("c.exe", b"MZ c")
            .attr(ATTACHMENT, PROPS, &block(&[method(1), object(b"decoy")]))
            // Only an object: it stands in.
            .attr(ATTACHMENT, REND_DATA, &[])
            .attr(ATTACHMENT, PROPS, &block(&[object(b"MZ d")]))
            .0;
        let members = open_all(&stream).unwrap();
        let expected =
            [member("forward.msg", &inner), member("b.txt", b"MZ b"), member("c.exe", b"MZ c"), member("", b"MZ d")];
        assert_eq!(members, expected);
        assert_eq!(open_all(&members[0].data).unwrap(), [member("inner.exe", b"MZ inner")], "the caller recurses");
    }

    #[test]
    fn embedded_message_in_attach_data_is_returned_as_bytes() {
        let inner = Writer::new().attachment("deep.exe", b"MZ").0;
        let stream = Writer::new().attachment("message.dat", &inner).0;
        assert_eq!(open_all(&stream).unwrap(), [member("message.dat", &inner)]);
    }

    #[test]
    fn lenient_where_clients_are() {
        // No rendering data, a wrong checksum, a Latin-1 title.
        let mut stream = Writer::new().attr(ATTACHMENT, TITLE, b"r\xe9sum\xe9.exe\0").attr(ATTACHMENT, DATA, b"MZ").0;
        let at = stream.len() - 1;
        stream[at] ^= 0xff;
        assert_eq!(open_all(&stream).unwrap(), [member("résumé.exe", b"MZ")]);
        // The last checksum missing, or a line end added in transit.
        let stream = Writer::new().attachment("a.exe", b"MZ").0;
        assert_eq!(open_all(&stream[..stream.len() - 2]).unwrap(), [member("a.exe", b"MZ")]);
        assert_eq!(open_all(&[&stream[..], b"\r\n"].concat()).unwrap(), [member("a.exe", b"MZ")]);
    }

    #[test]
    fn property_block_that_cannot_be_followed() {
        let unknown_type = [0x3001_0999u32.to_le_bytes(), 0u32.to_le_bytes()].concat();
        let multi_valued_i2 = [0x3001_1002u32.to_le_bytes(), 2u32.to_le_bytes(), 0u32.to_le_bytes()].concat();
        let huge = [0x3707_001Eu32.to_le_bytes(), 1u32.to_le_bytes(), u32::MAX.to_le_bytes()].concat();
        for props in [
            block(&[unknown_type, variable(0x3707, PT_STRING8, &[b"hidden.exe\0"])]),
            block(&[multi_valued_i2, variable(0x3707, PT_STRING8, &[b"hidden.exe\0"])]),
            block(&[huge]),
            u32::MAX.to_le_bytes().to_vec(),
            vec![1, 2],
        ] {
            let stream = Writer::new().attachment("short.txt", b"x").attr(ATTACHMENT, PROPS, &props).0;
            assert_eq!(open_all(&stream).unwrap(), [member("short.txt", b"x")]);
        }
    }

    #[test]
    fn truncated_and_bad_streams_are_corrupt() {
        let stream = Writer::new().attachment("a.exe", b"MZ data").attachment("b.txt", b"text").0;
        let data_cut_short = &stream[..stream.len() - 3];
        assert_eq!(open_all(data_cut_short), Err(OpenError::Corrupt("TNEF: truncated attribute".into())));
        assert!(matches!(open_all(&stream[..5]), Err(OpenError::Corrupt(_))));
        for cut in 0..stream.len() {
            assert!(matches!(open_all(&stream[..cut]), Ok(_) | Err(OpenError::Corrupt(_))), "cut at {cut}");
        }

        let mut claims_4gib = Writer::new().0;
        claims_4gib.extend([ATTACHMENT]);
        claims_4gib.extend(DATA.to_le_bytes());
        claims_4gib.extend(u32::MAX.to_le_bytes());
        claims_4gib.extend(b"MZ");
        assert!(matches!(open_all(&claims_4gib), Err(OpenError::Corrupt(_))));

        let mut bad_signature = stream.clone();
        bad_signature[0] = 0x79;
        assert_eq!(open_all(&bad_signature), Err(OpenError::Corrupt("TNEF: bad signature".into())));
        assert_eq!(open_all(b""), Err(OpenError::Corrupt("TNEF: bad signature".into())));
        assert_eq!(open_all(&Writer::new().0).unwrap(), [], "no attributes, no attachments");
    }

    #[test]
    fn attachments_draw_from_the_budget() {
        let stream = Writer::new().attachment("a.bin", &[1; 600]).attachment("b.bin", &[2; 600]).0;
        let limited = |bytes, files| Budget::new(bytes, 3, files, 0, Duration::from_secs(30));
        assert_eq!(open(&stream, &mut limited(1200, 2), 3).map(|members| members.len()), Ok(2));
        assert_eq!(
            open(&stream, &mut limited(1000, 2), 3),
            Err(OpenError::Limit(LimitHit::Size)),
            "each fits, not both"
        );
        assert_eq!(open(&stream, &mut limited(1200, 1), 3), Err(OpenError::Limit(LimitHit::Files)));
        assert_eq!(open(&stream, &mut limited(1200, 2), 4), Err(OpenError::Limit(LimitHit::Depth)));
        let big = Writer::new().attachment("big.bin", &[0; 10 * 1024]).0;
        assert_eq!(open(&big, &mut limited(1024, 2), 1), Err(OpenError::Limit(LimitHit::Size)));
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let props = block(&[variable(0x3707, PT_UNICODE, &[&utf16("long.exe")]), method(ATTACH_EMBEDDED_MSG)]);
        let stream = Writer::new().attachment("a.exe", b"MZ").attr(ATTACHMENT, PROPS, &props).0;
        for at in 0..stream.len() {
            for byte in [0x00, 0x01, 0x7f, 0xff] {
                let mut damaged = stream.clone();
                damaged[at] = byte;
                assert!(matches!(open_all(&damaged), Ok(_) | Err(OpenError::Corrupt(_))), "byte {at} set to {byte}");
            }
        }
    }
}
