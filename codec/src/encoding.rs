//! The names of the block encodings. A leaf: every other module may use it.

use std::fmt;

/// Which layout a [`SealedBlock`](crate::SealedBlock) uses; see `docs/block-format.md` for the byte layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Every value has the same bit pattern (including all-NaN blocks): stored once.
    Constant,
    /// Values are integers scaled by a decimal or binary multiplier, delta-coded and bit-packed
    /// at one width per block, with out-of-pattern values (NaN, ±inf, -0.0) patched in.
    Packed,
    /// Gorilla-style XOR of consecutive bit patterns, for float noise.
    Xor,
    /// Eight bytes per value: the bound when nothing else is smaller.
    Raw,
}

impl Encoding {
    /// Every encoding, for reporting.
    pub const ALL: [Encoding; 4] = [
        Encoding::Constant,
        Encoding::Packed,
        Encoding::Xor,
        Encoding::Raw,
    ];

    /// Low nibble of the kind byte. Zero is left unused so that zeroed memory is not a block.
    pub(crate) fn id(self) -> u8 {
        match self {
            Encoding::Constant => 1,
            Encoding::Packed => 2,
            Encoding::Xor => 3,
            Encoding::Raw => 4,
        }
    }

    pub(crate) fn from_id(id: u8) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.id() == id)
    }

    /// Lower-case name, as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Constant => "constant",
            Encoding::Packed => "packed",
            Encoding::Xor => "xor",
            Encoding::Raw => "raw",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
