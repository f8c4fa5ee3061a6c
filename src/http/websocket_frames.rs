//! Just enough of WebSocket framing (RFC 6455 §5.2) to relay a tunnel's bytes untouched and
//! still know where each frame ends, so the gateway can put a Close frame of its own
//! (§5.5.1) between two frames, as control frames may be (§5.4).

/// Where a stream of frames stands: inside a frame's header (its bytes so far) or payload.
#[derive(Default)]
pub struct FrameCursor {
    header: Vec<u8>,
    payload_left: u64,
}

impl FrameCursor {
    /// Between two frames.
    pub fn at_boundary(&self) -> bool {
        self.header.is_empty() && self.payload_left == 0
    }

    /// Goes through `bytes` up to the end of the current frame at most; returns how many.
    pub fn advance(&mut self, bytes: &[u8]) -> usize {
        let mut used = 0;
        if self.payload_left == 0 {
            while used < bytes.len() {
                self.header.push(bytes[used]);
                used += 1;
                if let Some(len) = payload_length(&self.header) {
                    self.header.clear();
                    self.payload_left = len;
                    break;
                }
            }
            if !self.header.is_empty() || self.payload_left == 0 {
                return used;
            }
        }
        let take = self.payload_left.min((bytes.len() - used) as u64);
        self.payload_left -= take;
        used + take as usize
    }

    /// Goes through all of `bytes`.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.advance(bytes);
            bytes = &bytes[n..];
        }
    }
}

/// The payload length a complete frame header declares (§5.2: 7 bits, or 16 or 64 more,
/// then a 4-byte masking key if the mask bit is set); `None` while the header is incomplete.
fn payload_length(header: &[u8]) -> Option<u64> {
    let second = *header.get(1)?;
    let short = u64::from(second & 0x7f);
    let extended = match short {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    if header.len() < 2 + extended + mask {
        return None;
    }
    Some(match extended {
        0 => short,
        n => header[2..2 + n]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    })
}

/// A Close frame with a status code (§7.4.1) and a short reason (at most 123 bytes, §5.5).
/// A client's frames are masked (§5.3), so the one sent to the origin carries `mask`.
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend(reason.bytes().take(123));
    let mut frame = vec![0x88];
    match mask {
        None => {
            frame.push(payload.len() as u8);
            frame.extend(payload);
        }
        Some(key) => {
            frame.push(0x80 | payload.len() as u8);
            frame.extend(key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_finds_frame_ends_across_reads() {
        // A masked 5-byte text frame, a 300-byte binary one (16-bit length), then a ping.
        let mut bytes = vec![0x81, 0x85, 1, 2, 3, 4, 0, 0, 0, 0, 0];
        bytes.extend([0x82, 126, 0x01, 0x2c]);
        bytes.extend(vec![9u8; 300]);
        bytes.extend([0x89, 0x00]);
        let mut cursor = FrameCursor::default();
        assert_eq!(cursor.advance(&bytes[..3]), 3);
        assert!(!cursor.at_boundary(), "inside a header");
        assert_eq!(
            cursor.advance(&bytes[3..]),
            8,
            "the rest of the first frame only"
        );
        assert!(cursor.at_boundary());
        cursor.feed(&bytes[11..20]);
        assert!(!cursor.at_boundary(), "inside a payload");
        assert_eq!(cursor.advance(&bytes[20..]), 295);
        assert!(cursor.at_boundary());
        assert_eq!(
            cursor.advance(&bytes[315..]),
            2,
            "an empty frame ends with its header"
        );
        assert!(cursor.at_boundary());
    }

    #[test]
    fn close_frames_carry_the_code_and_are_masked_towards_the_origin() {
        assert_eq!(
            close_frame(1008, "x", None),
            vec![0x88, 3, 0x03, 0xf0, b'x']
        );
        let masked = close_frame(1001, "", Some([1, 2, 3, 4]));
        assert_eq!(masked, vec![0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe9 ^ 2]);
    }
}
