//! Audio file checks: is this really audio of the format asked for?
//!
//! A TTS program's output is reported as audio only when its header has the format's magic:
//! WAV `RIFF....WAVE` with a `fmt ` chunk (its byte rate gives the duration), Ogg `OggS`, FLAC
//! `fLaC`, MP3 an `ID3` tag or an MPEG audio frame sync (`0xFFE`) with a valid layer. A file of
//! only a header is refused too (`MIN_AUDIO_BYTES`).

/// Smallest file taken as audio (a header and a few samples).
pub const MIN_AUDIO_BYTES: usize = 64;

/// What a checked file is.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// `wav | ogg | mp3 | flac`.
    pub format: &'static str,
    /// MIME type.
    pub mime: &'static str,
    /// Duration, when the header tells it (WAV).
    pub duration_ms: Option<u64>,
}

/// Checks that `head` (the file's first bytes, at least 64 of them when the file has them) of a
/// file of `len` bytes is `format` audio.
pub fn check(format: &str, head: &[u8], len: u64) -> Result<Audio, String> {
    if (len as usize) < MIN_AUDIO_BYTES || head.len() < 12 {
        return Err(format!("{len} bytes is too small to be audio"));
    }
    let found = sniff(head).ok_or_else(|| {
        format!(
            "not audio: the file starts with {:02x?}",
            &head[..head.len().min(8)]
        )
    })?;
    if found.format != format {
        return Err(format!("asked for {format} audio, got {}", found.format));
    }
    let mut a = found;
    if a.format == "wav" {
        a.duration_ms = wav_duration(head, len);
    }
    Ok(a)
}

/// Each format with its MIME type.
const FORMATS: [(&str, &str); 4] = [
    ("wav", "audio/wav"),
    ("ogg", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("flac", "audio/flac"),
];

/// The `Audio` of a known format name (e.g. one already checked), with its duration.
pub fn of(format: &str, duration_ms: Option<u64>) -> Option<Audio> {
    FORMATS
        .iter()
        .find(|f| f.0 == format)
        .map(|&(format, mime)| Audio {
            format,
            mime,
            duration_ms,
        })
}

/// The format `head` has, if any.
pub fn sniff(head: &[u8]) -> Option<Audio> {
    let format = if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        "wav"
    } else if head.starts_with(b"OggS") {
        "ogg"
    } else if head.starts_with(b"fLaC") {
        "flac"
    } else if head.starts_with(b"ID3")
        || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 != 0)
    {
        "mp3"
    } else {
        return None;
    };
    of(format, None)
}

/// A WAV file's duration from its `fmt ` chunk's byte rate and the data after the header.
fn wav_duration(head: &[u8], len: u64) -> Option<u64> {
    let mut at = 12;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes(head[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"fmt " && at + 20 <= head.len() {
            let byte_rate = u32::from_le_bytes(head[at + 16..at + 20].try_into().ok()?);
            if byte_rate == 0 {
                return None;
            }
            let data = len.saturating_sub(44);
            return Some(data * 1000 / u64::from(byte_rate));
        }
        at += 8 + size + (size & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit mono 16 kHz WAV of `samples` samples.
    pub fn wav(samples: usize) -> Vec<u8> {
        let data = samples * 2;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&((36 + data) as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&16000u32.to_le_bytes());
        v.extend_from_slice(&32000u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data as u32).to_le_bytes());
        v.resize(44 + data, 0);
        v
    }

    #[test]
    fn formats_are_recognised_and_mismatches_refused() {
        let w = wav(16000);
        let a = check("wav", &w[..64], w.len() as u64).unwrap();
        assert_eq!((a.format, a.duration_ms), ("wav", Some(1000)));
        assert!(
            check("ogg", &w[..64], w.len() as u64)
                .unwrap_err()
                .contains("got wav")
        );
        let mut ogg = b"OggS\0\x02".to_vec();
        ogg.resize(200, 7);
        assert_eq!(check("ogg", &ogg, 200).unwrap().mime, "audio/ogg");
        let mut mp3 = vec![0xFF, 0xFB, 0x90, 0x64];
        mp3.resize(100, 0);
        assert_eq!(sniff(&mp3).unwrap().format, "mp3");
        assert!(
            check(
                "wav",
                b"hello world, I am text not audio at all.......",
                300
            )
            .unwrap_err()
            .starts_with("not audio")
        );
        assert!(
            check("wav", &w[..44], 44)
                .unwrap_err()
                .contains("too small")
        );
    }
}
