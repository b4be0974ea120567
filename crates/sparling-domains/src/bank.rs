//! The bank of spoken digits: short 8 kHz clips of the ten English digit words said by many
//! speakers, several takes each, read from the compressed asset `assets/spoken_digits.bin`
//! (written by `cargo xtask speech-bank`, which documents the format; see the crate README).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The embedded asset.
pub const EMBEDDED: &[u8] = include_bytes!("../assets/spoken_digits.bin");
/// The asset's magic bytes.
pub const MAGIC: &[u8; 8] = b"SPDIGBNK";
/// The format version this crate reads.
pub const VERSION: u32 = 1;
/// Encoding code of 8-bit mu-law (mu = 255).
pub const MU_LAW: u32 = 1;
/// Size of the uncompressed header in bytes.
pub const HEADER_LEN: usize = 56;

/// Why a bank file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// The file ends before its header or its declared body does.
    #[error("speech bank is truncated: {needed} bytes needed, {found} found")]
    Truncated {
        /// Bytes the header says the file has (or the header's size).
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// The file is not a speech bank (wrong magic bytes).
    #[error("not a speech bank: the file starts with {found:?}, expected {MAGIC:?}")]
    BadMagic {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// A version of the format this crate does not read.
    #[error("speech bank version {found} is not supported (this crate reads version {VERSION})")]
    Version {
        /// The version found.
        found: u32,
    },
    /// A header field with an impossible value.
    #[error("speech bank header: {0}")]
    Header(String),
    /// The compressed body does not decompress to its declared length.
    #[error("speech bank body is corrupted: {0}")]
    Corrupted(String),
    /// The body decompresses but its checksum differs from the header's.
    #[error("speech bank checksum mismatch: header says {expected:#018x}, body has {found:#018x}")]
    Checksum {
        /// The header's checksum.
        expected: u64,
        /// The body's checksum.
        found: u64,
    },
    /// A file that cannot be read.
    #[error("cannot read speech bank {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where a bank comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BankSource {
    /// The asset embedded in this crate.
    #[default]
    Embedded,
    /// A bank file in the same format.
    File(PathBuf),
}

impl BankSource {
    /// Loads the bank.
    pub fn load(&self) -> Result<SpeechBank, BankError> {
        match self {
            BankSource::Embedded => SpeechBank::parse(EMBEDDED),
            BankSource::File(p) => SpeechBank::read(p),
        }
    }
}

/// The decoded bank: `speakers x digits x takes` clips of samples in [-1, 1] at `sample_rate`.
#[derive(Clone, PartialEq)]
pub struct SpeechBank {
    sample_rate: u32,
    speakers: usize,
    digits: usize,
    takes: usize,
    /// Every clip's mu-law bytes, concatenated speaker-major.
    data: Vec<u8>,
    /// Each clip's `(offset, length)` in `data`.
    spans: Vec<(usize, usize)>,
    /// The decoded value of each mu-law byte.
    table: [f32; 256],
}

/// FNV-1a, 64 bits (the bank's checksum).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Decodes an 8-bit mu-law byte (an `i8` `q`): `sign(q) (256^(|q|/127) - 1) / 255`.
pub fn mu_law_decode(byte: u8) -> f32 {
    let y = f64::from(byte as i8) / 127.0;
    (y.signum() * (256f64.powf(y.abs()) - 1.0) / 255.0) as f32
}

impl std::fmt::Debug for SpeechBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechBank")
            .field("sample_rate", &self.sample_rate)
            .field("speakers", &self.speakers)
            .field("digits", &self.digits)
            .field("takes", &self.takes)
            .field("samples", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl SpeechBank {
    /// The embedded bank.
    pub fn embedded() -> Result<Self, BankError> {
        Self::parse(EMBEDDED)
    }

    /// Reads a bank file.
    pub fn read(path: &Path) -> Result<Self, BankError> {
        let bytes = std::fs::read(path).map_err(|source| BankError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes)
    }

    /// Decodes a bank from its bytes, checking the magic, version, sizes and checksum.
    pub fn parse(bytes: &[u8]) -> Result<Self, BankError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(BankError::BadMagic {
                found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(BankError::Truncated {
                needed: HEADER_LEN,
                found: bytes.len(),
            });
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(BankError::Version { found: version });
        }
        let (sample_rate, speakers, digits, takes, encoding) =
            (u32_at(12), u32_at(16), u32_at(20), u32_at(24), u32_at(28));
        let (body_len, packed_len, checksum) = (u64_at(32), u64_at(40), u64_at(48));
        let header = |m: String| Err(BankError::Header(m));
        if encoding != MU_LAW {
            return header(format!("unknown encoding {encoding} (1 = mu-law)"));
        }
        if sample_rate == 0 || speakers == 0 || takes == 0 || digits != 10 {
            return header(format!(
                "sample rate {sample_rate}, {speakers} speakers, {digits} digits, {takes} takes \
                 (need positive counts and 10 digits)"
            ));
        }
        let n_clips = speakers as usize * digits as usize * takes as usize;
        let table = 4 * n_clips as u64;
        if body_len < table || body_len > 1 << 32 {
            return header(format!(
                "a body of {body_len} bytes cannot hold {n_clips} clips"
            ));
        }
        let end = (HEADER_LEN as u64).saturating_add(packed_len);
        if (bytes.len() as u64) < end {
            return Err(BankError::Truncated {
                needed: end.try_into().unwrap_or(usize::MAX),
                found: bytes.len(),
            });
        }
        if (bytes.len() as u64) > end {
            return header(format!(
                "{} bytes follow the declared body",
                bytes.len() as u64 - end
            ));
        }
        let mut body = Vec::with_capacity(body_len as usize);
        flate2::read::ZlibDecoder::new(&bytes[HEADER_LEN..])
            .take(body_len + 1)
            .read_to_end(&mut body)
            .map_err(|e| BankError::Corrupted(e.to_string()))?;
        if body.len() as u64 != body_len {
            return Err(BankError::Corrupted(format!(
                "{} bytes decompressed, the header declares {body_len}",
                body.len()
            )));
        }
        let found = fnv1a64(&body);
        if found != checksum {
            return Err(BankError::Checksum {
                expected: checksum,
                found,
            });
        }
        let (table, data) = body.split_at(table as usize);
        let lengths: Vec<usize> = table
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) as usize)
            .collect();
        let total: usize = lengths.iter().sum();
        if total != data.len() {
            return header(format!(
                "the clip lengths add up to {total} samples, the body holds {}",
                data.len()
            ));
        }
        let mut spans = Vec::with_capacity(n_clips);
        let mut at = 0;
        for (i, &len) in lengths.iter().enumerate() {
            if len == 0 {
                return header(format!("clip {i} is empty"));
            }
            spans.push((at, len));
            at += len;
        }
        Ok(Self {
            sample_rate,
            speakers: speakers as usize,
            digits: digits as usize,
            takes: takes as usize,
            data: data.to_vec(),
            spans,
            table: std::array::from_fn(|b| mu_law_decode(b as u8)),
        })
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of speakers.
    pub fn speakers(&self) -> usize {
        self.speakers
    }

    /// Number of digit classes (10).
    pub fn digits(&self) -> usize {
        self.digits
    }

    /// Takes per speaker and digit.
    pub fn takes(&self) -> usize {
        self.takes
    }

    fn span(&self, speaker: usize, digit: usize, take: usize) -> (usize, usize) {
        assert!(
            speaker < self.speakers && digit < self.digits && take < self.takes,
            "clip ({speaker}, {digit}, {take}) is outside the bank"
        );
        self.spans[(speaker * self.digits + digit) * self.takes + take]
    }

    /// The length in samples of the clip of `take` of `digit` said by `speaker` (panics when out
    /// of range).
    pub fn clip_len(&self, speaker: usize, digit: usize, take: usize) -> usize {
        self.span(speaker, digit, take).1
    }

    /// The samples, in [-1, 1], of `take` of `digit` said by `speaker` (panics when out of
    /// range).
    pub fn clip(&self, speaker: usize, digit: usize, take: usize) -> Vec<f32> {
        let (at, len) = self.span(speaker, digit, take);
        self.data[at..at + len]
            .iter()
            .map(|&b| self.table[usize::from(b)])
            .collect()
    }

    /// The length of the longest clip, in samples.
    pub fn longest(&self) -> usize {
        self.spans.iter().map(|s| s.1).max().unwrap_or(0)
    }

    /// The length of the shortest clip, in samples.
    pub fn shortest(&self) -> usize {
        self.spans.iter().map(|s| s.1).min().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_bank_loads() {
        let b = SpeechBank::embedded().unwrap();
        assert_eq!((b.sample_rate(), b.speakers(), b.digits()), (8000, 60, 10));
        assert!(b.takes() >= 3);
        // every clip is a short word: between 0.1 and 1.5 s, not silent, within [-1, 1]
        for s in 0..b.speakers() {
            for d in 0..10 {
                for t in 0..b.takes() {
                    let c = b.clip(s, d, t);
                    assert_eq!(c.len(), b.clip_len(s, d, t));
                    assert!((800..12_000).contains(&c.len()), "{s} {d} {t}: {}", c.len());
                    let peak = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(peak > 0.05 && peak <= 1.0, "{s} {d} {t}: peak {peak}");
                }
            }
        }
        assert!(format!("{b:?}").len() < 200);
        assert_eq!(mu_law_decode(0), 0.0);
        assert!((mu_law_decode(127) - 1.0).abs() < 1e-6);
        assert!((mu_law_decode(-127i8 as u8) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn truncated_corrupted_and_foreign_banks_are_typed_errors() {
        let good = EMBEDDED;
        let err = |b: &[u8]| SpeechBank::parse(b).unwrap_err();
        assert!(matches!(
            err(&good[..30]),
            BankError::Truncated {
                needed: 56,
                found: 30
            }
        ));
        let e = err(&good[..good.len() - 1]);
        assert!(matches!(e, BankError::Truncated { .. }), "{e}");
        assert!(e.to_string().contains("truncated"));
        assert!(matches!(
            err(b"RIFF\0\0\0\0WAVEfmt "),
            BankError::BadMagic { .. }
        ));
        assert!(matches!(err(b""), BankError::BadMagic { .. }));
        let mut v = good.to_vec();
        v[8] = 2;
        assert!(matches!(err(&v), BankError::Version { found: 2 }));
        let mut v = good.to_vec();
        v[28] = 7;
        assert!(err(&v).to_string().contains("encoding 7"));
        let mut v = good.to_vec();
        v.push(0);
        assert!(matches!(err(&v), BankError::Header(_)));
        // a flipped byte in the compressed stream: a decompression error or a checksum mismatch
        for at in [HEADER_LEN + 100, good.len() / 2, good.len() - 10] {
            let mut v = good.to_vec();
            v[at] ^= 0x40;
            let e = err(&v);
            assert!(
                matches!(e, BankError::Corrupted(_) | BankError::Checksum { .. }),
                "byte {at}: {e}"
            );
        }
        let mut v = good.to_vec();
        v[48] ^= 1;
        assert!(matches!(err(&v), BankError::Checksum { .. }));
        let e = SpeechBank::read(Path::new("/nonexistent/bank.bin")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/bank.bin"));
    }
}
