//! Where a function binary's bytes are: the sizes of an ELF64 file's sections, grouped by what
//! they are for, so the benchmark can say what a binary's size is made of (and what it would be
//! without the parts a different build would drop) from the binaries of the same run.

use std::path::Path;

/// A binary's file bytes by kind of section.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SectionSizes {
    /// Machine code (`.text` and the small code sections beside it).
    pub code: u64,
    /// Constants and the tables of pointers Rust emits (vtables): `.rodata*`, `.data.rel.ro`.
    pub read_only_data: u64,
    /// The dynamic relocations of a position-independent executable (`.rela.dyn`): what the
    /// loader patches at start so the binary can load at a random address.
    pub relocations: u64,
    /// The unwind tables a panic unwinds through (`.eh_frame`, `.eh_frame_hdr`, `.gcc_except_table`).
    pub unwind: u64,
    /// Everything else that takes file bytes (headers, symbol tables of the dynamic loader, data).
    pub other: u64,
}

impl SectionSizes {
    /// The sum of the groups (the file's size less alignment padding).
    pub fn total(&self) -> u64 {
        self.code + self.read_only_data + self.relocations + self.unwind + self.other
    }
}

/// Why the file could not be read as an ELF64 little-endian binary.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
    #[error("not an ELF64 little-endian file: {0}")]
    NotElf64(String),
    #[error("section table out of the file's bounds: {0}")]
    Truncated(String),
}

/// The section sizes of the binary at `path`.
pub fn section_sizes(path: &Path) -> Result<SectionSizes, ElfError> {
    let bytes = std::fs::read(path).map_err(|e| ElfError::Io(path.display().to_string(), e))?;
    parse(&bytes).map_err(|e| match e {
        ElfError::NotElf64(_) => ElfError::NotElf64(path.display().to_string()),
        ElfError::Truncated(_) => ElfError::Truncated(path.display().to_string()),
        other => other,
    })
}

/// A section of type `SHT_NOBITS` (`.bss`) takes no bytes in the file.
const SHT_NOBITS: u32 = 8;

fn parse(bytes: &[u8]) -> Result<SectionSizes, ElfError> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return Err(ElfError::NotElf64(String::new()));
    }
    let truncated = || ElfError::Truncated(String::new());
    let u16_at = |at: usize| -> Result<u64, ElfError> {
        let b = bytes.get(at..at + 2).ok_or_else(truncated)?;
        Ok(u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let u32_at = |at: usize| -> Result<u64, ElfError> {
        let b = bytes.get(at..at + 4).ok_or_else(truncated)?;
        Ok(u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))))
    };
    let u64_at = |at: usize| -> Result<u64, ElfError> {
        let b = bytes.get(at..at + 8).ok_or_else(truncated)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| truncated());
    let table = to_usize(u64_at(0x28)?)?;
    let entry = to_usize(u16_at(0x3A)?)?;
    let count = to_usize(u16_at(0x3C)?)?;
    let names_index = to_usize(u16_at(0x3E)?)?;
    if entry < 64 || names_index >= count {
        return Err(truncated());
    }
    let header = |i: usize| table.checked_add(i.checked_mul(entry)?);
    let names_header = header(names_index).ok_or_else(truncated)?;
    let names_offset = to_usize(u64_at(names_header + 24)?)?;
    let mut sizes = SectionSizes::default();
    for i in 0..count {
        let at = header(i).ok_or_else(truncated)?;
        let name_at = names_offset.checked_add(to_usize(u32_at(at)?)?).ok_or_else(truncated)?;
        let kind = u32_at(at + 4)?;
        let size = u64_at(at + 32)?;
        if kind == u64::from(SHT_NOBITS) {
            continue;
        }
        let name_bytes = bytes.get(name_at..).ok_or_else(truncated)?;
        let end = name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len());
        let name = std::str::from_utf8(&name_bytes[..end]).unwrap_or("");
        let group = match name {
            ".text" | ".init" | ".fini" | ".plt" | ".plt.got" | ".plt.sec" => &mut sizes.code,
            ".data.rel.ro" => &mut sizes.read_only_data,
            n if n.starts_with(".rodata") => &mut sizes.read_only_data,
            ".rela.dyn" | ".rel.dyn" | ".relr.dyn" => &mut sizes.relocations,
            ".eh_frame" | ".eh_frame_hdr" | ".gcc_except_table" => &mut sizes.unwind,
            _ => &mut sizes.other,
        };
        *group += size;
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_has_code_and_its_sections_fit_in_the_file() {
        let me = std::env::current_exe().expect("current exe");
        let sizes = section_sizes(&me).expect("this test binary is ELF64");
        let file = std::fs::metadata(&me).expect("metadata").len();
        assert!(sizes.code > 0, "{sizes:?}");
        assert!(sizes.unwind > 0, "a test binary unwinds: {sizes:?}");
        assert!(sizes.total() <= file, "{sizes:?} vs {file} bytes");
    }

    #[test]
    fn what_is_not_an_elf64_file_is_refused_not_misread() {
        assert!(matches!(parse(b"#!/bin/sh\necho hi\n"), Err(ElfError::NotElf64(_))));
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        // A section table said to be far past the end of the file.
        header[0x28..0x30].copy_from_slice(&(1u64 << 40).to_le_bytes());
        header[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        header[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        header[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(parse(&header), Err(ElfError::Truncated(_))));
    }
}
