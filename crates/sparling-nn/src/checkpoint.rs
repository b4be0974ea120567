//! A versioned, checksummed, atomically written container for any serde payload.
//!
//! Layout (all integers little-endian):
//!
//! | bytes            | content                                                        |
//! |------------------|----------------------------------------------------------------|
//! | 0..8             | magic `b"SPARLING"`                                            |
//! | 8..12            | format version, `u32` (currently [`FORMAT_VERSION`])           |
//! | 12..16           | kind length `k`, `u32` (1..=[`MAX_KIND_LEN`])                  |
//! | 16..16+k         | kind, UTF-8 (what the payload is: `"model"`, `"train-state"`)  |
//! | next 8           | payload length `n`, `u64`                                      |
//! | next 4           | CRC-32 (IEEE) of the kind length, kind, payload length, payload |
//! | next n           | payload: bincode 2 (standard config) encoding of the value     |
//!
//! [`save_atomic`] writes to a temporary file in the destination's directory, syncs it, renames
//! it over the destination and syncs the directory, so a crash leaves either the old or the new
//! file, never a mix. [`load`] reads the whole file and checks, in order: magic, version,
//! header length, payload length, checksum, kind, then decodes. Each failure is a distinct
//! [`Error`] variant; no input makes it panic.

use std::fs;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The magic bytes every sparling checkpoint starts with.
pub const MAGIC: [u8; 8] = *b"SPARLING";
/// The container format version written (and the only one read) by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Longest accepted kind string, in bytes.
pub const MAX_KIND_LEN: usize = 256;
/// Largest accepted payload, in bytes (bounds every allocation the decoder may attempt).
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_PAYLOAD_LEN>,
>;

fn bincode_config() -> Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD_LEN>()
}

/// Encodes `payload` with this container's bincode configuration (no header).
pub fn encode_payload<T: Serialize>(kind: &str, payload: &T) -> Result<Vec<u8>> {
    let bytes =
        bincode::serde::encode_to_vec(payload, bincode_config()).map_err(|e| Error::Encode {
            kind: kind.to_string(),
            reason: e.to_string(),
        })?;
    check_payload_len(kind, bytes.len())?;
    Ok(bytes)
}

fn check_payload_len(kind: &str, len: usize) -> Result<()> {
    if len > MAX_PAYLOAD_LEN {
        return Err(Error::Encode {
            kind: kind.to_string(),
            reason: format!("payload of {len} bytes exceeds the limit of {MAX_PAYLOAD_LEN}"),
        });
    }
    Ok(())
}

/// The complete file contents (header and payload) for `payload` of `kind`.
pub fn to_bytes<T: Serialize>(kind: &str, payload: &T) -> Result<Vec<u8>> {
    check_kind(kind)?;
    frame(kind, &encode_payload(kind, payload)?)
}

/// The complete file contents for already encoded payload bytes `body` of `kind`: the header
/// (with the checksum) followed by `body`.
pub fn frame(kind: &str, body: &[u8]) -> Result<Vec<u8>> {
    check_kind(kind)?;
    check_payload_len(kind, body.len())?;
    let kind_len = (kind.len() as u32).to_le_bytes();
    let payload_len = (body.len() as u64).to_le_bytes();
    let mut crc = Crc32::new();
    crc.update(&kind_len);
    crc.update(kind.as_bytes());
    crc.update(&payload_len);
    crc.update(body);
    let mut out = Vec::with_capacity(28 + kind.len() + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&kind_len);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(&payload_len);
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

fn check_kind(kind: &str) -> Result<()> {
    let reason = if kind.is_empty() {
        "empty"
    } else if kind.len() > MAX_KIND_LEN {
        "longer than MAX_KIND_LEN bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKind {
        kind: kind.chars().take(64).collect(),
        reason,
    })
}

/// Writes `payload` as a checkpoint of `kind` to `path`, atomically: a temporary file in the
/// same directory is written, synced and renamed over `path`, then the directory is synced
/// ([`crate::atomic::write_atomic`]).
pub fn save_atomic<T: Serialize>(path: impl AsRef<Path>, kind: &str, payload: &T) -> Result<()> {
    let bytes = to_bytes(kind, payload)?;
    crate::atomic::write_atomic(path.as_ref(), &bytes)
}

/// Reads the checkpoint at `path`, which must be of `kind`, and decodes its payload.
pub fn load<T: DeserializeOwned>(path: impl AsRef<Path>, kind: &str) -> Result<T> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    from_bytes(&bytes, kind, path)
}

/// Parses and decodes checkpoint bytes (`path` is used in error messages only).
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8], kind: &str, path: &Path) -> Result<T> {
    let body = verify(bytes, kind, path)?;
    let (value, used) = decode_bounded::<T>(body).map_err(|e| Error::Undecodable {
        path: path.to_path_buf(),
        kind: kind.to_string(),
        reason: e.to_string(),
    })?;
    if used != body.len() {
        return Err(Error::Undecodable {
            path: path.to_path_buf(),
            kind: kind.to_string(),
            reason: format!(
                "{} of {} payload bytes left unread",
                body.len() - used,
                body.len()
            ),
        });
    }
    Ok(value)
}

/// Decodes `body` with a decoder limit of at most 16 times its length (and at least 4 KiB).
///
/// bincode allocates a string or byte vector as soon as it has read its length prefix, up to
/// the limit of the bytes it may claim in all; with one fixed limit a damaged prefix in a small
/// file could ask for a gigabyte. A decoder claims at most 8 bytes per byte read (a one-byte
/// varint decodes to a `u64`), so a limit between 8 and 16 times the payload accepts every
/// valid payload and bounds every allocation by the size of the file.
fn decode_bounded<T: DeserializeOwned>(
    body: &[u8],
) -> std::result::Result<(T, usize), bincode::error::DecodeError> {
    let need = body.len().saturating_mul(8);
    macro_rules! with_limits {
        ($($shift:literal)*) => {$(
            if need <= 1usize << $shift {
                return bincode::serde::decode_from_slice(
                    body,
                    bincode::config::standard().with_limit::<{ 1usize << $shift }>(),
                );
            }
        )*};
    }
    with_limits!(12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33);
    bincode::serde::decode_from_slice(body, bincode_config())
}

/// Reads only the header of the checkpoint at `path` and returns its kind (after checking
/// magic, version, lengths and checksum).
pub fn peek_kind(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    let header = parse(&bytes, path)?;
    Ok(header.kind.to_string())
}

struct Header<'a> {
    kind: &'a str,
    body: &'a [u8],
}

/// Checks everything but the payload's decoding; returns the payload bytes.
fn verify<'a>(bytes: &'a [u8], kind: &str, path: &Path) -> Result<&'a [u8]> {
    let header = parse(bytes, path)?;
    if header.kind != kind {
        return Err(Error::WrongKind {
            path: path.to_path_buf(),
            expected: kind.to_string(),
            found: header.kind.to_string(),
        });
    }
    Ok(header.body)
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<Header<'a>> {
    let truncated = |expected: u64| Error::Truncated {
        path: path.to_path_buf(),
        expected,
        found: bytes.len() as u64,
    };
    let corrupted = |reason: String| Error::Corrupted {
        path: path.to_path_buf(),
        reason,
    };
    // Magic: a proper prefix of the magic is a truncated sparling file; anything else is foreign.
    let magic_len = MAGIC.len().min(bytes.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found: bytes[..magic_len].to_vec(),
        });
    }
    let mut pos = MAGIC.len();
    let fixed = |pos: usize, n: usize| -> Result<&'a [u8]> {
        bytes
            .get(pos..pos + n)
            .ok_or_else(|| truncated((pos + n) as u64))
    };
    let version = u32::from_le_bytes(fixed(pos, 4)?.try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    pos += 4;
    let crc_start = pos;
    let kind_len = u32::from_le_bytes(fixed(pos, 4)?.try_into().expect("4 bytes")) as usize;
    pos += 4;
    if kind_len == 0 || kind_len > MAX_KIND_LEN {
        return Err(corrupted(format!(
            "kind length {kind_len} outside 1..={MAX_KIND_LEN}"
        )));
    }
    let kind_bytes = fixed(pos, kind_len)?;
    pos += kind_len;
    let payload_len = u64::from_le_bytes(fixed(pos, 8)?.try_into().expect("8 bytes"));
    pos += 8;
    let stored_crc = u32::from_le_bytes(fixed(pos, 4)?.try_into().expect("4 bytes"));
    let crc_gap = pos..pos + 4;
    pos += 4;
    let header_len = pos as u64;
    let total = header_len.checked_add(payload_len);
    match total {
        Some(t) if t == bytes.len() as u64 => {}
        Some(t) if t > bytes.len() as u64 => return Err(truncated(t)),
        Some(t) => {
            return Err(corrupted(format!(
                "{} bytes after the declared end of the payload",
                bytes.len() as u64 - t
            )));
        }
        None => return Err(truncated(u64::MAX)),
    }
    let mut crc = Crc32::new();
    crc.update(&bytes[crc_start..crc_gap.start]);
    crc.update(&bytes[crc_gap.end..]);
    let actual = crc.finish();
    if actual != stored_crc {
        return Err(corrupted(format!(
            "checksum mismatch (stored {stored_crc:08x}, computed {actual:08x})"
        )));
    }
    let kind = std::str::from_utf8(kind_bytes)
        .map_err(|_| corrupted("kind is not valid UTF-8".to_string()))?;
    Ok(Header {
        kind,
        body: &bytes[pos..],
    })
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table-driven.
struct Crc32 {
    state: u32,
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    fn new() -> Crc32 {
        Crc32 { state: !0 }
    }

    fn update(&mut self, data: &[u8]) {
        let mut c = self.state;
        for &b in data {
            c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
        self.state = c;
    }

    fn finish(&self) -> u32 {
        !self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde::Deserialize;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Payload {
        name: String,
        values: Vec<f32>,
        step: u64,
    }

    fn payload() -> Payload {
        Payload {
            name: "model".into(),
            values: (0..40).map(|i| i as f32 * 0.25 - 3.0).collect(),
            step: 1234,
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sparling-nn-ckpt-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn p() -> &'static Path {
        Path::new("mem")
    }

    #[test]
    fn crc32_known_value() {
        // The standard check value of CRC-32/IEEE: crc32(b"123456789") = 0xCBF43926.
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn checkpoint_round_trip_on_disk() {
        let dir = temp_dir("rt");
        let path = dir.join("a.ckpt");
        save_atomic(&path, "model", &payload()).unwrap();
        assert_eq!(load::<Payload>(&path, "model").unwrap(), payload());
        assert_eq!(peek_kind(&path).unwrap(), "model");
        // Overwrite with a new value; no temporary file is left behind.
        let mut second = payload();
        second.step = 99;
        save_atomic(&path, "model", &second).unwrap();
        assert_eq!(load::<Payload>(&path, "model").unwrap(), second);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.ckpt")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn checkpoint_save_into_missing_dir_is_io_error() {
        let dir = temp_dir("missing");
        let path = dir.join("no").join("such").join("x.ckpt");
        let err = save_atomic(&path, "model", &payload()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        let err = load::<Payload>(&path, "model").unwrap_err();
        assert!(matches!(err, Error::Io { action: "read", .. }), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn checkpoint_rejects_bad_magic() {
        let err =
            from_bytes::<Payload>(b"PK\x03\x04 this is a zip file", "model", p()).unwrap_err();
        assert!(matches!(err, Error::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("not a sparling checkpoint"));
        let err = from_bytes::<Payload>(b"{\"json\": 1}", "model", p()).unwrap_err();
        assert!(matches!(err, Error::BadMagic { .. }), "{err}");
    }

    #[test]
    fn checkpoint_rejects_other_versions() {
        let mut bytes = to_bytes("model", &payload()).unwrap();
        bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
        let err = from_bytes::<Payload>(&bytes, "model", p()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnsupportedVersion {
                    found: 7,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn checkpoint_rejects_wrong_kind() {
        let bytes = to_bytes("optimizer", &payload()).unwrap();
        let err = from_bytes::<Payload>(&bytes, "model", p()).unwrap_err();
        assert!(matches!(err, Error::WrongKind { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("expected \"model\", found \"optimizer\""),
            "{err}"
        );
    }

    #[test]
    fn checkpoint_rejects_truncation_and_trailing_bytes() {
        let bytes = to_bytes("model", &payload()).unwrap();
        let err = from_bytes::<Payload>(&bytes[..bytes.len() - 1], "model", p()).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { expected, found, .. }
                if expected == bytes.len() as u64 && found == expected - 1),
            "{err}"
        );
        let err = from_bytes::<Payload>(&[], "model", p()).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        let mut longer = bytes.clone();
        longer.push(0);
        let err = from_bytes::<Payload>(&longer, "model", p()).unwrap_err();
        assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    }

    #[test]
    fn checkpoint_rejects_checksum_mismatch() {
        let mut bytes = to_bytes("model", &payload()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x10;
        let err = from_bytes::<Payload>(&bytes, "model", p()).unwrap_err();
        assert!(matches!(err, Error::Corrupted { .. }), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn checkpoint_rejects_undecodable_payload() {
        // A valid container whose payload is of another type than requested.
        let bytes = to_bytes("model", &(1u8, 2u8)).unwrap();
        let err = from_bytes::<Payload>(&bytes, "model", p()).unwrap_err();
        assert!(matches!(err, Error::Undecodable { .. }), "{err}");
        // A valid payload followed by data the requested type does not read.
        let bytes = to_bytes("model", &(payload(), 5u32)).unwrap();
        let err = from_bytes::<Payload>(&bytes, "model", p()).unwrap_err();
        assert!(err.to_string().contains("left unread"), "{err}");
        // A huge claimed string length is refused without allocating it.
        let bytes = to_bytes("model", &u64::MAX).unwrap();
        let err = from_bytes::<String>(&bytes, "model", p()).unwrap_err();
        assert!(matches!(err, Error::Undecodable { .. }), "{err}");
    }

    #[test]
    fn checkpoint_rejects_bad_kinds_on_save() {
        assert!(matches!(to_bytes("", &1u8), Err(Error::InvalidKind { .. })));
        let long = "k".repeat(MAX_KIND_LEN + 1);
        assert!(matches!(
            to_bytes(&long, &1u8),
            Err(Error::InvalidKind { .. })
        ));
    }

    #[test]
    fn checkpoint_every_single_byte_flip_is_detected() {
        let bytes = to_bytes("model", &payload()).unwrap();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                let r = from_bytes::<Payload>(&b, "model", p());
                assert!(
                    r.is_err(),
                    "flip of bit {bit:#x} at byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn checkpoint_random_truncation_and_noise_never_panic() {
        let bytes = to_bytes("model", &payload()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for _ in 0..500 {
            let cut = rng.random_range(0..bytes.len());
            let err = from_bytes::<Payload>(&bytes[..cut], "model", p()).unwrap_err();
            assert!(
                matches!(err, Error::Truncated { .. }),
                "cut at {cut}: unexpected error {err}"
            );
            // Random garbage after a valid magic and version.
            let mut junk = bytes[..12].to_vec();
            let n = rng.random_range(0..64);
            junk.extend((0..n).map(|_| rng.random::<u8>()));
            assert!(from_bytes::<Payload>(&junk, "model", p()).is_err());
            // Random multi-byte damage anywhere.
            let mut b = bytes.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            if b != bytes {
                assert!(from_bytes::<Payload>(&b, "model", p()).is_err());
            }
        }
    }

    #[test]
    fn checkpoint_truncated_file_on_disk() {
        let dir = temp_dir("trunc");
        let path = dir.join("t.ckpt");
        save_atomic(&path, "model", &payload()).unwrap();
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() / 2]).unwrap();
        let err = load::<Payload>(&path, "model").unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("t.ckpt"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
